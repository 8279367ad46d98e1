//! OSTP, the audio transport: RTP (RFC 3550) with the `0x4F53` header extension and a CRC-32.
//!
//! - [`packet`]: the media packet in our canonical form (CRC in RTP padding) and the legacy
//!   raw-trailer variants A, B and C accepted on receive.
//! - [`inbound`]: one received stream before the jitter buffer (stream lock, sequence extension,
//!   duplicates, counters), for our peers and standard RTP senders alike.
//! - [`nack`]: the relay dialect's PT 126 NACK (our peers use RTCP generic NACK, [`crate::rtcp`]).
//! - [`parity`]: XOR parity, our form (own SSRC) and the relay dialect's (PT 127, stream 0xFFFF).
//! - [`sync`]: the 25-byte clock-sync packet (first byte `0x7D`, not RTP).

pub mod inbound;
pub mod nack;
pub mod packet;
pub mod parity;
pub mod sync;

/// The RTP header-extension profile that marks an OSTP extension ("OS").
pub const EXTENSION_PROFILE: u16 = 0x4F53;
/// Length of the OSTP extension body in 32-bit words.
pub const EXTENSION_WORDS: u16 = 2;
/// Largest datagram we send: stays under every path MTU without IP fragmentation.
pub const MAX_DATAGRAM: usize = 1200;
/// Receive buffer size: legacy senders emit datagrams of up to 3,868 bytes.
pub const RECEIVE_BUFFER: usize = 65_536;
