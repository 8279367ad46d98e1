//! Track mixer and effect state (TrackState, MonitoringState, StemMix) and effect-parameter sync
//! (EffectParam, EffectBypass, and EffectChain for a whole chain).

use serde::{Deserialize, Serialize};

/// 0x0101: a track's mixer state; `None` fields are unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackState {
    /// Peer id.
    pub user_id: u32,
    /// Track id.
    pub track_id: u8,
    /// Muted.
    pub is_muted: Option<bool>,
    /// Soloed.
    pub is_solo: Option<bool>,
    /// Record-armed.
    pub is_armed: Option<bool>,
    /// Linear volume.
    pub volume: Option<f32>,
    /// Pan, −1 (left) to 1 (right).
    pub pan: Option<f32>,
    /// Local monitoring on.
    pub monitoring_enabled: Option<bool>,
}

/// 0x0102: one effect parameter (effect key and parameter name as in the effect-chain JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EffectParam {
    /// Peer id.
    pub user_id: u32,
    /// Track id.
    pub track_id: u8,
    /// Effect key, e.g. `"compressor"`.
    pub effect_type: String,
    /// Parameter key, e.g. `"threshold"`.
    pub param_name: String,
    /// New value in the parameter's declared unit.
    pub value: f32,
}

/// 0x0103: one effect's bypass.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EffectBypass {
    /// Peer id.
    pub user_id: u32,
    /// Track id.
    pub track_id: u8,
    /// Effect key.
    pub effect_type: String,
    /// Bypassed.
    pub bypassed: bool,
}

/// 0x0106: a backing-track stem's mix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StemMix {
    /// Stem name.
    pub stem: String,
    /// Audible.
    pub enabled: bool,
    /// Linear volume.
    pub volume: f32,
}

/// 0x0107 (no struct in the reference; ours): a track's local-monitoring switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitoringState {
    /// Peer id.
    pub user_id: u32,
    /// Track id.
    pub track_id: u8,
    /// Monitoring on.
    pub monitoring_enabled: bool,
}

/// 0x0205: a track's whole effect chain as JSON (the preset JSON of `docs/effects.md` §3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectChain {
    /// Peer id.
    pub user_id: u32,
    /// Track id.
    pub track_id: u8,
    /// The chain, JSON.
    pub effects_json: String,
}
