//! Rendezvous through the room server: the relay text dialect (one ASCII command per UDP
//! datagram, fields split by `:`), our `CAND:` extension that carries ICE candidates, the JOIN
//! verifier, and a sans-IO client.
//!
//! - [`command`]: what a member sends the server (`JOIN`, `HELLO`, `LEAVE`, `MODE`, `CAND`,
//!   `PUNCH`, `CHARGE`).
//! - [`reply`]: what the server sends a member (`OK:joined`, `ROLE`, `YOUR_ADDR`, `SESSION`,
//!   `MODE`, `PEER`, `CAND`, `OK:charged`, `ERR`).
//! - [`candidate`]: a transport candidate and its RFC 8445 priority.
//! - [`charge`]: `CHARGE`, the signed top-up: amounts in micro-units, the token, the signed
//!   text, the refusals.
//! - [`credentials`]: the group name and JOIN verifier derived from the room secret (the secret
//!   never reaches the server).
//! - [`client`]: the member's side: join, liveness, re-join, candidates, events.
//!
//! The wire contract is docs/protocol.md, "Rendezvous (relay dialect) and the CAND extension".
//! Parsers take untrusted bytes and return [`ParseError`], never panic, never allocate; writers
//! append to a caller's buffer.

use std::time::Duration;

mod addr;
pub mod candidate;
pub mod charge;
pub mod client;
pub mod command;
pub mod credentials;
pub mod reply;
mod text;

pub use addr::parse_addr;
pub use candidate::{Candidate, CandidateKind};
pub use charge::{Amount, ChargeMac, ChargeRefusal, ChargeRequest, ChargeToken};
pub use command::{Command, Join};
pub use credentials::Credentials;
pub use reply::{ErrorCode, Mode, Reply, Role, SessionToken};
pub use text::{ParseError, is_dialect};

/// The room server's well-known UDP port (audio and control share it).
pub const DEFAULT_PORT: u16 = 5100;
/// A member sends `HELLO` this often.
pub const HELLO_INTERVAL: Duration = Duration::from_secs(5);
/// The server drops a member it has heard nothing from for this long.
pub const STALE_AFTER: Duration = Duration::from_secs(15);
/// The server looks for stale members this often.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(10);
/// Candidates one member may register; the server drops and counts any beyond.
pub const MAX_CANDIDATES: usize = 8;
/// Longest dialect datagram we parse: a JOIN with every field at its limit fits with room to
/// spare; anything longer is refused before it is looked at.
pub const MAX_TEXT: usize = 512;
/// Longest group name, device name (bytes).
pub const MAX_NAME: usize = 64;
/// Longest JOIN password field (bytes): our verifier is 64 hex digits.
pub const MAX_PASSWORD: usize = 128;
