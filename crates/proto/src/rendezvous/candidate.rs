//! A transport candidate as the `CAND:` extension carries it: kind, RFC 8445 priority, address.

use std::fmt;
use std::net::SocketAddr;

use super::ParseError;
use super::addr::{Addr, parse_addr};
use super::text::decimal_u32;

/// How a candidate address was learnt (RFC 8445 §5.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CandidateKind {
    /// One of the member's own interface addresses.
    Host,
    /// The address a STUN server or the room server saw (the NAT's mapping).
    Srflx,
    /// An address allocated on a TURN server.
    Relay,
}

impl CandidateKind {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Srflx => "srflx",
            Self::Relay => "relay",
        }
    }

    /// RFC 8445 §5.1.2.2's recommended type preference.
    pub const fn type_preference(self) -> u32 {
        match self {
            Self::Host => 126,
            Self::Srflx => 100,
            Self::Relay => 0,
        }
    }

    fn parse(field: &str) -> Result<Self, ParseError> {
        match field {
            "host" => Ok(Self::Host),
            "srflx" => Ok(Self::Srflx),
            "relay" => Ok(Self::Relay),
            _ => Err(ParseError::Bad("kind")),
        }
    }
}

/// RFC 8445 §5.1.2.1: `2^24 × type preference + 2^8 × local preference + (256 − component)`.
/// Component 1 is the only one we use (one socket carries everything).
pub const fn priority(kind: CandidateKind, local_preference: u16, component: u8) -> u32 {
    (kind.type_preference() << 24) + ((local_preference as u32) << 8) + (256 - component as u32)
}

/// One candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// How it was learnt.
    pub kind: CandidateKind,
    /// RFC 8445 priority (higher is preferred).
    pub priority: u32,
    /// Where it is reached.
    pub addr: SocketAddr,
}

impl Candidate {
    /// A candidate of component 1 with the highest local preference, as the server announces
    /// a member's observed address.
    pub const fn new(kind: CandidateKind, addr: SocketAddr) -> Self {
        Self {
            kind,
            priority: priority(kind, u16::MAX, 1),
            addr,
        }
    }

    /// Parses `<kind>:<priority>:<ip>:<port>`.
    pub(super) fn parse(fields: &str) -> Result<Self, ParseError> {
        let mut parts = fields.splitn(3, ':');
        let kind = CandidateKind::parse(parts.next().unwrap_or_default())?;
        let priority = decimal_u32(
            parts.next().ok_or(ParseError::Missing("priority"))?,
            "priority",
        )?;
        let addr = parse_addr(parts.next().ok_or(ParseError::Missing("address"))?)?;
        Ok(Self {
            kind,
            priority,
            addr,
        })
    }
}

impl fmt::Display for Candidate {
    /// `<kind>:<priority>:<ip>:<port>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.kind.as_str(),
            self.priority,
            Addr(self.addr)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_follows_rfc_8445() {
        // 126 × 2^24 + 65,535 × 2^8 + 255.
        assert_eq!(priority(CandidateKind::Host, u16::MAX, 1), 2_130_706_431);
        assert_eq!(priority(CandidateKind::Srflx, u16::MAX, 1), 1_694_498_815);
        assert_eq!(priority(CandidateKind::Relay, 0, 1), 255);
        assert_eq!(priority(CandidateKind::Host, 0, 2), 2_113_929_470);
    }

    #[test]
    fn round_trips_and_refuses_bad_fields() {
        let c = Candidate::new(CandidateKind::Relay, "[::1]:3478".parse().unwrap());
        assert_eq!(c.to_string(), "relay:16777215:[::1]:3478");
        assert_eq!(Candidate::parse(&c.to_string()), Ok(c));
        assert_eq!(
            Candidate::parse("stun:1:1.2.3.4:5"),
            Err(ParseError::Bad("kind"))
        );
        assert_eq!(
            Candidate::parse("host"),
            Err(ParseError::Missing("priority"))
        );
        assert_eq!(
            Candidate::parse("host:1"),
            Err(ParseError::Missing("address"))
        );
        assert_eq!(
            Candidate::parse("host:-1:1.2.3.4:5"),
            Err(ParseError::Bad("priority"))
        );
    }
}
