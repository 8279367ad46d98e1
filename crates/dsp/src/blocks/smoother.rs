//! Parameter smoothers: a linear ramp that arrives exactly on time, and a one-pole that glides
//! exponentially (τ = 63 % convention, as in [`super::envelope`]).
//!
//! Gains and mixes that jump zip (docs/effects.md §1 test 29); 5–50 ms of smoothing hides that
//! (docs/effects.md §2.10). The linear ramp suits parameters whose arrival time matters
//! (crossfades, a bypass fade); the one-pole suits continuous controls moved by hand.

/// A linear ramp to each new target over a fixed time.
#[derive(Clone, Debug)]
pub struct Linear {
    current: f64,
    target: f64,
    step: f64,
    left: usize,
    ramp_samples: usize,
}

impl Linear {
    /// A smoother resting at `value`, with a ramp of `seconds` at `sample_rate`.
    pub fn new(value: f32, seconds: f64, sample_rate: f64) -> Self {
        let mut smoother = Self {
            current: f64::from(value),
            target: f64::from(value),
            step: 0.0,
            left: 0,
            ramp_samples: 1,
        };
        smoother.set_ramp(seconds, sample_rate);
        smoother
    }

    /// Sets the ramp time for later targets.
    pub fn set_ramp(&mut self, seconds: f64, sample_rate: f64) {
        self.ramp_samples = (seconds * sample_rate).round().max(1.0) as usize;
    }

    /// Ramps from the current value to `value`, arriving after the full ramp time (a new
    /// target mid-ramp starts a new full ramp from where the value is).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_target(&mut self, value: f32) {
        let value = f64::from(value);
        if value == self.target {
            return;
        }
        self.target = value;
        self.left = self.ramp_samples;
        self.step = (self.target - self.current) / self.ramp_samples as f64;
    }

    /// Jumps to `value` (for prepare and reset, not while audio plays).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset_to(&mut self, value: f32) {
        self.current = f64::from(value);
        self.target = self.current;
        self.left = 0;
    }

    /// Advances one sample and returns the value there.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn next_value(&mut self) -> f32 {
        if self.left > 0 {
            self.left -= 1;
            // The last step lands on the target itself, so rounding cannot leave it short.
            self.current = if self.left == 0 {
                self.target
            } else {
                self.current + self.step
            };
        }
        self.current as f32
    }

    /// The current value.
    pub fn value(&self) -> f32 {
        self.current as f32
    }

    /// Whether the value has arrived at the target.
    pub fn is_settled(&self) -> bool {
        self.left == 0
    }
}

/// An exponential glide towards each new target.
#[derive(Clone, Debug)]
pub struct OnePole {
    current: f64,
    target: f64,
    coef: f64,
}

/// The glide is finished (set exactly on the target) once it is this close: afterwards the
/// smoother costs one comparison and the value is bit-stable.
const SETTLE_DISTANCE: f64 = 1e-9;

impl OnePole {
    /// A smoother resting at `value` with time constant `tau` seconds at `sample_rate`.
    pub fn new(value: f32, tau: f64, sample_rate: f64) -> Self {
        let mut smoother = Self {
            current: f64::from(value),
            target: f64::from(value),
            coef: 0.0,
        };
        smoother.set_time(tau, sample_rate);
        smoother
    }

    /// Sets the time constant (63 % of a step) in seconds.
    pub fn set_time(&mut self, tau: f64, sample_rate: f64) {
        self.coef = super::envelope::time_constant_coef(tau, sample_rate);
    }

    /// Glides towards `value`.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_target(&mut self, value: f32) {
        self.target = f64::from(value);
    }

    /// Jumps to `value`.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset_to(&mut self, value: f32) {
        self.current = f64::from(value);
        self.target = self.current;
    }

    /// Advances one sample and returns the value there.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn next_value(&mut self) -> f32 {
        if self.current != self.target {
            self.current = self.target + self.coef * (self.current - self.target);
            if (self.current - self.target).abs() < SETTLE_DISTANCE {
                self.current = self.target;
            }
        }
        self.current as f32
    }

    /// The value being glided to.
    pub fn target(&self) -> f32 {
        self.target as f32
    }

    /// The current value.
    pub fn value(&self) -> f32 {
        self.current as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::FS;

    #[test]
    fn linear_ramp_arrives_exactly_at_its_time() {
        let mut smoother = Linear::new(0.0, 0.010, FS);
        smoother.set_target(2.0);
        let values: Vec<f32> = (0..480).map(|_| smoother.next_value()).collect();
        assert_eq!(values[239], 1.0, "halfway at half the ramp");
        assert!(values[478] < 2.0, "arrived early");
        assert_eq!(values[479], 2.0, "480 samples = 10 ms");
        assert!(smoother.is_settled());
        assert!(values.windows(2).all(|w| w[1] > w[0]), "monotonic");
        // A new target mid-ramp: a fresh full ramp from where the value is.
        smoother.set_target(0.0);
        for _ in 0..240 {
            smoother.next_value();
        }
        smoother.set_target(4.0);
        let start = smoother.value();
        let values: Vec<f32> = (0..480).map(|_| smoother.next_value()).collect();
        assert_eq!(values[479], 4.0);
        assert!((values[239] - (start + 4.0) / 2.0).abs() < 1e-5);
    }

    #[test]
    fn one_pole_reaches_63_percent_at_tau() {
        for tau_ms in [5.0, 20.0, 50.0] {
            let mut smoother = OnePole::new(0.0, tau_ms / 1e3, FS);
            smoother.set_target(1.0);
            let target = 1.0 - (-1.0f32).exp();
            let reached = (0..FS as usize)
                .position(|_| smoother.next_value() >= target)
                .unwrap();
            let tau_samples = tau_ms * 1e-3 * FS;
            assert!(
                ((reached + 1) as f64 - tau_samples).abs() <= 1.0,
                "{tau_ms}: {reached}"
            );
            // It settles exactly on the target instead of creeping forever.
            for _ in 0..FS as usize {
                smoother.next_value();
            }
            assert_eq!(smoother.value(), 1.0);
        }
    }
}
