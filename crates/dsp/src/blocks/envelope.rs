//! Envelope followers: the level of a signal with separate attack and release times, peak or RMS.
//!
//! Time constants follow one convention across the crate (docs/effects.md §1 "define time constants
//! once"): τ is the time a step takes to cover 1 − 1/e ≈ 63 % of the change. A one-pole with
//! coefficient `exp(−1/(τ·fs))` does that exactly at `τ·fs` samples.

/// What the follower measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detector {
    /// The rectified signal |x|: follows peaks.
    Peak,
    /// The mean square x², reported as its square root: follows power. The time constants
    /// apply to the mean square.
    Rms,
}

/// The one-pole coefficient that covers 1 − 1/e of a step in `seconds` (0 s: immediate).
pub fn time_constant_coef(seconds: f64, sample_rate: f64) -> f64 {
    let samples = seconds * sample_rate;
    if samples > 0.0 {
        (-1.0 / samples).exp()
    } else {
        0.0
    }
}

/// An attack/release envelope follower.
#[derive(Clone, Debug)]
pub struct Follower {
    detector: Detector,
    attack: f64,
    release: f64,
    /// |x| or x², smoothed.
    state: f64,
}

impl Follower {
    /// A follower with attack and release times in seconds.
    pub fn new(detector: Detector, attack: f64, release: f64, sample_rate: f64) -> Self {
        let mut follower = Self {
            detector,
            attack: 0.0,
            release: 0.0,
            state: 0.0,
        };
        follower.set_times(attack, release, sample_rate);
        follower
    }

    /// Sets attack and release times in seconds.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_times(&mut self, attack: f64, release: f64, sample_rate: f64) {
        self.attack = time_constant_coef(attack, sample_rate);
        self.release = time_constant_coef(release, sample_rate);
    }

    /// Clears the envelope to silence.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        self.state = 0.0;
    }

    /// Follows one sample and returns the envelope (linear amplitude).
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn process_sample(&mut self, x: f32) -> f32 {
        let x = f64::from(x);
        let input = match self.detector {
            Detector::Peak => x.abs(),
            Detector::Rms => x * x,
        };
        // NaN input must not poison the state for good: treat it as silence.
        let input = if input.is_finite() { input } else { 0.0 };
        let coef = if input > self.state {
            self.attack
        } else {
            self.release
        };
        self.state = input + coef * (self.state - input);
        self.value()
    }

    /// The current envelope (linear amplitude).
    pub fn value(&self) -> f32 {
        match self.detector {
            Detector::Peak => self.state as f32,
            Detector::Rms => self.state.sqrt() as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{FS, sine};

    /// The first sample index at which `values` satisfies `reached`.
    fn first(values: &[f32], reached: impl Fn(f32) -> bool) -> usize {
        values
            .iter()
            .position(|&v| reached(v))
            .expect("never reached")
    }

    #[test]
    fn peak_attack_and_release_reach_63_percent_at_tau() {
        let target = 1.0 - (-1.0f32).exp();
        for (attack_ms, release_ms) in [(1.0, 50.0), (10.0, 100.0), (0.1, 500.0)] {
            let mut follower = Follower::new(Detector::Peak, attack_ms / 1e3, release_ms / 1e3, FS);
            let rise: Vec<f32> = (0..FS as usize)
                .map(|_| follower.process_sample(1.0))
                .collect();
            let fall: Vec<f32> = (0..FS as usize)
                .map(|_| follower.process_sample(0.0))
                .collect();
            // Sample n holds the state after n + 1 steps.
            let attack_at = (first(&rise, |v| v >= target) + 1) as f64;
            let release_at = (first(&fall, |v| v <= 1.0 - target) + 1) as f64;
            let attack_tau = attack_ms * 1e-3 * FS;
            let release_tau = release_ms * 1e-3 * FS;
            println!(
                "attack τ {attack_tau} samples: reached at {attack_at}; release τ {release_tau}: \
                 reached at {release_at}"
            );
            assert!(
                (attack_at - attack_tau).abs() <= 1.0,
                "{attack_at} vs {attack_tau}"
            );
            assert!(
                (release_at - release_tau).abs() <= 1.0,
                "{release_at} vs {release_tau}"
            );
        }
    }

    #[test]
    fn rms_tracks_power_with_its_time_constant_and_reads_a_sine_right() {
        let mut follower = Follower::new(Detector::Rms, 0.02, 0.02, FS);
        let rise: Vec<f32> = (0..FS as usize)
            .map(|_| follower.process_sample(1.0))
            .collect();
        // The mean square covers 63 % at τ, so the RMS reads √(1 − 1/e) there.
        let target = (1.0 - (-1.0f32).exp()).sqrt();
        let reached = (first(&rise, |v| v >= target) + 1) as f64;
        assert!((reached - 0.02 * FS).abs() <= 1.0, "{reached}");

        follower.reset();
        let mut last = 0.0;
        for x in sine(1_000.0, 0.5, FS as usize, FS) {
            last = follower.process_sample(x);
        }
        let expected = 0.5 / std::f32::consts::SQRT_2;
        assert!((last / expected - 1.0).abs() < 0.01, "{last} vs {expected}");
    }

    #[test]
    fn nan_input_does_not_stick() {
        let mut follower = Follower::new(Detector::Peak, 0.001, 0.01, FS);
        follower.process_sample(f32::NAN);
        assert!(follower.value().is_finite());
        assert!(follower.process_sample(0.5) > 0.0);
    }
}
