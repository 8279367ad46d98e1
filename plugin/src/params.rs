//! The host-facing parameters: what a DAW automates and saves with the project.
//!
//! Gains are shown in dB and smoothed on a logarithmic curve so a fade sounds even; the monitor
//! balance is smoothed linearly. String ids are part of saved projects and automation lanes:
//! never rename them.

use std::sync::{Arc, Mutex};

use nice_plug::prelude::*;

use crate::effects::EffectParams;
use crate::session;

/// Remote players with their own gain, mute and auxiliary output.
pub const PLAYERS: usize = engine::controller::AUX_PLAYERS;

/// Smoothing time for every continuous parameter.
pub const SMOOTHING_MS: f32 = 20.0;

/// Lowest input gain, in dB.
pub const INPUT_GAIN_MIN_DB: f32 = -60.0;
/// Highest input gain, in dB.
pub const INPUT_GAIN_MAX_DB: f32 = 24.0;
/// Lowest output gain, in dB.
pub const OUTPUT_GAIN_MIN_DB: f32 = -60.0;
/// Highest output gain, in dB.
pub const OUTPUT_GAIN_MAX_DB: f32 = 12.0;

/// All of OSP Jam's host parameters.
#[derive(Params)]
pub struct JamParams {
    /// Host bypass: crossfades to the dry input (see `engine::strip`).
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// Gain applied to the track's input before it is monitored or sent.
    #[id = "in_gain"]
    pub input_gain: FloatParam,
    /// Gain applied to what the player hears.
    #[id = "out_gain"]
    pub output_gain: FloatParam,
    /// Balance between the player's own signal and the room (0 room only, 0.5 both, 1 own only).
    #[id = "monitor"]
    pub monitor: FloatParam,
    /// Per remote player (in the order they joined): gain and mute in the room mix.
    #[nested(array, group = "Player")]
    pub players: [PlayerParams; PLAYERS],
    /// The effect chain: every effect's switch and parameters, grouped per effect.
    #[nested(group = "Effects")]
    pub effects: EffectParams,
    /// The network session's settings (room, addresses, codec, jitter buffer; the secret is
    /// kept in the user's secrets file, not here).
    #[persist = "session"]
    pub session: Mutex<session::Settings>,
}

/// One remote player's mix controls.
#[derive(Params)]
pub struct PlayerParams {
    /// Linear gain in the room mix (shown in dB).
    #[id = "gain"]
    pub gain: FloatParam,
    /// Takes the player out of the room mix (their own output keeps playing).
    #[id = "mute"]
    pub mute: BoolParam,
}

impl PlayerParams {
    /// The controls of player `number` (1-based, as shown to the user).
    pub fn new(number: usize) -> Self {
        Self {
            gain: gain_param(
                &format!("Player {number} Gain"),
                PLAYER_GAIN_MIN_DB,
                PLAYER_GAIN_MAX_DB,
            ),
            mute: BoolParam::new(format!("Player {number} Mute"), false),
        }
    }
}

/// Lowest remote player gain, in dB.
pub const PLAYER_GAIN_MIN_DB: f32 = -60.0;
/// Highest remote player gain, in dB.
pub const PLAYER_GAIN_MAX_DB: f32 = 12.0;

impl Default for JamParams {
    fn default() -> Self {
        Self {
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            input_gain: gain_param("Input Gain", INPUT_GAIN_MIN_DB, INPUT_GAIN_MAX_DB),
            output_gain: gain_param("Output Gain", OUTPUT_GAIN_MIN_DB, OUTPUT_GAIN_MAX_DB),
            monitor: FloatParam::new(
                "Monitor Mix",
                0.5,
                FloatRange::Linear { min: 0.0, max: 1.0 },
            )
            .with_smoother(SmoothingStyle::Linear(SMOOTHING_MS))
            .with_unit(" %")
            .with_value_to_string(formatters::v2s_f32_percentage(0))
            .with_string_to_value(formatters::s2v_f32_percentage()),
            players: std::array::from_fn(|i| PlayerParams::new(i + 1)),
            effects: EffectParams::default(),
            // The standalone's command line is where its session settings come from.
            session: Mutex::new(session::standalone().cloned().unwrap_or_default()),
        }
    }
}

/// A linear gain parameter shown in dB, unity by default, skewed so 0 dB sits near the middle.
fn gain_param(name: &str, min_db: f32, max_db: f32) -> FloatParam {
    let min = util::db_to_gain(min_db);
    let max = util::db_to_gain(max_db);
    FloatParam::new(
        name,
        1.0,
        FloatRange::Skewed {
            min,
            max,
            factor: FloatRange::gain_skew_factor(min_db, max_db),
        },
    )
    .with_smoother(SmoothingStyle::Logarithmic(SMOOTHING_MS))
    .with_unit(" dB")
    .with_value_to_string(formatters::v2s_f32_gain_to_db(2))
    .with_string_to_value(formatters::s2v_f32_gain_to_db())
}

impl JamParams {
    /// Shared, default-valued parameters.
    pub fn new_shared() -> Arc<Self> {
        Arc::new(Self::default())
    }
}
