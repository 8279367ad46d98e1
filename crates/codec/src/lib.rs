//! OSP Jam's audio codecs, usable on the audio thread.
//!
//! Every buffer is allocated when a codec is built; `encode`, `decode` and `conceal` only write
//! into the caller's slices. Samples are interleaved `f32` in -1.0..=1.0 at 48 kHz, the rate of
//! the wire.
//!
//! - [`opus`]: Opus in restricted low-delay mode (the only mode with 2.5 ms frames; it has no
//!   in-band FEC, so loss recovery is packet-level parity and resends, and concealment is
//!   Opus's own PLC).
//! - [`pcm`]: L16 and L24 big-endian (RFC 3551 / RFC 3190) for LAN sessions, and the relay
//!   dialect's little-endian forms on receive.

pub mod opus;
pub mod pcm;

/// The sample rate of everything on the wire.
pub const WIRE_RATE: u32 = 48_000;

#[cfg(all(test, debug_assertions))]
#[global_allocator]
static ALLOC: rt::guard::AllocDisabler = rt::guard::AllocDisabler;
