//! What the agent is configured with: servers, timing, bounds.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Retransmit, TurnServer};
use crate::auth::RoomKey;

/// How the agent paces and times out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Between two ordinary checks to one peer (RFC 8445's Ta).
    pub pace: Duration,
    /// Retransmission of checks (fails after [`Retransmit::lifetime`], just over 1 s).
    pub check: Retransmit,
    /// Retransmission of STUN and TURN server requests.
    pub server: Retransmit,
    /// How long the controlling side waits for better pairs after one works.
    pub nominate_after: Duration,
    /// Check on the selected pair this often (holds NAT bindings, proves consent).
    pub keepalive: Duration,
    /// Nothing heard on the selected pair for this long starts a liveness probe.
    pub silence: Duration,
    /// With every pair failed and none selected, try them all again after this.
    pub retry: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            pace: Duration::from_millis(20),
            check: Retransmit {
                rto: Duration::from_millis(100),
                max_rto: Duration::from_millis(200),
                sends: 6,
            },
            server: Retransmit {
                rto: Duration::from_millis(250),
                max_rto: Duration::from_secs(2),
                sends: 7,
            },
            nominate_after: Duration::from_millis(200),
            keepalive: Duration::from_secs(15),
            silence: Duration::from_millis(300),
            retry: Duration::from_secs(2),
        }
    }
}

/// Bounds on what remote input can make the agent hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Peers.
    pub peers: usize,
    /// Candidates per peer (announced and learned).
    pub candidates: usize,
    /// Outstanding requests.
    pub transactions: usize,
    /// Queued datagrams and events (beyond: dropped and counted).
    pub queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            peers: 32,
            candidates: 16,
            transactions: 256,
            queue: 512,
        }
    }
}

/// What the agent is told at start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our user id (the lower id of a pair controls nomination).
    pub user_id: u32,
    /// The room key: check credentials derive from it.
    pub key: RoomKey,
    /// The socket's own addresses (best first).
    pub host: Vec<SocketAddr>,
    /// A STUN server for the server-reflexive candidate.
    pub stun: Option<SocketAddr>,
    /// A TURN server for the relayed candidate.
    pub turn: Option<TurnServer>,
    /// Pacing and timeouts.
    pub timing: Timing,
    /// Bounds.
    pub limits: Limits,
    /// Seed of the transaction ids.
    pub seed: u64,
}
