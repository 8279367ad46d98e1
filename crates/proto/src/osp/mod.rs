//! OSP, the session-control protocol: the datagram frame (`OSP1` magic, little-endian header,
//! CRC-32) and every message it carries.
//!
//! Frame layout (`docs/protocol.md` §6.1, kept byte-compatible with the reference so its test
//! vectors hold):
//!
//! | Off | Size | Field |
//! |---|---|---|
//! | 0 | 4 | magic `OSP1` |
//! | 4 | 2 | sequence, u16 LE (one counter per destination and delivery class) |
//! | 6 | 2 | timestamp, u16 LE (ms since the sender's session start, mod 65,536) |
//! | 8 | 2 | message id, u16 LE |
//! | 10 | 2 | payload length n, u16 LE |
//! | 12 | n | payload |
//! | 12+n | 4 | CRC-32 (zlib) LE over bytes 0..10 and the payload: the length field is not covered
//! |
//!
//! - [`message`]: the message ids and payloads (bincode 1.x legacy layout; AudioFrame hand-packed).

pub mod message;

pub use message::{Id, Message};

use crate::demux::OSP_MAGIC;

/// Bytes before the payload.
pub const HEADER_LEN: usize = 12;
/// Fixed overhead of a frame: header and CRC.
pub const OVERHEAD: usize = HEADER_LEN + 4;
/// Largest datagram we send (the reference receives up to 2,048 bytes; we stay under every MTU).
pub const MAX_DATAGRAM: usize = 1200;
/// Largest payload that fits in [`MAX_DATAGRAM`].
pub const MAX_PAYLOAD: usize = MAX_DATAGRAM - OVERHEAD;

/// The header fields of a frame besides the message id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameHeader {
    /// Per-destination, per-class sequence number.
    pub seq: u16,
    /// Sender's session time in ms, mod 65,536.
    pub timestamp: u16,
}

/// A decoded frame: header fields and the message, borrowing audio data from the datagram.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame<'a> {
    /// Sequence and timestamp.
    pub header: FrameHeader,
    /// The message.
    pub message: Message<'a>,
}

/// Why a datagram was not accepted as an OSP frame. Counted and dropped by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than the header and CRC, or than the payload length it announces.
    #[error("datagram too short for the OSP frame it announces")]
    Short,
    /// Does not start with `OSP1`.
    #[error("not an OSP frame (bad magic)")]
    Magic,
    /// CRC-32 mismatch.
    #[error("OSP CRC-32 mismatch")]
    Crc,
    /// A message id nobody defined (reference receivers drop these silently too).
    #[error("unknown OSP message id {0:#06x}")]
    UnknownId(u16),
    /// The payload does not decode as the message its id names.
    #[error("malformed payload for OSP message {0:?}")]
    Payload(Id),
}

/// Why a frame could not be encoded. The caller's fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer cannot hold the frame (for sending, give it [`MAX_DATAGRAM`] bytes:
    /// larger state is split across messages, never across datagrams).
    #[error("output buffer too small for the OSP frame")]
    BufferTooSmall,
    /// The payload is longer than the 16-bit length field can say.
    #[error("OSP payload longer than 65,535 bytes")]
    TooLong,
}

/// Writes one frame carrying `message` into `out` and returns its length. Never allocates.
///
/// # Errors
///
/// [`EncodeError::BufferTooSmall`] if the frame does not fit in `out`, [`EncodeError::TooLong`]
/// if the payload exceeds what the 16-bit length field can say.
pub fn encode(
    header: FrameHeader,
    message: &Message<'_>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    if out.len() < OVERHEAD {
        return Err(EncodeError::BufferTooSmall);
    }
    let room = out.len() - OVERHEAD;
    let payload_len = message.encode_payload(&mut out[HEADER_LEN..HEADER_LEN + room])?;
    let len_field = u16::try_from(payload_len).map_err(|_| EncodeError::TooLong)?;
    out[..4].copy_from_slice(&OSP_MAGIC);
    out[4..6].copy_from_slice(&header.seq.to_le_bytes());
    out[6..8].copy_from_slice(&header.timestamp.to_le_bytes());
    out[8..10].copy_from_slice(&message.id().raw().to_le_bytes());
    out[10..12].copy_from_slice(&len_field.to_le_bytes());
    let end = HEADER_LEN + payload_len;
    let crc = frame_crc(&out[..10], &out[HEADER_LEN..end]);
    out[end..end + 4].copy_from_slice(&crc.to_le_bytes());
    Ok(end + 4)
}

/// Decodes one datagram. Trailing bytes after the CRC are ignored (reference behaviour).
///
/// # Errors
///
/// See [`DecodeError`].
pub fn decode(data: &[u8]) -> Result<Frame<'_>, DecodeError> {
    let (header, id, payload) = open(data)?;
    let id = Id::from_raw(id).ok_or(DecodeError::UnknownId(id))?;
    let message = Message::decode_payload(id, payload).ok_or(DecodeError::Payload(id))?;
    Ok(Frame { header, message })
}

/// Checks magic, length and CRC and returns the header, raw id and payload without decoding the
/// payload: for relays and dissectors that only route by id.
///
/// # Errors
///
/// [`DecodeError::Short`], [`DecodeError::Magic`] or [`DecodeError::Crc`].
pub fn open(data: &[u8]) -> Result<(FrameHeader, u16, &[u8]), DecodeError> {
    let Some(fixed) = data.get(..HEADER_LEN) else {
        return Err(DecodeError::Short);
    };
    if fixed[..4] != OSP_MAGIC {
        return Err(DecodeError::Magic);
    }
    let n = usize::from(u16::from_le_bytes([fixed[10], fixed[11]]));
    let Some(payload) = data.get(HEADER_LEN..HEADER_LEN + n) else {
        return Err(DecodeError::Short);
    };
    let Some(crc) = data.get(HEADER_LEN + n..HEADER_LEN + n + 4) else {
        return Err(DecodeError::Short);
    };
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if frame_crc(&fixed[..10], payload) != stored {
        return Err(DecodeError::Crc);
    }
    let header = FrameHeader {
        seq: u16::from_le_bytes([fixed[4], fixed[5]]),
        timestamp: u16::from_le_bytes([fixed[6], fixed[7]]),
    };
    Ok((header, u16::from_le_bytes([fixed[8], fixed[9]]), payload))
}

/// CRC over magic, sequence, timestamp, id and payload (the reference leaves the length out).
fn frame_crc(head: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(head);
    hasher.update(payload);
    hasher.finalize()
}

/// The 32-bit peer id carried in AudioFrame: the first 4 bytes of `blake3(user_id)`, read
/// little-endian (collisions are the session's problem: it refuses a second peer with the same
/// id).
pub fn peer_id(user_id: &str) -> u32 {
    let hash = blake3::hash(user_id.as_bytes());
    let b = hash.as_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests;
