//! The lookahead limiter (docs/effects.md §3 #35 and §2.7): no sample leaves above the
//! limit, and the gain reaches each peak's required value before the peak itself does.
//!
//! How the guarantee is built. The audio is delayed by `D` samples (the reported latency). For
//! every input sample the required gain is `g = min(1, limit/peak)`, `peak = max(|L|, |R|)`
//! (stereo-linked, so the image does not shift). The gain path takes the minimum of `g` over the
//! last `D + 1` samples (a sliding maximum of the peak), lets it rise again through a one-pole
//! release that never goes above that minimum, and averages the result over the same `D + 1`
//! samples (a box filter: the attack is a linear ramp of `D + 1` samples). When a peak `p`
//! leaves the delay line, every one of the averaged values was computed with `p` inside its
//! window, so each is at most `g[p]`, and so is their mean: `|y| ≤ limit`, whatever the
//! programme. The box's running sum is recomputed from its ring once per window, so rounding
//! cannot accumulate.
//!
//! `threshold` is the level peaks are held at; `ceiling` bounds the output absolutely (the
//! lower of the two is the limit), and a final clamp at the ceiling is kept as a safety net
//! for the moment a parameter drops while a peak is already in the delay line.
//!
//! Disabled, the limiter still delays by its latency (exact, delayed input) so that switching
//! it never shifts the audio in time, and does nothing else (it is the master chain's one
//! always-present cost). Switching it on replays the samples still in the delay line through
//! the detector and gain path from a fresh state, so every sample yet to leave has been seen:
//! each box value averaged for its output was computed with it inside the detector window, as
//! in steady operation, and the guarantee holds from the first enabled sample. (The release
//! state from peaks that already left is not rebuilt: those samples are out.)

use super::super::{clamp_param, db_to_gain, gain_to_db};
use crate::automation::Kind;
use crate::blocks::delay::DelayLine;
use crate::blocks::envelope::time_constant_coef;
use crate::blocks::peak_hold::SlidingMax;
use crate::effect::{Block, Effect, ProcessSpec};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "limiter";

/// Declared range of [`Params::threshold`] (dB).
pub const THRESHOLD_RANGE: RangeInclusive<f32> = -12.0..=0.0;
/// Range of [`Params::release`] (ms); the reference declares none.
pub const RELEASE_RANGE: RangeInclusive<f32> = 1.0..=5_000.0;
/// Declared range of [`Params::ceiling`] (dB).
pub const CEILING_RANGE: RangeInclusive<f32> = -3.0..=0.0;

/// The lookahead: long enough for a smooth attack ramp, short enough for live playing.
pub const LOOKAHEAD_MS: f64 = 2.0;

/// The limiter's parameters. Field names are the reference JSON keys; a partial update fills
/// missing fields from [`Params::default`] (docs/effects.md §3.4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default **on**: the master chain's safety).
    pub enabled: bool,
    /// Level peaks are held at, dBFS, −12…0 (default −1).
    pub threshold: f32,
    /// Release τ in ms (63 % of the gain's recovery; default 50).
    pub release: f32,
    /// Absolute output bound, dBFS, −3…0 (default −0.3).
    pub ceiling: f32,
}

crate::automatable!(Params {
    [threshold] "threshold", "Threshold", Kind::linear(THRESHOLD_RANGE, "dB");
    [release] "release", "Release", Kind::logarithmic(RELEASE_RANGE, "ms");
    [ceiling] "ceiling", "Ceiling", Kind::linear(CEILING_RANGE, "dB");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold: -1.0,
            release: 50.0,
            ceiling: -0.3,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let defaults = Self::default();
        Self {
            enabled: self.enabled,
            threshold: clamp_param(self.threshold, THRESHOLD_RANGE, defaults.threshold),
            release: clamp_param(self.release, RELEASE_RANGE, defaults.release),
            ceiling: clamp_param(self.ceiling, CEILING_RANGE, defaults.ceiling),
        }
    }
}

/// The lookahead limiter.
#[derive(Clone, Debug)]
pub struct Limiter {
    params: Params,
    sample_rate: f64,
    /// Latency in samples; windows are one longer.
    lookahead: usize,
    delay: [DelayLine; 2],
    detector: SlidingMax,
    /// Linear limit: the lower of threshold and ceiling.
    limit: f64,
    ceiling: f32,
    release_coef: f64,
    /// Required gain after the release, before the box average.
    released: f64,
    box_ring: Vec<f64>,
    box_sum: f64,
    box_index: usize,
    /// The gain applied to the sample just output.
    gain: f64,
    safety_clamps: u64,
}

impl Limiter {
    /// A limiter with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let mut limiter = Self {
            params: params.clamped(),
            sample_rate: 48_000.0,
            lookahead: 0,
            delay: [DelayLine::new(), DelayLine::new()],
            detector: SlidingMax::new(),
            limit: 1.0,
            ceiling: 1.0,
            release_coef: 0.0,
            released: 1.0,
            box_ring: Vec::new(),
            box_sum: 0.0,
            box_index: 0,
            gain: 1.0,
            safety_clamps: 0,
        };
        limiter.update_coefficients();
        limiter
    }

    /// Applies new parameters (clamped). A lower limit arrives through the attack ramp, a higher
    /// one through the release, so changes do not click.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        let was_enabled = self.params.enabled;
        self.params = params.clamped();
        self.update_coefficients();
        if self.params.enabled && !was_enabled {
            self.prime();
        }
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The gain applied to the latest output sample, in dB (≤ 0; for meters).
    pub fn gain_reduction_db(&self) -> f32 {
        gain_to_db(self.gain) as f32
    }

    /// How many output samples the safety clamp at the ceiling has touched since the last
    /// reset (0 unless a parameter dropped with a peak in flight).
    pub fn safety_clamps(&self) -> u64 {
        self.safety_clamps
    }

    /// Rebuilds the gain path from the samples in the delay line (see the module notes).
    fn prime(&mut self) {
        self.clear_gain_path();
        for age in (0..self.lookahead).rev() {
            let [left, right] = self.delay.each_ref().map(|line| line.read(age));
            self.follow(left.abs().max(right.abs()));
        }
    }

    fn clear_gain_path(&mut self) {
        self.detector.reset();
        self.released = 1.0;
        self.box_ring.fill(1.0);
        self.box_sum = self.box_ring.len() as f64;
        self.box_index = 0;
        self.gain = 1.0;
    }

    /// One sample of the gain path: detector, release, box average (`box_sum`).
    #[inline]
    fn follow(&mut self, peak: f32) {
        let loudest = self.detector.push(peak);
        let required = if f64::from(loudest) > self.limit {
            self.limit / f64::from(loudest)
        } else {
            1.0
        };
        self.released = if required < self.released {
            required
        } else {
            required + self.release_coef * (self.released - required)
        };
        self.box_sum += self.released - self.box_ring[self.box_index];
        self.box_ring[self.box_index] = self.released;
        self.box_index += 1;
        if self.box_index == self.box_ring.len() {
            self.box_index = 0;
            self.box_sum = self.box_ring.iter().sum();
        }
    }

    fn update_coefficients(&mut self) {
        let threshold = f64::from(self.params.threshold);
        let ceiling = f64::from(self.params.ceiling);
        self.limit = db_to_gain(threshold.min(ceiling));
        self.ceiling = db_to_gain(ceiling) as f32;
        self.release_coef =
            time_constant_coef(f64::from(self.params.release) * 1e-3, self.sample_rate);
    }
}

impl Effect for Limiter {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        self.lookahead = spec.samples_for_ms(LOOKAHEAD_MS);
        for line in &mut self.delay {
            line.prepare(self.lookahead);
        }
        self.detector.prepare(self.lookahead + 1);
        self.box_ring = vec![1.0; self.lookahead + 1];
        self.update_coefficients();
        self.reset();
    }

    fn reset(&mut self) {
        for line in &mut self.delay {
            line.reset();
        }
        self.clear_gain_path();
        self.safety_clamps = 0;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        let lookahead = self.lookahead;
        let (left, right) = block.channels_mut();
        if !self.params.enabled {
            self.delay[0].delay_block(left, lookahead);
            self.delay[1].delay_block(right, lookahead);
            return;
        }
        let window = self.box_ring.len() as f64;
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            self.follow(l.abs().max(r.abs()));
            let [delay_left, delay_right] = &mut self.delay;
            delay_left.push(*l);
            delay_right.push(*r);
            let (dry_left, dry_right) = (delay_left.read(lookahead), delay_right.read(lookahead));
            self.gain = self.box_sum / window;
            let mut wet = [
                (f64::from(dry_left) * self.gain) as f32,
                (f64::from(dry_right) * self.gain) as f32,
            ];
            for y in &mut wet {
                if y.abs() > self.ceiling {
                    *y = self.ceiling.copysign(*y);
                    self.safety_clamps += 1;
                }
            }
            [*l, *r] = wet;
        }
    }

    fn latency(&self) -> usize {
        self.lookahead
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{conformance_tests, render};
    use crate::test_support::{FS, Noise, sine};

    conformance_tests!(Limiter);

    fn prepared(params: &Params, sample_rate: f64) -> Limiter {
        let mut limiter = Limiter::new(params);
        limiter.prepare(&ProcessSpec::stereo(sample_rate, 1024));
        limiter
    }

    /// Random noise bursts up to +10 dBFS, full-scale and +10 dB squares, isolated impulses at
    /// +10 dB, a sine ramping through the limit, and quiet passages between.
    fn hostile_programme(seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = Noise::new(seed);
        let (mut left, mut right) = (Vec::new(), Vec::new());
        for segment in 0..40 {
            let len = 600 + ((rng.next_f64() + 1.0) * 3_000.0) as usize;
            let level = 10f64.powf(rng.next_f64() * 10.0 / 20.0);
            for n in 0..len {
                let (a, b) = match segment % 5 {
                    0 => (rng.next_f64() * level * 3.16, rng.next_f64() * level),
                    1 => {
                        let s = if (n / 37) % 2 == 0 { 1.0 } else { -1.0 };
                        (s * 3.16 * level.min(1.0), -s)
                    }
                    2 => {
                        let spike = if n % 211 == 0 { 3.16 } else { 0.0 };
                        (spike, -spike * 0.5)
                    }
                    3 => {
                        let t = n as f64 / len as f64;
                        let s = (n as f64 * 0.07).sin() * (0.1 + 3.0 * t);
                        (s, s * 0.9)
                    }
                    _ => (rng.next_f64() * 0.01, rng.next_f64() * 0.01),
                };
                left.push(a as f32);
                right.push(b as f32);
            }
        }
        (left, right)
    }

    /// docs/effects.md §1 test 9: zero samples above limit·(1 + 1e-6) on a hostile programme, at
    /// several settings and sample rates, with the safety clamp never needed.
    #[test]
    fn no_sample_exceeds_the_limit_on_a_hostile_programme() {
        let settings = [
            Params::default(),
            Params {
                threshold: -12.0,
                ceiling: -3.0,
                release: 1.0,
                ..Params::default()
            },
            Params {
                threshold: 0.0,
                ceiling: 0.0,
                release: 5_000.0,
                ..Params::default()
            },
            Params {
                threshold: 0.0,
                ceiling: -3.0,
                release: 10.0,
                ..Params::default()
            },
        ];
        for sample_rate in [44_100.0, 48_000.0, 96_000.0] {
            for (index, params) in settings.iter().enumerate() {
                let mut limiter = prepared(params, sample_rate);
                let (mut left, mut right) = hostile_programme(index as u64 + 1);
                let input_peak = left.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                let mut blocks = crate::effects::conformance::random_blocks(3);
                render(&mut limiter, &mut left, &mut right, &mut blocks);
                let limit =
                    db_to_gain(f64::from(params.threshold.min(params.ceiling))) * (1.0 + 1e-6);
                let overs = left
                    .iter()
                    .chain(&right)
                    .filter(|y| f64::from(y.abs()) > limit)
                    .count();
                let peak = left
                    .iter()
                    .chain(&right)
                    .fold(0.0f32, |m, y| m.max(y.abs()));
                println!(
                    "{sample_rate} Hz, T {} C {}: input peak {:+.2} dBFS, output peak {:+.6} dB re limit, {overs} overs, {} safety clamps",
                    params.threshold,
                    params.ceiling,
                    20.0 * input_peak.log10(),
                    20.0 * (f64::from(peak) / (limit / (1.0 + 1e-6))).log10(),
                    limiter.safety_clamps()
                );
                assert_eq!(overs, 0);
                assert_eq!(limiter.safety_clamps(), 0);
            }
        }
    }

    /// Switched on in the middle of a hostile programme (the delay line full of peaks the
    /// disabled limiter did not follow): from the first enabled sample on, nothing exceeds the
    /// limit and the safety clamp is never needed.
    #[test]
    fn switching_on_mid_programme_lets_no_peak_through() {
        let on = Params {
            threshold: -6.0,
            ..Params::default()
        };
        let off = Params {
            enabled: false,
            ..on.clone()
        };
        let limit = db_to_gain(-6.0) * (1.0 + 1e-6);
        let (input_left, input_right) = hostile_programme(11);
        let mut worst = 0.0f64;
        for switch_at in (1_000..input_left.len() - 2_000).step_by(1_733) {
            let mut limiter = prepared(&off, FS);
            let (mut left, mut right) = (input_left.clone(), input_right.clone());
            let (left_off, left_on) = left.split_at_mut(switch_at);
            let (right_off, right_on) = right.split_at_mut(switch_at);
            render(&mut limiter, left_off, right_off, || 64);
            rt::guard::no_alloc(|| limiter.set_params(&on));
            render(&mut limiter, left_on, right_on, || 64);
            let peak = left_on
                .iter()
                .chain(right_on.iter())
                .fold(0.0f64, |m, y| m.max(f64::from(y.abs())));
            worst = worst.max(peak / limit);
            assert!(peak <= limit, "switched on at {switch_at}: peak {peak}");
            assert_eq!(limiter.safety_clamps(), 0, "switched on at {switch_at}");
        }
        println!(
            "switching on: worst peak {:.6} dB re limit",
            20.0 * worst.log10()
        );
    }

    /// docs/effects.md §1 tests 9 and 30: the lag of the cross-correlation between input and output
    /// (an impulse, and noise) is the reported latency, exactly; below the limit the delayed input
    /// comes out bit for bit.
    #[test]
    fn measured_latency_equals_the_reported_latency() {
        for sample_rate in [44_100.0, 48_000.0, 96_000.0] {
            let mut limiter = prepared(&Params::default(), sample_rate);
            let reported = limiter.latency();
            assert_eq!(
                reported,
                (LOOKAHEAD_MS * 1e-3 * sample_rate).round() as usize
            );

            let mut impulse = vec![0.0f32; 4_096];
            impulse[1_000] = 0.5;
            let (mut left, mut right) = (impulse.clone(), impulse.clone());
            render(&mut limiter, &mut left, &mut right, || 256);
            let lag = argmax_cross_correlation(&impulse, &left, 500);
            assert_eq!(lag, reported);
            assert_eq!(left[1_000 + reported], 0.5);

            let mut rng = Noise::new(30);
            let noise: Vec<f32> = (0..8_192).map(|_| rng.next_f64() as f32 * 0.5).collect();
            let mut limiter = prepared(&Params::default(), sample_rate);
            let (mut left, mut right) = (noise.clone(), noise.clone());
            render(&mut limiter, &mut left, &mut right, || 100);
            assert_eq!(argmax_cross_correlation(&noise, &left, 500), reported);
            assert_eq!(&left[reported..], &noise[..noise.len() - reported]);
            println!("{sample_rate} Hz: reported {reported}, measured {lag}");
        }
    }

    fn argmax_cross_correlation(input: &[f32], output: &[f32], max_lag: usize) -> usize {
        (0..max_lag)
            .max_by(|&a, &b| {
                let score = |lag: usize| -> f64 {
                    input
                        .iter()
                        .zip(&output[lag..])
                        .map(|(&x, &y)| f64::from(x) * f64::from(y))
                        .sum()
                };
                score(a).total_cmp(&score(b))
            })
            .expect("lags")
    }

    /// After a +10 dB burst the gain recovers with τ = release (63 % of the linear change),
    /// give or take the box average's half window.
    #[test]
    fn gain_recovers_with_the_release_time_constant() {
        for release in [20.0f32, 50.0, 200.0] {
            let params = Params {
                release,
                ..Params::default()
            };
            let mut limiter = prepared(&params, FS);
            let limit = db_to_gain(-1.0) as f32;
            let loud = 3.16f32;
            let quiet = 0.01f32;
            let burst = 4_800;
            let mut input = vec![loud; burst];
            input.extend(std::iter::repeat_n(quiet, FS as usize));
            let (mut left, mut right) = (input.clone(), input.clone());
            render(&mut limiter, &mut left, &mut right, || 64);
            let latency = limiter.latency();
            let gains: Vec<f64> = (0..input.len() - latency)
                .map(|n| f64::from(left[n + latency]) / f64::from(input[n]))
                .collect();
            let low = f64::from(limit / loud);
            assert!((gains[burst - 1] - low).abs() < 1e-6);
            let mark = low + (1.0 - (-1.0f64).exp()) * (1.0 - low);
            let crossed = (burst..gains.len())
                .position(|n| gains[n] >= mark)
                .expect("gain recovered");
            let measured_ms = crossed as f64 / FS * 1e3;
            println!("release {release} ms: 63 % after {measured_ms:.2} ms");
            // The box adds half its window (1 ms) of delay to the exponential.
            let expected = f64::from(release) + LOOKAHEAD_MS / 2.0;
            assert!(
                (measured_ms / expected - 1.0).abs() < 0.05,
                "{measured_ms} vs {expected}"
            );
        }
    }

    #[test]
    fn disabled_is_the_input_delayed_by_the_same_latency() {
        let input = sine(440.0, 3.0, 9_600, FS);
        let mut limiter = prepared(
            &Params {
                enabled: false,
                ..Params::default()
            },
            FS,
        );
        let latency = limiter.latency();
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut limiter, &mut left, &mut right, || 333);
        assert_eq!(&left[latency..], &input[..input.len() - latency]);
        assert!(left[..latency].iter().all(|&y| y == 0.0));
    }

    #[test]
    fn params_use_the_reference_json_keys_and_enabled_defaults_on() {
        let json = serde_json::to_value(Params::default()).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["ceiling", "enabled", "release", "threshold"]);
        let partial: Params = serde_json::from_str(r#"{"ceiling": -1}"#).unwrap();
        assert!(partial.enabled);
        assert_eq!(partial.ceiling, -1.0);
        let wild = Params {
            threshold: -40.0,
            ceiling: f32::NAN,
            release: 0.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!(
            (wild.threshold, wild.ceiling, wild.release),
            (-12.0, -0.3, 1.0)
        );
    }
}
