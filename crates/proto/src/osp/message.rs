//! OSP message ids and payloads.
//!
//! Payloads are the bincode 1.x legacy layout (`reference/osp.md` §4: fixed-width little-endian
//! integers, `u64` lengths for strings, vectors and maps, a tag byte for `Option`, `u32` variant
//! indices for enums), so reference peers read ours and we read theirs; field order is
//! declaration order and must never change. AudioFrame is hand-packed and borrows its audio from
//! the datagram. Ids `0x0108+`, `0x020D+` and `0x030B+` are ours (reference receivers drop
//! unknown ids silently).
//!
//! Decoding is bounded by the payload: strings are length-checked before they are allocated,
//! vectors grow as their elements actually decode (never pre-sized from the wire), maps are
//! B-trees (no pre-sizing either).

use std::collections::BTreeMap;

use bincode::Options;
use serde::{Deserialize, Serialize};

use super::EncodeError;

/// How a message travels. Ours is per message, not per id range (`docs/protocol.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Fire and forget: stale by the time a resend could arrive (audio, levels, clock probes).
    Unreliable,
    /// State-changing: the reliable sequence space, gaps requested with ResendRequest.
    Reliable,
}

/// The frame encoding shared by every bincode payload: legacy fixed-int layout, trailing bytes
/// allowed (a newer sender may append fields), reads capped at the payload length.
fn options(limit: usize) -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .allow_trailing_bytes()
        .with_limit(limit as u64)
}

/// Serde helpers that keep decoding proportional to the bytes actually present.
mod bounded {
    use std::{fmt, marker::PhantomData};

    use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

    /// Vectors: serde's default pre-sizes from the (untrusted) length prefix up to 1 MiB; this
    /// grows only as elements decode, so a 20-byte datagram claiming 2^60 entries costs nothing.
    pub(super) fn vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        struct Grow<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Grow<T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element()? {
                    out.push(item);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(Grow(PhantomData))
    }
}

// ---------------------------------------------------------------------------------------------
// Realtime (0x00xx)
// ---------------------------------------------------------------------------------------------

/// AudioFrame codec byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudioCodec {
    /// Interleaved f32 little-endian PCM.
    PcmF32 = 0,
    /// One Opus packet.
    Opus = 1,
}

/// 0x0001: one frame of a track's audio (hand-packed: user_id u32, track_id u8, codec u8,
/// channels u8, sample_count u16, data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioFrame<'a> {
    /// Sender's peer id ([`super::peer_id`]).
    pub user_id: u32,
    /// Track (255 = room media / backing track).
    pub track_id: u8,
    /// What `data` holds.
    pub codec: AudioCodec,
    /// 1 or 2.
    pub channels: u8,
    /// Samples per channel.
    pub sample_count: u16,
    /// Codec data.
    pub data: &'a [u8],
}

impl<'a> AudioFrame<'a> {
    /// Bytes before the data (the reference checks 7 and reads 9: its bug 1).
    pub const HEADER_LEN: usize = 9;

    fn decode(payload: &'a [u8]) -> Option<Self> {
        let head = payload.get(..Self::HEADER_LEN)?;
        let codec = match head[5] {
            0 => AudioCodec::PcmF32,
            1 => AudioCodec::Opus,
            _ => return None,
        };
        let channels = head[6];
        if !(1..=2).contains(&channels) {
            return None;
        }
        Some(Self {
            user_id: u32::from_le_bytes([head[0], head[1], head[2], head[3]]),
            track_id: head[4],
            codec,
            channels,
            sample_count: u16::from_le_bytes([head[7], head[8]]),
            data: &payload[Self::HEADER_LEN..],
        })
    }

    fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let len = Self::HEADER_LEN + self.data.len();
        let out = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
        out[..4].copy_from_slice(&self.user_id.to_le_bytes());
        out[4] = self.track_id;
        out[5] = self.codec as u8;
        out[6] = self.channels;
        out[7..9].copy_from_slice(&self.sample_count.to_le_bytes());
        out[9..].copy_from_slice(self.data);
        Ok(len)
    }
}

/// One track's meter reading in AudioLevels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackLevel {
    /// Track id.
    pub track_id: u8,
    /// RMS level, dBFS.
    pub level_db: f32,
    /// Peak level, dBFS.
    pub peak_db: f32,
}

/// 0x0002: meters of a user's tracks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudioLevels {
    /// Peer id.
    pub user_id: u32,
    /// Per-track levels.
    #[serde(deserialize_with = "bounded::vec")]
    pub track_levels: Vec<TrackLevel>,
}

/// 0x0003: the reference's ms-resolution master clock (kept for reference peers; ours is
/// [`ClockProbe`]/[`ClockReply`] and [`TransportSync`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockSync {
    /// Master wall clock, ms since the Unix epoch.
    pub master_time: u64,
    /// Fractional beat position.
    pub beat_position: f64,
    /// Tempo.
    pub bpm: f32,
    /// Beats per bar.
    pub time_sig_num: u8,
    /// Beat unit.
    pub time_sig_denom: u8,
    /// Counter of sync messages.
    pub sync_sequence: u32,
}

/// 0x0004: beat position and metronome state.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BeatPosition {
    /// Fractional beat.
    pub beat: f64,
    /// Metronome clicking.
    pub metronome_active: bool,
}

// ---------------------------------------------------------------------------------------------
// Control (0x01xx)
// ---------------------------------------------------------------------------------------------

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

/// Transport verbs (also the room's transport state).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransportAction {
    /// Start playing.
    Play,
    /// Pause in place.
    Pause,
    /// Stop.
    #[default]
    Stop,
    /// Move the play head.
    Seek,
    /// Start recording.
    Record,
    /// Stop recording.
    StopRecord,
}

/// 0x0104: a transport command.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transport {
    /// The verb.
    pub action: TransportAction,
    /// Position in seconds (Seek).
    pub position: Option<f64>,
    /// When to act (reference: ms epoch; ours: use [`TransportSync`] instead).
    pub sync_timestamp: Option<u64>,
}

/// Where a tempo came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TempoSource {
    /// Typed in.
    Manual,
    /// From a track's metadata.
    Track,
    /// Detected.
    Analyzer,
    /// Tap tempo.
    Tap,
}

/// 0x0105: tempo (and optionally key) change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TempoChange {
    /// Beats per minute.
    pub bpm: f32,
    /// Origin.
    pub source: TempoSource,
    /// Key, e.g. `"C#"`.
    pub key: Option<String>,
    /// Scale, e.g. `"minor"`.
    pub scale: Option<String>,
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

// ---------------------------------------------------------------------------------------------
// Reliable (0x02xx)
// ---------------------------------------------------------------------------------------------

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

/// 0x0205: a track's whole effect chain as JSON (the schema of `reference/osp.md` §10).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectChain {
    /// Peer id.
    pub user_id: u32,
    /// Track id.
    pub track_id: u8,
    /// The chain, JSON.
    pub effects_json: String,
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

/// Song-list verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SongAction {
    /// Choose a song.
    Select,
    /// Next song.
    Next,
    /// Previous song.
    Previous,
    /// Add a song.
    Create,
    /// Remove a song.
    Delete,
}

/// 0x0209: song list change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SongChange {
    /// Song id.
    pub song_id: String,
    /// Verb.
    pub action: SongAction,
}

/// Loop verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoopAction {
    /// Add a loop.
    Create,
    /// Remove it.
    Delete,
    /// Start it.
    Start,
    /// Stop it.
    Stop,
    /// Change its settings.
    Update,
}

/// 0x020A: loop state change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Loop id.
    pub loop_id: String,
    /// Verb.
    pub action: LoopAction,
    /// Position, s.
    pub position: Option<f64>,
    /// Linear volume.
    pub volume: Option<f32>,
    /// Muted.
    pub muted: Option<bool>,
}

/// Generator settings in LyriaState.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LyriaConfig {
    /// Tempo.
    pub bpm: f32,
    /// Scale name.
    pub scale: String,
    /// 0..1.
    pub density: f32,
    /// 0..1.
    pub brightness: f32,
    /// 0..1.
    pub drums: f32,
    /// 0..1.
    pub bass: f32,
}

/// 0x020B: the reference app's music-generator state (carried for compatibility).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LyriaState {
    /// Generator state name.
    pub session_state: String,
    /// Settings.
    pub config: Option<LyriaConfig>,
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

/// Media encodings a stream can announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamEncoding {
    /// Opus (RFC 7587), one frame per packet.
    Opus,
    /// L16 big-endian (RFC 3551).
    L16,
    /// L24 big-endian (RFC 3190).
    L24,
}

/// The integrity form a stream's packets carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CrcForm {
    /// Ours: CRC-32 in RTP padding.
    Padding,
    /// Raw trailer A (relay dialect, spec vectors).
    TrailerA,
    /// Raw trailer B.
    TrailerB,
    /// Raw trailer C.
    TrailerC,
    /// None: plain RTP.
    None,
}

/// The XOR-parity stream protecting a media stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParityStream {
    /// The parity stream's own SSRC.
    pub ssrc: u32,
    /// Its RTP payload type.
    pub payload_type: u8,
    /// Packets per parity group at the start (the sender may adapt; receivers read N from each
    /// parity packet).
    pub group_size: u8,
}

/// One announced OSTP stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// The stream's SSRC (one per stream).
    pub ssrc: u32,
    /// OSTP stream_id (`0x0001` primary, `0x0002..=0x0FFF` extra).
    pub stream_id: u16,
    /// The track it carries.
    pub track_id: u8,
    /// RTP payload type.
    pub payload_type: u8,
    /// Encoding.
    pub encoding: StreamEncoding,
    /// 1 or 2.
    pub channels: u8,
    /// RTP clock rate, Hz (48,000).
    pub clock_rate: u32,
    /// Samples per channel per packet.
    pub frame_samples: u32,
    /// Integrity form.
    pub crc: CrcForm,
    /// Parity protection, if any.
    pub parity: Option<ParityStream>,
}

impl StreamInfo {
    /// A stereo 48 kHz stream of ours: CRC-32 in RTP padding, no parity, track
    /// `stream_id − 1` (stream 1 carries track 0).
    pub fn stereo(
        ssrc: u32,
        stream_id: u16,
        encoding: StreamEncoding,
        payload_type: u8,
        frame_samples: u32,
    ) -> Self {
        Self {
            ssrc,
            stream_id,
            track_id: u8::try_from(stream_id.saturating_sub(1)).unwrap_or(u8::MAX),
            payload_type,
            encoding,
            channels: 2,
            clock_rate: 48_000,
            frame_samples,
            crc: CrcForm::Padding,
            parity: None,
        }
    }

    /// The same stream protected by XOR parity on its own SSRC.
    pub fn with_parity(self, ssrc: u32, payload_type: u8, group_size: u8) -> Self {
        Self {
            parity: Some(ParityStream {
                ssrc,
                payload_type,
                group_size,
            }),
            ..self
        }
    }
}

/// 0x020D (ours): the streams a peer sends, with payload types. Replaces the sender's previous
/// announcement as a whole; receivers decode only announced (SSRC, payload type) pairs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamAnnounce {
    /// Sender's peer id.
    pub user_id: u32,
    /// Bumped on every change, so a reordered older announcement is ignored.
    pub version: u32,
    /// The streams.
    #[serde(deserialize_with = "bounded::vec")]
    pub streams: Vec<StreamInfo>,
}

impl StreamAnnounce {
    /// The announcement's bincode bytes: what a [`PeerAuth`] tag covers.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0; super::MAX_PAYLOAD];
        // An announcement that does not fit one datagram cannot be sent either; it is
        // authenticated as empty and rejected by the peer's size check on the frame.
        let len = encode_bincode(self, &mut out).unwrap_or(0);
        out.truncate(len);
        out
    }
}

/// 0x020E (ours): tempo and transport anchored on the shared session timeline.
///
/// The beat at session tick `t` (48 kHz) is `anchor_beat + (t − anchor_tick) × bpm / 2,880,000`
/// while playing (and `anchor_beat` while stopped), so every peer places beat N at the same
/// instant whatever the message's delivery delay.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransportSync {
    /// Bumped by the master on every change; receivers apply only newer ones.
    pub version: u32,
    /// Playing.
    pub playing: bool,
    /// Tempo, beats per minute.
    pub bpm: f64,
    /// Beats per bar.
    pub beats_per_bar: u8,
    /// Beat unit (4 = quarter note).
    pub beat_unit: u8,
    /// Session timeline tick (48 kHz) of the anchor.
    pub anchor_tick: u64,
    /// Beat position at the anchor.
    pub anchor_beat: f64,
}

impl TransportSync {
    /// Ticks per second of the session timeline.
    pub const TICKS_PER_SECOND: f64 = 48_000.0;

    /// The beat position at session tick `tick`.
    pub fn beat_at(&self, tick: u64) -> f64 {
        self.beat_at_tick(tick as f64)
    }

    /// The beat position at a fractional session tick (a clock finer than the tick).
    pub fn beat_at_tick(&self, tick: f64) -> f64 {
        if !self.playing {
            return self.anchor_beat;
        }
        let elapsed = tick - self.anchor_tick as f64;
        self.anchor_beat + elapsed * self.bpm / (60.0 * Self::TICKS_PER_SECOND)
    }

    /// The session tick at which beat `beat` falls (while playing at this tempo).
    pub fn tick_of(&self, beat: f64) -> f64 {
        self.anchor_tick as f64
            + (beat - self.anchor_beat) * 60.0 * Self::TICKS_PER_SECOND / self.bpm
    }
}

// ---------------------------------------------------------------------------------------------
// System (0x03xx)
// ---------------------------------------------------------------------------------------------

/// 0x0301: heartbeat and RTT probe (reference: ms epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Probe id.
    pub ping_id: u32,
    /// Sender time, ms.
    pub send_time: u64,
}

/// 0x0302: answer to Ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// Echoed probe id.
    pub ping_id: u32,
    /// Echoed sender time, ms.
    pub send_time: u64,
    /// Responder receive time, ms.
    pub recv_time: u64,
}

/// 0x0303: a master-clock candidacy (priority = 0xFFFF_FFFF − median RTT in µs; ties go to the
/// lowest user id in byte order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterElection {
    /// Candidate's user id string.
    pub candidate_id: String,
    /// Higher wins.
    pub priority: u32,
    /// Who the sender believes is master.
    pub current_master_id: Option<String>,
}

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

/// 0x030B (ours): clock probe, microseconds on the sender's monotonic session clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockProbe {
    /// Probe id, echoed.
    pub probe_id: u32,
    /// T1: sender's send time, µs.
    pub t1_us: u64,
}

/// 0x030C (ours): clock reply. offset = ((T2 − T1) + (T3 − T4)) / 2, RTT = (T4 − T1) − (T3 − T2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockReply {
    /// Echoed probe id.
    pub probe_id: u32,
    /// Echoed T1, µs on the prober's clock.
    pub t1_us: u64,
    /// T2: responder receive time, µs on its clock.
    pub t2_us: u64,
    /// T3: responder send time, µs on its clock.
    pub t3_us: u64,
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

// ---------------------------------------------------------------------------------------------
// The id table
// ---------------------------------------------------------------------------------------------

macro_rules! messages {
    ($( $raw:literal => $name:ident, $delivery:ident; )*) => {
        /// Every OSP message id we know.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Id {
            /// 0x0001: hand-packed audio.
            AudioFrame,
            $(
                #[doc = concat!("`", stringify!($raw), "`: [`", stringify!($name), "`].")]
                $name,
            )*
        }

        impl Id {
            /// Every id, in table order.
            pub const ALL: &[Self] = &[Self::AudioFrame, $(Self::$name,)*];

            /// The wire value.
            pub const fn raw(self) -> u16 {
                match self {
                    Self::AudioFrame => 0x0001,
                    $(Self::$name => $raw,)*
                }
            }

            /// The id for a wire value, if defined.
            pub const fn from_raw(raw: u16) -> Option<Self> {
                match raw {
                    0x0001 => Some(Self::AudioFrame),
                    $($raw => Some(Self::$name),)*
                    _ => None,
                }
            }

            /// How messages with this id travel.
            pub const fn delivery(self) -> Delivery {
                match self {
                    Self::AudioFrame => Delivery::Unreliable,
                    $(Self::$name => Delivery::$delivery,)*
                }
            }
        }

        /// One OSP message.
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Message<'a> {
            /// 0x0001.
            AudioFrame(AudioFrame<'a>),
            $(
                #[doc = concat!("`", stringify!($raw), "`.")]
                $name($name),
            )*
        }

        impl Message<'_> {
            /// This message's id.
            pub const fn id(&self) -> Id {
                match self {
                    Self::AudioFrame(_) => Id::AudioFrame,
                    $(Self::$name(_) => Id::$name,)*
                }
            }

            /// Writes the payload into `out`, returning its length.
            pub(super) fn encode_payload(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
                match self {
                    Self::AudioFrame(frame) => frame.encode(out),
                    $(Self::$name(body) => encode_bincode(body, out),)*
                }
            }
        }

        impl<'a> Message<'a> {
            /// Decodes the payload of message `id`; `None` if malformed.
            pub(super) fn decode_payload(id: Id, payload: &'a [u8]) -> Option<Self> {
                match id {
                    Id::AudioFrame => AudioFrame::decode(payload).map(Self::AudioFrame),
                    $(Id::$name => decode_bincode(payload).map(Self::$name),)*
                }
            }
        }
    };
}

messages! {
    0x0002 => AudioLevels, Unreliable;
    0x0003 => ClockSync, Unreliable;
    0x0004 => BeatPosition, Unreliable;
    0x0101 => TrackState, Reliable;
    0x0102 => EffectParam, Reliable;
    0x0103 => EffectBypass, Reliable;
    0x0104 => Transport, Reliable;
    0x0105 => TempoChange, Reliable;
    0x0106 => StemMix, Reliable;
    0x0107 => MonitoringState, Reliable;
    0x0201 => UserJoin, Reliable;
    0x0202 => UserLeave, Reliable;
    0x0203 => TrackCreate, Reliable;
    0x0204 => TrackDelete, Reliable;
    0x0205 => EffectChain, Reliable;
    0x0206 => Permission, Reliable;
    0x0207 => ChatMessage, Reliable;
    0x0208 => PerformanceInfo, Reliable;
    0x0209 => SongChange, Reliable;
    0x020A => LoopState, Reliable;
    0x020B => LyriaState, Reliable;
    0x020C => RoomState, Reliable;
    0x020D => StreamAnnounce, Reliable;
    0x020E => TransportSync, Reliable;
    0x0301 => Ping, Unreliable;
    0x0302 => Pong, Unreliable;
    0x0303 => MasterElection, Unreliable;
    0x0304 => RelaySwitch, Reliable;
    0x0305 => QualityPreset, Reliable;
    0x0306 => Handshake, Unreliable;
    0x0307 => HandshakeAck, Unreliable;
    0x0308 => Disconnect, Unreliable;
    0x0309 => Heartbeat, Unreliable;
    0x030A => ResendRequest, Unreliable;
    0x030B => ClockProbe, Unreliable;
    0x030C => ClockReply, Unreliable;
    0x030D => PeerHello, Unreliable;
    0x030E => PeerAuth, Unreliable;
    0x030F => PeerLeave, Unreliable;
}

fn encode_bincode<T: Serialize>(body: &T, out: &mut [u8]) -> Result<usize, EncodeError> {
    let room = out.len();
    let mut writer: &mut [u8] = out;
    // Writing into a slice cannot allocate; the only failure is running out of room.
    options(room)
        .serialize_into(&mut writer, body)
        .map_err(|_| EncodeError::BufferTooSmall)?;
    Ok(room - writer.len())
}

fn decode_bincode<'de, T: Deserialize<'de>>(payload: &'de [u8]) -> Option<T> {
    options(payload.len()).deserialize(payload).ok()
}
