//! OSP Jam's sans-IO protocol core.
//!
//! Nothing here touches a socket, a clock, a thread or the OS random source: bytes and `now` come
//! in as arguments, bytes and deadlines go out. Decoders take untrusted input and return
//! errors, never panic, never read past the buffer and never allocate in proportion to it.
//!
//! - [`auth`]: the room key and the handshake proofs (HKDF, HMAC-SHA256).
//! - [`clock`]: per-peer clock offset, skew and RTT from four-timestamp exchanges.
//! - [`connect`]: candidates (host, STUN, TURN) and connectivity checks on the session socket.
//! - [`endpoint`]: the session run loop: peers, clock, election, timeline, media recovery.
//! - [`election`]: which member's clock is the session master.
//! - [`health`]: per-peer link statistics and the adaptive bitrate policy.
//! - [`jitter`]: the per-stream jitter buffer (audio thread).
//! - [`demux`]: which protocol one UDP datagram belongs to (STUN, DTLS, TURN, RTP, RTCP, OSP,
//!   clock sync), per the binding decision that one socket carries everything.
//! - [`osp`]: OSP session-control frames and messages (bincode 1.x payloads, hand-packed audio).
//! - [`ostp`]: OSTP audio packets (RTP + the `0x4F53` extension + CRC-32) and the 25-byte
//!   clock-sync packet.
//! - [`path`]: how a peer is reached (direct, multicast, relay).
//! - [`peer`]: one remote member's connection state machine.
//! - [`recovery`]: resend history, parity repair and NACK scheduling for one stream.
//! - [`rendezvous`]: the room server's text dialect, our `CAND:` extension, the JOIN verifier
//!   and the sans-IO rendezvous client.
//! - [`rtcp`]: RTCP framing and the generic NACK (RFC 4585) between our peers.
//! - [`sdp`]: SDP text so standard RTP receivers can decode a stream.
//! - [`seq`]: extended sequence numbers.
//! - [`time`]: the core's clocks as newtypes (µs instants, 48 kHz media ticks).

//!
//! # The run-loop contract
//!
//! State machines ([`endpoint::Endpoint`] above all) are driven the same way: feed one input
//! with `handle(now, input)`; then drain `poll_transmit` until `None`, then `poll_event` until
//! `None`, then read `poll_timeout` and call `handle(deadline, Input::Timeout)` when it passes.
//! Do this after **every** input, including commands. `now` is the caller's monotonic clock in
//! µs ([`time::Instant`]); randomness comes only from the seed in the configuration, so the
//! same inputs always give the same outputs (which is how the netsim tests run hours of session
//! on virtual time).

#![forbid(unsafe_code)]

// Tests prove the audio-thread entry points (`jitter::Buffer`) allocation-free under this
// allocator (debug builds; `rt::guard::no_alloc` aborts on any heap use inside it).
#[cfg(all(test, debug_assertions))]
#[global_allocator]
static ALLOC: rt::guard::AllocDisabler = rt::guard::AllocDisabler;

pub mod auth;
pub mod clock;
pub mod connect;
pub mod demux;
pub mod election;
pub mod endpoint;
pub mod health;
pub mod jitter;
pub mod osp;
pub mod ostp;
pub mod path;
pub mod peer;
pub mod recovery;
pub mod rendezvous;
pub mod rtcp;
pub mod sdp;
pub mod seq;
pub mod time;
mod timer;
