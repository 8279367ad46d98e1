//! Candidates (an address a peer might be reached on) and their RFC 8445 priorities.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// How a candidate address was learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An address of the session's own socket (given by the driver).
    Host,
    /// The socket's address as a STUN server (or the room server) saw it: the NAT's mapping.
    ServerReflexive,
    /// A peer's address learned from its authenticated check arriving from an unannounced
    /// address (a NAT that maps per destination, or a mapping that changed).
    PeerReflexive,
    /// An address allocated on a TURN server, which forwards to and from us.
    Relayed,
}

impl Kind {
    /// RFC 8445 §5.1.2.2 recommended type preferences.
    pub fn type_preference(self) -> u32 {
        match self {
            Self::Host => 126,
            Self::PeerReflexive => 110,
            Self::ServerReflexive => 100,
            Self::Relayed => 0,
        }
    }

    /// The name in the rendezvous `CAND:` command (`host`, `srflx`, `prflx`, `relay`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::ServerReflexive => "srflx",
            Self::PeerReflexive => "prflx",
            Self::Relayed => "relay",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A candidate kind name that is not one of `host`, `srflx`, `prflx`, `relay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown candidate kind")]
pub struct UnknownKind;

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "host" => Ok(Self::Host),
            "srflx" => Ok(Self::ServerReflexive),
            "prflx" => Ok(Self::PeerReflexive),
            "relay" => Ok(Self::Relayed),
            _ => Err(UnknownKind),
        }
    }
}

/// An address a peer may be reached on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// How it was learned.
    pub kind: Kind,
    /// RFC 8445 priority (higher is preferred).
    pub priority: u32,
    /// The address.
    pub addr: SocketAddr,
}

impl Candidate {
    /// A candidate with the RFC 8445 §5.1.2.1 priority for its kind; `local_preference` orders
    /// candidates of one kind (65535 for the only or best one).
    pub fn new(kind: Kind, addr: SocketAddr, local_preference: u16) -> Self {
        Self {
            kind,
            priority: priority(kind, local_preference),
            addr,
        }
    }
}

/// RFC 8445 §5.1.2.1: `2^24 * type + 2^8 * local + (256 - component)`, component 1 (one
/// socket carries every stream).
pub fn priority(kind: Kind, local_preference: u16) -> u32 {
    (kind.type_preference() << 24) + (u32::from(local_preference) << 8) + 255
}

/// RFC 8445 §6.1.2.3: `2^32 * min(G, D) + 2 * max(G, D) + (G > D)`, G the controlling side's
/// candidate priority and D the controlled side's.
pub fn pair_priority(controlling: u32, controlled: u32) -> u64 {
    let (g, d) = (u64::from(controlling), u64::from(controlled));
    (g.min(d) << 32) + 2 * g.max(d) + u64::from(g > d)
}

/// What a selected pair costs: straight between the two sockets (through NATs) or through a
/// TURN server. Shown as `path direct|turn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathKind {
    /// Host or server-/peer-reflexive on both ends.
    Direct,
    /// A relayed candidate on either end.
    Turn,
}

impl PathKind {
    /// `direct` or `turn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Turn => "turn",
        }
    }
}

impl fmt::Display for PathKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_follow_rfc_8445() {
        let host = priority(Kind::Host, 65535);
        assert_eq!(host, (126 << 24) + (65535 << 8) + 255);
        assert_eq!(host, 2_130_706_431);
        assert!(host > priority(Kind::PeerReflexive, 65535));
        assert!(priority(Kind::ServerReflexive, 65535) > priority(Kind::Relayed, 65535));
        assert_eq!(priority(Kind::Relayed, 0), 255);
        assert_eq!(pair_priority(1, 2), (1 << 32) + 4);
        assert_eq!(pair_priority(2, 1), (1 << 32) + 5);
        assert!(pair_priority(host, host) > pair_priority(host, 255));
        for kind in [
            Kind::Host,
            Kind::ServerReflexive,
            Kind::PeerReflexive,
            Kind::Relayed,
        ] {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        assert_eq!("relayed".parse::<Kind>(), Err(UnknownKind));
    }
}
