//! Low-frequency oscillators: sine, triangle, square and saw with a phase offset, free-running
//! in Hz or synced to the host tempo.
//!
//! The phase is an `f64` count of cycles (docs/effects.md §2.10): an `f32` phase accumulator drifts
//! audibly over a long session (its increment for 0.1 Hz at 48 kHz has only 17 significant
//! bits).

/// The shape of an LFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waveform {
    /// sin(2π·phase).
    Sine,
    /// 0 at phase 0, rising to +1 at ¼, −1 at ¾.
    Triangle,
    /// +1 for the first half cycle, −1 for the second.
    Square,
    /// 0 at phase 0, rising to +1 at ½, jumping to −1 and rising to 0.
    Saw,
}

impl Waveform {
    /// The waveform's value at `phase` (cycles; any real, only the fraction matters).
    pub fn at(self, phase: f64) -> f64 {
        let p = phase - phase.floor();
        match self {
            Self::Sine => (std::f64::consts::TAU * p).sin(),
            Self::Triangle => {
                if p < 0.25 {
                    4.0 * p
                } else if p < 0.75 {
                    2.0 - 4.0 * p
                } else {
                    4.0 * p - 4.0
                }
            }
            Self::Square => {
                if p < 0.5 {
                    1.0
                } else {
                    -1.0
                }
            }
            Self::Saw => {
                if p < 0.5 {
                    2.0 * p
                } else {
                    2.0 * p - 2.0
                }
            }
        }
    }
}

/// A bipolar (−1..=1) oscillator.
#[derive(Clone, Debug)]
pub struct Lfo {
    waveform: Waveform,
    sample_rate: f64,
    /// Cycles elapsed since reset, wrapped to 0..1.
    phase: f64,
    /// Cycles per sample.
    increment: f64,
    /// Added to the phase when reading (cycles).
    offset: f64,
}

impl Lfo {
    /// A sine LFO at 1 Hz, phase 0.
    pub fn new(sample_rate: f64) -> Self {
        Self {
            waveform: Waveform::Sine,
            sample_rate,
            phase: 0.0,
            increment: 1.0 / sample_rate,
            offset: 0.0,
        }
    }

    /// Changes the sample rate, keeping the rate in Hz.
    pub fn set_sample_rate(&mut self, sample_rate: f64) {
        let hz = self.rate_hz();
        self.sample_rate = sample_rate;
        self.set_rate_hz(hz);
    }

    /// Sets the shape.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_waveform(&mut self, waveform: Waveform) {
        self.waveform = waveform;
    }

    /// Sets the rate in Hz (negative or NaN becomes 0: a frozen LFO).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_rate_hz(&mut self, hz: f64) {
        self.increment = if hz > 0.0 { hz / self.sample_rate } else { 0.0 };
    }

    /// Sets the rate to one cycle per `beats` quarter notes at `bpm`.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_tempo_sync(&mut self, beats: f64, bpm: f64) {
        self.set_rate_hz(tempo_hz(beats, bpm));
    }

    /// Sets the phase offset in cycles (e.g. 0.25 = 90°; L/R spreads use it).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_phase_offset(&mut self, cycles: f64) {
        self.offset = if cycles.is_finite() { cycles } else { 0.0 };
    }

    /// Restarts the cycle at phase 0 (plus the offset).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        self.phase = 0.0;
    }

    /// Moves the phase to `cycles` (e.g. to follow the host's song position).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_phase(&mut self, cycles: f64) {
        self.phase = cycles - cycles.floor();
    }

    /// The value at the current sample, then advances one sample.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn next_value(&mut self) -> f32 {
        let value = self.waveform.at(self.phase + self.offset);
        self.phase += self.increment;
        if self.phase >= 1.0 {
            self.phase -= 1.0;
        }
        value as f32
    }

    /// The rate in Hz.
    pub fn rate_hz(&self) -> f64 {
        self.increment * self.sample_rate
    }

    /// The phase the next sample will be read at (cycles, offset excluded).
    pub fn phase(&self) -> f64 {
        self.phase
    }
}

/// The rate of one cycle per `beats` quarter notes at `bpm` (0 for non-positive input).
pub fn tempo_hz(beats: f64, bpm: f64) -> f64 {
    if beats > 0.0 && bpm > 0.0 {
        bpm / 60.0 / beats
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::FS;

    /// Rising zero crossings of a run, located by linear interpolation between samples.
    fn rising_crossings(values: &[f32]) -> Vec<f64> {
        values
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
            .map(|(n, w)| n as f64 + f64::from(w[0] / (w[0] - w[1])))
            .collect()
    }

    #[test]
    fn rate_is_exact_over_a_long_run() {
        for hz in [0.1, 3.7, 13.0] {
            let mut lfo = Lfo::new(FS);
            lfo.set_rate_hz(hz);
            let values: Vec<f32> = (0..(FS * 60.0) as usize)
                .map(|_| lfo.next_value())
                .collect();
            let crossings = rising_crossings(&values);
            let periods = (crossings.len() - 1) as f64;
            let measured = periods * FS / (crossings[crossings.len() - 1] - crossings[0]);
            println!("{hz} Hz: measured {measured:.6} Hz over {periods} periods");
            assert!((measured / hz - 1.0).abs() < 1e-5, "{hz}: {measured}");
        }
    }

    #[test]
    fn phase_offset_and_waveforms_start_where_they_say() {
        let mut lfo = Lfo::new(FS);
        lfo.set_rate_hz(1.0);
        let first = |lfo: &mut Lfo, waveform, offset| {
            lfo.set_waveform(waveform);
            lfo.set_phase_offset(offset);
            lfo.reset();
            lfo.next_value()
        };
        assert_eq!(first(&mut lfo, Waveform::Sine, 0.0), 0.0);
        assert_eq!(first(&mut lfo, Waveform::Sine, 0.25), 1.0);
        assert_eq!(first(&mut lfo, Waveform::Triangle, 0.25), 1.0);
        assert_eq!(first(&mut lfo, Waveform::Triangle, 0.75), -1.0);
        assert_eq!(first(&mut lfo, Waveform::Square, 0.0), 1.0);
        assert_eq!(first(&mut lfo, Waveform::Square, 0.5), -1.0);
        assert_eq!(first(&mut lfo, Waveform::Saw, 0.25), 0.5);
        assert_eq!(first(&mut lfo, Waveform::Saw, 0.5), -1.0);
        // A quarter of the way through a 1 Hz sine with offset 0.25 is cos(π/2) = 0.
        assert_eq!(first(&mut lfo, Waveform::Sine, 0.25), 1.0);
        for _ in 1..(FS / 4.0) as usize {
            lfo.next_value();
        }
        assert!(lfo.next_value().abs() < 1e-6);
    }

    #[test]
    fn waveforms_span_minus_one_to_one_with_their_shapes() {
        for (waveform, mean_abs) in [
            (Waveform::Sine, 2.0 / std::f64::consts::PI),
            (Waveform::Triangle, 0.5),
            (Waveform::Square, 1.0),
            (Waveform::Saw, 0.5),
        ] {
            let values: Vec<f64> = (0..4_800)
                .map(|n| waveform.at(n as f64 / 4_800.0))
                .collect();
            let max = values.iter().cloned().fold(f64::MIN, f64::max);
            let min = values.iter().cloned().fold(f64::MAX, f64::min);
            let mean: f64 = values.iter().sum::<f64>() / values.len() as f64;
            let measured = values.iter().map(|v| v.abs()).sum::<f64>() / values.len() as f64;
            assert!(
                (0.999..=1.0).contains(&max) && (-1.0..=-0.999).contains(&min),
                "{waveform:?}"
            );
            assert!(mean.abs() < 1e-3, "{waveform:?}: mean {mean}");
            assert!(
                (measured - mean_abs).abs() < 1e-3,
                "{waveform:?}: {measured}"
            );
        }
    }

    #[test]
    fn tempo_sync_converts_beats_to_hz() {
        assert_eq!(tempo_hz(1.0, 120.0), 2.0);
        assert_eq!(tempo_hz(0.75, 90.0), 2.0);
        let mut lfo = Lfo::new(FS);
        lfo.set_tempo_sync(2.0 / 3.0, 120.0); // a quarter-note triplet
        assert!((lfo.rate_hz() - 3.0).abs() < 1e-12);
        lfo.set_tempo_sync(1.0, 0.0);
        assert_eq!(lfo.rate_hz(), 0.0, "no tempo freezes the LFO");
    }
}
