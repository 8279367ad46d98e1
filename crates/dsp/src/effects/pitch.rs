//! Pitch effects: pitch correction, the harmonizer and the formant shifter, all built on the
//! shared TD-PSOLA analysis ([`crate::blocks::psola`]) and the YIN detector.
//!
//! Helpers shared by them live here: note numbers from frequencies and a seeded, smooth random
//! drift (the pitch corrector's humanize).

pub mod formant_shifter;
pub mod harmonizer;
pub mod pitch_correction;

/// The MIDI note number (69 = A4 = 440 Hz) of `frequency` Hz, fractional.
pub(crate) fn note_of(frequency: f64) -> f64 {
    69.0 + 12.0 * (frequency / 440.0).log2()
}

/// A smooth random value in −1…1 that moves to a new seeded random target every `1/rate`
/// seconds along a smoothstep: a random LFO. Advanced per sample; reset restores the seed.
#[derive(Clone, Debug)]
pub(crate) struct RandomDrift {
    seed: u64,
    state: u64,
    from: f64,
    to: f64,
    phase: f64,
    increment: f64,
}

impl RandomDrift {
    /// A drift with its own `seed`, moving `rate` times per second at `sample_rate`.
    pub(crate) fn new(seed: u64, rate: f64, sample_rate: f64) -> Self {
        let mut drift = Self {
            seed: seed.max(1),
            state: 1,
            from: 0.0,
            to: 0.0,
            phase: 0.0,
            increment: rate / sample_rate,
        };
        drift.reset();
        drift
    }

    /// Sets the rate for a new sample rate.
    pub(crate) fn set_rate(&mut self, rate: f64, sample_rate: f64) {
        self.increment = rate / sample_rate;
    }

    /// Back to the seed: from 0 towards the first random target.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub(crate) fn reset(&mut self) {
        self.state = self.seed;
        self.from = 0.0;
        self.to = self.random();
        self.phase = 0.0;
    }

    /// xorshift64* mapped to −1…1.
    fn random(&mut self) -> f64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let bits = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        bits as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    /// Advances one sample and returns the value.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub(crate) fn next_value(&mut self) -> f64 {
        self.phase += self.increment;
        if self.phase >= 1.0 {
            self.phase -= 1.0;
            self.from = self.to;
            self.to = self.random();
        }
        let p = self.phase;
        self.from + (self.to - self.from) * p * p * (3.0 - 2.0 * p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_and_drift() {
        assert!((note_of(440.0) - 69.0).abs() < 1e-12);
        assert!((note_of(261.625_565) - 60.0).abs() < 1e-6);
        let mut drift = RandomDrift::new(7, 0.5, 1_000.0);
        let values: Vec<f64> = (0..10_000).map(|_| drift.next_value()).collect();
        assert!(values.iter().all(|v| v.abs() <= 1.0));
        let step = values
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f64::max);
        assert!(step < 0.004, "smooth: {step}");
        assert!(values.iter().any(|v| v.abs() > 0.3), "it moves");
        drift.reset();
        assert_eq!(drift.next_value(), values[0]);
    }
}
