//! The effect chain: all 35 effects of docs/effects.md §3, in chain order, built and prepared
//! up front, and the [`Preset`] model that configures it (the reference preset JSON: an object
//! keyed by effect key, each value a partial parameter object).
//!
//! Registration is one place: the `units!` table below. Adding an effect = one line there
//! (variant, key, type, module); the chain order comes from [`EFFECT_ORDER`], the full list of
//! the 35 reference keys.
//!
//! Switching: the chain, not the effect, owns each effect's `enabled`. An effect inside the
//! chain always runs as enabled; its [`Slot`] decides whether to call it and crossfades between
//! the input and the effect's output over [`SWITCH_FADE_S`] when it is switched, so a toggle
//! never clicks, whatever the effect does to the signal. Switching on from fully off resets the
//! effect first (an old reverb tail must not come back). A fully-off effect costs nothing and
//! adds no latency: the chain's latency is the sum of the switched-on effects' (a jam wants the
//! fewest samples in the path; the plugin reports a change to the host). The fade is between two
//! timelines when a latent effect switches, a 10 ms blend rather than a jump.

use crate::automation::{Automatable, Spec};
use crate::context::RoomContext;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::{
    amplifier, delay, drive, dynamics, filter, lofi, modulation, pitch, reverb, spatial,
};
use serde_json::Value;

/// One reference effect: its key, the name a musician reads, and the aliases the reference
/// accepts for the key.
#[derive(Clone, Copy, Debug)]
pub struct EffectInfo {
    /// The docs/effects.md §3 key ("multibandCompressor").
    pub key: &'static str,
    /// The display name (host parameter groups, reports).
    pub name: &'static str,
    /// Other spellings of the key the reference accepts.
    pub aliases: &'static [&'static str],
}

/// The 35 effects of docs/effects.md §3 in chain order.
pub const EFFECT_ORDER: [EffectInfo; 35] = [
    EffectInfo {
        key: "pitchCorrection",
        name: "Pitch Correction",
        aliases: &[],
    },
    EffectInfo {
        key: "harmonizer",
        name: "Harmonizer",
        aliases: &[],
    },
    EffectInfo {
        key: "formantShifter",
        name: "Formant Shifter",
        aliases: &[],
    },
    EffectInfo {
        key: "wah",
        name: "Wah",
        aliases: &[],
    },
    EffectInfo {
        key: "overdrive",
        name: "Overdrive",
        aliases: &[],
    },
    EffectInfo {
        key: "distortion",
        name: "Distortion",
        aliases: &[],
    },
    EffectInfo {
        key: "amp",
        name: "Amp",
        aliases: &["ampSimulator"],
    },
    EffectInfo {
        key: "cabinet",
        name: "Cabinet",
        aliases: &[],
    },
    EffectInfo {
        key: "noiseGate",
        name: "Noise Gate",
        aliases: &[],
    },
    EffectInfo {
        key: "deEsser",
        name: "De-Esser",
        aliases: &[],
    },
    EffectInfo {
        key: "transientShaper",
        name: "Transient Shaper",
        aliases: &[],
    },
    EffectInfo {
        key: "eq",
        name: "EQ",
        aliases: &[],
    },
    EffectInfo {
        key: "exciter",
        name: "Exciter",
        aliases: &[],
    },
    EffectInfo {
        key: "multiFilter",
        name: "Multi Filter",
        aliases: &[],
    },
    EffectInfo {
        key: "compressor",
        name: "Compressor",
        aliases: &[],
    },
    EffectInfo {
        key: "multibandCompressor",
        name: "Multiband Compressor",
        aliases: &[],
    },
    EffectInfo {
        key: "bitcrusher",
        name: "Bitcrusher",
        aliases: &[],
    },
    EffectInfo {
        key: "ringModulator",
        name: "Ring Modulator",
        aliases: &[],
    },
    EffectInfo {
        key: "frequencyShifter",
        name: "Frequency Shifter",
        aliases: &[],
    },
    EffectInfo {
        key: "rotarySpeaker",
        name: "Rotary Speaker",
        aliases: &[],
    },
    EffectInfo {
        key: "chorus",
        name: "Chorus",
        aliases: &[],
    },
    EffectInfo {
        key: "flanger",
        name: "Flanger",
        aliases: &[],
    },
    EffectInfo {
        key: "phaser",
        name: "Phaser",
        aliases: &[],
    },
    EffectInfo {
        key: "vibrato",
        name: "Vibrato",
        aliases: &[],
    },
    EffectInfo {
        key: "tremolo",
        name: "Tremolo",
        aliases: &[],
    },
    EffectInfo {
        key: "autoPan",
        name: "Auto-Pan",
        aliases: &[],
    },
    EffectInfo {
        key: "vocalDoubler",
        name: "Vocal Doubler",
        aliases: &[],
    },
    EffectInfo {
        key: "delay",
        name: "Delay",
        aliases: &[],
    },
    EffectInfo {
        key: "stereoDelay",
        name: "Stereo Delay",
        aliases: &[],
    },
    EffectInfo {
        key: "granularDelay",
        name: "Granular Delay",
        aliases: &[],
    },
    EffectInfo {
        key: "roomSimulator",
        name: "Room Simulator",
        aliases: &[],
    },
    EffectInfo {
        key: "reverb",
        name: "Reverb",
        aliases: &[],
    },
    EffectInfo {
        key: "shimmerReverb",
        name: "Shimmer Reverb",
        aliases: &[],
    },
    EffectInfo {
        key: "stereoImager",
        name: "Stereo Imager",
        aliases: &[],
    },
    EffectInfo {
        key: "limiter",
        name: "Limiter",
        aliases: &[],
    },
];

/// The name a musician reads for an effect key (host parameter groups, reports).
/// The name a musician reads for an effect key ("Effect" for a key that is none).
pub fn display_name(key: &str) -> &'static str {
    EFFECT_ORDER
        .iter()
        .find(|info| info.key == key)
        .map_or("Effect", |info| info.name)
}

/// Declares the effects: the [`Unit`] and [`UnitParams`] enums and their dispatch.
/// One line per effect; order here does not matter (the chain sorts by [`EFFECT_ORDER`]).
macro_rules! units {
    ($($variant:ident => $module:ident :: $effect:ident :: $ty:ident),* $(,)?) => {
        /// One effect, built.
        #[derive(Debug)]
        #[allow(clippy::large_enum_variant)] // built once at prepare, never moved on the audio thread
        pub enum Unit {
            $(
                #[doc = concat!("`", stringify!($effect), "`")]
                $variant($module::$effect::$ty),
            )*
        }

        /// One effect's parameters.
        #[derive(Clone, Debug, PartialEq)]
        pub enum UnitParams {
            $(
                #[doc = concat!("`", stringify!($effect), "`")]
                $variant($module::$effect::Params),
            )*
        }

        impl UnitParams {
            /// The defaults of every effect.
            fn all_defaults() -> Vec<Self> {
                vec![$(Self::$variant(Default::default())),*]
            }

            /// The reference key.
            pub fn key(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $module::$effect::KEY,)*
                }
            }

            /// Parameters for `key` from a (partial) JSON object; `None` if `key` names no
            /// unit.
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

            /// Switches the effect on or off.
            pub fn set_enabled(&mut self, on: bool) {
                match self {
                    $(Self::$variant(p) => p.enabled = on,)*
                }
            }

            /// The parameters inside their declared ranges (NaN and infinities become
            /// defaults or range ends): what the effect would run with.
            pub fn clamped(&self) -> Self {
                match self {
                    $(Self::$variant(p) => Self::$variant(p.clamped()),)*
                }
            }

            /// The effect's host parameters (all but `enabled`).
            pub fn specs(&self) -> &'static [Spec] {
                match self {
                    $(Self::$variant(_) => <$module::$effect::Params as Automatable>::SPECS,)*
                }
            }

            /// Host parameter `index` (see [`UnitParams::specs`]).
            pub fn get(&self, index: usize) -> f32 {
                match self {
                    $(Self::$variant(p) => p.get(index),)*
                }
            }

            /// Sets host parameter `index` (see [`UnitParams::specs`]).
            ///
            /// Audio thread: must not allocate, lock or block.
            pub fn set(&mut self, index: usize, value: f32) {
                match self {
                    $(Self::$variant(p) => p.set(index, value),)*
                }
            }

            /// The parameters as reference JSON (every field).
            pub fn to_json(&self) -> Value {
                let value = match self {
                    $(Self::$variant(p) => serde_json::to_value(p),)*
                };
                value.unwrap_or(Value::Null)
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
    RotarySpeaker => modulation::rotary_speaker::RotarySpeaker,
    Chorus => modulation::chorus::Chorus,
    Flanger => modulation::flanger::Flanger,
    Phaser => modulation::phaser::Phaser,
    Vibrato => modulation::vibrato::Vibrato,
    Tremolo => modulation::tremolo::Tremolo,
    AutoPan => modulation::auto_pan::AutoPan,
    FrequencyShifter => modulation::frequency_shifter::FrequencyShifter,
    Delay => delay::delay::Delay,
    StereoDelay => delay::stereo_delay::StereoDelay,
    GranularDelay => delay::granular_delay::GranularDelay,
    RoomSimulator => reverb::room_simulator::RoomSimulator,
    Reverb => reverb::reverb::Reverb,
    VocalDoubler => modulation::vocal_doubler::VocalDoubler,
    StereoImager => spatial::stereo_imager::StereoImager,
    Limiter => dynamics::limiter::Limiter,
}

/// Length of the crossfade when an effect is switched on or off (seconds).
pub const SWITCH_FADE_S: f64 = 0.01;

/// One effect in the chain with its on/off switch and crossfade.
#[derive(Debug)]
pub struct Slot {
    unit: Unit,
    /// The parameters the effect runs with (`enabled` forced on; the slot owns the switch).
    params: UnitParams,
    /// Whether the effect is switched on (the fade's destination).
    on: bool,
    /// Samples into the fade, 0 (input only) ..= `fade_len` (effect only).
    position: usize,
    fade_len: usize,
    /// The block's input, kept while fading.
    dry: [Vec<f32>; 2],
}

impl Slot {
    fn new(params: &UnitParams) -> Self {
        let mut slot = Self {
            unit: Unit::new(params),
            params: params.clone(),
            on: params.enabled(),
            position: 0,
            fade_len: 1,
            dry: [Vec::new(), Vec::new()],
        };
        slot.position = if slot.on { slot.fade_len } else { 0 };
        slot.params.set_enabled(true);
        slot.unit.set_params(&slot.params);
        slot
    }

    fn prepare(&mut self, spec: &ProcessSpec) {
        self.unit.effect().prepare(spec);
        self.fade_len = ((SWITCH_FADE_S * spec.sample_rate).round() as usize).max(1);
        self.position = if self.on { self.fade_len } else { 0 };
        self.dry = [vec![0.0; spec.max_block], vec![0.0; spec.max_block]];
    }

    /// The effect.
    pub fn unit(&self) -> &Unit {
        &self.unit
    }

    /// Its parameters (`enabled` is the switch).
    pub fn params(&self) -> UnitParams {
        let mut params = self.params.clone();
        params.set_enabled(self.on);
        params
    }

    /// Whether the effect is switched on (it may still be fading in).
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Whether the effect runs at all (on, or fading out).
    pub fn is_running(&self) -> bool {
        self.on || self.position > 0
    }

    /// Applies `params`: the effect's settings at once (it glides where it can), `enabled` by
    /// crossfading.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &UnitParams) {
        if params.key() != self.params.key() {
            return;
        }
        self.params.clone_from(params);
        self.params.set_enabled(true);
        self.unit.set_params(&self.params);
        self.switch(params.enabled());
    }

    /// Switches the effect on or off with a crossfade.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn switch(&mut self, on: bool) {
        if on && !self.is_running() {
            self.unit.effect().reset();
        }
        self.on = on;
    }

    /// Latency the effect adds while it runs (samples).
    pub fn latency(&self) -> usize {
        if self.is_running() {
            self.unit.effect_ref().latency()
        } else {
            0
        }
    }

    /// Processes `block`: not at all when off, the effect alone when on, a crossfade between.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn process(&mut self, block: &mut Block<'_>) {
        let target = if self.on { self.fade_len } else { 0 };
        if self.position == target {
            if self.on {
                self.unit.effect().process(block);
            }
            return;
        }
        let frames = block.len();
        let [dry_left, dry_right] = &mut self.dry;
        let (dry_left, dry_right) = (&mut dry_left[..frames], &mut dry_right[..frames]);
        dry_left.copy_from_slice(block.left());
        dry_right.copy_from_slice(block.right());
        self.unit.effect().process(block);
        let step = 1.0 / self.fade_len as f32;
        let (left, right) = block.channels_mut();
        for (((l, r), &dl), &dr) in left
            .iter_mut()
            .zip(right.iter_mut())
            .zip(&*dry_left)
            .zip(&*dry_right)
        {
            if self.position < target {
                self.position += 1;
            } else if self.position > target {
                self.position -= 1;
            }
            // The ends are exact: the effect alone, or the input alone.
            if self.position == self.fade_len {
                continue;
            }
            if self.position == 0 {
                (*l, *r) = (dl, dr);
                continue;
            }
            let gain = self.position as f32 * step;
            *l = dl + gain * (*l - dl);
            *r = dr + gain * (*r - dr);
        }
    }

    fn reset(&mut self) {
        self.unit.effect().reset();
        self.position = if self.on { self.fade_len } else { 0 };
    }
}

/// Why a preset was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum PresetError {
    /// The text is not JSON, or not a JSON object (the author's fault; fix the file).
    NotAnObject(String),
    /// An effect's parameters have the wrong types (the author's fault).
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

/// A whole-chain preset: every effect's parameters (defaults where the JSON says nothing),
/// plus the keys the JSON named that are no effect.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// Parameters of every effect, in chain order.
    pub units: Vec<UnitParams>,
    /// Keys that are no effect of docs/effects.md §3.
    pub unknown: Vec<String>,
}

impl Default for Preset {
    /// Every effect at its defaults: all off except the limiter (docs/effects.md §3).
    fn default() -> Self {
        let mut units = UnitParams::all_defaults();
        units.sort_by_key(|p| chain_position(p.key()));
        Self {
            units,
            unknown: Vec::new(),
        }
    }
}

impl Preset {
    /// Parses the reference preset JSON. Effect keys and parameter keys may be snake_case
    /// (docs/effects.md §3.4) or a listed alias.
    ///
    /// # Errors
    /// [`PresetError`] if the text is not a JSON object or an effect's parameters
    /// have the wrong types. Keys that name no effect are listed in `unknown`, not refused.
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
                        // Kept as the effect will run them: a number out of range (1e300,
                        // −5 voices) reads as its range end, and writes back as such.
                        *slot = parsed.clamped();
                    }
                }
                Some(Err(e)) => {
                    return Err(PresetError::BadParams {
                        key: key.into(),
                        message: e.to_string(),
                    });
                }
                // Every key of EFFECT_ORDER has a unit (a test holds the two tables together).
                None => {}
            }
        }
        Ok(preset)
    }

    /// A preset with only `key` enabled (at its defaults) and everything else off.
    pub fn single(key: &str) -> Option<Self> {
        let key = canonical_key(key)?;
        let mut map = serde_json::Map::new();
        map.insert("limiter".into(), serde_json::json!({"enabled": false}));
        map.insert(key.into(), serde_json::json!({"enabled": true}));
        Self::from_json(&Value::Object(map).to_string()).ok()
    }

    /// The preset as reference JSON: an object keyed by effect key, every parameter written.
    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, Value> = self
            .units
            .iter()
            .map(|params| (params.key().to_owned(), params.to_json()))
            .collect();
        serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default()
    }

    /// Every effect off (the limiter too): the chain is an exact identity.
    pub fn bypass() -> Self {
        Self::from_json(r#"{"limiter": {"enabled": false}}"#).expect("valid")
    }
}

fn chain_position(key: &str) -> usize {
    EFFECT_ORDER
        .iter()
        .position(|info| info.key == key)
        .unwrap_or(usize::MAX)
}

/// The §10 key for `raw` (camelCase, snake_case or an alias), if it names an effect.
fn canonical_key(raw: &str) -> Option<&'static str> {
    let camel = snake_to_camel(raw);
    EFFECT_ORDER
        .iter()
        .find(|info| info.key == camel || info.aliases.contains(&camel.as_str()))
        .map(|info| info.key)
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

/// The chain: every effect, in docs/effects.md §3 order, each in its switching [`Slot`].
#[derive(Debug)]
pub struct Chain {
    slots: Vec<Slot>,
}

impl Chain {
    /// A chain configured by `preset`; call [`Chain::prepare`] before processing.
    pub fn new(preset: &Preset) -> Self {
        Self {
            slots: preset.units.iter().map(Slot::new).collect(),
        }
    }

    /// Prepares every effect and its crossfade for `spec` (may allocate; off the audio thread).
    pub fn prepare(&mut self, spec: &ProcessSpec) {
        for slot in &mut self.slots {
            slot.prepare(spec);
        }
    }

    /// Applies a preset's parameters to the prepared effects (no rebuild); effects switched on
    /// or off crossfade.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_preset(&mut self, preset: &Preset) {
        for (slot, params) in self.slots.iter_mut().zip(&preset.units) {
            slot.set_params(params);
        }
    }

    /// Hands every effect the room's tempo, beat position, key and scale (before each block).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_context(&mut self, context: &RoomContext) {
        for slot in &mut self.slots {
            slot.unit.effect().set_context(context);
        }
    }

    /// The effects, in chain order.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The effects, in chain order, to switch or set one of them.
    pub fn slots_mut(&mut self) -> &mut [Slot] {
        &mut self.slots
    }

    /// The chain's current settings as a preset.
    pub fn preset(&self) -> Preset {
        Preset {
            units: self.slots.iter().map(Slot::params).collect(),
            unknown: Vec::new(),
        }
    }

    /// Total latency of the running effects, in samples.
    pub fn latency(&self) -> usize {
        self.slots.iter().map(Slot::latency).sum()
    }
}

impl Effect for Chain {
    fn prepare(&mut self, spec: &ProcessSpec) {
        Self::prepare(self, spec);
    }

    fn reset(&mut self) {
        for slot in &mut self.slots {
            slot.reset();
        }
    }

    fn process(&mut self, block: &mut Block<'_>) {
        for slot in &mut self.slots {
            slot.process(block);
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
    fn presets_fill_defaults_and_list_unknown_effects() {
        let preset = Preset::from_json(
            r#"{"compressor": {"enabled": true, "threshold": -20},
                "noise_gate": {"enabled": true, "hold_ms": 1, "hold": 20},
                "shimmerReverb": {"enabled": true}, "ampSimulator": {}, "sparkles": {}}"#,
        )
        .unwrap();
        let keys: Vec<&str> = preset.units.iter().map(UnitParams::key).collect();
        assert_eq!(preset.unknown, ["sparkles"]);
        assert!(
            keys.windows(2)
                .all(|pair| chain_position(pair[0]) < chain_position(pair[1])),
            "units in chain order: {keys:?}"
        );
        assert_eq!(
            keys.len(),
            EFFECT_ORDER.len(),
            "all 35 effects are in the chain"
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
        assert!(Preset::single("reverb").is_some());
    }

    /// Everything off: the output is the input, bit for bit, with no latency; a preset change on
    /// the audio thread does not allocate.
    #[test]
    fn bypass_is_exact_and_preset_changes_do_not_allocate() {
        let mut chain = Chain::new(&Preset::bypass());
        chain.prepare(&ProcessSpec::stereo(FS, 1024));
        assert_eq!(chain.latency(), 0);
        let mut rng = Noise::new(3);
        let input: Vec<f32> = (0..20_000).map(|_| rng.next_f64() as f32).collect();
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut chain, &mut left, &mut right, || 300);
        assert_eq!(left, input);

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
        // Switched on: the limiter's lookahead (96), 46 each for the 4x effects (overdrive,
        // distortion, amp), 39 for the 2x exciter.
        assert_eq!(chain.latency(), 96 + 3 * 46 + 39);
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut chain, &mut left, &mut right, || 300);
        assert!(
            left.iter()
                .chain(&right)
                .all(|y| y.is_finite() && y.abs() <= 1.0)
        );
    }

    /// Switching crossfades over exactly 10 ms between the input and the effect's output: on,
    /// from a freshly reset effect; off, from the effect still running. Between fades the
    /// output is the input or the effect alone, bit for bit.
    #[test]
    fn switching_crossfades_between_input_and_effect() {
        let on = Preset::from_json(
            r#"{"limiter": {"enabled": false},
                "ringModulator": {"enabled": true, "frequency": 300, "mix": 100}}"#,
        )
        .unwrap();
        let mut off = on.clone();
        for params in &mut off.units {
            params.set_enabled(false);
        }
        let (switch_on, switch_off, len) = (1_000, 5_000, 8_000);
        let mut rng = Noise::new(9);
        let input: Vec<f32> = (0..len).map(|_| 0.5 * rng.next_f64() as f32).collect();

        let mut chain = Chain::new(&off);
        chain.prepare(&ProcessSpec::stereo(FS, 1024));
        let (mut left, mut right) = (input.clone(), input.clone());
        for (start, end, preset) in [
            (0, switch_on, &off),
            (switch_on, switch_off, &on),
            (switch_off, len, &off),
        ] {
            rt::guard::no_alloc(|| chain.set_preset(preset));
            let (l, r) = (&mut left[start..end], &mut right[start..end]);
            render(&mut chain, l, r, || 256);
        }

        // The effect alone, fresh at the switch-on.
        let mut alone = Chain::new(&on);
        alone.prepare(&ProcessSpec::stereo(FS, 1024));
        let (mut wet, mut wet_right) = (input[switch_on..].to_vec(), input[switch_on..].to_vec());
        render(&mut alone, &mut wet, &mut wet_right, || 256);

        let fade = (SWITCH_FADE_S * FS) as usize;
        assert_eq!(fade, 480);
        for n in 0..len {
            let gain = if n < switch_on {
                0.0
            } else if n < switch_off {
                ((n - switch_on + 1).min(fade)) as f32 / fade as f32
            } else {
                fade.saturating_sub(n - switch_off + 1) as f32 / fade as f32
            };
            let effect = if n < switch_on {
                0.0
            } else {
                wet[n - switch_on]
            };
            let expected = match gain {
                0.0 => input[n],
                1.0 => effect,
                _ => input[n] + gain * (effect - input[n]),
            };
            assert!(
                (left[n] - expected).abs() <= 1e-6,
                "sample {n}: {} vs {expected}",
                left[n]
            );
            if gain == 0.0 || gain == 1.0 {
                assert_eq!(left[n], expected, "sample {n} exact outside fades");
            }
        }
        assert_eq!(chain.latency(), 0);
        assert!(!chain.slots().iter().any(Slot::is_running));
    }

    /// A host value anywhere in `kind`'s range.
    fn random_value(kind: crate::automation::Kind, uniform: &mut impl FnMut() -> f64) -> f32 {
        use crate::automation::Kind;
        match kind {
            Kind::Float { min, max, .. } => min + (max - min) * uniform() as f32,
            Kind::Int { min, max } => {
                (f64::from(min) + f64::from(max - min) * uniform()).round() as f32
            }
            Kind::Toggle => f32::from(u8::from(uniform() > 0.5)),
            Kind::Choice(labels) => {
                ((uniform() * labels.len() as f64) as usize % labels.len()) as f32
            }
        }
    }

    /// Export then import gives back the same preset, with every host parameter of every
    /// effect set at random.
    #[test]
    fn presets_round_trip_through_reference_json() {
        let mut preset = Preset::default();
        let mut rng = Noise::new(5);
        let mut uniform = move || (rng.next_f64() + 1.0) / 2.0;
        for params in &mut preset.units {
            for (index, spec) in params.specs().iter().enumerate() {
                params.set(index, random_value(spec.kind, &mut uniform));
            }
            params.set_enabled(uniform() > 0.5);
        }
        let json = preset.to_json();
        let back = Preset::from_json(&json).unwrap();
        assert!(back.unknown.is_empty());
        for (read, written) in back.units.iter().zip(&preset.units) {
            // Read back as the effect runs it (the phaser's stages are even, say).
            assert_eq!(*read, written.clamped(), "{}", read.key());
        }
    }

    /// The whole chain, every effect on, for 10,000 blocks of random sizes while random host
    /// parameters move and effects switch on and off: no allocation (render runs each block
    /// under the guard), finite output, never above the limiter's 0 dBFS ceiling.
    #[test]
    fn the_full_chain_survives_random_automation_without_allocating() {
        let mut preset = Preset::default();
        for params in &mut preset.units {
            params.set_enabled(true);
        }
        let mut chain = Chain::new(&preset);
        chain.prepare(&ProcessSpec::stereo(FS, 1024));
        let mut rng = Noise::new(77);
        let mut uniform = move || (rng.next_f64() + 1.0) / 2.0;
        let (source_left, source_right) = crate::effects::conformance::programme(48_000, 4);
        let mut position = 0;
        let mut peak = 0.0f32;
        for block in 0..10_000 {
            // A few parameter moves per block, anywhere in the chain.
            for _ in 0..3 {
                let slot = (uniform() * preset.units.len() as f64) as usize % preset.units.len();
                let params = &mut preset.units[slot];
                let specs = params.specs();
                if specs.is_empty() {
                    continue;
                }
                let index = (uniform() * specs.len() as f64) as usize % specs.len();
                let value = random_value(specs[index].kind, &mut uniform);
                params.set(index, value);
                // The limiter stays on: it is what bounds the chain's output.
                if uniform() < 0.05 && params.key() != "limiter" {
                    let on = !params.enabled();
                    params.set_enabled(on);
                }
                let params = params.clone();
                rt::guard::no_alloc(|| chain.slots_mut()[slot].set_params(&params));
            }
            let context = RoomContext {
                tempo_bpm: 60.0 + 120.0 * uniform(),
                beat_position: Some(block as f64 * 0.1),
                ..RoomContext::default()
            };
            rt::guard::no_alloc(|| chain.set_context(&context));
            let frames = 1 + (uniform() * 255.0) as usize;
            let mut left = [0.0f32; 256];
            let mut right = [0.0f32; 256];
            for n in 0..frames {
                left[n] = source_left[(position + n) % source_left.len()];
                right[n] = source_right[(position + n) % source_right.len()];
            }
            position += frames;
            render(
                &mut chain,
                &mut left[..frames],
                &mut right[..frames],
                || frames,
            );
            for y in left[..frames].iter().chain(&right[..frames]) {
                assert!(y.is_finite(), "block {block}: non-finite output");
                peak = peak.max(y.abs());
            }
        }
        assert!(peak <= 1.0 + 1e-6, "peak {peak}");
    }
}
