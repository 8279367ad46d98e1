//! What the room server sends a member.

use std::fmt;
use std::net::SocketAddr;

use super::addr::{Addr, parse_addr};
use super::candidate::Candidate;
use super::charge::{Amount, ChargeRefusal};
use super::text::{self, ParseError, decimal_u32};

/// A group's mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Members reach each other directly; the server sends all-pairs `PEER:` hints.
    Private,
    /// Audio goes through the server (forwarding arrives with the OSTP relay).
    Public,
}

impl Mode {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Public => "public",
        }
    }

    pub(super) fn parse(field: &str) -> Result<Self, ParseError> {
        match field {
            "private" => Ok(Self::Private),
            "public" => Ok(Self::Public),
            _ => Err(ParseError::Bad("mode")),
        }
    }
}

/// A member's role in the group (Listener < DJ < Owner).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Hears the group; sends nothing.
    Listener,
    /// Plays into the group.
    Dj,
    /// Owns a claimed channel.
    Owner,
}

impl Role {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Listener => "listener",
            Self::Dj => "dj",
            Self::Owner => "owner",
        }
    }
}

/// The 128-bit session token of one JOIN, bound to the joiner's address.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionToken(pub [u8; 16]);

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionToken({self})")
    }
}

impl fmt::Display for SessionToken {
    /// 32 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl SessionToken {
    fn parse(field: &str) -> Result<Self, ParseError> {
        let bytes = field.as_bytes();
        if bytes.len() != 32 || !bytes.iter().all(u8::is_ascii_hexdigit) {
            return Err(ParseError::Bad("session"));
        }
        let mut token = [0; 16];
        for (out, pair) in token.iter_mut().zip(bytes.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| ParseError::Bad("session"))?;
            *out = u8::from_str_radix(pair, 16).map_err(|_| ParseError::Bad("session"))?;
        }
        Ok(Self(token))
    }
}

/// The reason in an `ERR:` reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// `empty_group`: JOIN named no group.
    EmptyGroup,
    /// `channel_reserved`: the channel is claimed by someone else.
    ChannelReserved,
    /// `max_groups`: the server holds as many groups as it may.
    MaxGroups,
    /// `wrong_password`: the JOIN verifier does not match the group's.
    WrongPassword,
    /// `group_full`: the group holds as many members as it may.
    GroupFull,
    /// `missing_device_id` (ours): JOIN without a device id, which our server requires.
    MissingDeviceId,
    /// A refused `CHARGE`.
    Charge(ChargeRefusal),
    /// Any other reason (kept as "other": the text is not needed to act on it).
    Other,
}

impl ErrorCode {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EmptyGroup => "empty_group",
            Self::ChannelReserved => "channel_reserved",
            Self::MaxGroups => "max_groups",
            Self::WrongPassword => "wrong_password",
            Self::GroupFull => "group_full",
            Self::MissingDeviceId => "missing_device_id",
            Self::Charge(refusal) => refusal.as_str(),
            Self::Other => "other",
        }
    }

    fn parse(field: &str) -> Self {
        match field {
            "empty_group" => Self::EmptyGroup,
            "channel_reserved" => Self::ChannelReserved,
            "max_groups" => Self::MaxGroups,
            "wrong_password" => Self::WrongPassword,
            "group_full" => Self::GroupFull,
            "missing_device_id" => Self::MissingDeviceId,
            _ => ChargeRefusal::from_name(field).map_or(Self::Other, Self::Charge),
        }
    }
}

/// A reply from the room server. Every field is `Copy`, so the server queues replies without
/// allocating per datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `OK:joined`: the JOIN (or re-JOIN) was accepted; the rest of the sequence follows.
    Joined,
    /// `ROLE:<owner|dj|listener>`.
    Role(Role),
    /// `YOUR_ADDR:<ip>:<port>`: where the server saw the member (its server-reflexive address).
    YourAddr(SocketAddr),
    /// `SESSION:<32 hex>`.
    Session(SessionToken),
    /// `MODE:<private|public>`.
    Mode(Mode),
    /// `PEER:<ip>:<port>`: another member's address as the server sees it.
    Peer(SocketAddr),
    /// Our extension, `CAND:<device_id>:<kind>:<priority>:<ip>:<port>`: a member's candidate.
    Cand {
        /// The member's OSP user id.
        device_id: u32,
        /// The candidate.
        candidate: Candidate,
    },
    /// `OK:charged:{"balance":"<amount>","amount":"<amount>"}`: a `CHARGE` was credited.
    /// Both are 6-decimal strings, so no JSON reader turns money into a float.
    Charged {
        /// The member's balance after the charge.
        balance: Amount,
        /// What was credited.
        amount: Amount,
    },
    /// `ERR:<reason>`.
    Err(ErrorCode),
}

impl Reply {
    /// Parses one datagram. Dialect replies we do not act on (`META:`, `MAXDELAY:` and the
    /// rest) are [`ParseError::Unknown`].
    ///
    /// # Errors
    /// A [`ParseError`] saying what is wrong; never panics.
    pub fn parse(data: &[u8]) -> Result<Self, ParseError> {
        let (name, rest) = text::split(data)?;
        let rest = rest.ok_or(ParseError::Missing("argument"));
        match name {
            "OK" => match rest? {
                "joined" => Ok(Self::Joined),
                other => match other.strip_prefix("charged:") {
                    Some(json) => parse_charged(json),
                    None => Err(ParseError::Unknown),
                },
            },
            "ROLE" => match rest? {
                "owner" => Ok(Self::Role(Role::Owner)),
                "dj" => Ok(Self::Role(Role::Dj)),
                "listener" => Ok(Self::Role(Role::Listener)),
                _ => Err(ParseError::Bad("role")),
            },
            "YOUR_ADDR" => parse_addr(rest?).map(Self::YourAddr),
            "SESSION" => SessionToken::parse(rest?).map(Self::Session),
            "MODE" => Mode::parse(rest?).map(Self::Mode),
            "PEER" => parse_addr(rest?).map(Self::Peer),
            "CAND" => {
                let (id, candidate) = rest?.split_once(':').ok_or(ParseError::Missing("kind"))?;
                Ok(Self::Cand {
                    device_id: decimal_u32(id, "device_id")?,
                    candidate: Candidate::parse(candidate)?,
                })
            }
            "ERR" => Ok(Self::Err(ErrorCode::parse(rest?))),
            _ => Err(ParseError::Unknown),
        }
    }

    /// Writes the datagram after whatever `out` holds (callers clear it first).
    pub fn write(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{self}");
    }
}

/// `{"balance":"<amount>","amount":"<amount>"}` exactly as the server writes it.
fn parse_charged(json: &str) -> Result<Reply, ParseError> {
    let bad = ParseError::Bad("charged");
    let rest = json.strip_prefix("{\"balance\":\"").ok_or(bad)?;
    let (balance, rest) = rest.split_once('"').ok_or(bad)?;
    let rest = rest.strip_prefix(",\"amount\":\"").ok_or(bad)?;
    let amount = rest.strip_suffix("\"}").ok_or(bad)?;
    Ok(Reply::Charged {
        balance: Amount::parse(balance).ok_or(bad)?,
        amount: Amount::parse(amount).ok_or(bad)?,
    })
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Joined => f.write_str("OK:joined"),
            Self::Role(role) => write!(f, "ROLE:{}", role.as_str()),
            Self::YourAddr(addr) => write!(f, "YOUR_ADDR:{}", Addr(*addr)),
            Self::Session(token) => write!(f, "SESSION:{token}"),
            Self::Mode(mode) => write!(f, "MODE:{}", mode.as_str()),
            Self::Peer(addr) => write!(f, "PEER:{}", Addr(*addr)),
            Self::Cand {
                device_id,
                candidate,
            } => write!(f, "CAND:{device_id}:{candidate}"),
            Self::Charged { balance, amount } => {
                write!(
                    f,
                    "OK:charged:{{\"balance\":\"{balance}\",\"amount\":\"{amount}\"}}"
                )
            }
            Self::Err(code) => write!(f, "ERR:{}", code.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rendezvous::CandidateKind;

    #[test]
    fn every_reply_round_trips() {
        let v6: SocketAddr = "[2001:db8::7]:61000".parse().unwrap();
        let replies = [
            Reply::Joined,
            Reply::Role(Role::Owner),
            Reply::Role(Role::Dj),
            Reply::Role(Role::Listener),
            Reply::YourAddr("198.18.0.2:40001".parse().unwrap()),
            Reply::Session(SessionToken([0xA5; 16])),
            Reply::Mode(Mode::Private),
            Reply::Peer(v6),
            Reply::Cand {
                device_id: u32::MAX,
                candidate: Candidate::new(CandidateKind::Srflx, v6),
            },
            Reply::Err(ErrorCode::WrongPassword),
            Reply::Err(ErrorCode::MissingDeviceId),
            Reply::Charged {
                balance: Amount::from_micros(12_345_678),
                amount: Amount::from_micros(10_000),
            },
        ];
        let refusals = ChargeRefusal::ALL.map(|r| Reply::Err(ErrorCode::Charge(r)));
        let replies = replies.into_iter().chain(refusals);
        for reply in replies {
            let mut out = Vec::new();
            reply.write(&mut out);
            assert_eq!(Reply::parse(&out), Ok(reply), "{reply}");
        }
    }

    #[test]
    fn wire_text_is_the_dialect() {
        let text = |r: Reply| r.to_string();
        assert_eq!(text(Reply::Joined), "OK:joined");
        assert_eq!(
            text(Reply::Session(SessionToken([0x0F; 16]))),
            "SESSION:0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"
        );
        assert_eq!(
            text(Reply::Cand {
                device_id: 42,
                candidate: Candidate::new(CandidateKind::Srflx, "1.2.3.4:5".parse().unwrap()),
            }),
            "CAND:42:srflx:1694498815:1.2.3.4:5"
        );
        assert_eq!(
            Reply::parse(b"ERR:something_new\n"),
            Ok(Reply::Err(ErrorCode::Other))
        );
        assert_eq!(
            text(Reply::Charged {
                balance: Amount::from_micros(1_020_000),
                amount: Amount::from_micros(10_000),
            }),
            r#"OK:charged:{"balance":"1.020000","amount":"0.010000"}"#
        );
        assert_eq!(
            text(Reply::Err(ErrorCode::Charge(ChargeRefusal::ReplayDetected))),
            "ERR:replay_detected"
        );
    }

    #[test]
    fn bad_replies_say_why() {
        let cases: [(&[u8], ParseError); 12] = [
            (b"OK", ParseError::Missing("argument")),
            (
                br#"OK:charged:{"balance":1.0,"amount":"0.010000"}"#,
                ParseError::Bad("charged"),
            ),
            (
                br#"OK:charged:{"balance":"1.0","amount":"0.0100001"}"#,
                ParseError::Bad("charged"),
            ),
            (
                b"SESSION:+f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f",
                ParseError::Bad("session"),
            ),
            (b"OK:left", ParseError::Unknown),
            (b"ROLE:king", ParseError::Bad("role")),
            (b"SESSION:00", ParseError::Bad("session")),
            (
                b"SESSION:0g0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f",
                ParseError::Bad("session"),
            ),
            (b"PEER:1.2.3.4:99999", ParseError::Bad("port")),
            (b"CAND:42", ParseError::Missing("kind")),
            (b"CAND:x:host:1:1.2.3.4:5", ParseError::Bad("device_id")),
            (b"MAXDELAY:120", ParseError::Unknown),
        ];
        for (data, error) in cases {
            assert_eq!(
                Reply::parse(data),
                Err(error),
                "{}",
                String::from_utf8_lossy(data)
            );
        }
    }
}
