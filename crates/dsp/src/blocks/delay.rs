//! A fractional delay line with a fixed capacity chosen at prepare, read with linear or cubic
//! Hermite interpolation.
//!
//! Linear interpolation is a low-pass whose depth depends on the fraction (at a fraction of ½
//! it is −0.02 dB at 1 kHz but −3 dB at 12 kHz), so a modulated delay read linearly also
//! modulates its tone; docs/effects.md §2.8 asks for cubic Hermite or Lagrange for modulated
//! delays. The 4-point, 3rd-order Hermite (Catmull–Rom) reader is exact for linear ramps, has
//! continuous first derivative across samples, and costs four reads and a few multiplies.

/// A circular buffer of past samples.
#[derive(Clone, Debug, Default)]
pub struct DelayLine {
    buffer: Vec<f32>,
    /// `buffer.len() - 1`; the length is a power of two so wrapping is a mask.
    mask: usize,
    /// Index of the most recently pushed sample.
    newest: usize,
    max_delay: usize,
}

/// Extra samples kept beyond the longest delay: the Hermite reader looks one sample further.
const READ_MARGIN: usize = 2;

impl DelayLine {
    /// An empty line; call [`DelayLine::prepare`] before use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allocates room for delays up to `max_delay` samples and clears the line.
    pub fn prepare(&mut self, max_delay: usize) {
        let len = (max_delay + READ_MARGIN).next_power_of_two();
        self.buffer = vec![0.0; len];
        self.mask = len - 1;
        self.newest = 0;
        self.max_delay = max_delay;
    }

    /// Clears the line to silence.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        self.buffer.fill(0.0);
        self.newest = 0;
    }

    /// The longest delay this line can read, in samples.
    pub fn max_delay(&self) -> usize {
        self.max_delay
    }

    /// Appends one sample.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline(always)]
    pub fn push(&mut self, x: f32) {
        self.newest = (self.newest + 1) & self.mask;
        self.buffer[self.newest] = x;
    }

    /// The sample pushed `delay` samples before the newest (`0` = the newest), clamped to the
    /// capacity.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn read(&self, delay: usize) -> f32 {
        self.buffer[self.newest.wrapping_sub(delay.min(self.max_delay)) & self.mask]
    }

    /// Pushes every sample of `samples` and replaces it with the one `delay` samples before it
    /// (clamped to the capacity): a whole block through a fixed delay.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn delay_block(&mut self, samples: &mut [f32], delay: usize) {
        let delay = delay.min(self.max_delay);
        for x in samples {
            self.newest = (self.newest + 1) & self.mask;
            self.buffer[self.newest] = *x;
            *x = self.buffer[self.newest.wrapping_sub(delay) & self.mask];
        }
    }

    /// The signal `delay` samples back, linearly interpolated. `delay` is clamped to
    /// `0..=max_delay` (NaN reads as 0).
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn read_linear(&self, delay: f32) -> f32 {
        // `max` first: it maps NaN to the bound (`clamp` would keep NaN).
        let delay = delay.max(0.0).min(self.max_delay as f32);
        let whole = delay as usize;
        let fraction = delay - whole as f32;
        let newer = self.read_raw(whole);
        let older = self.read_raw(whole + 1);
        newer + fraction * (older - newer)
    }

    /// The signal `delay` samples back, cubic Hermite interpolated. `delay` is clamped to
    /// `1..=max_delay` (the reader needs one newer sample; NaN reads as 1).
    ///
    /// Audio thread: must not allocate, lock or block.
    // Always inlined: a modulated effect reads several taps per sample, and as a call each
    // read's dependent multiply-add chain could not overlap the next one's (measured: a
    // 3-voice stereo chorus spent 70 % of its time here).
    #[inline(always)]
    pub fn read_hermite(&self, delay: f32) -> f32 {
        // `max` first: it maps NaN to the bound (`clamp` would keep NaN, read as index 0, and
        // the newer tap below would then underflow).
        let delay = delay.max(1.0).min(self.max_delay as f32);
        let whole = delay as usize;
        let t = delay - whole as f32;
        let newer = self.read_raw(whole - 1);
        let y0 = self.read_raw(whole);
        let y1 = self.read_raw(whole + 1);
        let older = self.read_raw(whole + 2);
        let c1 = 0.5 * (y1 - newer);
        let c2 = newer - 2.5 * y0 + 2.0 * y1 - 0.5 * older;
        let c3 = 0.5 * (older - newer) + 1.5 * (y0 - y1);
        ((c3 * t + c2) * t + c1) * t + y0
    }

    #[inline(always)]
    fn read_raw(&self, delay: usize) -> f32 {
        self.buffer[self.newest.wrapping_sub(delay) & self.mask]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_delays_read_the_shortest_tap() {
        let mut line = DelayLine::new();
        line.prepare(16);
        for n in 0..16 {
            line.push(n as f32);
        }
        assert_eq!(line.read_hermite(f32::NAN), line.read_hermite(1.0));
        assert_eq!(line.read_linear(f32::NAN), line.read_linear(0.0));
        assert_eq!(line.read_hermite(f32::INFINITY), line.read_hermite(16.0));
    }
    use crate::test_support::{FS, dtft, sine};
    use std::f64::consts::TAU;

    /// Delays `input` by `delay` samples with one of the readers.
    fn run(input: &[f32], delay: f32, hermite: bool) -> Vec<f32> {
        let mut line = DelayLine::new();
        line.prepare(256);
        let mut output = vec![0.0; input.len()];
        rt::guard::no_alloc(|| {
            for (y, &x) in output.iter_mut().zip(input) {
                line.push(x);
                *y = if hermite {
                    line.read_hermite(delay)
                } else {
                    line.read_linear(delay)
                };
            }
        });
        output
    }

    /// Phase delay at `frequency` measured over a whole number of periods, in samples, taken
    /// within half a period of `near`.
    fn measured_delay(input: &[f32], output: &[f32], frequency: f64, near: f32) -> f64 {
        let (re_in, im_in) = dtft(input, frequency, FS);
        let (re_out, im_out) = dtft(output, frequency, FS);
        let period = FS / frequency;
        let lag = (im_in.atan2(re_in) - im_out.atan2(re_out)).rem_euclid(TAU) / TAU * period;
        lag + ((f64::from(near) - lag) / period).round() * period
    }

    /// The phase delay both readers have in theory. Catmull–Rom's extra taps are symmetric
    /// about the fraction, so they correct the magnitude (the chord's sag) and leave the phase
    /// of linear interpolation, `arg((1 − t) + t·e^−jw)`, unchanged: measured here to 1e-6.
    fn expected_delay(delay: f32, w: f64) -> f64 {
        let whole = f64::from(delay).floor();
        let t = f64::from(delay) - whole;
        let phase = (t * w.sin()).atan2(1.0 - t + t * w.cos());
        whole + phase / w
    }

    #[test]
    fn integer_reads_are_exact() {
        let mut line = DelayLine::new();
        line.prepare(100);
        for n in 0..300 {
            line.push(n as f32);
        }
        assert_eq!(line.read(0), 299.0);
        assert_eq!(line.read(100), 199.0);
        assert_eq!(line.read(1_000), 199.0, "reads clamp to the capacity");
        assert_eq!(line.read_linear(7.0), 292.0);
        assert_eq!(line.read_hermite(7.0), 292.0);
        // Both readers are exact on a ramp at any fraction.
        assert_eq!(line.read_linear(7.25), 291.75);
        assert_eq!(line.read_hermite(7.25), 291.75);
        line.reset();
        assert_eq!(line.read(3), 0.0);
    }

    /// A 1 kHz and a 5 kHz sine delayed by fractional amounts: the error against the exactly
    /// delayed sine, and the phase delay measured on 1 s (a whole number of periods).
    #[test]
    fn fractional_delay_is_accurate_on_a_sine() {
        for frequency in [1_000.0, 5_000.0] {
            let input = sine(frequency, 1.0, 48_000 + 256, FS);
            for delay in [10.3f32, 37.75, 100.5] {
                let w = TAU * frequency / FS;
                let exact = |n: usize| (w * (n as f64 - f64::from(delay))).sin();
                let mut worst = [0.0f64; 2];
                let mut phase_error = [0.0f64; 2];
                for (reader, hermite) in [false, true].into_iter().enumerate() {
                    let output = run(&input, delay, hermite);
                    worst[reader] = (256..output.len())
                        .map(|n| (f64::from(output[n]) - exact(n)).abs())
                        .fold(0.0, f64::max);
                    let measured = measured_delay(&input[256..], &output[256..], frequency, delay);
                    phase_error[reader] = (measured - expected_delay(delay, w)).abs();
                }
                println!(
                    "{frequency} Hz, delay {delay}: max error linear {:.2e}, hermite {:.2e}; \
                     phase delay {:.5} samples (off the analytic by {:.1e} / {:.1e})",
                    worst[0],
                    worst[1],
                    expected_delay(delay, w),
                    phase_error[0],
                    phase_error[1]
                );
                // Linear's worst error on a unit sine is about w²/8 (a chord's sag).
                assert!(worst[0] <= w * w / 8.0 * 1.05 + 1e-6, "linear {}", worst[0]);
                assert!(
                    worst[1] <= worst[0] / 4.0,
                    "hermite {} vs {}",
                    worst[1],
                    worst[0]
                );
                assert!(
                    phase_error[1] <= 1e-3 * frequency / 1_000.0,
                    "{}",
                    phase_error[1]
                );
            }
        }
    }
}
