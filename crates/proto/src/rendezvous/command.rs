//! What a member sends the room server (and `PUNCH`, which members send each other).

use std::fmt;

use super::candidate::Candidate;
use super::charge::ChargeRequest;
use super::reply::Mode;
use super::text::{self, ParseError, decimal_u32};
use super::{MAX_NAME, MAX_PASSWORD};

/// `JOIN:<group>[:<password>[:<device_name>[:<device_id>]]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Join<'a> {
    /// The group (room) to join; may be empty on the wire, which the server refuses.
    pub group: &'a str,
    /// The password field: our clients put the verifier here ([`super::Credentials`]).
    pub password: &'a str,
    /// A name for people to read.
    pub device_name: &'a str,
    /// The member's OSP user id. Optional in the dialect; our server requires it.
    pub device_id: Option<u32>,
}

impl Join<'_> {
    /// Whether every field can be written and parsed back unchanged (no `:`, no control
    /// characters, within the length limits).
    pub fn is_valid(&self) -> bool {
        text::valid_field(self.group, MAX_NAME)
            && text::valid_field(self.password, MAX_PASSWORD)
            && text::valid_field(self.device_name, MAX_NAME)
    }
}

/// A command to the room server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// Join (or refresh membership of) a group.
    Join(Join<'a>),
    /// Liveness; no reply.
    Hello,
    /// Leave the group now instead of going stale.
    Leave,
    /// Switch the group's mode; `private` also asks for all-pairs `PEER:` hints.
    Mode(Mode),
    /// Our extension: register one of the sender's candidates.
    Cand(Candidate),
    /// A member's answer to a `PEER:` hint, sent to that peer to open the NAT binding.
    Punch,
    /// A signed top-up of the sender's balance. Fields that do not parse are
    /// [`ParseError::Charge`], which says the refusal to answer.
    Charge(ChargeRequest),
}

impl<'a> Command<'a> {
    /// Parses one datagram. Names are matched exactly (`HELLO`, `LEAVE` and `PUNCH` ignore
    /// anything after a `:`).
    ///
    /// # Errors
    /// A [`ParseError`] saying what is wrong; never panics.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        let (name, rest) = text::split(data)?;
        match name {
            "JOIN" => parse_join(rest.unwrap_or_default()).map(Self::Join),
            "HELLO" => Ok(Self::Hello),
            "LEAVE" => Ok(Self::Leave),
            "PUNCH" => Ok(Self::Punch),
            "MODE" => Mode::parse(rest.ok_or(ParseError::Missing("mode"))?).map(Self::Mode),
            "CAND" => Candidate::parse(rest.ok_or(ParseError::Missing("kind"))?).map(Self::Cand),
            "CHARGE" => ChargeRequest::parse(rest)
                .map(Self::Charge)
                .map_err(ParseError::Charge),
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

fn parse_join(rest: &str) -> Result<Join<'_>, ParseError> {
    let mut fields = rest.splitn(4, ':');
    let group = fields.next().unwrap_or_default();
    text::name(group, "group")?;
    let password = fields.next().unwrap_or_default();
    if !text::valid_field(password, MAX_PASSWORD) {
        return Err(ParseError::Bad("password"));
    }
    let device_name = fields.next().unwrap_or_default();
    text::name(device_name, "device_name")?;
    let device_id = fields
        .next()
        .map(|id| decimal_u32(id, "device_id"))
        .transpose()?;
    Ok(Join {
        group,
        password,
        device_name,
        device_id,
    })
}

impl fmt::Display for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Join(join) => {
                write!(
                    f,
                    "JOIN:{}:{}:{}",
                    join.group, join.password, join.device_name
                )?;
                match join.device_id {
                    Some(id) => write!(f, ":{id}"),
                    None => Ok(()),
                }
            }
            Self::Hello => f.write_str("HELLO"),
            Self::Leave => f.write_str("LEAVE"),
            Self::Punch => f.write_str("PUNCH"),
            Self::Mode(mode) => write!(f, "MODE:{}", mode.as_str()),
            Self::Cand(candidate) => write!(f, "CAND:{candidate}"),
            Self::Charge(charge) => write!(f, "{charge}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rendezvous::{Amount, CandidateKind, ChargeMac, ChargeRefusal, ChargeToken};

    fn round_trip(command: Command<'_>) {
        let mut out = Vec::new();
        command.write(&mut out);
        assert_eq!(Command::parse(&out), Ok(command), "{}", command);
    }

    #[test]
    fn every_command_round_trips() {
        round_trip(Command::Join(Join {
            group: "9f2c",
            password: "ab01",
            device_name: "Jörg's bass",
            device_id: Some(4_000_000_000),
        }));
        round_trip(Command::Join(Join {
            group: "g",
            password: "",
            device_name: "",
            device_id: None,
        }));
        round_trip(Command::Hello);
        round_trip(Command::Leave);
        round_trip(Command::Punch);
        round_trip(Command::Mode(Mode::Private));
        round_trip(Command::Mode(Mode::Public));
        round_trip(Command::Cand(Candidate::new(
            CandidateKind::Host,
            "[fe80::1]:40000".parse().unwrap(),
        )));
        round_trip(charge(10_000));
    }

    /// A CHARGE of `micros` signed at 1741996800 with a MAC of 0xC0 bytes.
    fn charge(micros: u64) -> Command<'static> {
        Command::Charge(ChargeRequest {
            amount: Amount::from_micros(micros),
            token: ChargeToken {
                unix_ts: 1_741_996_800,
                mac: ChargeMac([0xC0; 32]),
            },
        })
    }

    #[test]
    fn charge_fields_that_do_not_parse_carry_their_refusal() {
        let mac = "c0".repeat(32);
        let cases = [
            ("CHARGE".to_owned(), ChargeRefusal::InvalidFormat),
            (
                format!("CHARGE:1.0000001:1:{mac}"),
                ChargeRefusal::InvalidAmount,
            ),
            ("CHARGE:5".to_owned(), ChargeRefusal::PaymentFailed),
        ];
        for (text, refusal) in cases {
            assert_eq!(
                Command::parse(text.as_bytes()),
                Err(ParseError::Charge(refusal)),
                "{text}"
            );
        }
        assert_eq!(
            Command::parse(format!("CHARGE:5:1741996800:{mac}\r\n").as_bytes()),
            Ok(charge(5_000_000))
        );
    }

    #[test]
    fn join_fields_are_optional_from_the_right() {
        let join = |text: &'static str| match Command::parse(text.as_bytes()) {
            Ok(Command::Join(join)) => join,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(join("JOIN").group, "");
        assert_eq!(join("JOIN:room").password, "");
        assert_eq!(join("JOIN:room:pw").device_name, "");
        assert_eq!(join("JOIN:room:pw:name\r\n").device_id, None);
        assert_eq!(join("JOIN:room:pw:name:7\n").device_id, Some(7));
    }

    #[test]
    fn bad_commands_say_why() {
        let cases: [(&[u8], ParseError); 10] = [
            (b"JOIN:room:pw:name:7:8", ParseError::Bad("device_id")),
            (b"JOIN:room:pw:name:x", ParseError::Bad("device_id")),
            (
                &[b'J', b'O', b'I', b'N', b':', b'g', 0x7F],
                ParseError::NotPrintable,
            ),
            (b"MODE", ParseError::Missing("mode")),
            (b"MODE:secret", ParseError::Bad("mode")),
            (b"CAND", ParseError::Missing("kind")),
            (b"CAND:host:1:1.2.3.4", ParseError::Missing("port")),
            (b"MEMBERS", ParseError::Unknown),
            (b"Hello", ParseError::Unknown),
            (b"\x00\x01\x00\x00", ParseError::NotText),
        ];
        for (data, error) in cases {
            assert_eq!(
                Command::parse(data),
                Err(error),
                "{}",
                String::from_utf8_lossy(data)
            );
        }
        let long_group = format!("JOIN:{}", "g".repeat(MAX_NAME + 1));
        assert_eq!(
            Command::parse(long_group.as_bytes()),
            Err(ParseError::Bad("group"))
        );
    }

    #[test]
    fn liveness_commands_are_matched_by_name() {
        assert_eq!(Command::parse(b"PUNCH\n"), Ok(Command::Punch));
        assert_eq!(Command::parse(b"HELLO:anything"), Ok(Command::Hello));
    }
}
