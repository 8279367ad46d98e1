//! Connections: the reference's Handshake/HandshakeAck and mode switches, our authenticated
//! PeerHello/PeerAuth/PeerLeave, and the reliable class's ResendRequest.

use serde::{Deserialize, Serialize};

use super::{LeaveReason, RoomState, StreamAnnounce, bounded};

/// Network modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// Direct peer-to-peer.
    P2P,
    /// Through a relay.
    Relay,
    /// Audio both ways, control through the relay.
    Hybrid,
}

/// 0x0304: switch network mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelaySwitch {
    /// New mode.
    pub new_mode: NetworkMode,
    /// Relay URL.
    pub relay_url: Option<String>,
}

/// 0x0305: a quality preset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityPreset {
    /// Preset name.
    pub preset: String,
    /// Opus bitrate, bit/s.
    pub opus_bitrate: u32,
    /// Opus frame, samples per channel.
    pub opus_frame_size: u32,
    /// Jitter buffer, samples.
    pub jitter_buffer_size: u32,
}

/// 0x0306: opens a peer connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handshake {
    /// 1.
    pub protocol_version: u32,
    /// User id string.
    pub user_id: String,
    /// Display name.
    pub user_name: String,
    /// Room id.
    pub room_id: String,
    /// blake3 of the room's network secret: static and replayable, never sufficient alone.
    pub room_secret_hash: [u8; 32],
    /// X25519 public key.
    pub public_key: [u8; 32],
    /// Runs the native engine.
    pub has_native_bridge: bool,
}

/// 0x0307: answer to Handshake.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HandshakeAck {
    /// Accepted.
    pub success: bool,
    /// Why not.
    pub error: Option<String>,
    /// The peer id the responder assigned.
    pub assigned_user_id: Option<u32>,
    /// Room snapshot (ours: always without users/tracks).
    pub room_state: Option<RoomState>,
    /// The responder is the master.
    pub is_master: bool,
}

/// 0x0308 (no struct in the reference; ours): leaving now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnect {
    /// Why.
    pub reason: LeaveReason,
}

/// 0x0309 (no struct in the reference): keep-alive without a probe; empty payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat;

/// 0x030A: resend these reliable-class sequence numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResendRequest {
    /// Missing sequence numbers.
    #[serde(deserialize_with = "bounded::vec")]
    pub sequences: Vec<u16>,
}

/// 0x030D (ours): opens or re-opens a peer connection with a fresh nonce (sent until answered).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerHello {
    /// Handshake version (1).
    pub version: u32,
    /// Sender's peer id.
    pub user_id: u32,
    /// Sender's nonce for this connection.
    pub nonce: [u8; 32],
}

/// 0x030E (ours): proof of the room key for one connection, carrying the prover's stream
/// announcement. `tag` = HMAC-SHA256(room key, label, from, to, from_nonce, to_nonce,
/// announcement bytes) (`proto::auth`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerAuth {
    /// Prover's peer id.
    pub from: u32,
    /// Verifier's peer id.
    pub to: u32,
    /// Prover's nonce.
    pub from_nonce: [u8; 32],
    /// Verifier's nonce, echoed.
    pub to_nonce: [u8; 32],
    /// The prover's streams.
    pub announce: StreamAnnounce,
    /// The proof.
    pub tag: [u8; 32],
}

/// 0x030F (ours): the sender is leaving this connection; `tag` binds both nonces and the reason
/// so only the peer itself can end it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerLeave {
    /// Leaver's peer id.
    pub from: u32,
    /// Receiver's peer id.
    pub to: u32,
    /// Why ([`LeaveReason`] index).
    pub reason: u8,
    /// HMAC-SHA256 leave tag.
    pub tag: [u8; 32],
}
