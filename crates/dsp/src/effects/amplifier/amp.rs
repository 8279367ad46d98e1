//! The amp simulator (docs/effects.md §3 #7, also keyed `ampSimulator`): high-pass at 40 Hz, preamp
//! gain (1 + 10·gain) × the type's factor into the type's waveshaper at 4× the sample rate, a
//! DC blocker, low-pass at 6 kHz, then the tone stack (bass low shelf at 100 Hz, mid peak at
//! 700 Hz, treble high shelf at 3 kHz, each (v − 0.5)·24 dB), the presence shelf at 4 kHz
//! ((v − 0.5)·12 dB) and the master as a linear gain. Left and right have their own filter
//! state (the reference shares one between the channels).
//!
//! The types differ in preamp factor (0.5/1/2/1.2/0.8/2.5, from the reference) and in curve:
//! symmetric tanh for clean, high-gain and american; asymmetric tanh for crunch (negative half
//! at 0.8) and british (0.7); the knee-smoothed hard clip for modern. A type change crossfades
//! the curves over 10 ms while the preamp gain glides; every tone control glides.

use crate::automation::Kind as HostKind;
use crate::blocks::biquad::{Design, Kind, Smoothed};
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::drive::pipeline::{CurveFade, Pipeline};
use crate::effects::drive::shaper;
use serde::{Deserialize, Serialize};
use std::f64::consts::FRAC_1_SQRT_2;
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "amp";
/// Other keys the reference uses for this effect.
pub const KEY_ALIASES: &[&str] = &["ampSimulator"];

/// Declared range of the knobs.
pub const UNIT_RANGE: RangeInclusive<f32> = 0.0..=1.0;

/// The fixed high-pass before the preamp (Hz).
const PRE_HIGHPASS_HZ: f64 = 40.0;
/// The fixed low-pass after the preamp (Hz).
const POST_LOWPASS_HZ: f64 = 6_000.0;
/// Preamp gain at gain = 1 is (1 + this) × the type's factor.
const GAIN_SPAN: f32 = 10.0;
/// Tone stack: (shape, frequency, Q) of bass, mid and treble, and their span in dB.
const TONE_STACK: [(Kind, f64, f64); 3] = [
    (Kind::LowShelf, 100.0, FRAC_1_SQRT_2),
    (Kind::Peak, 700.0, FRAC_1_SQRT_2),
    (Kind::HighShelf, 3_000.0, FRAC_1_SQRT_2),
];
const TONE_SPAN_DB: f64 = 24.0;
/// Presence shelf corner (Hz) and span (dB).
const PRESENCE_HZ: f64 = 4_000.0;
const PRESENCE_SPAN_DB: f64 = 12.0;
/// Tone controls glide over this time.
const TONE_GLIDE_S: f64 = 0.02;

/// The amp model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AmpType {
    /// Preamp ×0.5, tanh.
    #[default]
    Clean,
    /// Preamp ×1, asymmetric tanh (0.8).
    Crunch,
    /// Preamp ×2, tanh.
    Highgain,
    /// Preamp ×1.2, asymmetric tanh (0.7).
    British,
    /// Preamp ×0.8, tanh.
    American,
    /// Preamp ×2.5, knee-smoothed hard clip.
    Modern,
}

impl AmpType {
    /// The reference's preamp factor.
    pub fn preamp_factor(self) -> f32 {
        match self {
            Self::Clean => 0.5,
            Self::Crunch => 1.0,
            Self::Highgain => 2.0,
            Self::British => 1.2,
            Self::American => 0.8,
            Self::Modern => 2.5,
        }
    }

    /// The type's static curve.
    pub fn shape(self, x: f32) -> f32 {
        match self {
            Self::Clean | Self::Highgain | Self::American => shaper::tanh(x),
            Self::Crunch => shaper::asymmetric_tanh(x, 0.8),
            Self::British => shaper::asymmetric_tanh(x, 0.7),
            Self::Modern => shaper::hard_clip(x),
        }
    }

    /// Shapes `samples` in place (one dispatch per block).
    fn shape_all(self, samples: &mut [f32]) {
        match self {
            Self::Clean | Self::Highgain | Self::American => shaper::apply(samples, shaper::tanh),
            Self::Crunch => shaper::apply(samples, |x| shaper::asymmetric_tanh(x, 0.8)),
            Self::British => shaper::apply(samples, |x| shaper::asymmetric_tanh(x, 0.7)),
            Self::Modern => shaper::apply(samples, shaper::hard_clip),
        }
    }
}

/// The amp's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// The model (default clean); the reference also writes it as `type`.
    #[serde(alias = "type")]
    pub amp_type: AmpType,
    /// Preamp gain 0…1 (default 0.5).
    pub gain: f32,
    /// Bass 0…1 (default 0.5 = flat): ±12 dB low shelf at 100 Hz.
    pub bass: f32,
    /// Mid 0…1 (default 0.5): ±12 dB peak at 700 Hz.
    pub mid: f32,
    /// Treble 0…1 (default 0.5): ±12 dB high shelf at 3 kHz.
    pub treble: f32,
    /// Presence 0…1 (default 0.5): ±6 dB high shelf at 4 kHz.
    pub presence: f32,
    /// Master 0…1 (default 0.5), a linear gain.
    pub master: f32,
}

crate::host_choice!(AmpType {
    Clean => "Clean",
    Crunch => "Crunch",
    Highgain => "High Gain",
    British => "British",
    American => "American",
    Modern => "Modern",
});

crate::automatable!(Params {
    [amp_type] "ampType", "Amp Type", HostKind::choice::<AmpType>();
    [gain] "gain", "Gain", HostKind::linear(UNIT_RANGE, "");
    [bass] "bass", "Bass", HostKind::linear(UNIT_RANGE, "");
    [mid] "mid", "Mid", HostKind::linear(UNIT_RANGE, "");
    [treble] "treble", "Treble", HostKind::linear(UNIT_RANGE, "");
    [presence] "presence", "Presence", HostKind::linear(UNIT_RANGE, "");
    [master] "master", "Master", HostKind::linear(UNIT_RANGE, "");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            amp_type: AmpType::Clean,
            gain: 0.5,
            bass: 0.5,
            mid: 0.5,
            treble: 0.5,
            presence: 0.5,
            master: 0.5,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            amp_type: self.amp_type,
            gain: clamp_param(self.gain, UNIT_RANGE, d.gain),
            bass: clamp_param(self.bass, UNIT_RANGE, d.bass),
            mid: clamp_param(self.mid, UNIT_RANGE, d.mid),
            treble: clamp_param(self.treble, UNIT_RANGE, d.treble),
            presence: clamp_param(self.presence, UNIT_RANGE, d.presence),
            master: clamp_param(self.master, UNIT_RANGE, d.master),
        }
    }

    /// The gain into the shaper.
    pub fn preamp_gain(&self) -> f32 {
        (1.0 + GAIN_SPAN * self.gain) * self.amp_type.preamp_factor()
    }

    /// The tone stack and presence designs, in processing order.
    pub fn tone_designs(&self) -> [Design; 4] {
        let knobs = [self.bass, self.mid, self.treble];
        let [bass, mid, treble] = std::array::from_fn(|i| {
            let (kind, frequency, q) = TONE_STACK[i];
            Design::with_gain(
                kind,
                frequency,
                q,
                (f64::from(knobs[i]) - 0.5) * TONE_SPAN_DB,
            )
        });
        let presence = Design::with_gain(
            Kind::HighShelf,
            PRESENCE_HZ,
            FRAC_1_SQRT_2,
            (f64::from(self.presence) - 0.5) * PRESENCE_SPAN_DB,
        );
        [bass, mid, treble, presence]
    }
}

/// The amp. Disabled, it passes audio through untouched and reports no latency.
#[derive(Clone, Debug)]
pub struct Amp {
    params: Params,
    path: Pipeline,
    /// Per channel: bass, mid, treble, presence.
    tone: [[Smoothed; 4]; 2],
    /// The type's curve, faded from the previous one after a type change.
    curve: CurveFade<AmpType>,
}

impl Amp {
    /// An amp with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let params = params.clamped();
        let mut amp = Self {
            path: Pipeline::new(
                PRE_HIGHPASS_HZ,
                POST_LOWPASS_HZ,
                params.preamp_gain(),
                params.master,
            ),
            tone: Self::tone_filters(&params, 48_000.0),
            curve: CurveFade::new(params.amp_type),
            params,
        };
        amp.reset();
        amp
    }

    fn tone_filters(params: &Params, sample_rate: f64) -> [[Smoothed; 4]; 2] {
        let designs = params.tone_designs();
        let channel = designs.map(|design| Smoothed::new(&design, sample_rate, TONE_GLIDE_S));
        [channel.clone(), channel]
    }

    /// Applies new parameters (clamped). Gain, tone and master glide; a new type crossfades.
    /// Switching on starts from silent state.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        let previous = std::mem::replace(&mut self.params, params.clamped());
        self.path.set_targets(
            POST_LOWPASS_HZ,
            self.params.preamp_gain(),
            self.params.master,
        );
        let designs = self.params.tone_designs();
        for channel in &mut self.tone {
            Smoothed::set_targets(channel, &designs);
        }
        if self.params.enabled && !previous.enabled {
            self.reset();
        } else {
            self.curve.select(self.params.amp_type);
        }
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }
}

impl Effect for Amp {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.path.prepare(spec);
        self.tone = Self::tone_filters(&self.params, spec.sample_rate);
        self.curve.prepare(spec);
        self.reset();
    }

    fn reset(&mut self) {
        self.path.reset();
        let designs = self.params.tone_designs();
        for channel in &mut self.tone {
            Smoothed::reset_to(channel, &designs);
        }
        self.curve.jump_to(self.params.amp_type);
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let curve = &mut self.curve;
        self.path.process(block, |channel, inner| {
            curve.process(channel, inner, AmpType::shape, AmpType::shape_all);
        });
        let (left, right) = block.channels_mut();
        for (samples, filters) in [left, right].into_iter().zip(&mut self.tone) {
            for x in samples.iter_mut() {
                let mut y = f64::from(*x);
                for filter in filters.iter_mut() {
                    y = filter.process_f64(y);
                }
                *x = y as f32;
            }
        }
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
    use crate::blocks::biquad::Coefs;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::test_support::{
        FS, dc_blocker_db, harmonic_db, impulse, render_mono, render_stereo, response_db, sine,
        worst_alias_db,
    };

    conformance_tests!(Amp {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] = &[(
            "/ampType",
            &[
                "clean", "crunch", "highgain", "british", "american", "modern",
            ],
        )];
    });

    const TYPES: [AmpType; 6] = [
        AmpType::Clean,
        AmpType::Crunch,
        AmpType::Highgain,
        AmpType::British,
        AmpType::American,
        AmpType::Modern,
    ];

    fn enabled(amp_type: AmpType, gain: f32) -> Params {
        Params {
            enabled: true,
            amp_type,
            gain,
            master: 1.0,
            ..Params::default()
        }
    }

    /// docs/effects.md §1 test 19, static curve: with the tone stack flat and the fixed filters
    /// bypassed, a slow ramp comes out as master·shape(preamp·x) within 1e-4 for every type.
    #[test]
    fn static_curve_is_the_types_shaper() {
        let len = 2 * FS as usize;
        let ramp: Vec<f32> = (0..len)
            .map(|n| -1.0 + 2.0 * n as f32 / len as f32)
            .collect();
        for amp_type in TYPES {
            for gain in [0.0, 1.0] {
                let params = Params {
                    master: 0.6,
                    ..enabled(amp_type, gain)
                };
                let mut amp = Amp::prepared(&params);
                amp.path.bypass_filters();
                let output = render_mono(&mut amp, &ramp, 1024);
                let latency = amp.latency();
                let worst = (latency + 200..len - 200)
                    .map(|n| {
                        let expected =
                            0.6 * amp_type.shape(params.preamp_gain() * ramp[n - latency]);
                        (output[n] - expected).abs()
                    })
                    .fold(0.0f32, f32::max);
                println!("amp {amp_type:?} gain {gain}: static curve error {worst:.2e}");
                assert!(worst <= 1e-4, "{amp_type:?} {gain}: {worst}");
            }
        }
    }

    /// docs/effects.md §1 test 19, aliasing: 3001 Hz at −6 dBFS, gain set so the strongest harmonic
    /// is about −15 dB (or the lowest gain, for the types whose factor already drives harder),
    /// fixed filters bypassed, tone flat: aliases ≤ −60 dB. Gain 1 is reported too.
    #[test]
    fn oversampling_keeps_every_types_aliases_below_60_db() {
        let input = sine(3_001.0, 0.5, 2 * FS as usize, FS);
        let window = |signal: &[f32]| signal[24_000..72_000].to_vec();
        let strongest = |signal: &[f32]| {
            (2..=5)
                .map(|h| harmonic_db(signal, 3_001.0, h, FS))
                .fold(f64::MIN, f64::max)
        };
        for amp_type in TYPES {
            let plain_for = |gain: f32| {
                let drive = enabled(amp_type, gain).preamp_gain();
                window(
                    &input
                        .iter()
                        .map(|&x| amp_type.shape(drive * x))
                        .collect::<Vec<_>>(),
                )
            };
            let moderate = (0..=100)
                .map(|i| i as f32 / 100.0)
                .min_by(|&a, &b| {
                    let distance = |g| (strongest(&plain_for(g)) + 15.0).abs();
                    distance(a).total_cmp(&distance(b))
                })
                .unwrap();
            for gain in [moderate, 1.0] {
                let mut amp = Amp::prepared(&enabled(amp_type, gain));
                amp.path.bypass_filters();
                let output = window(&render_mono(&mut amp, &input, 1024));
                let aliases = worst_alias_db(&output, 3_001, 48_000);
                let plain = worst_alias_db(&plain_for(gain), 3_001, 48_000);
                println!(
                    "amp {amp_type:?} gain {gain:.2}: strongest harmonic {:.1} dB, worst alias \
                     4x {aliases:.1} dB (without oversampling {plain:.1} dB)",
                    strongest(&output)
                );
                if gain == moderate {
                    assert!(aliases <= -60.0, "{amp_type:?}: {aliases}");
                }
            }
        }
    }

    /// Small signals see the linear path: HP 40 · preamp · DC blocker · LP 6k · bass · mid ·
    /// treble · presence · master; the impulse response matches the analytic cascade within
    /// 0.01 dB at each control's frequency, for several knob settings.
    #[test]
    fn tone_stack_response_is_the_design() {
        let mut worst = 0.0f64;
        for (bass, mid, treble, presence) in [
            (0.5, 0.5, 0.5, 0.5),
            (1.0, 0.0, 1.0, 0.0),
            (0.0, 1.0, 0.2, 1.0),
        ] {
            let params = Params {
                bass,
                mid,
                treble,
                presence,
                ..enabled(AmpType::Clean, 0.0)
            };
            let mut amp = Amp::prepared(&params);
            let amplitude = 1e-5;
            let input: Vec<f32> = impulse(1 << 15).iter().map(|x| x * amplitude).collect();
            let ir: Vec<f32> = render_mono(&mut amp, &input, 1024)
                .iter()
                .map(|y| y / amplitude)
                .collect();
            let mut designs = vec![
                Design::new(Kind::Highpass, PRE_HIGHPASS_HZ, FRAC_1_SQRT_2),
                Design::new(Kind::Lowpass, POST_LOWPASS_HZ, FRAC_1_SQRT_2),
            ];
            designs.extend(params.tone_designs());
            let gain_db = 20.0 * f64::from(params.preamp_gain() * params.master).log10();
            for f in [
                60.0, 100.0, 300.0, 700.0, 2_000.0, 3_000.0, 4_000.0, 8_000.0,
            ] {
                let expected: f64 = designs
                    .iter()
                    .map(|d| Coefs::new(d, FS).magnitude_db(f, FS))
                    .sum::<f64>()
                    + dc_blocker_db(5.0, f)
                    + gain_db;
                worst = worst.max((response_db(&ir, f, FS) - expected).abs());
            }
        }
        println!("amp tone stack: worst response error {worst:.2e} dB");
        assert!(worst < 0.01, "{worst}");
    }

    /// Left and right do not share filter state: silence on the right stays silence while
    /// the left plays, and the left equals a mono render.
    #[test]
    fn channels_have_separate_state() {
        let params = Params {
            bass: 0.9,
            treble: 0.2,
            ..enabled(AmpType::British, 0.7)
        };
        let input = sine(220.0, 0.5, 9_600, FS);
        let (left, right) =
            render_stereo(&mut Amp::prepared(&params), &input, &vec![0.0; 9_600], 64);
        assert!(right.iter().all(|&y| y == 0.0));
        assert_eq!(left, render_mono(&mut Amp::prepared(&params), &input, 64));
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
            [
                "ampType", "bass", "enabled", "gain", "master", "mid", "presence", "treble"
            ]
        );
        let aliased: Params = serde_json::from_str(r#"{"type": "highgain"}"#).unwrap();
        assert_eq!(aliased.amp_type, AmpType::Highgain);
        assert_eq!(KEY_ALIASES, ["ampSimulator"]);
        let wild = Params {
            gain: f32::NAN,
            bass: 2.0,
            master: -1.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!((wild.gain, wild.bass, wild.master), (0.5, 1.0, 0.0));
    }
}
