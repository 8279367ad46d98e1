//! The host transport (play state, tempo, meter, position, loop) as a lock-free snapshot.
//!
//! The audio thread converts whatever its host reports into a [`Snapshot`] once per block and
//! publishes it into a [`Shared`] slot; the session (clock sync, beat grid, UI) reads it from
//! other threads without ever making the audio thread wait.

use rt::snapshot::{Packed, Slot};

/// Number of 64-bit words a [`Snapshot`] packs into.
pub const WORDS: usize = 10;

/// The slot the audio thread publishes transport snapshots into.
pub type Shared = Slot<WORDS>;

/// What the host said about its transport at the start of one process block.
///
/// Fields the host did not provide are `None`; positions the host gave in another unit are
/// derived before publishing (see the plugin adapter).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The host transport is rolling.
    pub playing: bool,
    /// The host is recording.
    pub recording: bool,
    /// The host's sample rate in Hz.
    pub sample_rate: f64,
    /// Tempo in quarter notes per minute.
    pub tempo_bpm: Option<f64>,
    /// Time signature as (numerator, denominator).
    pub time_signature: Option<(u16, u16)>,
    /// Playhead in samples since the project start.
    pub pos_samples: Option<i64>,
    /// Playhead in quarter notes since the project start.
    pub pos_beats: Option<f64>,
    /// Start of the current bar, in quarter notes since the project start.
    pub bar_start_beats: Option<f64>,
    /// Current bar, counted from 0.
    pub bar_number: Option<i32>,
    /// Loop range in quarter notes (start, end), when the host loops.
    pub loop_beats: Option<(f64, f64)>,
    /// The engine's running sample count at the start of this block: relates the host's
    /// position to the engine's own clock across blocks.
    pub sample_clock: u64,
}

impl Snapshot {
    /// Beat position within the current bar, in quarter notes, when the host gave enough to
    /// know it.
    pub fn beat_in_bar(&self) -> Option<f64> {
        Some(self.pos_beats? - self.bar_start_beats?)
    }
}

mod flag {
    pub(super) const PLAYING: u64 = 1 << 0;
    pub(super) const RECORDING: u64 = 1 << 1;
    pub(super) const TEMPO: u64 = 1 << 2;
    pub(super) const TIME_SIG: u64 = 1 << 3;
    pub(super) const POS_SAMPLES: u64 = 1 << 4;
    pub(super) const POS_BEATS: u64 = 1 << 5;
    pub(super) const BAR_START: u64 = 1 << 6;
    pub(super) const BAR_NUMBER: u64 = 1 << 7;
    pub(super) const LOOP: u64 = 1 << 8;
    /// Time signature numerator and denominator ride in the upper half of the flags word.
    pub(super) const SIG_SHIFT: u32 = 32;
}

impl Packed<WORDS> for Snapshot {
    fn pack(&self) -> [u64; WORDS] {
        let mut flags = 0;
        let mut set = |present: bool, bit: u64| {
            if present {
                flags |= bit;
            }
        };
        set(self.playing, flag::PLAYING);
        set(self.recording, flag::RECORDING);
        set(self.tempo_bpm.is_some(), flag::TEMPO);
        set(self.time_signature.is_some(), flag::TIME_SIG);
        set(self.pos_samples.is_some(), flag::POS_SAMPLES);
        set(self.pos_beats.is_some(), flag::POS_BEATS);
        set(self.bar_start_beats.is_some(), flag::BAR_START);
        set(self.bar_number.is_some(), flag::BAR_NUMBER);
        set(self.loop_beats.is_some(), flag::LOOP);
        let (num, den) = self.time_signature.unwrap_or((0, 0));
        flags |= (u64::from(num) << 16 | u64::from(den)) << flag::SIG_SHIFT;
        let (loop_start, loop_end) = self.loop_beats.unwrap_or((0.0, 0.0));
        [
            flags,
            self.sample_rate.to_bits(),
            self.tempo_bpm.unwrap_or(0.0).to_bits(),
            self.pos_samples.unwrap_or(0) as u64,
            self.pos_beats.unwrap_or(0.0).to_bits(),
            self.bar_start_beats.unwrap_or(0.0).to_bits(),
            i64::from(self.bar_number.unwrap_or(0)) as u64,
            loop_start.to_bits(),
            loop_end.to_bits(),
            self.sample_clock,
        ]
    }

    fn unpack(w: [u64; WORDS]) -> Self {
        let flags = w[0];
        let has = |bit: u64| flags & bit != 0;
        let sig = flags >> flag::SIG_SHIFT;
        Self {
            playing: has(flag::PLAYING),
            recording: has(flag::RECORDING),
            sample_rate: f64::from_bits(w[1]),
            tempo_bpm: has(flag::TEMPO).then(|| f64::from_bits(w[2])),
            time_signature: has(flag::TIME_SIG).then_some(((sig >> 16) as u16, sig as u16)),
            pos_samples: has(flag::POS_SAMPLES).then_some(w[3] as i64),
            pos_beats: has(flag::POS_BEATS).then(|| f64::from_bits(w[4])),
            bar_start_beats: has(flag::BAR_START).then(|| f64::from_bits(w[5])),
            bar_number: has(flag::BAR_NUMBER).then_some(w[6] as i64 as i32),
            loop_beats: has(flag::LOOP).then(|| (f64::from_bits(w[7]), f64::from_bits(w[8]))),
            sample_clock: w[9],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_survives_the_slot() {
        let full = Snapshot {
            playing: true,
            recording: true,
            sample_rate: 44_100.0,
            tempo_bpm: Some(93.5),
            time_signature: Some((7, 8)),
            pos_samples: Some(-1_234),
            pos_beats: Some(17.25),
            bar_start_beats: Some(14.0),
            bar_number: Some(-2),
            loop_beats: Some((8.0, 24.0)),
            sample_clock: 1 << 40,
        };
        let slot = Shared::new();
        for value in [
            full,
            Snapshot::default(),
            Snapshot {
                playing: true,
                ..Default::default()
            },
        ] {
            assert!(slot.publish(&value));
            assert_eq!(slot.read::<Snapshot>(), Some(value));
        }
        assert_eq!(full.beat_in_bar(), Some(3.25));
    }
}
