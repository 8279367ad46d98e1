//! DC blocker: the one-pole high-pass `y = x − x₁ + R·y₁` (docs/effects.md §2.10), with R solved so
//! the response is exactly −3 dB at the requested corner.
//!
//! The usual approximation `fc ≈ (1 − R)·fs/2π` is off by a fraction of about π·fc/fs (0.13 %
//! at 20 Hz, 6.5 % at 1 kHz), so R comes from the exact magnitude, which costs nothing:
//! |H|² = (2 − 2c)/(1 + R² − 2Rc) = ½ with c = cos(2π·fc/fs) gives R = c − √((1 − c)(3 − c)).
//! State is `f64`: at R ≈ 0.999 an `f32`
//! feedback loop would quantise the pole itself.

/// A DC-blocking high-pass.
#[derive(Clone, Debug)]
pub struct Blocker {
    pole: f64,
    previous_input: f64,
    previous_output: f64,
}

impl Blocker {
    /// A blocker whose response is −3 dB at `cutoff` Hz (5–20 Hz is the usual choice).
    pub fn new(cutoff: f64, sample_rate: f64) -> Self {
        Self {
            pole: Self::pole_for(cutoff, sample_rate),
            previous_input: 0.0,
            previous_output: 0.0,
        }
    }

    /// The pole R for a −3 dB corner at `cutoff` Hz.
    pub fn pole_for(cutoff: f64, sample_rate: f64) -> f64 {
        let c = (std::f64::consts::TAU * cutoff / sample_rate).cos();
        c - ((1.0 - c) * (3.0 - c)).sqrt()
    }

    /// Clears the state.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        self.previous_input = 0.0;
        self.previous_output = 0.0;
    }

    /// Filters one sample.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn process_sample(&mut self, x: f32) -> f32 {
        let x = f64::from(x);
        let y = x - self.previous_input + self.pole * self.previous_output;
        self.previous_input = x;
        self.previous_output = y;
        y as f32
    }

    /// Filters `samples` in place.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn process(&mut self, samples: &mut [f32]) {
        for x in samples {
            *x = self.process_sample(*x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{FS, impulse, response_db, sine};

    /// docs/effects.md §1 test 21: −3 dB at the design corner ±2 %; 1 kHz passes.
    #[test]
    fn corner_is_minus_3_db_and_1_khz_passes() {
        let half_power = -10.0 * 2f64.log10();
        for cutoff in [5.0, 10.0, 20.0] {
            let mut ir = impulse(1 << 18);
            Blocker::new(cutoff, FS).process(&mut ir);
            let at_corner = response_db(&ir, cutoff, FS);
            let below = response_db(&ir, 0.98 * cutoff, FS);
            let above = response_db(&ir, 1.02 * cutoff, FS);
            let at_1k = response_db(&ir, 1_000.0, FS);
            println!("{cutoff} Hz: {at_corner:.4} dB at the corner, {at_1k:.2e} dB at 1 kHz");
            assert!(
                below < half_power && above > half_power,
                "{cutoff}: {below} {above}"
            );
            assert!((at_corner - half_power).abs() < 1e-3, "{at_corner}");
            // This form's gain rises above 1 towards Nyquist (2/(1 + R) there): +0.003 dB at
            // 1 kHz for a 5 Hz corner.
            assert!(at_1k.abs() < 0.01, "{at_1k}");
        }
    }

    /// docs/effects.md §1 test 21: a DC step under a 1 kHz tone; after 1 s the mean is below 1e-5
    /// and the tone is intact.
    #[test]
    fn dc_step_is_removed_within_a_second() {
        let tone = sine(1_000.0, 0.25, 2 * FS as usize, FS);
        let mut signal: Vec<f32> = tone.iter().map(|t| 0.5 + t).collect();
        Blocker::new(10.0, FS).process(&mut signal);
        let settled = &signal[FS as usize..];
        let mean = settled.iter().map(|&y| f64::from(y)).sum::<f64>() / settled.len() as f64;
        let residual_tone: f64 = settled
            .iter()
            .zip(&tone[FS as usize..])
            .map(|(&y, &t)| (f64::from(y) - f64::from(t)).abs())
            .fold(0.0, f64::max);
        println!("mean after 1 s: {mean:.2e}; max deviation from the tone {residual_tone:.2e}");
        assert!(mean.abs() < 1e-5, "{mean}");
        // 10 Hz high-pass at 1 kHz: phase lead 10/1000 rad, so the tone moves by ≤ 0.25·0.01.
        assert!(residual_tone < 0.003, "{residual_tone}");
    }
}
