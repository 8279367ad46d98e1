//! The compressor (docs/effects.md §3 #15): feed-forward, stereo-linked peak detection on
//! max(|L|, |R|), the Giannoulis–Massberg–Reiss soft-knee gain computer (docs/effects.md §2.6),
//! gain smoothed in dB with separate attack and release, and smoothed make-up gain.
//!
//! Detector: the maximum of max(|L|, |R|) over the last few milliseconds. Fed the rectified
//! signal alone, the gain computer would see the level collapse at every zero crossing and the
//! attack/release smoother would settle below the true reduction (a fraction of a dB of
//! static-curve error and gain ripple at twice the signal frequency). A sliding maximum holds a
//! waveform's true peak through its cycle for every frequency whose half period fits in the
//! window (≥ 100 Hz at the usual 5 ms), so the static curve is exact there, and it still rises
//! the instant the level does. The hold delays the start of a release by the window, so the
//! window is at most a quarter of the release and the release smoother's τ is shortened by it:
//! the gain still covers 63 % of a drop exactly at the release time.
//!
//! Timing convention (docs/effects.md §1 "define time constants once"): attack and release are τ,
//! the time the gain takes to cover 63 % of a step's change in dB.

use super::super::clamp_param;
use crate::automation::Kind;
use crate::blocks::approx;
use crate::blocks::envelope::time_constant_coef;
use crate::blocks::peak_hold::SlidingMax;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "compressor";

/// Declared range of [`Params::threshold`] (dB).
pub const THRESHOLD_RANGE: RangeInclusive<f32> = -60.0..=0.0;
/// Declared range of [`Params::ratio`].
pub const RATIO_RANGE: RangeInclusive<f32> = 1.0..=20.0;
/// Range of [`Params::attack`] (ms). The reference declares none; this keeps the smoother's
/// coefficient meaningful (0.01 ms is under one sample at 48 kHz).
pub const ATTACK_RANGE: RangeInclusive<f32> = 0.01..=1_000.0;
/// Range of [`Params::release`] (ms); undeclared in the reference, chosen like the attack's.
pub const RELEASE_RANGE: RangeInclusive<f32> = 1.0..=5_000.0;
/// Declared range of [`Params::knee`] (dB).
pub const KNEE_RANGE: RangeInclusive<f32> = 0.0..=40.0;
/// Declared range of [`Params::makeup_gain`] (dB).
pub const MAKEUP_RANGE: RangeInclusive<f32> = -12.0..=24.0;

/// Longest window of the peak detector (see the module notes).
const DETECTOR_WINDOW_MS: f64 = 5.0;
/// Make-up gain glides over this time constant so automation does not zip.
const MAKEUP_SMOOTHING_S: f64 = 0.01;
/// Level floor for the dB conversion: silence reads as −200 dBFS, not −∞.
const LEVEL_FLOOR: f32 = 1e-10;

/// The compressor's parameters. Field names are the reference JSON keys; a partial update
/// fills missing fields from [`Params::default`] (docs/effects.md §3.4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Threshold in dBFS, −60…0 (default −24).
    pub threshold: f32,
    /// Ratio, 1…20 (default 4).
    pub ratio: f32,
    /// Attack τ in ms (default 10).
    pub attack: f32,
    /// Release τ in ms (default 100).
    pub release: f32,
    /// Knee width in dB, 0…40 (default 6).
    pub knee: f32,
    /// Make-up gain in dB, −12…+24 (default 0).
    pub makeup_gain: f32,
}

crate::automatable!(Params {
    [threshold] "threshold", "Threshold", Kind::linear(THRESHOLD_RANGE, "dB");
    [ratio] "ratio", "Ratio", Kind::logarithmic(RATIO_RANGE, ":1");
    [attack] "attack", "Attack", Kind::logarithmic(ATTACK_RANGE, "ms");
    [release] "release", "Release", Kind::logarithmic(RELEASE_RANGE, "ms");
    [knee] "knee", "Knee", Kind::linear(KNEE_RANGE, "dB");
    [makeup_gain] "makeupGain", "Makeup Gain", Kind::linear(MAKEUP_RANGE, "dB");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            threshold: -24.0,
            ratio: 4.0,
            attack: 10.0,
            release: 100.0,
            knee: 6.0,
            makeup_gain: 0.0,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let defaults = Self::default();
        let clamp = clamp_param;
        Self {
            enabled: self.enabled,
            threshold: clamp(self.threshold, THRESHOLD_RANGE, defaults.threshold),
            ratio: clamp(self.ratio, RATIO_RANGE, defaults.ratio),
            attack: clamp(self.attack, ATTACK_RANGE, defaults.attack),
            release: clamp(self.release, RELEASE_RANGE, defaults.release),
            knee: clamp(self.knee, KNEE_RANGE, defaults.knee),
            makeup_gain: clamp(self.makeup_gain, MAKEUP_RANGE, defaults.makeup_gain),
        }
    }
}

/// The static curve: output level in dB for a detector level `level_db`, with the soft knee of
/// width `knee_db` centred on the threshold (docs/effects.md §2.6).
pub fn gain_computer(level_db: f64, threshold_db: f64, ratio: f64, knee_db: f64) -> f64 {
    let over = level_db - threshold_db;
    if 2.0 * over < -knee_db {
        level_db
    } else if 2.0 * over.abs() <= knee_db && knee_db > 0.0 {
        let into_knee = over + knee_db / 2.0;
        level_db + (1.0 / ratio - 1.0) * into_knee * into_knee / (2.0 * knee_db)
    } else {
        threshold_db + over / ratio
    }
}

/// The compressor. A disabled compressor passes audio through untouched.
#[derive(Clone, Debug)]
pub struct Compressor {
    params: Params,
    sample_rate: f64,
    detector: SlidingMax,
    attack_coef: f64,
    release_coef: f64,
    /// The smoothed gain change in dB (≤ 0 below the make-up).
    gain_db: f64,
    makeup: OnePole,
}

impl Compressor {
    /// A compressor with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let mut compressor = Self {
            params: params.clamped(),
            sample_rate: 48_000.0,
            detector: SlidingMax::new(),
            attack_coef: 0.0,
            release_coef: 0.0,
            gain_db: 0.0,
            makeup: OnePole::new(0.0, MAKEUP_SMOOTHING_S, 48_000.0),
        };
        compressor.update_coefficients();
        compressor
            .makeup
            .reset_to(db_to_gain(compressor.params.makeup_gain));
        compressor
    }

    /// Applies new parameters (out-of-range values are clamped). Threshold, ratio and knee act
    /// through the gain smoother and make-up gain glides, so changes do not click.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        self.params = params.clamped();
        self.update_coefficients();
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The current gain change in dB, make-up excluded (≤ 0; for meters).
    pub fn gain_reduction_db(&self) -> f32 {
        self.gain_db as f32
    }

    fn update_coefficients(&mut self) {
        let samples = |ms: f32| f64::from(ms) * 1e-3 * self.sample_rate;
        let release = samples(self.params.release);
        let hold = (samples(DETECTOR_WINDOW_MS as f32).min(release / 4.0))
            .round()
            .max(1.0);
        self.detector.set_window(hold as usize);
        self.attack_coef = time_constant_coef(samples(self.params.attack), 1.0);
        self.release_coef = time_constant_coef(release - hold, 1.0);
        self.makeup.set_time(MAKEUP_SMOOTHING_S, self.sample_rate);
        self.makeup.set_target(db_to_gain(self.params.makeup_gain));
    }
}

fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

impl Effect for Compressor {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        self.detector
            .prepare(spec.samples_for_ms(DETECTOR_WINDOW_MS));
        self.update_coefficients();
        self.reset();
    }

    fn reset(&mut self) {
        self.detector.reset();
        self.gain_db = 0.0;
        self.makeup.reset_to(db_to_gain(self.params.makeup_gain));
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let threshold = f64::from(self.params.threshold);
        let ratio = f64::from(self.params.ratio);
        let knee = f64::from(self.params.knee);
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let peak = self.detector.push(l.abs().max(r.abs()));
            // Per sample, so the branch-free approximations (within 2e-7 dB), not libm.
            let level_db = approx::gain_to_db(f64::from(peak.max(LEVEL_FLOOR)));
            let target_db = gain_computer(level_db, threshold, ratio, knee) - level_db;
            let coef = if target_db < self.gain_db {
                self.attack_coef
            } else {
                self.release_coef
            };
            self.gain_db = target_db + coef * (self.gain_db - target_db);
            let gain = approx::db_to_gain(self.gain_db) as f32 * self.makeup.next_value();
            *l *= gain;
            *r *= gain;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::effects::conformance::conformance_tests;
    use crate::test_support::{FS, sine};

    conformance_tests!(Compressor {
        /// +24 dB of make-up on a full-scale attack, before the gain has come down: 15.8.
        const OUTPUT_BOUND: f32 = 10.0 * 15.9;
    });

    fn prepared(params: Params) -> Compressor {
        let mut compressor = Compressor::new(&params);
        compressor.prepare(&ProcessSpec::stereo(FS, 512));
        compressor
    }

    /// Processes a mono signal on both channels in blocks of 512, under the allocation guard.
    fn run(compressor: &mut Compressor, input: &[f32]) -> Vec<f32> {
        let mut left = input.to_vec();
        let mut right = input.to_vec();
        for (l, r) in left.chunks_mut(512).zip(right.chunks_mut(512)) {
            rt::guard::no_alloc(|| compressor.process(&mut Block::new(l, r)));
        }
        let bits = |s: &[f32]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&left),
            bits(&right),
            "linked channels get the same gain"
        );
        left
    }

    #[test]
    fn gain_computer_matches_the_published_curve() {
        // Below the knee: unity. Above: T + (x − T)/R. Knee centre: half the full reduction
        // at the threshold is (1/R − 1)·W/8.
        assert_eq!(gain_computer(-40.0, -24.0, 4.0, 6.0), -40.0);
        assert_eq!(gain_computer(0.0, -24.0, 4.0, 6.0), -18.0);
        assert!((gain_computer(-24.0, -24.0, 4.0, 6.0) - (-24.0 - 0.75 * 6.0 / 8.0)).abs() < 1e-12);
        // Continuous at both knee edges.
        for edge in [-27.0, -21.0] {
            let below = gain_computer(edge - 1e-9, -24.0, 4.0, 6.0);
            let above = gain_computer(edge + 1e-9, -24.0, 4.0, 6.0);
            assert!((below - above).abs() < 1e-6, "{edge}");
        }
        // Hard knee.
        assert_eq!(gain_computer(-10.0, -20.0, 2.0, 0.0), -15.0);
        assert_eq!(gain_computer(-30.0, -20.0, 2.0, 0.0), -30.0);
    }

    /// docs/effects.md §1 test 7: a 1 kHz sine from −40 to 0 dBFS in 2 dB steps of 0.5 s; over the
    /// last half of each step the output level (RMS + 3.01 dB, i.e. the peak of a sine) is the gain
    /// computer's output for the input peak, plus make-up, within 0.1 dB.
    #[test]
    fn static_curve_matches_the_gain_computer() {
        for params in [
            Params {
                enabled: true,
                ..Params::default()
            },
            Params {
                enabled: true,
                threshold: -40.0,
                ratio: 10.0,
                knee: 0.0,
                makeup_gain: 6.0,
                ..Params::default()
            },
            Params {
                enabled: true,
                threshold: -20.0,
                ratio: 2.0,
                knee: 20.0,
                ..Params::default()
            },
        ] {
            let mut compressor = prepared(params.clone());
            let step = (FS / 2.0) as usize;
            let levels: Vec<f64> = (0..=20).map(|i| -40.0 + 2.0 * f64::from(i)).collect();
            let input: Vec<f32> = levels
                .iter()
                .flat_map(|&db| sine(1_000.0, 10f64.powf(db / 20.0), step, FS))
                .collect();
            let output = run(&mut compressor, &input);
            let mut worst = 0.0f64;
            for (i, &db) in levels.iter().enumerate() {
                let last_half = &output[i * step + step / 2..(i + 1) * step];
                let power = last_half.iter().map(|&y| f64::from(y).powi(2)).sum::<f64>()
                    / last_half.len() as f64;
                let measured = 10.0 * power.log10() + 10.0 * 2f64.log10();
                let expected = gain_computer(
                    db,
                    f64::from(params.threshold),
                    f64::from(params.ratio),
                    f64::from(params.knee),
                ) + f64::from(params.makeup_gain);
                worst = worst.max((measured - expected).abs());
            }
            println!(
                "T {} R {} knee {} makeup {}: worst static error {worst:.4} dB",
                params.threshold, params.ratio, params.knee, params.makeup_gain
            );
            assert!(worst <= 0.1, "{worst}");
        }
    }

    /// docs/effects.md §1 test 8: ±20 dB level steps; the gain covers 63 % of its change in dB
    /// within ±10 % of the attack (up) and release (down) times. DC input, so out/in is the gain at
    /// every sample.
    #[test]
    fn attack_and_release_follow_their_time_constants() {
        for (attack, release) in [(10.0f32, 100.0f32), (1.0, 50.0), (0.1, 10.0), (30.0, 500.0)] {
            let params = Params {
                enabled: true,
                threshold: -50.0,
                ratio: 4.0,
                knee: 0.0,
                attack,
                release,
                ..Params::default()
            };
            let mut compressor = prepared(params);
            let quiet = 10f32.powf(-40.0 / 20.0);
            let loud = 10f32.powf(-20.0 / 20.0);
            let segment = FS as usize * 2;
            let input: Vec<f32> = [quiet, loud, quiet]
                .iter()
                .flat_map(|&level| std::iter::repeat_n(level, segment))
                .collect();
            let output = run(&mut compressor, &input);
            let gain_db: Vec<f64> = output
                .iter()
                .zip(&input)
                .map(|(&y, &x)| 20.0 * f64::from(y / x).log10())
                .collect();
            // Quiet: −7.5 dB of gain; loud: −22.5 dB.
            let (quiet_gain, loud_gain) = (-7.5, -22.5);
            let change = loud_gain - quiet_gain;
            let crossing = |start: usize, from: f64| {
                let mark = from
                    + (1.0 - (-1.0f64).exp()) * (if from == quiet_gain { change } else { -change });
                let falling = from == quiet_gain;
                (start..start + segment)
                    .position(|n| {
                        if falling {
                            gain_db[n] <= mark
                        } else {
                            gain_db[n] >= mark
                        }
                    })
                    // Sample n of the step holds the gain after n + 1 updates.
                    .map(|n| (n + 1) as f64 / FS * 1e3)
                    .expect("never reached 63 %")
            };
            assert!((gain_db[segment - 1] - quiet_gain).abs() < 1e-3);
            assert!((gain_db[2 * segment - 1] - loud_gain).abs() < 1e-3);
            let attack_ms = crossing(segment, quiet_gain);
            let release_ms = crossing(2 * segment, loud_gain);
            println!(
                "attack {attack} ms: measured {attack_ms:.2}; release {release} ms: measured {release_ms:.2}"
            );
            assert!(
                (attack_ms / f64::from(attack) - 1.0).abs() <= 0.1,
                "{attack_ms}"
            );
            assert!(
                (release_ms / f64::from(release) - 1.0).abs() <= 0.1,
                "{release_ms}"
            );
        }
    }

    #[test]
    fn disabled_is_bit_exact_bypass_and_nan_does_not_stick() {
        let input = sine(440.0, 0.9, 4_800, FS);
        let mut compressor = prepared(Params::default());
        assert_eq!(run(&mut compressor, &input), input);

        let mut compressor = prepared(Params {
            enabled: true,
            ..Params::default()
        });
        let mut poisoned = input.clone();
        poisoned[100] = f32::NAN;
        let output = run(&mut compressor, &poisoned);
        assert!(output[200..].iter().all(|y| y.is_finite()));
        assert!(compressor.gain_reduction_db().is_finite());
    }

    #[test]
    fn params_use_the_reference_json_keys_and_defaults() {
        let json = serde_json::to_value(Params::default()).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "attack",
                "enabled",
                "knee",
                "makeupGain",
                "ratio",
                "release",
                "threshold"
            ]
        );
        let partial: Params =
            serde_json::from_str(r#"{"enabled": true, "makeupGain": 3.5, "unknown": 1}"#).unwrap();
        assert_eq!(
            partial,
            Params {
                enabled: true,
                makeup_gain: 3.5,
                ..Params::default()
            }
        );
        let wild = Params {
            ratio: 100.0,
            threshold: f32::NAN,
            knee: -3.0,
            ..Params::default()
        };
        let clamped = wild.clamped();
        assert_eq!(
            (clamped.ratio, clamped.threshold, clamped.knee),
            (20.0, -24.0, 0.0)
        );
    }

    /// The static curve off the sample grid: at 997 Hz the detector's windowed maximum wanders
    /// up to 1 − cos(π·997/48000) (0.02 dB) below the true peak from window to window, and at
    /// 110 Hz the 5 ms window only just spans a half period; both stay within the 0.1 dB of
    /// docs/effects.md §1 test 7.
    #[test]
    fn static_curve_holds_off_the_sample_grid_and_for_bass() {
        for frequency in [997.0, 110.0] {
            let params = Params {
                enabled: true,
                ..Params::default()
            };
            let mut compressor = prepared(params.clone());
            let input = sine(frequency, 10f64.powf(-6.0 / 20.0), FS as usize, FS);
            let output = run(&mut compressor, &input);
            let last_half = &output[24_000..];
            let peak = last_half.iter().fold(0.0f32, |m, y| m.max(y.abs()));
            let measured = 20.0 * f64::from(peak).log10();
            let expected = gain_computer(-6.0, -24.0, 4.0, 6.0);
            println!("{frequency} Hz: output peak {measured:.3} dB, curve {expected:.3} dB");
            assert!(
                (measured - expected).abs() <= 0.1,
                "{frequency}: {measured}"
            );
        }
    }

    /// docs/effects.md §1 tests 24 and 27: block size does not change a bit of the output, and
    /// reset gives a fresh instance.
    #[test]
    fn output_is_independent_of_block_size_and_reset_is_fresh() {
        let params = Params {
            enabled: true,
            threshold: -30.0,
            makeup_gain: 4.0,
            ..Params::default()
        };
        let mut noise = crate::test_support::Noise::new(9);
        let input: Vec<f32> = (0..20_000)
            .map(|n| noise.next_f64() as f32 * (n % 7_000) as f32 / 7_000.0)
            .collect();
        let render = |compressor: &mut Compressor, block: usize| {
            let (mut left, mut right) = (input.clone(), input.clone());
            for (l, r) in left.chunks_mut(block).zip(right.chunks_mut(block)) {
                compressor.process(&mut Block::new(l, r));
            }
            left.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        };
        let reference = render(&mut prepared(params.clone()), 512);
        for block in [1, 37, 64, 500] {
            assert_eq!(
                render(&mut prepared(params.clone()), block),
                reference,
                "block {block}"
            );
        }
        let mut reused = prepared(params);
        render(&mut reused, 64);
        reused.reset();
        assert_eq!(
            render(&mut reused, 512),
            reference,
            "reset is not a fresh start"
        );
    }

    #[test]
    fn makeup_gain_changes_glide() {
        let mut compressor = prepared(Params {
            enabled: true,
            threshold: 0.0,
            ..Params::default()
        });
        let input = vec![0.01f32; 4_800];
        run(&mut compressor, &input);
        compressor.set_params(&Params {
            enabled: true,
            threshold: 0.0,
            makeup_gain: 12.0,
            ..Params::default()
        });
        let output = run(&mut compressor, &input);
        let largest_step = output
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0f32, f32::max);
        // 0.01 → 0.0398 in one jump would be a step of 0.03; the glide's steps are ≤ 1/480 of it.
        assert!(largest_step < 0.03 / 400.0, "{largest_step}");
        assert!((output[4_799] / 0.01 - db_to_gain(12.0)).abs() < 1e-3);
    }
}
