//! The registry of the 35 effects: their keys, names and aliases in chain order, and the
//! `units!` table that declares the [`Unit`] and [`UnitParams`] enums and their dispatch.

use crate::automation::{Automatable, Spec};
use crate::effect::Effect;
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

/// The name a musician reads for an effect key (host parameter groups, reports; "Effect" for a
/// key that is none).
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
            pub(super) fn all_defaults() -> Vec<Self> {
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
            pub(super) fn from_json(key: &str, value: Value) -> Option<Result<Self, serde_json::Error>> {
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
            pub(super) fn new(params: &UnitParams) -> Self {
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

            pub(super) fn effect(&mut self) -> &mut dyn Effect {
                match self {
                    $(Self::$variant(e) => e,)*
                }
            }

            pub(super) fn effect_ref(&self) -> &dyn Effect {
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
