//! The room context every effect may follow: tempo, the position on the shared beat grid, and
//! the room's key and scale (docs/effects.md §3.2: key/scale drive pitch correction and the
//! harmonizer; the tempo drives every tempo-synced parameter).
//!
//! The plugin builds one [`RoomContext`] per block from the host transport and the session's
//! room state and hands it to [`crate::chain::Chain::set_context`]; effects copy the numbers
//! they need (no allocation, nothing slow: it arrives every block).

use crate::effects::param::{Key, Scale};

/// Tempo accepted from a host or a room (BPM); values outside are clamped, NaN is ignored.
pub const TEMPO_RANGE: std::ops::RangeInclusive<f64> = 20.0..=999.0;

/// The musical context of one block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoomContext {
    /// Tempo in BPM (quarter notes per minute).
    pub tempo_bpm: f64,
    /// Position on the shared beat grid at the block's first sample, in quarter notes, when a
    /// transport is running; `None` when stopped or unknown. Tempo-synced LFOs lock their phase
    /// to it so every player's modulation moves together.
    pub beat_position: Option<f64>,
    /// The room's key, overriding the key parameter of pitch correction and the harmonizer
    /// when set.
    pub key: Option<Key>,
    /// The room's scale, overriding the scale parameter of pitch correction and the
    /// harmonizer when set.
    pub scale: Option<Scale>,
}

impl Default for RoomContext {
    /// 120 BPM, stopped, no room key or scale (docs/effects.md §3.2 defaults).
    fn default() -> Self {
        Self {
            tempo_bpm: 120.0,
            beat_position: None,
            key: None,
            scale: None,
        }
    }
}

impl RoomContext {
    /// The tempo clamped to [`TEMPO_RANGE`] (120 if NaN).
    pub fn tempo(&self) -> f64 {
        if self.tempo_bpm.is_nan() {
            120.0
        } else {
            self.tempo_bpm
                .clamp(*TEMPO_RANGE.start(), *TEMPO_RANGE.end())
        }
    }

    /// Seconds per `beats` quarter notes at this tempo.
    pub fn seconds_for_beats(&self, beats: f64) -> f64 {
        beats * 60.0 / self.tempo()
    }

    /// The phase (cycles, 0..1) a synced oscillator with one cycle per `beats` quarter notes
    /// has at the block start, if the transport position is known.
    pub fn synced_phase(&self, beats: f64) -> Option<f64> {
        self.synced_phase_after(beats, 0, 1.0)
    }

    /// The same phase `samples` into the block at `sample_rate`: where an oscillator that
    /// updates at control points, the next one `samples` away, must stand.
    pub fn synced_phase_after(&self, beats: f64, samples: usize, sample_rate: f64) -> Option<f64> {
        let start = self.beat_position.filter(|p| p.is_finite())?;
        (beats > 0.0).then(|| {
            let position = start + samples as f64 / sample_rate * self.tempo() / 60.0;
            let cycles = position / beats;
            cycles - cycles.floor()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tempo_is_clamped_and_phases_follow_the_grid() {
        let mut context = RoomContext {
            tempo_bpm: 5000.0,
            ..RoomContext::default()
        };
        assert_eq!(context.tempo(), 999.0);
        context.tempo_bpm = f64::NAN;
        assert_eq!(context.tempo(), 120.0);
        context.tempo_bpm = 90.0;
        assert!((context.seconds_for_beats(1.5) - 1.0).abs() < 1e-15);
        assert_eq!(context.synced_phase(1.0), None, "stopped: free running");
        context.beat_position = Some(10.5);
        assert_eq!(context.synced_phase(4.0), Some(0.625));
        assert_eq!(context.synced_phase(0.5), Some(0.0));
        // 90 BPM: 16,000 samples at 48 kHz are half a beat.
        assert_eq!(
            context.synced_phase_after(4.0, 16_000, 48_000.0),
            Some(0.75)
        );
        context.beat_position = Some(f64::INFINITY);
        assert_eq!(context.synced_phase(1.0), None);
    }
}
