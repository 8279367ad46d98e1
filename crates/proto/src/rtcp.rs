//! RTCP framing and the generic NACK (RFC 4585 §6.2.1: PT 205, FMT 1) our peers use to ask for
//! a resend of a media stream's packets.
//!
//! The NACK names the media SSRC, and every stream has its own SSRC, so a request addresses
//! exactly one stream; standard tools (Wireshark, GStreamer's `rtpsession`) read it as is.
//! RTCP carries no CRC of ours: it is either authenticated by the transport (DTLS/SRTP paths)
//! or harmless to forge (a forged NACK costs one bounded resend).

use crate::ostp::packet::Ssrc;

/// RTCP payload type of transport-layer feedback (RFC 4585).
pub const PT_TRANSPORT_FEEDBACK: u8 = 205;
/// FMT of the generic NACK.
pub const FMT_GENERIC_NACK: u8 = 1;
/// Bytes of a generic NACK before its FCI entries.
pub const NACK_FIXED: usize = 12;

/// One RTCP packet of a (possibly compound) datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The 5-bit count / FMT field.
    pub count: u8,
    /// Packet type.
    pub packet_type: u8,
    /// Everything after the 4-byte common header, padding removed.
    pub body: &'a [u8],
}

/// Why an RTCP datagram or packet was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than its header or than the length it announces.
    #[error("RTCP packet shorter than its length field")]
    Short,
    /// Version is not 2.
    #[error("RTCP version is not 2")]
    Version,
    /// Padding count zero or larger than the packet.
    #[error("invalid RTCP padding")]
    Padding,
    /// Not a generic NACK (other PT or FMT).
    #[error("not a generic NACK")]
    NotNack,
}

/// Why a NACK could not be encoded. The caller's fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// `out` cannot hold the packet.
    #[error("output buffer too small: need {needed} bytes")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// No sequence numbers to request.
    #[error("a NACK must name at least one packet")]
    Empty,
}

/// Iterates over the packets of a compound RTCP datagram; stops at the first malformed one.
pub fn packets(data: &[u8]) -> Packets<'_> {
    Packets { rest: data }
}

/// Iterator returned by [`packets`].
#[derive(Clone, Debug)]
pub struct Packets<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<Packet<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = split_packet(self.rest);
        match result {
            Ok((packet, rest)) => {
                self.rest = rest;
                Some(Ok(packet))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

fn split_packet(data: &[u8]) -> Result<(Packet<'_>, &[u8]), DecodeError> {
    let head = data.get(..4).ok_or(DecodeError::Short)?;
    if head[0] >> 6 != 2 {
        return Err(DecodeError::Version);
    }
    let padded = head[0] & 0x20 != 0;
    let len = (usize::from(u16::from_be_bytes([head[2], head[3]])) + 1) * 4;
    let whole = data.get(..len).ok_or(DecodeError::Short)?;
    let mut body = &whole[4..];
    if padded {
        let count = usize::from(*body.last().ok_or(DecodeError::Padding)?);
        if count == 0 || count > body.len() {
            return Err(DecodeError::Padding);
        }
        body = &body[..body.len() - count];
    }
    let packet = Packet {
        count: head[0] & 0x1F,
        packet_type: head[1],
        body,
    };
    Ok((packet, &data[len..]))
}

/// A generic NACK: which packets of `media`'s stream `sender` is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenericNack<'a> {
    /// The requester's SSRC.
    pub sender: Ssrc,
    /// The stream whose packets are missing.
    pub media: Ssrc,
    fci: &'a [u8],
}

impl<'a> GenericNack<'a> {
    /// Reads a generic NACK from an RTCP packet.
    ///
    /// # Errors
    ///
    /// [`DecodeError::NotNack`] for other packet types; [`DecodeError::Short`] if the body is
    /// not two SSRCs followed by whole FCI entries.
    pub fn parse(packet: &Packet<'a>) -> Result<Self, DecodeError> {
        if packet.packet_type != PT_TRANSPORT_FEEDBACK || packet.count != FMT_GENERIC_NACK {
            return Err(DecodeError::NotNack);
        }
        let body = packet.body;
        if body.len() < 8 || !(body.len() - 8).is_multiple_of(4) {
            return Err(DecodeError::Short);
        }
        Ok(Self {
            sender: Ssrc(u32::from_be_bytes([body[0], body[1], body[2], body[3]])),
            media: Ssrc(u32::from_be_bytes([body[4], body[5], body[6], body[7]])),
            fci: &body[8..],
        })
    }

    /// The missing 16-bit sequence numbers, in the order the FCI names them.
    pub fn lost(&self) -> impl Iterator<Item = u16> + 'a {
        self.fci.chunks_exact(4).flat_map(|entry| {
            let pid = u16::from_be_bytes([entry[0], entry[1]]);
            let blp = u16::from_be_bytes([entry[2], entry[3]]);
            std::iter::once(pid).chain(
                (0..16u16)
                    .filter(move |bit| blp & (1 << bit) != 0)
                    .map(move |bit| pid.wrapping_add(bit + 1)),
            )
        })
    }
}

/// Bytes a generic NACK for `lost` occupies.
pub fn nack_len(lost: &[u16]) -> usize {
    NACK_FIXED + 4 * fci_entries(lost).count()
}

/// Writes a generic NACK asking `media`'s sender for the packets `lost` (16-bit sequence
/// numbers in increasing order, modulo 2^16), packed into PID + bitmask entries.
///
/// # Errors
///
/// [`EncodeError::Empty`] for an empty list, [`EncodeError::BufferTooSmall`] if `out` cannot
/// hold the packet.
pub fn encode_nack(
    sender: Ssrc,
    media: Ssrc,
    lost: &[u16],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    if lost.is_empty() {
        return Err(EncodeError::Empty);
    }
    let needed = nack_len(lost);
    let out = out
        .get_mut(..needed)
        .ok_or(EncodeError::BufferTooSmall { needed })?;
    let words =
        u16::try_from(needed / 4 - 1).map_err(|_| EncodeError::BufferTooSmall { needed })?;
    out[0] = 0x80 | FMT_GENERIC_NACK;
    out[1] = PT_TRANSPORT_FEEDBACK;
    out[2..4].copy_from_slice(&words.to_be_bytes());
    out[4..8].copy_from_slice(&sender.0.to_be_bytes());
    out[8..12].copy_from_slice(&media.0.to_be_bytes());
    for (entry, (pid, blp)) in out[NACK_FIXED..].chunks_exact_mut(4).zip(fci_entries(lost)) {
        entry[..2].copy_from_slice(&pid.to_be_bytes());
        entry[2..].copy_from_slice(&blp.to_be_bytes());
    }
    Ok(needed)
}

/// Groups sequence numbers into (PID, BLP) entries: each entry covers PID and the 16 after it.
fn fci_entries(lost: &[u16]) -> impl Iterator<Item = (u16, u16)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let pid = *lost.get(at)?;
        at += 1;
        let mut blp = 0u16;
        while let Some(&next) = lost.get(at) {
            let distance = next.wrapping_sub(pid);
            if !(1..=16).contains(&distance) {
                break;
            }
            blp |= 1 << (distance - 1);
            at += 1;
        }
        Some((pid, blp))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nack_packs_runs_into_bitmasks_and_reads_back() {
        let lost = [65_534, 65_535, 0, 3, 16, 17, 40];
        let mut out = [0u8; 64];
        let n = encode_nack(Ssrc(0x0102_0304), Ssrc(0xAABB_CCDD), &lost, &mut out).unwrap();
        // 65534 covers 65535, 0, 3 (+1, +2, +5) and 16 (+18 > 16: new entry); 16 covers 17; 40.
        assert_eq!(
            out[..n],
            [
                0x81,
                205,
                0,
                5,
                1,
                2,
                3,
                4,
                0xAA,
                0xBB,
                0xCC,
                0xDD, //
                0xFF,
                0xFE,
                0b0000_0000,
                0b0001_0011, //
                0x00,
                0x10,
                0x00,
                0x01, //
                0x00,
                0x28,
                0x00,
                0x00,
            ]
        );
        let mut all = packets(&out[..n]);
        let packet = all.next().unwrap().unwrap();
        assert!(all.next().is_none());
        let nack = GenericNack::parse(&packet).unwrap();
        assert_eq!(nack.sender, Ssrc(0x0102_0304));
        assert_eq!(nack.media, Ssrc(0xAABB_CCDD));
        assert_eq!(nack.lost().collect::<Vec<_>>(), lost);
    }

    #[test]
    fn compound_packets_and_rejections() {
        let mut out = [0u8; 64];
        let n = encode_nack(Ssrc(1), Ssrc(2), &[7], &mut out).unwrap();
        let m = encode_nack(Ssrc(1), Ssrc(3), &[9, 10], &mut out[n..]).unwrap();
        let media: Vec<u32> = packets(&out[..n + m])
            .map(|p| GenericNack::parse(&p.unwrap()).unwrap().media.0)
            .collect();
        assert_eq!(media, [2, 3]);
        // Truncated, wrong version, bad padding, other packet types.
        assert_eq!(packets(&out[..n - 1]).next(), Some(Err(DecodeError::Short)));
        let mut v1 = out;
        v1[0] = 0x41;
        assert_eq!(packets(&v1[..n]).next(), Some(Err(DecodeError::Version)));
        let mut padded = out;
        padded[0] |= 0x20;
        padded[n - 1] = 200;
        assert_eq!(
            packets(&padded[..n]).next(),
            Some(Err(DecodeError::Padding))
        );
        let receiver_report = [0x80, 201, 0, 1, 0, 0, 0, 1];
        let rr = packets(&receiver_report).next().unwrap().unwrap();
        assert_eq!(GenericNack::parse(&rr), Err(DecodeError::NotNack));
        assert_eq!(
            encode_nack(Ssrc(1), Ssrc(2), &[], &mut out),
            Err(EncodeError::Empty)
        );
        assert_eq!(
            encode_nack(Ssrc(1), Ssrc(2), &[1, 100], &mut out[..19]),
            Err(EncodeError::BufferTooSmall { needed: 20 })
        );
    }
}
