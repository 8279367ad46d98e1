//! `osp-relay`, the room server, as a library: a sans-IO [`Server`] fed datagrams and time,
//! giving datagrams and a deadline back; the `osp-relay` binary runs it on one UDP socket.
//!
//! Today the server is the room's rendezvous: members join a group with the relay text
//! dialect (`proto::rendezvous`), learn their server-reflexive address and every other
//! member's candidates (our `CAND:` extension), and keep their membership with any datagram.
//! It learns nothing else: the room secret never reaches it, only a static verifier derived
//! from it. Binary datagrams (OSTP audio, clock sync, RTCP, STUN) are classified and counted;
//! forwarding them (the relay path, roles, the listener swarm) belongs to the OSTP relay and
//! will extend [`Server::handle_datagram`] where it counts them now.
//!
//! - [`server`]: the state machine: groups, members, the JOIN rules, fan-out, staleness.
//! - [`counters`]: what happened, by reason (`--stats`).
//! - [`charge`]: `CHARGE`, the HMAC-signed top-up, and the balances.
//! - [`consensus`]: listener fingerprint reports and the vote on what a channel plays.
//! - [`http`]: the HTTP API (charge, fingerprint reports and verdicts, members), sans-IO.
//!
//! The wire contract is docs/protocol.md, "Rendezvous (relay dialect) and the CAND extension".

pub mod charge;
pub mod consensus;
pub mod counters;
mod group;
pub mod http;
pub mod server;

pub use counters::Counters;
pub use server::{Config, MemberView, Server, TOKEN_LIFETIME, Transmit};
