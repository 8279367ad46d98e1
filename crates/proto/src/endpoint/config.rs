//! What an endpoint is told at construction: its identity and room, the streams it sends, its
//! timers and the bounds on what the network can make it hold.

use std::time::Duration;

use crate::osp::message::StreamInfo;
use crate::peer::BackoffPolicy;

/// Timing of the session (defaults and their reasons: `docs/protocol.md` §10).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Hello interval while connecting.
    pub hello_interval: Duration,
    /// How long a first connection attempt sends Hellos before backing off.
    pub connect_timeout: Duration,
    /// How long each reconnection attempt sends Hellos.
    pub retry_window: Duration,
    /// Clock probe interval per connected peer (also the heartbeat).
    pub probe_interval: Duration,
    /// A connected peer silent this long is gone.
    pub idle_timeout: Duration,
    /// Reconnection backoff.
    pub backoff: BackoffPolicy,
    /// A peer in backoff this long is forgotten.
    pub forget_after: Duration,
    /// Link report interval (loss seen on the peer's streams, sent to it).
    pub report_interval: Duration,
    /// The master re-sends the transport state this often (state, so repetition is delivery).
    pub transport_refresh: Duration,
    /// First NACK repeat.
    pub nack_repeat: Duration,
    /// A resend is sent again this much later (`None`: once). Loss comes in bursts: a second
    /// copy a frame later survives what took the first, for bytes spent only on loss.
    pub resend_copy_after: Option<Duration>,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            hello_interval: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(5),
            retry_window: Duration::from_secs(1),
            probe_interval: Duration::from_millis(50),
            idle_timeout: Duration::from_secs(5),
            backoff: BackoffPolicy {
                base: Duration::from_millis(500),
                cap: Duration::from_secs(30),
                jitter: 0.2,
            },
            forget_after: Duration::from_secs(600),
            report_interval: Duration::from_secs(1),
            transport_refresh: Duration::from_secs(1),
            nack_repeat: Duration::from_micros(4_500),
            resend_copy_after: Some(Duration::from_micros(4_500)),
        }
    }
}

/// Bounds on what the network can make the endpoint hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Peers (configured and accepted).
    pub max_peers: usize,
    /// Streams one peer may announce.
    pub max_streams: usize,
    /// Queued transmits; beyond, new ones are dropped and counted.
    pub max_transmits: usize,
    /// Queued events; beyond, new ones are dropped and counted.
    pub max_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_peers: 32,
            max_streams: 8,
            max_transmits: 4096,
            max_events: 8192,
        }
    }
}

/// Endpoint configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our peer id.
    pub user_id: u32,
    /// The room.
    pub room_id: String,
    /// The room secret every member shares (the room key is derived from it).
    pub room_secret: Vec<u8>,
    /// Seed of every random choice (nonces, backoff jitter, initial sequence numbers).
    pub seed: u64,
    /// The streams we send.
    pub streams: Vec<StreamInfo>,
    /// Timers.
    pub timing: Timing,
    /// Bounds.
    pub limits: Limits,
    /// Accept Hellos from addresses no [`Command::AddPeer`](super::Command::AddPeer) named (LAN rooms).
    pub accept_unknown: bool,
    /// Playout delay assumed for NACK decisions until the engine reports its jitter target.
    pub playout_delay: Duration,
    /// Resend history per stream.
    pub history: Duration,
    /// Adapt the parity group size to the loss peers report.
    pub adaptive_fec: bool,
}

impl Config {
    /// A configuration with default timing and limits.
    pub fn new(user_id: u32, room_id: &str, room_secret: &[u8], seed: u64) -> Self {
        Self {
            user_id,
            room_id: room_id.to_owned(),
            room_secret: room_secret.to_vec(),
            seed,
            streams: Vec::new(),
            timing: Timing::default(),
            limits: Limits::default(),
            accept_unknown: false,
            playout_delay: Duration::from_millis(20),
            history: Duration::from_millis(500),
            adaptive_fec: true,
        }
    }
}
