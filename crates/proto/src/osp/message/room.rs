//! Room membership and state: who joined or left, tracks created or deleted, permissions, chat,
//! link quality reports and the RoomState snapshot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{TransportAction, bounded};

/// 0x0201: a member joined.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserJoin {
    /// User id string (the peer id is its blake3 prefix).
    pub user_id: String,
    /// Display name.
    pub user_name: String,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Instrument.
    pub instrument: Option<String>,
    /// Runs the native engine (always true for us).
    pub has_native_bridge: bool,
    /// Role in the room, e.g. `"performer"`.
    pub role: String,
}

/// Why a member left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaveReason {
    /// Left on purpose.
    #[default]
    Normal,
    /// Went silent.
    Timeout,
    /// Removed.
    Kicked,
    /// Transport failure.
    NetworkError,
}

/// 0x0202: a member left.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserLeave {
    /// User id string.
    pub user_id: String,
    /// Why.
    pub reason: LeaveReason,
}

/// A track's audio settings in TrackCreate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackAudioSettings {
    /// Input mode, e.g. `"stereo"`.
    pub input_mode: String,
    /// Sample rate, Hz.
    pub sample_rate: u32,
    /// Host buffer size, frames.
    pub buffer_size: u32,
    /// 1 or 2.
    pub channel_count: u8,
}

/// 0x0203: a track was created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackCreate {
    /// Owner's user id string.
    pub user_id: String,
    /// Track id string.
    pub track_id: String,
    /// Display name.
    pub track_name: String,
    /// Kind, e.g. `"audio"`.
    pub track_type: String,
    /// Display colour.
    pub color: String,
    /// Audio settings.
    pub audio_settings: TrackAudioSettings,
}

/// 0x0204 (no struct in the reference; ours): a track was deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackDelete {
    /// Owner's user id string.
    pub user_id: String,
    /// Track id string, as in TrackCreate.
    pub track_id: String,
}

/// 0x0206: a member's role and permissions changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// User id string.
    pub user_id: String,
    /// New role.
    pub new_role: String,
    /// Permission flags (a map on the wire; a B-tree here so encoding is deterministic).
    pub permissions: BTreeMap<String, bool>,
}

/// 0x0207: a chat line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Author's user id string.
    pub user_id: String,
    /// Author's display name.
    pub user_name: String,
    /// Text.
    pub content: String,
    /// Kind, e.g. `"text"`.
    pub message_type: String,
    /// Unix ms.
    pub timestamp: u64,
}

/// 0x0208: a member's link quality.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerformanceInfo {
    /// User id string.
    pub user_id: String,
    /// Round-trip time, ms.
    pub rtt_ms: f32,
    /// Jitter, ms.
    pub jitter_ms: f32,
    /// Loss, percent.
    pub packet_loss: f32,
    /// End-to-end audio latency, ms.
    pub audio_latency_ms: f32,
    /// 0..=100.
    pub quality_score: u8,
    /// `"excellent"`, `"good"`, `"fair"` or `"poor"`.
    pub quality_tier: String,
}

/// 0x020C: the room snapshot. Ours sends it with empty `users` and `tracks`, followed by one
/// UserJoin / TrackCreate each, so it always fits one datagram.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomState {
    /// Room id.
    pub room_id: String,
    /// Members (empty in ours).
    #[serde(deserialize_with = "bounded::vec")]
    pub users: Vec<UserJoin>,
    /// Tracks (empty in ours).
    #[serde(deserialize_with = "bounded::vec")]
    pub tracks: Vec<TrackCreate>,
    /// Tempo.
    pub tempo: f32,
    /// Key.
    pub key: String,
    /// Scale.
    pub scale: String,
    /// (beats per bar, beat unit).
    pub time_signature: (u8, u8),
    /// Transport state.
    pub transport_state: TransportAction,
    /// Position, s.
    pub transport_position: f64,
}
