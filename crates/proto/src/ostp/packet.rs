//! OSTP media packets: encode in our canonical form, decode every dialect we accept.
//!
//! Canonical form (`docs/protocol.md` §2.1–2.2): byte 0 = `0xB0` (V=2, P=1, X=1, CC=0), the 8-byte
//! `0x4F53` extension (stream_id, seq_ext, media_timestamp), the payload, then RTP padding
//! holding the CRC-32 (zlib) of every preceding byte, big-endian, and the pad count `0x05`.
//! Standard RTP receivers strip the padding and decode the audio bit-exactly.
//!
//! On receive the integrity check is tried in this order: canonical padding CRC; raw 4-byte
//! trailers A (all preceding bytes, little-endian), C (all preceding, big-endian), B (payload
//! only, big-endian); then, only where the caller allows it, plain RTP (standard senders, no
//! CRC) or `legacy_no_crc` peers. Anything else is a [`DecodeError::Integrity`] drop.

use super::{EXTENSION_PROFILE, EXTENSION_WORDS};

/// RTP synchronisation source: one per stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ssrc(pub u32);

/// OSTP stream label: `0x0001` primary, `0x0002..=0x0FFF` extra tracks, `0xFFFF` parity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StreamId(pub u16);

impl StreamId {
    /// The primary stream of a sender.
    pub const PRIMARY: Self = Self(0x0001);
    /// The relay dialect's XOR-parity stream.
    pub const PARITY: Self = Self(0xFFFF);
}

/// The OSTP header extension.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extension {
    /// Which of the sender's streams this is.
    pub stream_id: StreamId,
    /// High 16 bits of the 32-bit sequence number.
    pub seq_ext: u16,
    /// Capture instant of the first sample on the session timeline (48 kHz ticks in our form;
    /// other dialects use ms or wall-clock ns: never required for playout).
    pub media_timestamp: u32,
}

/// The fields of an RTP/OSTP header that we read and write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// RTP marker bit (we set it on the first packet after a gap in sending; receivers ignore it).
    pub marker: bool,
    /// RTP payload type (7 bits).
    pub payload_type: u8,
    /// Low 16 bits of the sequence number.
    pub seq: u16,
    /// RTP timestamp: the stream's 48 kHz sample clock.
    pub timestamp: u32,
    /// The stream's SSRC.
    pub ssrc: Ssrc,
    /// The OSTP extension, absent on plain RTP from standard senders.
    pub extension: Option<Extension>,
}

impl Header {
    /// The 32-bit sequence number: `seq_ext:seq` with the extension, `seq` without.
    pub fn seq32(&self) -> u32 {
        let high = self.extension.map_or(0, |e| e.seq_ext);
        u32::from(high) << 16 | u32::from(self.seq)
    }
}

/// How a received packet's integrity was established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Integrity {
    /// Our canonical form: CRC-32 BE over all preceding bytes in RTP padding.
    Padding,
    /// Raw trailer, CRC over all preceding bytes, little-endian (spec vectors, Python SDK).
    TrailerA,
    /// Raw trailer, CRC over the payload only, big-endian (deployed relay, C++ core).
    TrailerB,
    /// Raw trailer, CRC over all preceding bytes, big-endian (spec text, DJ sender).
    TrailerC,
    /// No CRC: plain RTP from a standard sender, or a `legacy_no_crc` peer.
    Unchecked,
}

/// What a receiver accepts besides checked packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accept {
    /// Plain RTP without any CRC (streams announced or configured as plain RTP: GStreamer,
    /// ffmpeg). Standard RTP padding is stripped.
    pub plain_rtp: bool,
    /// Treat a failed CRC as "no CRC at all" (peers configured `legacy_no_crc`).
    pub legacy_no_crc: bool,
}

/// A decoded packet borrowing its payload from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Header fields.
    pub header: Header,
    /// The codec payload (CSRCs, extensions, padding and CRC removed).
    pub payload: &'a [u8],
    /// How integrity was established.
    pub integrity: Integrity,
}

/// Why a datagram was not accepted as an OSTP/RTP packet. Every variant is the sender's (or the
/// network's) fault; retrying the same bytes never helps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than the header, CSRC list or extension it announces.
    #[error("datagram too short for the RTP header it announces")]
    Short,
    /// RTP version is not 2.
    #[error("RTP version {0} is not 2")]
    Version(u8),
    /// No integrity check matched and the receiver does not accept unchecked packets.
    #[error("CRC-32 did not match any accepted form")]
    Integrity,
    /// RTP padding count is zero or larger than the packet body.
    #[error("invalid RTP padding count")]
    Padding,
}

/// Why a packet could not be encoded. The caller's fault; fix the input, do not retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is smaller than the packet.
    #[error("output buffer too small: need {needed} bytes")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
    },
    /// Payload type does not fit in 7 bits.
    #[error("payload type {0} does not fit in 7 bits")]
    PayloadType(u8),
}

/// Payload type of a resend from our senders: the original datagram with only its payload
/// type changed (and its CRC recomputed), so the receiver tells it from the original and counts
/// exactly the packets whose original never came as lost (`docs/protocol.md` §4.4). Standard
/// receivers drop it as an unknown payload type; they never send our NACKs anyway.
pub const RESEND_PAYLOAD_TYPE: u8 = 120;

/// Writes the resend form of `original` (one of our datagrams, CRC in padding) into `out`.
///
/// # Errors
///
/// [`DecodeError`] if `original` is not a valid packet of ours; [`EncodeError`] if `out` is
/// too small.
pub fn encode_resend(original: &[u8], out: &mut [u8]) -> Result<usize, ResendError> {
    let packet = decode(original, Accept::default())?;
    let header = Header {
        payload_type: RESEND_PAYLOAD_TYPE,
        ..packet.header
    };
    Ok(encode(&header, packet.payload, SendForm::Padding, out)?)
}

/// Why a resend could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResendError {
    /// The held datagram does not decode (a bug in the sender's history).
    #[error("held datagram: {0}")]
    Decode(#[from] DecodeError),
    /// The output buffer is too small (the caller's bug).
    #[error("resend: {0}")]
    Encode(#[from] EncodeError),
}

/// The CRC form a packet is sent with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendForm {
    /// Ours: CRC in RTP padding.
    Padding,
    /// Raw trailer variant A (for relay-dialect peers and the spec vectors).
    TrailerA,
    /// Raw trailer variant B.
    TrailerB,
    /// Raw trailer variant C.
    TrailerC,
    /// No CRC (plain RTP for standard receivers that must not see padding).
    Plain,
}

const RTP_HEADER: usize = 12;
const EXTENSION_HEADER: usize = 4;
const EXTENSION_BODY: usize = EXTENSION_WORDS as usize * 4;
const CRC: usize = 4;
/// RTP padding used for the CRC: 4 CRC bytes + 1 count byte.
const PAD: u8 = 5;

/// Bytes a packet with `payload_len` payload bytes occupies in `form`, with the extension.
pub fn encoded_len(payload_len: usize, form: SendForm, extension: bool) -> usize {
    let ext = if extension {
        EXTENSION_HEADER + EXTENSION_BODY
    } else {
        0
    };
    let tail = match form {
        SendForm::Padding => usize::from(PAD),
        SendForm::TrailerA | SendForm::TrailerB | SendForm::TrailerC => CRC,
        SendForm::Plain => 0,
    };
    RTP_HEADER + ext + payload_len + tail
}

/// Writes one packet into `out` and returns its length.
///
/// # Errors
///
/// [`EncodeError::BufferTooSmall`] if `out` cannot hold it; [`EncodeError::PayloadType`] if the
/// payload type exceeds 127.
pub fn encode(
    header: &Header,
    payload: &[u8],
    form: SendForm,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    if header.payload_type > 0x7F {
        return Err(EncodeError::PayloadType(header.payload_type));
    }
    let needed = encoded_len(payload.len(), form, header.extension.is_some());
    let Some(out) = out.get_mut(..needed) else {
        return Err(EncodeError::BufferTooSmall { needed });
    };
    let padding = matches!(form, SendForm::Padding);
    out[0] = 0x80 | u8::from(padding) << 5 | u8::from(header.extension.is_some()) << 4;
    out[1] = u8::from(header.marker) << 7 | header.payload_type;
    out[2..4].copy_from_slice(&header.seq.to_be_bytes());
    out[4..8].copy_from_slice(&header.timestamp.to_be_bytes());
    out[8..12].copy_from_slice(&header.ssrc.0.to_be_bytes());
    let mut at = RTP_HEADER;
    if let Some(ext) = header.extension {
        out[at..at + 2].copy_from_slice(&EXTENSION_PROFILE.to_be_bytes());
        out[at + 2..at + 4].copy_from_slice(&EXTENSION_WORDS.to_be_bytes());
        out[at + 4..at + 6].copy_from_slice(&ext.stream_id.0.to_be_bytes());
        out[at + 6..at + 8].copy_from_slice(&ext.seq_ext.to_be_bytes());
        out[at + 8..at + 12].copy_from_slice(&ext.media_timestamp.to_be_bytes());
        at += EXTENSION_HEADER + EXTENSION_BODY;
    }
    let payload_at = at;
    out[at..at + payload.len()].copy_from_slice(payload);
    at += payload.len();
    match form {
        SendForm::Padding => {
            let crc = crc32fast::hash(&out[..at]);
            out[at..at + CRC].copy_from_slice(&crc.to_be_bytes());
            out[at + CRC] = PAD;
        }
        SendForm::TrailerA => {
            let crc = crc32fast::hash(&out[..at]);
            out[at..at + CRC].copy_from_slice(&crc.to_le_bytes());
        }
        SendForm::TrailerB => {
            let crc = crc32fast::hash(&out[payload_at..at]);
            out[at..at + CRC].copy_from_slice(&crc.to_be_bytes());
        }
        SendForm::TrailerC => {
            let crc = crc32fast::hash(&out[..at]);
            out[at..at + CRC].copy_from_slice(&crc.to_be_bytes());
        }
        SendForm::Plain => {}
    }
    Ok(needed)
}

/// Decodes one datagram.
///
/// # Errors
///
/// See [`DecodeError`]: short or malformed headers, wrong version, or no accepted integrity.
pub fn decode(data: &[u8], accept: Accept) -> Result<Packet<'_>, DecodeError> {
    let Some(fixed) = data.get(..RTP_HEADER) else {
        return Err(DecodeError::Short);
    };
    let version = fixed[0] >> 6;
    if version != 2 {
        return Err(DecodeError::Version(version));
    }
    let padded = fixed[0] & 0x20 != 0;
    let has_extension = fixed[0] & 0x10 != 0;
    let csrc_count = usize::from(fixed[0] & 0x0F);
    let mut header = Header {
        marker: fixed[1] & 0x80 != 0,
        payload_type: fixed[1] & 0x7F,
        seq: u16::from_be_bytes([fixed[2], fixed[3]]),
        timestamp: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
        ssrc: Ssrc(u32::from_be_bytes([
            fixed[8], fixed[9], fixed[10], fixed[11],
        ])),
        extension: None,
    };
    let mut at = RTP_HEADER + csrc_count * 4;
    if has_extension {
        let ext = data
            .get(at..at + EXTENSION_HEADER)
            .ok_or(DecodeError::Short)?;
        let profile = u16::from_be_bytes([ext[0], ext[1]]);
        let words = u16::from_be_bytes([ext[2], ext[3]]);
        let body_len = usize::from(words) * 4;
        let body = data
            .get(at + EXTENSION_HEADER..at + EXTENSION_HEADER + body_len)
            .ok_or(DecodeError::Short)?;
        if profile == EXTENSION_PROFILE && words == EXTENSION_WORDS {
            header.extension = Some(Extension {
                stream_id: StreamId(u16::from_be_bytes([body[0], body[1]])),
                seq_ext: u16::from_be_bytes([body[2], body[3]]),
                media_timestamp: u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
            });
        }
        at += EXTENSION_HEADER + body_len;
    }
    if at > data.len() {
        return Err(DecodeError::Short);
    }
    let (payload, integrity) = check_integrity(data, at, padded, accept)?;
    Ok(Packet {
        header,
        payload,
        integrity,
    })
}

/// Finds the payload of a packet whose header ends at `payload_at`, by the first integrity form
/// that checks.
fn check_integrity(
    data: &[u8],
    payload_at: usize,
    padded: bool,
    accept: Accept,
) -> Result<(&[u8], Integrity), DecodeError> {
    let len = data.len();
    let body = len - payload_at;
    if padded && body >= usize::from(PAD) && data[len - 1] == PAD {
        let crc_at = len - usize::from(PAD);
        let stored = u32::from_be_bytes([
            data[crc_at],
            data[crc_at + 1],
            data[crc_at + 2],
            data[crc_at + 3],
        ]);
        if crc32fast::hash(&data[..crc_at]) == stored {
            return Ok((&data[payload_at..crc_at], Integrity::Padding));
        }
    }
    if body >= CRC {
        let crc_at = len - CRC;
        let trailer = [
            data[crc_at],
            data[crc_at + 1],
            data[crc_at + 2],
            data[crc_at + 3],
        ];
        let payload = &data[payload_at..crc_at];
        let whole = crc32fast::hash(&data[..crc_at]);
        if whole == u32::from_le_bytes(trailer) {
            return Ok((payload, Integrity::TrailerA));
        }
        if whole == u32::from_be_bytes(trailer) {
            return Ok((payload, Integrity::TrailerC));
        }
        if crc32fast::hash(payload) == u32::from_be_bytes(trailer) {
            return Ok((payload, Integrity::TrailerB));
        }
    }
    if accept.plain_rtp || accept.legacy_no_crc {
        let payload = if padded {
            let count = usize::from(data[len - 1]);
            if count == 0 || count > body {
                return Err(DecodeError::Padding);
            }
            &data[payload_at..len - count]
        } else {
            &data[payload_at..]
        };
        return Ok((payload, Integrity::Unchecked));
    }
    Err(DecodeError::Integrity)
}

#[cfg(test)]
mod tests;
