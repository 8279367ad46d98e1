//! The effect chain: every implemented effect of osp.md §10, in chain order, built and prepared
//! up front, and the [`Preset`] model that configures it (the reference preset JSON: an object
//! keyed by effect key, each value a partial parameter object).
//!
//! Registration is one place: the `units!` table below. Adding an effect = one line there
//! (variant, key, type, module); the chain order comes from [`EFFECT_ORDER`], the full list of
//! the 35 reference keys. A disabled effect's `process` returns at once (exact bypass; the
//! limiter keeps its constant latency, see its notes), so the chain simply runs every unit.
//! Per-effect crossfaded enable (issue 7) slots in as a wrapper inside [`Unit::process`].

use crate::context::RoomContext;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::{
    amplifier, drive, dynamics, filter, lofi, modulation, pitch, reverb, spatial,
};
use serde_json::Value;

/// The 35 effect keys of osp.md §10 in chain order, with the aliases the reference accepts.
pub const EFFECT_ORDER: [(&str, &[&str]); 35] = [
    ("pitchCorrection", &[]),
    ("harmonizer", &[]),
    ("formantShifter", &[]),
    ("wah", &[]),
    ("overdrive", &[]),
    ("distortion", &[]),
    ("amp", &["ampSimulator"]),
    ("cabinet", &[]),
    ("noiseGate", &[]),
    ("deEsser", &[]),
    ("transientShaper", &[]),
    ("eq", &[]),
    ("exciter", &[]),
    ("multiFilter", &[]),
    ("compressor", &[]),
    ("multibandCompressor", &[]),
    ("bitcrusher", &[]),
    ("ringModulator", &[]),
    ("frequencyShifter", &[]),
    ("rotarySpeaker", &[]),
    ("chorus", &[]),
    ("flanger", &[]),
    ("phaser", &[]),
    ("vibrato", &[]),
    ("tremolo", &[]),
    ("autoPan", &[]),
    ("vocalDoubler", &[]),
    ("delay", &[]),
    ("stereoDelay", &[]),
    ("granularDelay", &[]),
    ("roomSimulator", &[]),
    ("reverb", &[]),
    ("shimmerReverb", &[]),
    ("stereoImager", &[]),
    ("limiter", &[]),
];

/// Declares the implemented effects: the [`Unit`] and [`UnitParams`] enums and their dispatch.
/// One line per effect; order here does not matter (the chain sorts by [`EFFECT_ORDER`]).
macro_rules! units {
    ($($variant:ident => $module:ident :: $effect:ident :: $ty:ident),* $(,)?) => {
        /// One implemented effect, built.
        #[derive(Debug)]
        #[allow(clippy::large_enum_variant)] // built once at prepare, never moved on the audio thread
        pub enum Unit {
            $(
                #[doc = concat!("`", stringify!($effect), "`")]
                $variant($module::$effect::$ty),
            )*
        }

        /// One implemented effect's parameters.
        #[derive(Clone, Debug, PartialEq)]
        pub enum UnitParams {
            $(
                #[doc = concat!("`", stringify!($effect), "`")]
                $variant($module::$effect::Params),
            )*
        }

        impl UnitParams {
            /// The defaults of every implemented effect.
            fn all_defaults() -> Vec<Self> {
                vec![$(Self::$variant(Default::default())),*]
            }

            /// The reference key.
            pub fn key(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $module::$effect::KEY,)*
                }
            }

            /// Parameters for `key` from a (partial) JSON object; `None` if `key` is not
            /// implemented.
            fn from_json(key: &str, value: Value) -> Option<Result<Self, serde_json::Error>> {
                $(
                    if key == $module::$effect::KEY {
                        return Some(serde_json::from_value(value).map(Self::$variant));
                    }
                )*
                None
            }

            /// Whether the effect is switched on.
            pub fn enabled(&self) -> bool {
                match self {
                    $(Self::$variant(p) => p.enabled,)*
                }
            }
        }

        impl Unit {
            fn new(params: &UnitParams) -> Self {
                match params {
                    $(UnitParams::$variant(p) => Self::$variant($module::$effect::$ty::new(p)),)*
                }
            }

            /// Applies `params` if they are this effect's (others are ignored).
            ///
            /// Audio thread: must not allocate, lock or block.
            pub fn set_params(&mut self, params: &UnitParams) {
                match (self, params) {
                    $((Self::$variant(e), UnitParams::$variant(p)) => e.set_params(p),)*
                    #[allow(unreachable_patterns)]
                    _ => {}
                }
            }

            fn effect(&mut self) -> &mut dyn Effect {
                match self {
                    $(Self::$variant(e) => e,)*
                }
            }

            fn effect_ref(&self) -> &dyn Effect {
                match self {
                    $(Self::$variant(e) => e,)*
                }
            }
        }
    };
}

units! {
    PitchCorrection => pitch::pitch_correction::PitchCorrection,
    Harmonizer => pitch::harmonizer::Harmonizer,
    FormantShifter => pitch::formant_shifter::FormantShifter,
    ShimmerReverb => reverb::shimmer_reverb::ShimmerReverb,
    Wah => filter::wah::Wah,
    Overdrive => drive::overdrive::Overdrive,
    Distortion => drive::distortion::Distortion,
    Amp => amplifier::amp::Amp,
    Cabinet => amplifier::cabinet::Cabinet,
    NoiseGate => dynamics::noise_gate::NoiseGate,
    DeEsser => dynamics::de_esser::DeEsser,
    TransientShaper => dynamics::transient_shaper::TransientShaper,
    Eq => filter::eq::Equalizer,
    Exciter => drive::exciter::Exciter,
    MultiFilter => filter::multi_filter::MultiFilter,
    Compressor => dynamics::compressor::Compressor,
    MultibandCompressor => dynamics::multiband_compressor::MultibandCompressor,
    Bitcrusher => lofi::bitcrusher::Bitcrusher,
    RingModulator => modulation::ring_modulator::RingModulator,
    StereoImager => spatial::stereo_imager::StereoImager,
    Limiter => dynamics::limiter::Limiter,
}

impl Unit {
    /// Processes `block` (a disabled effect returns at once).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn process(&mut self, block: &mut Block<'_>) {
        self.effect().process(block);
    }
}

/// Why a preset was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum PresetError {
    /// The text is not JSON, or not a JSON object (the author's fault; fix the file).
    NotAnObject(String),
    /// An implemented effect's parameters have the wrong types (the author's fault).
    BadParams {
        /// The effect key.
        key: String,
        /// What serde said.
        message: String,
    },
}

impl std::fmt::Display for PresetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAnObject(message) => write!(f, "preset is not a JSON object: {message}"),
            Self::BadParams { key, message } => write!(f, "effect \"{key}\": {message}"),
        }
    }
}

impl std::error::Error for PresetError {}

/// A whole-chain preset: every implemented effect's parameters (defaults where the JSON says
/// nothing), plus what the JSON named that this build cannot do.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// Parameters of every implemented effect, in chain order.
    pub units: Vec<UnitParams>,
    /// Keys of reference effects in the JSON that are not implemented yet.
    pub not_implemented: Vec<String>,
    /// Keys that are no effect of osp.md §10.
    pub unknown: Vec<String>,
}

impl Default for Preset {
    /// Every effect at its defaults: all off except the limiter (osp.md §10).
    fn default() -> Self {
        let mut units = UnitParams::all_defaults();
        units.sort_by_key(|p| chain_position(p.key()));
        Self {
            units,
            not_implemented: Vec::new(),
            unknown: Vec::new(),
        }
    }
}

impl Preset {
    /// Parses the reference preset JSON. Effect keys and parameter keys may be snake_case
    /// (osp.md §12 bug 5) or a listed alias.
    ///
    /// # Errors
    /// [`PresetError`] if the text is not a JSON object or an implemented effect's parameters
    /// have the wrong types. Unknown and not-yet-implemented effects are listed, not refused.
    pub fn from_json(text: &str) -> Result<Self, PresetError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| PresetError::NotAnObject(e.to_string()))?;
        let Value::Object(map) = value else {
            return Err(PresetError::NotAnObject(
                "top level is not an object".into(),
            ));
        };
        let mut preset = Self::default();
        for (raw_key, params) in map {
            let key = canonical_key(&raw_key);
            let Some(key) = key else {
                preset.unknown.push(raw_key);
                continue;
            };
            match UnitParams::from_json(key, camel_case_keys(params)) {
                Some(Ok(parsed)) => {
                    if let Some(slot) = preset.units.iter_mut().find(|u| u.key() == key) {
                        *slot = parsed;
                    }
                }
                Some(Err(e)) => {
                    return Err(PresetError::BadParams {
                        key: key.into(),
                        message: e.to_string(),
                    });
                }
                None => preset.not_implemented.push(key.into()),
            }
        }
        preset
            .not_implemented
            .sort_by_key(|key| chain_position(key));
        Ok(preset)
    }

    /// A preset with only `key` enabled (at its defaults) and everything else off.
    pub fn single(key: &str) -> Option<Self> {
        let key = canonical_key(key)?;
        let mut map = serde_json::Map::new();
        map.insert("limiter".into(), serde_json::json!({"enabled": false}));
        map.insert(key.into(), serde_json::json!({"enabled": true}));
        let preset = Self::from_json(&Value::Object(map).to_string()).ok()?;
        preset.not_implemented.is_empty().then_some(preset)
    }

    /// Every effect off (the limiter too): the chain is exact delayed bypass.
    pub fn bypass() -> Self {
        Self::from_json(r#"{"limiter": {"enabled": false}}"#).expect("valid")
    }
}

fn chain_position(key: &str) -> usize {
    EFFECT_ORDER
        .iter()
        .position(|(k, _)| *k == key)
        .unwrap_or(usize::MAX)
}

/// The §10 key for `raw` (camelCase, snake_case or an alias), if it names an effect.
fn canonical_key(raw: &str) -> Option<&'static str> {
    let camel = snake_to_camel(raw);
    EFFECT_ORDER
        .iter()
        .find(|(key, aliases)| *key == camel || aliases.contains(&camel.as_str()))
        .map(|(key, _)| *key)
}

fn snake_to_camel(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut upper = false;
    for c in text.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `value` with every object key turned from snake_case into camelCase.
fn camel_case_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (snake_to_camel(&k), camel_case_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_case_keys).collect()),
        other => other,
    }
}

/// The chain: every implemented effect, in osp.md §10 order.
#[derive(Debug)]
pub struct Chain {
    units: Vec<Unit>,
}

impl Chain {
    /// A chain configured by `preset`; call [`Chain::prepare`] before processing.
    pub fn new(preset: &Preset) -> Self {
        Self {
            units: preset.units.iter().map(Unit::new).collect(),
        }
    }

    /// Prepares every effect (may allocate).
    pub fn prepare(&mut self, spec: &ProcessSpec) {
        for unit in &mut self.units {
            unit.effect().prepare(spec);
        }
    }

    /// Applies a preset's parameters to the prepared effects (no rebuild).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_preset(&mut self, preset: &Preset) {
        for (unit, params) in self.units.iter_mut().zip(&preset.units) {
            unit.set_params(params);
        }
    }

    /// Hands every effect the room's tempo, beat position, key and scale (before each block).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_context(&mut self, context: &RoomContext) {
        for unit in &mut self.units {
            unit.effect().set_context(context);
        }
    }

    /// The effects, in chain order.
    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    /// Total latency, in samples (the sum of every effect's).
    pub fn latency(&self) -> usize {
        self.units.iter().map(|u| u.effect_ref().latency()).sum()
    }
}

impl Effect for Chain {
    fn prepare(&mut self, spec: &ProcessSpec) {
        Self::prepare(self, spec);
    }

    fn reset(&mut self) {
        for unit in &mut self.units {
            unit.effect().reset();
        }
    }

    fn process(&mut self, block: &mut Block<'_>) {
        for unit in &mut self.units {
            unit.process(block);
        }
    }

    fn set_context(&mut self, context: &RoomContext) {
        Self::set_context(self, context);
    }

    fn latency(&self) -> usize {
        Self::latency(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::render;
    use crate::test_support::{FS, Noise};

    #[test]
    fn presets_fill_defaults_and_list_what_is_missing() {
        let preset = Preset::from_json(
            r#"{"compressor": {"enabled": true, "threshold": -20},
                "noise_gate": {"enabled": true, "hold_ms": 1, "hold": 20},
                "reverb": {"enabled": true}, "ampSimulator": {}, "sparkles": {}}"#,
        )
        .unwrap();
        assert_eq!(preset.not_implemented, ["reverb"], "in chain order");
        assert_eq!(preset.unknown, ["sparkles"]);
        let keys: Vec<&str> = preset.units.iter().map(UnitParams::key).collect();
        assert_eq!(
            keys,
            [
                "pitchCorrection",
                "harmonizer",
                "formantShifter",
                "wah",
                "overdrive",
                "distortion",
                "amp",
                "cabinet",
                "noiseGate",
                "deEsser",
                "transientShaper",
                "eq",
                "exciter",
                "multiFilter",
                "compressor",
                "multibandCompressor",
                "bitcrusher",
                "ringModulator",
                "shimmerReverb",
                "stereoImager",
                "limiter"
            ]
        );
        let unit = |key: &str| preset.units.iter().find(|u| u.key() == key).unwrap();
        let UnitParams::Compressor(compressor) = unit("compressor") else {
            panic!("order")
        };
        assert_eq!(
            (compressor.enabled, compressor.threshold, compressor.ratio),
            (true, -20.0, 4.0)
        );
        let UnitParams::NoiseGate(gate) = unit("noiseGate") else {
            panic!("order")
        };
        assert_eq!(gate.hold, 20.0);
        assert!(unit("limiter").enabled(), "the limiter defaults on");
        assert!(matches!(unit("amp"), UnitParams::Amp(amp) if !amp.enabled));
        assert!(matches!(
            Preset::from_json(r#"{"limiter": {"ceiling": "loud"}}"#),
            Err(PresetError::BadParams { .. })
        ));
        assert!(matches!(
            Preset::from_json("[1]"),
            Err(PresetError::NotAnObject(_))
        ));
        assert!(Preset::single("multiband_compressor").is_some());
        assert!(Preset::single("chorus").is_none());
    }

    /// Everything off: the output is the input delayed by the chain's latency, bit for bit;
    /// a preset change on the audio thread does not allocate.
    #[test]
    fn bypass_is_exact_and_preset_changes_do_not_allocate() {
        let mut chain = Chain::new(&Preset::bypass());
        chain.prepare(&ProcessSpec::stereo(FS, 1024));
        let latency = chain.latency();
        assert_eq!(latency, 96);
        let mut rng = Noise::new(3);
        let input: Vec<f32> = (0..20_000).map(|_| rng.next_f64() as f32).collect();
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut chain, &mut left, &mut right, || 300);
        assert_eq!(&left[latency..], &input[..input.len() - latency]);

        let everything = Preset::from_json(
            r#"{"wah": {"enabled": true, "mode": "auto"}, "overdrive": {"enabled": true},
                "distortion": {"enabled": true, "type": "fuzz"}, "amp": {"enabled": true},
                "cabinet": {"enabled": true, "micPosition": "room"},
                "exciter": {"enabled": true}, "bitcrusher": {"enabled": true, "bits": 12},
                "multiFilter": {"enabled": true, "tempoSync": true, "lfoDepth": 50},
                "ringModulator": {"enabled": true, "mix": 30},
                "noiseGate": {"enabled": true}, "deEsser": {"enabled": true},
                "transientShaper": {"enabled": true, "attack": 50}, "eq": {"enabled": true},
                "compressor": {"enabled": true}, "multibandCompressor": {"enabled": true},
                "stereoImager": {"enabled": true, "width": 150}, "limiter": {"enabled": true}}"#,
        )
        .unwrap();
        rt::guard::no_alloc(|| chain.set_preset(&everything));
        rt::guard::no_alloc(|| {
            chain.set_context(&RoomContext {
                tempo_bpm: 90.0,
                beat_position: Some(3.25),
                ..RoomContext::default()
            });
        });
        // Switched on, the oversampled effects add theirs: 46 each at 4x (overdrive,
        // distortion, amp), 39 at 2x (exciter).
        assert_eq!(chain.latency(), 96 + 3 * 46 + 39);
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut chain, &mut left, &mut right, || 300);
        assert!(
            left.iter()
                .chain(&right)
                .all(|y| y.is_finite() && y.abs() <= 1.0)
        );
    }
}
