//! What the agent hands out: datagrams, events, received payloads and counters.

use std::net::SocketAddr;
use std::ops::Range;

use super::message::Reject;
use super::{Candidate, Route, Selected};

/// A datagram to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where.
    pub dest: SocketAddr,
    /// Bytes written to the buffer.
    pub len: usize,
}

/// A datagram [`Agent::frame`](super::Agent::frame) framed in the caller's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Framed {
    /// Where to send it.
    pub dest: SocketAddr,
    /// Its bytes in the buffer: from the payload's start for a direct route, from the
    /// headroom's start for a relayed one.
    pub range: Range<usize>,
}

/// What the agent reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A local candidate to announce to the room (`CAND:`).
    Candidate(Candidate),
    /// Datagrams to `user_id` go on this pair from now on.
    Selected {
        /// The peer.
        user_id: u32,
        /// The pair.
        selected: Selected,
    },
    /// The selected pair to `user_id` stopped answering; checks run again.
    Lost {
        /// The peer.
        user_id: u32,
    },
    /// The STUN server never answered.
    StunFailed,
    /// The TURN server refused (its error code) or never answered (0).
    TurnFailed {
        /// The STUN error code (401 wrong credentials, 486 quota, ..), 0 for no answer.
        code: u16,
    },
}

/// What [`Agent::handle_datagram`](super::Agent::handle_datagram) made of a datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// STUN or TURN: consumed (or dropped and counted).
    Handled,
    /// Someone else's datagram (OSP, OSTP, ..) that came on `route`: for the endpoint.
    Payload {
        /// Direct from an address, or relayed by our TURN server from a peer address.
        route: Route,
        /// Its bytes: a slice of the datagram given to
        /// [`Agent::handle_datagram`](super::Agent::handle_datagram) (a relayed payload without
        /// the ChannelData header or Data indication around it).
        data: &'a [u8],
    },
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Checks sent (retransmissions included).
    pub checks_sent: u64,
    /// Authenticated checks answered.
    pub checks_answered: u64,
    /// Responses matching no outstanding transaction id: dropped.
    pub unknown_transaction: u64,
    /// Responses from an address their request did not go to: dropped.
    pub wrong_source: u64,
    /// Bad MESSAGE-INTEGRITY (a stranger, or tampering): dropped.
    pub bad_integrity: u64,
    /// Bad FINGERPRINT: dropped.
    pub bad_fingerprint: u64,
    /// A required attribute missing: dropped.
    pub missing_attribute: u64,
    /// Undecodable STUN or ChannelData: dropped.
    pub malformed: u64,
    /// Checks naming someone else, or a peer we do not know: dropped.
    pub unknown_peer: u64,
    /// Limits reached (peers, candidates, transactions, queue): dropped.
    pub over_limit: u64,
    /// Pairs selected (the first per peer included).
    pub selections: u64,
    /// Selected pairs lost.
    pub lost: u64,
}

impl Stats {
    pub(super) fn count(&mut self, reject: Reject) {
        match reject {
            Reject::Malformed => self.malformed += 1,
            Reject::Fingerprint => self.bad_fingerprint += 1,
            Reject::Integrity => self.bad_integrity += 1,
            Reject::Missing => self.missing_attribute += 1,
        }
    }
}
