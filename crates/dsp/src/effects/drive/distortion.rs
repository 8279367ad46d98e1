//! The distortion (docs/effects.md §3 #6): five waveshapers (classic tanh, hard clip, fuzz,
//! asymmetric, rectifier) at 4× the sample rate, driven by 1 + 30·amount, between a 60 Hz
//! high-pass and a tone low-pass (1 kHz·10^tone, 1–10 kHz), then a linear output level.
//!
//! Changing the type crossfades the two shapers over 10 ms (a switch between curves would
//! otherwise step the output); amount, tone and level glide.

use super::pipeline::{CurveFade, Pipeline};
use super::shaper;
use crate::automation::Kind;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "distortion";

/// Declared range of [`Params::amount`], [`Params::tone`] and [`Params::level`].
pub const UNIT_RANGE: RangeInclusive<f32> = 0.0..=1.0;

/// High-pass before the shaper (Hz).
const PRE_HIGHPASS_HZ: f64 = 60.0;
/// Drive gain at amount = 1 is 1 + this (docs/effects.md §3 #6: drive 1 + 30·amount).
const DRIVE_SPAN: f32 = 30.0;
/// Tone corner at tone = 0 (Hz); tone = 1 is ten times higher.
const TONE_BASE_HZ: f64 = 1_000.0;
/// Negative ceiling of the asymmetric type (the negative half clips at half the level).
const ASYMMETRIC_NEGATIVE_CEILING: f32 = 0.5;
/// The rectifier's softness per unit of drive gain (see [`shaper::rectifier`]).
const RECTIFIER_SOFTNESS_PER_GAIN: f32 = 0.25;

/// The waveshaper.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DistortionType {
    /// Symmetric tanh: odd harmonics, soft.
    #[default]
    Classic,
    /// Hard clip at ±1 with a narrow parabolic knee.
    Hard,
    /// Asymmetric hard clip (+1 / −0.6).
    Fuzz,
    /// tanh with the negative half clipping at 0.5: even and odd harmonics.
    Asymmetric,
    /// Smoothed full-wave rectifier into tanh: the tone an octave up.
    Rectifier,
}

impl DistortionType {
    /// The type's static curve for a sample already multiplied by `drive_gain` (the rectifier's
    /// softness follows the drive).
    pub fn shape(self, x: f32, drive_gain: f32) -> f32 {
        match self {
            Self::Classic => shaper::tanh(x),
            Self::Hard => shaper::hard_clip(x),
            Self::Fuzz => shaper::fuzz(x),
            Self::Asymmetric => shaper::asymmetric_tanh(x, ASYMMETRIC_NEGATIVE_CEILING),
            Self::Rectifier => shaper::rectifier(x, RECTIFIER_SOFTNESS_PER_GAIN * drive_gain),
        }
    }

    /// Shapes `samples` in place (one dispatch per block, not per sample).
    fn shape_all(self, samples: &mut [f32], drive_gain: f32) {
        match self {
            Self::Classic => shaper::apply(samples, shaper::tanh),
            Self::Hard => shaper::apply(samples, shaper::hard_clip),
            Self::Fuzz => shaper::apply(samples, shaper::fuzz),
            Self::Asymmetric => shaper::apply(samples, |x| {
                shaper::asymmetric_tanh(x, ASYMMETRIC_NEGATIVE_CEILING)
            }),
            Self::Rectifier => {
                let softness = RECTIFIER_SOFTNESS_PER_GAIN * drive_gain;
                shaper::apply(samples, |x| shaper::rectifier(x, softness));
            }
        }
    }
}

/// The distortion's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// The shaper (default classic); the reference also writes it as `type`.
    #[serde(alias = "type")]
    pub distortion_type: DistortionType,
    /// Amount 0…1 (default 0.5): drive gain 1 + 30·amount.
    pub amount: f32,
    /// Tone 0…1 (default 0.5): low-pass corner 1 kHz·10^tone.
    pub tone: f32,
    /// Output level 0…1 (default 0.5), a linear gain.
    pub level: f32,
}

crate::host_choice!(DistortionType {
    Classic => "Classic",
    Hard => "Hard",
    Fuzz => "Fuzz",
    Asymmetric => "Asymmetric",
    Rectifier => "Rectifier",
});

crate::automatable!(Params {
    [distortion_type] "distortionType", "Type", Kind::choice::<DistortionType>();
    [amount] "amount", "Amount", Kind::linear(UNIT_RANGE, "");
    [tone] "tone", "Tone", Kind::linear(UNIT_RANGE, "");
    [level] "level", "Level", Kind::linear(UNIT_RANGE, "");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            distortion_type: DistortionType::Classic,
            amount: 0.5,
            tone: 0.5,
            level: 0.5,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let defaults = Self::default();
        Self {
            enabled: self.enabled,
            distortion_type: self.distortion_type,
            amount: clamp_param(self.amount, UNIT_RANGE, defaults.amount),
            tone: clamp_param(self.tone, UNIT_RANGE, defaults.tone),
            level: clamp_param(self.level, UNIT_RANGE, defaults.level),
        }
    }

    /// The gain into the shaper.
    pub fn drive_gain(&self) -> f32 {
        1.0 + DRIVE_SPAN * self.amount
    }

    /// The tone low-pass corner in Hz.
    pub fn tone_hz(&self) -> f64 {
        TONE_BASE_HZ * 10f64.powf(f64::from(self.tone))
    }
}

/// The distortion. Disabled, it passes audio through untouched and reports no latency.
#[derive(Clone, Debug)]
pub struct Distortion {
    params: Params,
    path: Pipeline,
    /// The shaper in use, faded from the previous one after a type change.
    curve: CurveFade<DistortionType>,
}

impl Distortion {
    /// A distortion with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let params = params.clamped();
        Self {
            path: Pipeline::new(
                PRE_HIGHPASS_HZ,
                params.tone_hz(),
                params.drive_gain(),
                params.level,
            ),
            curve: CurveFade::new(params.distortion_type),
            params,
        }
    }

    /// Applies new parameters (clamped). Amount, tone and level glide; a new type crossfades
    /// from the old one. Switching on starts from silent state.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        let previous = std::mem::replace(&mut self.params, params.clamped());
        self.path.set_targets(
            self.params.tone_hz(),
            self.params.drive_gain(),
            self.params.level,
        );
        if self.params.enabled && !previous.enabled {
            self.reset();
        } else {
            self.curve.select(self.params.distortion_type);
        }
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }
}

impl Effect for Distortion {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.path.prepare(spec);
        self.curve.prepare(spec);
        self.reset();
    }

    fn reset(&mut self) {
        self.path.reset();
        self.curve.jump_to(self.params.distortion_type);
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let curve = &mut self.curve;
        let gain = self.params.drive_gain();
        self.path.process(block, |channel, inner| {
            curve.process(
                channel,
                inner,
                |kind, x| kind.shape(x, gain),
                |kind, samples| kind.shape_all(samples, gain),
            );
        });
    }

    fn latency(&self) -> usize {
        if self.params.enabled {
            self.path.latency()
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::test_support::{FS, harmonic_db, render_mono, sine, worst_alias_db};

    conformance_tests!(Distortion {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] = &[(
            "/distortionType",
            &["classic", "hard", "fuzz", "asymmetric", "rectifier"],
        )];
    });

    const TYPES: [DistortionType; 5] = [
        DistortionType::Classic,
        DistortionType::Hard,
        DistortionType::Fuzz,
        DistortionType::Asymmetric,
        DistortionType::Rectifier,
    ];

    fn enabled(distortion_type: DistortionType, amount: f32) -> Params {
        Params {
            enabled: true,
            distortion_type,
            amount,
            tone: 0.5,
            level: 1.0,
        }
    }

    /// docs/effects.md §1 test 19, static curve: a 2 s ramp from −1 to 1, filters bypassed, comes
    /// out as level·shape(gain·x) delayed by the latency, within 1e-4, for every type.
    #[test]
    fn static_curve_is_the_shaper_for_every_type() {
        for distortion_type in TYPES {
            for amount in [0.0, 0.5, 1.0] {
                let params = Params {
                    level: 0.7,
                    ..enabled(distortion_type, amount)
                };
                let mut distortion = Distortion::prepared(&params);
                distortion.path.bypass_filters();
                let len = 2 * FS as usize;
                let ramp: Vec<f32> = (0..len)
                    .map(|n| -1.0 + 2.0 * n as f32 / len as f32)
                    .collect();
                let output = render_mono(&mut distortion, &ramp, 1024);
                let latency = distortion.latency();
                let worst = (latency + 200..len - 200)
                    .map(|n| {
                        let gain = params.drive_gain();
                        let expected = 0.7 * distortion_type.shape(gain * ramp[n - latency], gain);
                        (output[n] - expected).abs()
                    })
                    .fold(0.0f32, f32::max);
                println!("{distortion_type:?} amount {amount}: static curve error {worst:.2e}");
                assert!(worst <= 1e-4, "{distortion_type:?} {amount}: {worst}");
            }
        }
    }

    /// The strongest harmonic 2…5 relative to the strongest of the fundamental and the 2nd
    /// harmonic (the rectifier has no fundamental), in dB.
    fn strongest_harmonic_db(signal: &[f32]) -> f64 {
        let levels: Vec<f64> = (1..=5)
            .map(|h| harmonic_db(signal, 3_001.0, h, FS))
            .collect();
        let reference = if levels[1] > levels[0] { 1 } else { 0 };
        (1..5)
            .filter(|&i| i != reference)
            .map(|i| levels[i] - levels[reference])
            .fold(f64::MIN, f64::max)
    }

    /// docs/effects.md §1 test 19, aliasing: a 3001 Hz sine at −6 dBFS with the amount set so the
    /// strongest harmonic is about −15 dB, filters bypassed: every type's aliases ≤ −60 dB at
    /// 4×. Heavier settings are reported beside the same shaper without oversampling.
    #[test]
    fn oversampling_keeps_every_types_aliases_below_60_db() {
        let input = sine(3_001.0, 0.5, 2 * FS as usize, FS);
        let window = |signal: &[f32]| signal[24_000..72_000].to_vec();
        for distortion_type in TYPES {
            let plain_for = |amount: f32| {
                let gain = enabled(distortion_type, amount).drive_gain();
                window(
                    &input
                        .iter()
                        .map(|&x| distortion_type.shape(gain * x, gain))
                        .collect::<Vec<_>>(),
                )
            };
            let moderate = (1..=100)
                .map(|i| i as f32 / 100.0)
                .min_by(|&a, &b| {
                    let distance =
                        |amount| (strongest_harmonic_db(&plain_for(amount)) + 15.0).abs();
                    distance(a).total_cmp(&distance(b))
                })
                .unwrap();
            for amount in [moderate, 0.5, 1.0] {
                let mut distortion = Distortion::prepared(&enabled(distortion_type, amount));
                distortion.path.bypass_filters();
                let output = window(&render_mono(&mut distortion, &input, 1024));
                let aliases = worst_alias_db(&output, 3_001, 48_000);
                let plain = worst_alias_db(&plain_for(amount), 3_001, 48_000);
                println!(
                    "{distortion_type:?} amount {amount:.3}: strongest harmonic {:.1} dB, worst \
                     alias 4x {aliases:.1} dB (without oversampling {plain:.1} dB)",
                    strongest_harmonic_db(&output)
                );
                if amount == moderate {
                    assert!(aliases <= -60.0, "{distortion_type:?}: {aliases}");
                }
            }
        }
    }

    /// A type change crossfades: switching from classic to hard on a loud sine moves no
    /// sample further than the sine itself does between samples (a step would).
    #[test]
    fn a_type_change_does_not_step_the_output() {
        let input = sine(220.0, 0.5, 9_600, FS);
        let mut distortion = Distortion::prepared(&enabled(DistortionType::Classic, 0.1));
        let mut output = render_mono(&mut distortion, &input[..4_800], 64);
        distortion.set_params(&enabled(DistortionType::Rectifier, 0.1));
        output.extend(render_mono(&mut distortion, &input[4_800..], 64));
        let largest_step = output
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0f32, f32::max);
        let before = output[..4_800]
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0f32, f32::max);
        println!("type change: largest step {largest_step:.4}, before {before:.4}");
        assert!(largest_step < 2.0 * before, "{largest_step} vs {before}");
    }

    #[test]
    fn params_use_the_reference_json_keys_aliases_and_clamp() {
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
            ["amount", "distortionType", "enabled", "level", "tone"]
        );
        assert_eq!(json["distortionType"], "classic");
        let aliased: Params =
            serde_json::from_str(r#"{"enabled": true, "type": "rectifier"}"#).unwrap();
        assert_eq!(aliased.distortion_type, DistortionType::Rectifier);
        let named: Params = serde_json::from_str(r#"{"distortionType": "fuzz"}"#).unwrap();
        assert_eq!(named.distortion_type, DistortionType::Fuzz);
        let wild = Params {
            amount: f32::NAN,
            tone: -2.0,
            level: 9.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!((wild.amount, wild.tone, wild.level), (0.5, 0.0, 1.0));
    }
}
