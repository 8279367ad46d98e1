//! The YIN pitch detector (de Cheveigné & Kawahara, JASA 2002; docs/effects.md §2.4), run on a
//! fixed sample-count schedule so its result never depends on how the host cuts blocks.
//!
//! Each analysis takes the last `frame` samples (a power of two ≥ 2× the longest period: 2048
//! at 48 kHz for 60 Hz) and computes, for lags τ up to the longest period, the difference
//! function d(τ) = Σ_{j<W} (x_j − x_{j+τ})² over an integration window W = frame/2. Expanded,
//! d(τ) = e₀ + e_τ − 2·r(τ): the two energies come from a running sum and the correlation r(τ)
//! from one real FFT of the window (zero padded), one of the frame and one inverse (a circular
//! correlation of length `frame` has no wrap-around here because τ + W ≤ frame). That is
//! O(N log N) where the direct sum is O(N·τmax), which is why the crate takes `realfft`.
//! Then the cumulative mean normalised difference d′(τ) = d(τ)·τ / Σ_{1..τ} d, the first τ with
//! d′ below the absolute threshold 0.15 walked down to its local minimum, and a parabola through
//! d at τ−1, τ, τ+1 for the fractional period (interpolating d rather than d′ avoids the bias
//! of d′'s 1/Σ tilt). Confidence = 1 − d′ at the chosen lag; a frame is voiced when the
//! confidence exceeds 0.5 (docs/effects.md §2.4: the reference's gate), which the threshold
//! implies.
//!
//! Schedule: a new frame is captured every `hop` = frame/4 samples (512 at 48 kHz), and its
//! analysis runs in four stages `hop/4` samples apart (copy + FFT of the window; FFT of the
//! frame + spectrum product; inverse FFT; difference function and search), so a 64-sample
//! block carries at most one stage and no block pays for a whole analysis. The estimate is
//! published by the last stage, `3·hop/4` samples after its frame ended: always at the same
//! sample whatever the block size. Plans, buffers and FFT scratch are made in `prepare`;
//! [`Yin::push`] never allocates.

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use std::fmt;
use std::sync::Arc;

/// The absolute threshold on d′ (docs/effects.md §2.4: 0.10–0.15, default 0.15).
pub const THRESHOLD: f64 = 0.15;
/// Frames whose confidence (1 − d′) is at most this are unvoiced (docs/effects.md §2.4: > 0.5).
pub const MIN_CONFIDENCE: f32 = 0.5;
/// The lowest pitch the effects look for, Hz (docs/effects.md §2.4).
pub const MIN_HZ: f64 = 60.0;
/// The highest pitch the effects look for, Hz (docs/effects.md §2.4).
pub const MAX_HZ: f64 = 1_000.0;
/// Frames quieter than this mean square are unvoiced (−100 dBFS RMS): d′ of silence is 0/0.
const SILENCE_MEAN_SQUARE: f64 = 1e-10;
/// Analysis stages per hop.
const STAGES: usize = 4;

/// One analysis result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The period in samples (fractional); meaningful when `voiced`.
    pub period: f64,
    /// 1 − d′ at the chosen lag, 0…1.
    pub confidence: f32,
    /// Whether a pitch was found with confidence above [`MIN_CONFIDENCE`].
    pub voiced: bool,
}

impl Estimate {
    /// No pitch.
    pub const UNVOICED: Self = Self {
        period: 0.0,
        confidence: 0.0,
        voiced: false,
    };

    /// The pitch in Hz at `sample_rate` (0 when unvoiced).
    pub fn frequency(&self, sample_rate: f64) -> f64 {
        if self.voiced && self.period > 0.0 {
            sample_rate / self.period
        } else {
            0.0
        }
    }
}

/// A streaming YIN detector. [`Yin::prepare`] before use.
#[derive(Clone)]
pub struct Yin {
    min_hz: f64,
    max_hz: f64,
    /// Frame length N (power of two) and integration window W = N/2.
    frame_len: usize,
    window_len: usize,
    min_lag: usize,
    max_lag: usize,
    hop: usize,
    /// The last N input samples (ring, N a power of two).
    history: Vec<f32>,
    write: usize,
    /// Samples until the next stage runs, and which one it is.
    until_stage: usize,
    stage: usize,
    /// The captured frame, kept intact for the energies.
    frame: Vec<f32>,
    /// FFT input (the FFT uses it as scratch).
    fft_in: Vec<f32>,
    window_spectrum: Vec<Complex<f32>>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    correlation: Vec<f32>,
    difference: Vec<f64>,
    normalised: Vec<f64>,
    forward: Option<Arc<dyn RealToComplex<f32>>>,
    inverse: Option<Arc<dyn ComplexToReal<f32>>>,
    estimate: Estimate,
}

impl fmt::Debug for Yin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Yin")
            .field("frame_len", &self.frame_len)
            .field("hop", &self.hop)
            .field("min_lag", &self.min_lag)
            .field("max_lag", &self.max_lag)
            .field("estimate", &self.estimate)
            .finish_non_exhaustive()
    }
}

impl Default for Yin {
    fn default() -> Self {
        Self::new(MIN_HZ, MAX_HZ)
    }
}

impl Yin {
    /// A detector for pitches in `min_hz..=max_hz`; call [`Yin::prepare`] before use.
    pub fn new(min_hz: f64, max_hz: f64) -> Self {
        Self {
            min_hz,
            max_hz,
            frame_len: 0,
            window_len: 0,
            min_lag: 2,
            max_lag: 2,
            hop: STAGES,
            history: Vec::new(),
            write: 0,
            until_stage: 1,
            stage: 0,
            frame: Vec::new(),
            fft_in: Vec::new(),
            window_spectrum: Vec::new(),
            spectrum: Vec::new(),
            scratch: Vec::new(),
            correlation: Vec::new(),
            difference: Vec::new(),
            normalised: Vec::new(),
            forward: None,
            inverse: None,
            estimate: Estimate::UNVOICED,
        }
    }

    /// Sizes the frame, plans the FFTs and allocates every buffer for `sample_rate`, then
    /// resets.
    pub fn prepare(&mut self, sample_rate: f64) {
        let longest = (sample_rate / self.min_hz).ceil() as usize;
        self.frame_len = (2 * longest).next_power_of_two().max(64);
        self.window_len = self.frame_len / 2;
        self.max_lag = (longest + 1).min(self.window_len - 1);
        self.min_lag = ((sample_rate / self.max_hz).floor() as usize).clamp(2, self.max_lag - 2);
        self.hop = self.frame_len / 4;
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(self.frame_len);
        let inverse = planner.plan_fft_inverse(self.frame_len);
        let scratch = forward
            .get_scratch_len()
            .max(inverse.get_scratch_len())
            .max(1);
        self.history = vec![0.0; self.frame_len];
        self.frame = vec![0.0; self.frame_len];
        self.fft_in = vec![0.0; self.frame_len];
        self.window_spectrum = forward.make_output_vec();
        self.spectrum = forward.make_output_vec();
        self.scratch = vec![Complex::default(); scratch];
        self.correlation = vec![0.0; self.frame_len];
        self.difference = vec![0.0; self.max_lag + 1];
        self.normalised = vec![1.0; self.max_lag + 1];
        self.forward = Some(forward);
        self.inverse = Some(inverse);
        self.reset();
    }

    /// Forgets the input and the estimate.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        self.history.fill(0.0);
        self.write = 0;
        self.stage = 0;
        self.until_stage = self.hop;
        self.estimate = Estimate::UNVOICED;
    }

    /// Samples between two analyses.
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// The analysis frame length.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// The latest published estimate.
    pub fn estimate(&self) -> Estimate {
        self.estimate
    }

    /// Feeds one sample; runs an analysis stage when one is due. Returns `true` at the sample
    /// where a new estimate is published.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn push(&mut self, x: f32) -> bool {
        let mask = self.frame_len - 1;
        self.history[self.write] = x;
        self.write = (self.write + 1) & mask;
        self.until_stage -= 1;
        if self.until_stage > 0 {
            return false;
        }
        self.until_stage = self.hop / STAGES;
        let stage = self.stage;
        self.stage = (self.stage + 1) % STAGES;
        self.run_stage(stage);
        stage == STAGES - 1
    }

    /// Analyses one whole frame at once (`frame.len()` must be [`Yin::frame_len`]): the same
    /// stages, for tests and offline use.
    pub fn analyse(&mut self, frame: &[f32]) -> Estimate {
        self.frame.copy_from_slice(frame);
        for stage in 0..STAGES {
            self.run_stage_on_frame(stage);
        }
        self.estimate
    }

    fn run_stage(&mut self, stage: usize) {
        if stage == 0 {
            // The frame is the ring unrolled: oldest sample first.
            let (newer, older) = self.history.split_at(self.write);
            let split = older.len();
            self.frame[..split].copy_from_slice(older);
            self.frame[split..].copy_from_slice(newer);
        }
        self.run_stage_on_frame(stage);
    }

    fn run_stage_on_frame(&mut self, stage: usize) {
        let (Some(forward), Some(inverse)) = (&self.forward, &self.inverse) else {
            return;
        };
        match stage {
            0 => {
                let w = self.window_len;
                self.fft_in[..w].copy_from_slice(&self.frame[..w]);
                self.fft_in[w..].fill(0.0);
                // Lengths are fixed at prepare, so the FFT cannot fail.
                let _ = forward.process_with_scratch(
                    &mut self.fft_in,
                    &mut self.window_spectrum,
                    &mut self.scratch,
                );
            }
            1 => {
                self.fft_in.copy_from_slice(&self.frame);
                let _ = forward.process_with_scratch(
                    &mut self.fft_in,
                    &mut self.spectrum,
                    &mut self.scratch,
                );
                for (s, a) in self.spectrum.iter_mut().zip(&self.window_spectrum) {
                    *s *= a.conj();
                }
                // Real input: DC and Nyquist are real (the inverse insists).
                let last = self.spectrum.len() - 1;
                self.spectrum[0].im = 0.0;
                self.spectrum[last].im = 0.0;
            }
            2 => {
                let _ = inverse.process_with_scratch(
                    &mut self.spectrum,
                    &mut self.correlation,
                    &mut self.scratch,
                );
            }
            _ => self.estimate = self.search(),
        }
    }

    /// The difference function, d′, the threshold search and the interpolation.
    fn search(&mut self) -> Estimate {
        let w = self.window_len;
        let frame = &self.frame;
        let scale = 1.0 / self.frame_len as f64;
        let e0: f64 = frame[..w]
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum();
        if e0 < SILENCE_MEAN_SQUARE * w as f64 {
            return Estimate::UNVOICED;
        }
        let mut e_tau = e0;
        let mut running = 0.0;
        self.difference[0] = 0.0;
        self.normalised[0] = 1.0;
        for tau in 1..=self.max_lag {
            let leaving = f64::from(frame[tau - 1]);
            let entering = f64::from(frame[tau + w - 1]);
            e_tau += entering * entering - leaving * leaving;
            let d = (e0 + e_tau - 2.0 * f64::from(self.correlation[tau]) * scale).max(0.0);
            self.difference[tau] = d;
            running += d;
            self.normalised[tau] = if running > 0.0 {
                d * tau as f64 / running
            } else {
                1.0
            };
        }
        let last = self.max_lag - 1;
        let dn = &self.normalised;
        let mut tau = (self.min_lag..=last).find(|&t| dn[t] < THRESHOLD);
        if let Some(t) = tau.as_mut() {
            while *t < last && dn[*t + 1] < dn[*t] {
                *t += 1;
            }
        }
        let mut tau = tau.unwrap_or_else(|| {
            (self.min_lag..=last)
                .min_by(|&a, &b| dn[a].total_cmp(&dn[b]))
                .unwrap_or(self.min_lag)
        });
        let confidence = (1.0 - dn[tau]).clamp(0.0, 1.0) as f32;
        // d's own minimum is within a step of d′'s.
        let d = &self.difference;
        if tau < last && d[tau + 1] < d[tau] {
            tau += 1;
        } else if tau > self.min_lag && d[tau - 1] < d[tau] {
            tau -= 1;
        }
        let (a, b, c) = (d[tau - 1], d[tau], d[tau + 1]);
        let curvature = a - 2.0 * b + c;
        let offset = if curvature > 0.0 {
            (0.5 * (a - c) / curvature).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        Estimate {
            period: tau as f64 + offset,
            confidence,
            voiced: confidence > MIN_CONFIDENCE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{FS, Noise};
    use std::f64::consts::TAU;

    /// Band-limited sawtooth (harmonics below 20 kHz, 1/k).
    fn saw(frequency: f64, len: usize) -> Vec<f32> {
        let harmonics = (20_000.0 / frequency) as usize;
        (0..len)
            .map(|n| {
                let t = n as f64 / FS;
                let sum: f64 = (1..=harmonics)
                    .map(|k| (TAU * k as f64 * frequency * t).sin() / k as f64)
                    .sum();
                (0.5 * sum) as f32
            })
            .collect()
    }

    fn cents(measured: f64, truth: f64) -> f64 {
        1200.0 * (measured / truth).log2()
    }

    /// docs/effects.md §1 test 12: sines, band-limited saws and saws with noise at 20 dB SNR from
    /// E2 to E6, frames of 2048 every 1024 samples: median error ≤ 1 cent (≤ 2 above 1 kHz), no
    /// error over 50 cents.
    #[test]
    fn yin_finds_the_pitch_of_sines_saws_and_noisy_saws() {
        let notes = [
            82.41, 110.0, 146.83, 196.0, 246.94, 329.63, 440.0, 659.26, 880.0, 1_046.5, 1_318.51,
        ];
        let mut yin = Yin::new(MIN_HZ, 1_400.0);
        yin.prepare(FS);
        assert_eq!(yin.frame_len(), 2_048);
        let len = FS as usize;
        let mut rng = Noise::new(12);
        let mut worst_median = [0.0f64; 3];
        for &f in &notes {
            let sine: Vec<f32> = (0..len)
                .map(|n| (0.5 * (TAU * f * n as f64 / FS + 0.3).sin()) as f32)
                .collect();
            let saw = saw(f, len);
            let rms = (saw.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / len as f64).sqrt();
            // Uniform noise of variance a²/3 at 20 dB below the saw.
            let noise_amplitude = rms / 10.0 * 3f64.sqrt();
            let noisy: Vec<f32> = saw
                .iter()
                .map(|&x| x + (noise_amplitude * rng.next_f64()) as f32)
                .collect();
            for (kind, signal) in [sine, saw, noisy].iter().enumerate() {
                let mut errors: Vec<f64> = signal
                    .windows(2_048)
                    .step_by(1_024)
                    .map(|frame| {
                        let estimate = yin.analyse(frame);
                        assert!(estimate.voiced, "{f} Hz kind {kind}: unvoiced");
                        cents(estimate.frequency(FS), f).abs()
                    })
                    .collect();
                errors.sort_by(f64::total_cmp);
                let median = errors[errors.len() / 2];
                let worst = errors[errors.len() - 1];
                println!(
                    "{f:8.2} Hz {}: median {median:.3} ct, worst {worst:.3} ct",
                    ["sine", "saw", "saw+noise"][kind]
                );
                let limit = if f > 1_000.0 { 2.0 } else { 1.0 };
                assert!(median <= limit, "{f} Hz kind {kind}: median {median}");
                assert!(worst <= 50.0, "{f} Hz kind {kind}: gross error {worst}");
                worst_median[kind] = worst_median[kind].max(median);
            }
        }
        println!("worst medians: sine {worst_median:.3?}");
    }

    /// docs/effects.md §1 test 12, plucks: E2, A2, G3 and E4 as decaying strings (eight harmonics,
    /// the upper ones dying faster, a bright noisy attack), 2 s each: median error ≤ 1 cent
    /// over the frames the detector calls voiced, which must be most of them, and none over
    /// 50 cents.
    #[test]
    fn yin_follows_plucked_strings() {
        let mut yin = Yin::default();
        yin.prepare(FS);
        let mut rng = Noise::new(41);
        for f in [82.41, 110.0, 196.0, 329.63] {
            let signal: Vec<f32> = (0..2 * FS as usize)
                .map(|n| {
                    let t = n as f64 / FS;
                    let strings: f64 = (1..=8)
                        .map(|k| {
                            let k = f64::from(k);
                            (TAU * k * f * t).sin() * (-t * (1.5 + 1.2 * k)).exp() / k
                        })
                        .sum();
                    let attack = 0.3 * rng.next_f64() * (-t * 200.0).exp();
                    (0.6 * strings + attack) as f32
                })
                .collect();
            let estimates: Vec<Estimate> = signal
                .windows(2_048)
                .step_by(1_024)
                .map(|frame| yin.analyse(frame))
                .collect();
            let mut errors: Vec<f64> = estimates
                .iter()
                .filter(|e| e.voiced)
                .map(|e| cents(e.frequency(FS), f).abs())
                .collect();
            errors.sort_by(f64::total_cmp);
            let median = errors[errors.len() / 2];
            let worst = errors[errors.len() - 1];
            println!(
                "pluck {f} Hz: {} of {} frames voiced, median {median:.3} ct, worst {worst:.3} ct",
                errors.len(),
                estimates.len()
            );
            assert!(
                errors.len() * 10 >= estimates.len() * 8,
                "{f}: too few voiced frames"
            );
            assert!(median <= 1.0 && worst <= 50.0, "{f}: {median} {worst}");
        }
    }

    /// The streaming schedule: estimates appear every hop, ¾ hop after their frame, in every
    /// block size alike; silence and noise are unvoiced; nothing allocates.
    #[test]
    fn streaming_estimates_follow_the_sample_schedule() {
        let mut yin = Yin::default();
        yin.prepare(FS);
        let hop = yin.hop();
        assert_eq!(hop, 512);
        let signal: Vec<f32> = (0..20_000)
            .map(|n| (0.3 * (TAU * 196.0 * n as f64 / FS).sin()) as f32)
            .collect();
        let mut published = Vec::with_capacity(signal.len() / hop + 1);
        rt::guard::no_alloc(|| {
            for (n, &x) in signal.iter().enumerate() {
                if yin.push(x) {
                    published.push(n);
                }
            }
        });
        assert_eq!(published[0], hop + 3 * hop / 4 - 1);
        assert!(published.windows(2).all(|w| w[1] - w[0] == hop));
        let estimate = yin.estimate();
        assert!(
            estimate.voiced && estimate.confidence > 0.99,
            "{estimate:?}"
        );
        assert!(cents(estimate.frequency(FS), 196.0).abs() < 0.5);

        let mut rng = Noise::new(4);
        let mut quiet = Yin::default();
        quiet.prepare(FS);
        for _ in 0..10_000 {
            quiet.push(0.0);
        }
        assert_eq!(quiet.estimate(), Estimate::UNVOICED);
        for _ in 0..10_000 {
            quiet.push(rng.next_f64() as f32);
        }
        assert!(!quiet.estimate().voiced, "{:?}", quiet.estimate());
        quiet.reset();
        assert_eq!(quiet.estimate(), Estimate::UNVOICED);
    }
}
