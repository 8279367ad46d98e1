//! What an endpoint hands back: datagrams to send and events for the application.

use crate::osp::message::{StreamInfo, TransportSync};
use crate::path::Path;
use crate::recovery::Via;
use crate::seq::SeqNo;

/// One datagram to send: `len` bytes of the caller's buffer, on `dest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where.
    pub dest: Path,
    /// Bytes written.
    pub len: usize,
}

/// One received (or rebuilt) audio packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audio {
    /// From whom.
    pub user_id: u32,
    /// Which of their streams.
    pub stream_id: u16,
    /// Extended sequence number.
    pub seq: SeqNo,
    /// Extended RTP timestamp (48 kHz).
    pub timestamp: u64,
    /// The sender's `media_timestamp`: when the packet's first sample was captured, in 48 kHz
    /// ticks of the session timeline, mod 2^32 (what our senders stamp; see `docs/protocol.md` §2.1).
    pub capture: Option<u32>,
    /// How it arrived.
    pub via: Via,
    /// Codec payload, in a buffer of the endpoint's pool: hand it back with
    /// [`Endpoint::recycle`](super::Endpoint::recycle) once copied, and the receive path
    /// allocates nothing per packet.
    pub payload: Vec<u8>,
}

/// Why a peer is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoneReason {
    /// Silent for the idle timeout: reconnection with backoff follows.
    Timeout,
    /// It left.
    Left,
    /// In backoff for `forget_after`: removed.
    Forgotten,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A connected peer announced a changed set of streams (it started or stopped a track).
    StreamsChanged {
        /// Its id.
        user_id: u32,
        /// Its streams now.
        streams: Vec<StreamInfo>,
    },
    /// A peer authenticated and announced its streams.
    PeerUp {
        /// Its id.
        user_id: u32,
        /// Its streams.
        streams: Vec<StreamInfo>,
    },
    /// A peer is gone.
    PeerGone {
        /// Its id.
        user_id: u32,
        /// Why.
        reason: GoneReason,
    },
    /// A reconnection attempt starts (after backoff).
    Reconnecting {
        /// The peer.
        user_id: u32,
        /// Attempts that failed so far.
        failures: u32,
    },
    /// Audio to play.
    Audio(Audio),
    /// A packet will not arrive in time: conceal it.
    Missing {
        /// From whom.
        user_id: u32,
        /// Which stream.
        stream_id: u16,
        /// Which packet.
        seq: SeqNo,
    },
    /// The session master changed.
    MasterChanged {
        /// The new master.
        master: u32,
    },
    /// New tempo/transport state.
    Transport(TransportSync),
    /// The bitrate policy's new target for our Opus streams.
    Bitrate {
        /// Bits per second.
        bps: u32,
    },
}
