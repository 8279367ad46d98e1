//! The 3-band compressor (docs/effects.md §3 #16): an LR4 crossover with the all-pass fix (so the
//! bands sum flat: docs/effects.md §2.2, test 4), and per band a stereo-linked compressor built
//! like [`super::compressor`] (sliding-max peak detector, the soft-knee gain computer, dB-domain
//! attack/release), make-up gain, solo and bypass; then an output gain.
//!
//! Parameters: the `low`/`mid`/`high` objects win; the reference's legacy
//! `lowBand`/`midBand`/`highBand` objects are read only when the new one is absent (their
//! `enabled: false` is a bypass, `makeup` the gain, `mute` silences the band). Deserialisation
//! resolves that, so [`Params`] holds three concrete bands: the DSP sees one model, a host
//! automates `low.threshold` … by index with nothing optional in the way, and writing produces
//! the `low`/`mid`/`high` form (which the reading rule takes first, so a written preset reads
//! back the same).
//!
//! Solo, mute and bypass crossfade over [`SWITCH_SECONDS`]; gains glide; crossover frequencies
//! glide (the crossover's own 20 ms), so no parameter clicks.

use super::super::{clamp_param, db_to_gain};
use super::compressor::gain_computer;
use crate::automation::Kind;
use crate::blocks::approx;
use crate::blocks::crossover::ThreeBand;
use crate::blocks::envelope::time_constant_coef;
use crate::blocks::peak_hold::SlidingMax;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "multibandCompressor";

/// Range of [`Params::low_crossover`] (Hz).
pub const LOW_CROSSOVER_RANGE: RangeInclusive<f32> = 20.0..=2_000.0;
/// Range of [`Params::high_crossover`] (Hz); never below the low crossover.
pub const HIGH_CROSSOVER_RANGE: RangeInclusive<f32> = 200.0..=16_000.0;
/// Range of [`Band::threshold`] (dB).
pub const THRESHOLD_RANGE: RangeInclusive<f32> = -60.0..=0.0;
/// Range of [`Band::ratio`].
pub const RATIO_RANGE: RangeInclusive<f32> = 1.0..=20.0;
/// Range of [`Band::attack`] (ms).
pub const ATTACK_RANGE: RangeInclusive<f32> = 0.01..=1_000.0;
/// Range of [`Band::release`] (ms).
pub const RELEASE_RANGE: RangeInclusive<f32> = 1.0..=5_000.0;
/// Range of [`Band::gain`] and [`Params::output_gain`] (dB).
pub const GAIN_RANGE: RangeInclusive<f32> = -24.0..=24.0;

/// Soft-knee width of every band's gain computer (dB), as the compressor's default.
pub const KNEE_DB: f64 = 6.0;
/// Crossfade time of solo, mute and bypass, and glide time of the gains.
pub const SWITCH_SECONDS: f64 = 0.01;
/// Longest window of a band's peak detector (see the compressor's notes).
const DETECTOR_WINDOW_MS: f64 = 5.0;
/// Level floor for the dB conversion.
const LEVEL_FLOOR: f32 = 1e-10;

/// One band's settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Band {
    /// Threshold, dBFS (default −20).
    pub threshold: f32,
    /// Ratio, 1…20 (default 3).
    pub ratio: f32,
    /// Attack τ, ms (default 10).
    pub attack: f32,
    /// Release τ, ms (default 100).
    pub release: f32,
    /// Make-up gain, dB (default 0).
    pub gain: f32,
    /// Only soloed bands are heard while any band is soloed.
    pub solo: bool,
    /// The band passes uncompressed at unity.
    pub bypass: bool,
    /// The band is silent (from the legacy model; not written when false).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mute: bool,
}

impl Default for Band {
    fn default() -> Self {
        Self {
            threshold: -20.0,
            ratio: 3.0,
            attack: 10.0,
            release: 100.0,
            gain: 0.0,
            solo: false,
            bypass: false,
            mute: false,
        }
    }
}

impl Band {
    /// The band with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            threshold: clamp_param(self.threshold, THRESHOLD_RANGE, d.threshold),
            ratio: clamp_param(self.ratio, RATIO_RANGE, d.ratio),
            attack: clamp_param(self.attack, ATTACK_RANGE, d.attack),
            release: clamp_param(self.release, RELEASE_RANGE, d.release),
            gain: clamp_param(self.gain, GAIN_RANGE, d.gain),
            ..*self
        }
    }
}

/// A band in the reference's legacy model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LegacyBand {
    /// Compression on (false: bypass).
    pub enabled: bool,
    /// Threshold, dBFS (default −20).
    pub threshold: f32,
    /// Ratio (default 4).
    pub ratio: f32,
    /// Attack, ms (default 10).
    pub attack: f32,
    /// Release, ms (default 100).
    pub release: f32,
    /// Make-up gain, dB (default 0).
    pub makeup: f32,
    /// Solo.
    pub solo: bool,
    /// Mute.
    pub mute: bool,
}

impl Default for LegacyBand {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold: -20.0,
            ratio: 4.0,
            attack: 10.0,
            release: 100.0,
            makeup: 0.0,
            solo: false,
            mute: false,
        }
    }
}

impl From<LegacyBand> for Band {
    fn from(legacy: LegacyBand) -> Self {
        Self {
            threshold: legacy.threshold,
            ratio: legacy.ratio,
            attack: legacy.attack,
            release: legacy.release,
            gain: legacy.makeup,
            solo: legacy.solo,
            bypass: !legacy.enabled,
            mute: legacy.mute,
        }
    }
}

/// The multiband compressor's parameters. A partial update fills missing fields from
/// [`Params::default`]; a missing `low`/`mid`/`high` is read from the legacy object, then
/// from the band defaults (see the module notes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "ParamsJson", rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Low/mid crossover, Hz (default 200).
    pub low_crossover: f32,
    /// Mid/high crossover, Hz (default 4000).
    pub high_crossover: f32,
    /// The low band.
    pub low: Band,
    /// The mid band.
    pub mid: Band,
    /// The high band.
    pub high: Band,
    /// Output gain, dB (default 0).
    pub output_gain: f32,
}

// `mute` comes from the legacy model (its JSON field is written only when set), so hosts get
// the reference's band switches: solo and bypass.
crate::automatable!(Params {
    [low_crossover] "lowCrossover", "Low Crossover", Kind::logarithmic(LOW_CROSSOVER_RANGE, "Hz");
    [high_crossover] "highCrossover", "High Crossover", Kind::logarithmic(HIGH_CROSSOVER_RANGE, "Hz");
    [low.threshold] "low.threshold", "Low Threshold", Kind::linear(THRESHOLD_RANGE, "dB");
    [low.ratio] "low.ratio", "Low Ratio", Kind::logarithmic(RATIO_RANGE, ":1");
    [low.attack] "low.attack", "Low Attack", Kind::logarithmic(ATTACK_RANGE, "ms");
    [low.release] "low.release", "Low Release", Kind::logarithmic(RELEASE_RANGE, "ms");
    [low.gain] "low.gain", "Low Gain", Kind::linear(GAIN_RANGE, "dB");
    [low.solo] "low.solo", "Low Solo", Kind::Toggle;
    [low.bypass] "low.bypass", "Low Bypass", Kind::Toggle;
    [mid.threshold] "mid.threshold", "Mid Threshold", Kind::linear(THRESHOLD_RANGE, "dB");
    [mid.ratio] "mid.ratio", "Mid Ratio", Kind::logarithmic(RATIO_RANGE, ":1");
    [mid.attack] "mid.attack", "Mid Attack", Kind::logarithmic(ATTACK_RANGE, "ms");
    [mid.release] "mid.release", "Mid Release", Kind::logarithmic(RELEASE_RANGE, "ms");
    [mid.gain] "mid.gain", "Mid Gain", Kind::linear(GAIN_RANGE, "dB");
    [mid.solo] "mid.solo", "Mid Solo", Kind::Toggle;
    [mid.bypass] "mid.bypass", "Mid Bypass", Kind::Toggle;
    [high.threshold] "high.threshold", "High Threshold", Kind::linear(THRESHOLD_RANGE, "dB");
    [high.ratio] "high.ratio", "High Ratio", Kind::logarithmic(RATIO_RANGE, ":1");
    [high.attack] "high.attack", "High Attack", Kind::logarithmic(ATTACK_RANGE, "ms");
    [high.release] "high.release", "High Release", Kind::logarithmic(RELEASE_RANGE, "ms");
    [high.gain] "high.gain", "High Gain", Kind::linear(GAIN_RANGE, "dB");
    [high.solo] "high.solo", "High Solo", Kind::Toggle;
    [high.bypass] "high.bypass", "High Bypass", Kind::Toggle;
    [output_gain] "outputGain", "Output Gain", Kind::linear(GAIN_RANGE, "dB");
});

impl Default for Params {
    fn default() -> Self {
        ParamsJson::default().into()
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        let low_crossover = clamp_param(self.low_crossover, LOW_CROSSOVER_RANGE, d.low_crossover);
        let high_crossover =
            clamp_param(self.high_crossover, HIGH_CROSSOVER_RANGE, d.high_crossover)
                .max(low_crossover);
        Self {
            enabled: self.enabled,
            low_crossover,
            high_crossover,
            low: self.low.clamped(),
            mid: self.mid.clamped(),
            high: self.high.clamped(),
            output_gain: clamp_param(self.output_gain, GAIN_RANGE, d.output_gain),
        }
    }

    fn bands(&self) -> [Band; 3] {
        [self.low, self.mid, self.high]
    }
}

/// The JSON as written, legacy objects included; [`Params`] is read through it.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ParamsJson {
    enabled: bool,
    low_crossover: f32,
    high_crossover: f32,
    low: Option<Band>,
    mid: Option<Band>,
    high: Option<Band>,
    output_gain: f32,
    low_band: Option<LegacyBand>,
    mid_band: Option<LegacyBand>,
    high_band: Option<LegacyBand>,
}

impl Default for ParamsJson {
    fn default() -> Self {
        Self {
            enabled: false,
            low_crossover: 200.0,
            high_crossover: 4_000.0,
            low: None,
            mid: None,
            high: None,
            output_gain: 0.0,
            low_band: None,
            mid_band: None,
            high_band: None,
        }
    }
}

impl From<ParamsJson> for Params {
    /// The reading rule: `low`/`mid`/`high` win; the legacy object only when the new one is
    /// absent; then the band defaults.
    fn from(json: ParamsJson) -> Self {
        let resolve = |band: Option<Band>, legacy: Option<LegacyBand>| {
            band.or(legacy.map(Band::from)).unwrap_or_default()
        };
        Self {
            enabled: json.enabled,
            low_crossover: json.low_crossover,
            high_crossover: json.high_crossover,
            low: resolve(json.low, json.low_band),
            mid: resolve(json.mid, json.mid_band),
            high: resolve(json.high, json.high_band),
            output_gain: json.output_gain,
        }
    }
}

/// One band's dynamics: detector, smoothed gain, and the switches' crossfades.
#[derive(Clone, Debug)]
struct BandDynamics {
    detector: SlidingMax,
    attack_coef: f64,
    release_coef: f64,
    gain_db: f64,
    makeup: OnePole,
    /// 1 = compressed, 0 = bypassed.
    wet: OnePole,
    /// 1 = heard, 0 = silent (solo elsewhere, or muted).
    audible: OnePole,
}

impl BandDynamics {
    fn new() -> Self {
        Self {
            detector: SlidingMax::new(),
            attack_coef: 0.0,
            release_coef: 0.0,
            gain_db: 0.0,
            makeup: OnePole::new(1.0, SWITCH_SECONDS, 48_000.0),
            wet: OnePole::new(1.0, SWITCH_SECONDS, 48_000.0),
            audible: OnePole::new(1.0, SWITCH_SECONDS, 48_000.0),
        }
    }

    fn configure(&mut self, band: &Band, any_solo: bool, sample_rate: f64) {
        let samples = |ms: f64| ms * 1e-3 * sample_rate;
        let release = samples(f64::from(band.release));
        let hold = samples(DETECTOR_WINDOW_MS)
            .min(release / 4.0)
            .round()
            .max(1.0);
        self.detector.set_window(hold as usize);
        self.attack_coef = time_constant_coef(samples(f64::from(band.attack)), 1.0);
        self.release_coef = time_constant_coef(release - hold, 1.0);
        for smoother in [&mut self.makeup, &mut self.wet, &mut self.audible] {
            smoother.set_time(SWITCH_SECONDS, sample_rate);
        }
        self.makeup
            .set_target(db_to_gain(f64::from(band.gain)) as f32);
        self.wet.set_target(if band.bypass { 0.0 } else { 1.0 });
        let heard = !band.mute && (band.solo || !any_solo);
        self.audible.set_target(if heard { 1.0 } else { 0.0 });
    }

    fn snap(&mut self) {
        self.detector.reset();
        self.gain_db = 0.0;
        for smoother in [&mut self.makeup, &mut self.wet, &mut self.audible] {
            let target = smoother.target();
            smoother.reset_to(target);
        }
    }

    /// The gain for this band at this sample, given the band's two channel samples.
    #[inline]
    fn gain(&mut self, left: f32, right: f32, band: &Band) -> f32 {
        let peak = self.detector.push(left.abs().max(right.abs()));
        // Per sample, so the branch-free approximations (within 2e-7 dB), not libm.
        let level_db = approx::gain_to_db(f64::from(peak.max(LEVEL_FLOOR)));
        let target_db = gain_computer(
            level_db,
            f64::from(band.threshold),
            f64::from(band.ratio),
            KNEE_DB,
        ) - level_db;
        let coef = if target_db < self.gain_db {
            self.attack_coef
        } else {
            self.release_coef
        };
        self.gain_db = target_db + coef * (self.gain_db - target_db);
        let compressed = approx::db_to_gain(self.gain_db) as f32 * self.makeup.next_value();
        let wet = self.wet.next_value();
        self.audible.next_value() * (1.0 + wet * (compressed - 1.0))
    }
}

/// The 3-band compressor.
#[derive(Clone, Debug)]
pub struct MultibandCompressor {
    params: Params,
    bands: [Band; 3],
    sample_rate: f64,
    crossover: ThreeBand,
    dynamics: [BandDynamics; 3],
    output: OnePole,
}

impl MultibandCompressor {
    /// A multiband compressor with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let params = params.clamped();
        let crossover = ThreeBand::new(
            f64::from(params.low_crossover),
            f64::from(params.high_crossover),
            48_000.0,
        );
        let mut effect = Self {
            bands: params.bands(),
            params,
            sample_rate: 48_000.0,
            crossover,
            dynamics: std::array::from_fn(|_| BandDynamics::new()),
            output: OnePole::new(1.0, SWITCH_SECONDS, 48_000.0),
        };
        effect.configure();
        effect.snap();
        effect
    }

    /// Applies new parameters (clamped, legacy bands resolved); everything glides.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        self.params = params.clamped();
        self.bands = self.params.bands();
        self.crossover.set_frequencies(
            f64::from(self.params.low_crossover),
            f64::from(self.params.high_crossover),
        );
        self.configure();
    }

    /// The parameters in use (clamped and resolved).
    pub fn params(&self) -> &Params {
        &self.params
    }

    fn configure(&mut self) {
        let any_solo = self.bands.iter().any(|band| band.solo);
        for (dynamics, band) in self.dynamics.iter_mut().zip(&self.bands) {
            dynamics.configure(band, any_solo, self.sample_rate);
        }
        self.output.set_time(SWITCH_SECONDS, self.sample_rate);
        self.output
            .set_target(db_to_gain(f64::from(self.params.output_gain)) as f32);
    }

    /// Puts every glide at its end and clears the audio state.
    fn snap(&mut self) {
        self.crossover = ThreeBand::new(
            f64::from(self.params.low_crossover),
            f64::from(self.params.high_crossover),
            self.sample_rate,
        );
        for dynamics in &mut self.dynamics {
            dynamics.snap();
        }
        self.output.reset_to(self.output.target());
    }
}

impl Effect for MultibandCompressor {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        for dynamics in &mut self.dynamics {
            dynamics
                .detector
                .prepare(spec.samples_for_ms(DETECTOR_WINDOW_MS));
        }
        self.configure();
        self.reset();
    }

    fn reset(&mut self) {
        self.snap();
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let bands = self.crossover.process_pair([*l, *r]);
            let (mut sum_left, mut sum_right) = (0.0f32, 0.0f32);
            for (index, [band_left, band_right]) in bands.into_iter().enumerate() {
                let gain = self.dynamics[index].gain(band_left, band_right, &self.bands[index]);
                sum_left += gain * band_left;
                sum_right += gain * band_right;
            }
            let output = self.output.next_value();
            *l = sum_left * output;
            *r = sum_right * output;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::biquad::{Biquad, Design, Kind};
    use crate::effects::conformance::{Subject, conformance_tests, render};
    use crate::test_support::{FS, Noise, sine};
    use std::f64::consts::FRAC_1_SQRT_2;

    conformance_tests!(MultibandCompressor {
        /// +24 dB band gain and +24 dB output gain on a full-scale attack: 251.
        const OUTPUT_BOUND: f32 = 10.0 * 251.0;
    });

    fn neutral() -> Band {
        Band {
            ratio: 1.0,
            ..Band::default()
        }
    }

    /// docs/effects.md §1 test 4: all bands neutral, 1 s of white noise; the output against
    /// AP(fc1)·AP(fc2)·x computed in f64 nulls to ≤ −90 dB.
    #[test]
    fn neutral_bands_null_against_the_allpass_reference() {
        for (low, high) in [
            (200.0f32, 4_000.0f32),
            (200.0, 800.0),
            (400.0, 800.0),
            (80.0, 12_000.0),
        ] {
            let params = Params {
                enabled: true,
                low_crossover: low,
                high_crossover: high,
                low: neutral(),
                mid: neutral(),
                high: neutral(),
                ..Params::default()
            };
            let mut effect = MultibandCompressor::prepared(&params);
            let mut rng = Noise::new(4);
            let input: Vec<f32> = (0..FS as usize)
                .map(|_| rng.next_f64() as f32 * 0.5)
                .collect();
            let (mut left, mut right) = (input.clone(), input.clone());
            render(&mut effect, &mut left, &mut right, || 512);
            let mut first = Biquad::from_design(
                &Design::new(Kind::Allpass, f64::from(low), FRAC_1_SQRT_2),
                FS,
            );
            let mut second = Biquad::from_design(
                &Design::new(Kind::Allpass, f64::from(high), FRAC_1_SQRT_2),
                FS,
            );
            let reference: Vec<f32> = input
                .iter()
                .map(|&x| second.process_f64(first.process_f64(f64::from(x))) as f32)
                .collect();
            let null = crate::effects::conformance::residual_db(&left, &reference);
            println!("{low}/{high} Hz: null {null:.1} dB");
            assert!(null <= -90.0, "{null}");
        }
    }

    /// The static curve of each band on a sine well inside it, the other bands muted: the
    /// output peak is the gain computer's output (plus the band gain) within 0.1 dB.
    #[test]
    fn each_band_compresses_by_its_static_curve() {
        for (index, frequency, crossovers) in [
            (0usize, 120.0, (1_000.0, 16_000.0)),
            (1, 4_000.0, (1_000.0, 16_000.0)),
            (2, 15_000.0, (200.0, 2_000.0)),
        ] {
            let mut bands = [Band {
                mute: true,
                ..neutral()
            }; 3];
            bands[index] = Band {
                threshold: -30.0,
                ratio: 4.0,
                gain: 3.0,
                ..Band::default()
            };
            let params = Params {
                enabled: true,
                low_crossover: crossovers.0,
                high_crossover: crossovers.1,
                low: bands[0],
                mid: bands[1],
                high: bands[2],
                ..Params::default()
            };
            let mut effect = MultibandCompressor::prepared(&params);
            let input = sine(frequency, 0.5, FS as usize, FS);
            let (mut left, mut right) = (input.clone(), input.clone());
            render(&mut effect, &mut left, &mut right, || 256);
            let peak = left[24_000..].iter().fold(0.0f32, |m, y| m.max(y.abs()));
            let measured = 20.0 * f64::from(peak).log10();
            let expected = gain_computer(20.0 * 0.5f64.log10(), -30.0, 4.0, KNEE_DB) + 3.0;
            println!("band {index} at {frequency} Hz: {measured:.3} dB, curve {expected:.3} dB");
            assert!(
                (measured - expected).abs() <= 0.1,
                "{measured} vs {expected}"
            );
        }
    }

    #[test]
    fn solo_and_mute_isolate_bands() {
        let params = Params {
            enabled: true,
            mid: Band {
                solo: true,
                ..neutral()
            },
            low: neutral(),
            high: neutral(),
            ..Params::default()
        };
        let mut effect = MultibandCompressor::prepared(&params);
        let input = sine(50.0, 0.5, 24_000, FS);
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut effect, &mut left, &mut right, || 256);
        let peak = left[12_000..].iter().fold(0.0f32, |m, y| m.max(y.abs()));
        assert!(20.0 * f64::from(peak / 0.5).log10() < -40.0, "{peak}");
    }

    #[test]
    fn legacy_bands_are_read_only_when_the_new_ones_are_absent() {
        let params: Params = serde_json::from_str(
            r#"{"enabled": true, "lowBand": {"threshold": -30, "makeup": 2, "enabled": false},
                "mid": {"ratio": 6}, "midBand": {"ratio": 10}, "highBand": {"mute": true}}"#,
        )
        .unwrap();
        let resolved = params.clamped();
        let low = resolved.low;
        assert_eq!(
            (low.threshold, low.gain, low.bypass, low.ratio),
            (-30.0, 2.0, true, 4.0)
        );
        assert_eq!(resolved.mid.ratio, 6.0);
        assert!(resolved.high.mute);
        assert_eq!(resolved.clamped(), resolved, "clamping is idempotent");
        let written = serde_json::to_value(&resolved).unwrap();
        assert!(written.get("lowBand").is_none());
        assert_eq!(
            serde_json::from_value::<Params>(written).unwrap(),
            resolved,
            "what is written reads back the same"
        );
        let json = serde_json::to_value(Params::default().clamped()).unwrap();
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
                "enabled",
                "high",
                "highCrossover",
                "low",
                "lowCrossover",
                "mid",
                "outputGain"
            ]
        );
        let band_keys = json["low"].as_object().unwrap().len();
        assert_eq!(
            band_keys, 7,
            "threshold ratio attack release gain solo bypass"
        );
    }

    #[test]
    fn disabled_is_bit_exact_bypass() {
        let input = sine(440.0, 0.9, 4_800, FS);
        let mut effect = MultibandCompressor::prepared(&Params::default());
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut effect, &mut left, &mut right, || 256);
        assert_eq!(left, input);
    }
}
