//! The relay dialect's NACK: an OSTP packet with PT 126 listing up to 32 missing 16-bit sequence
//! numbers (spec §6.9). Sent only to relay-dialect peers; between our own peers NACK is RTCP
//! ([`crate::rtcp`]).
//!
//! Layout: RTP header PT 126, seq 1, timestamp 0, SSRC = the requester's; OSTP extension all
//! zero; payload = u16 big-endian sequence numbers; variant-A trailer (the relay strips the last
//! four bytes unchecked, so this form works there too).

use super::packet::{self, Extension, Header, Packet, SendForm, Ssrc};

/// Payload type of the relay-dialect NACK.
pub const PAYLOAD_TYPE: u8 = 126;
/// Most sequence numbers one NACK may name (spec limit, also the relay's retransmit cap).
pub const MAX_ENTRIES: usize = 32;

/// Why a PT 126 NACK was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NackError {
    /// The packet is not PT 126.
    #[error("not a PT 126 NACK")]
    NotNack,
    /// Odd payload length, no entries, or more than 32.
    #[error("NACK payload must hold 1 to 32 u16 sequence numbers")]
    Entries,
    /// The output buffer is too small (encoding).
    #[error("output buffer too small for the NACK")]
    BufferTooSmall,
}

/// A received relay-dialect NACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayNack<'a> {
    /// The requester.
    pub requester: Ssrc,
    entries: &'a [u8],
}

impl<'a> RelayNack<'a> {
    /// Reads a NACK from a decoded OSTP packet.
    ///
    /// # Errors
    ///
    /// [`NackError::NotNack`] for other payload types, [`NackError::Entries`] for a bad list.
    pub fn from_packet(packet: &Packet<'a>) -> Result<Self, NackError> {
        if packet.header.payload_type != PAYLOAD_TYPE {
            return Err(NackError::NotNack);
        }
        let entries = packet.payload;
        if entries.is_empty() || !entries.len().is_multiple_of(2) || entries.len() > 2 * MAX_ENTRIES
        {
            return Err(NackError::Entries);
        }
        Ok(Self {
            requester: packet.header.ssrc,
            entries,
        })
    }

    /// The requested 16-bit sequence numbers.
    pub fn sequences(&self) -> impl Iterator<Item = u16> + 'a {
        self.entries
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
    }
}

/// Writes a PT 126 NACK from `requester` naming `sequences` (1 to 32 of them).
///
/// # Errors
///
/// [`NackError::Entries`] for 0 or more than 32 entries, [`NackError::BufferTooSmall`].
pub fn encode(requester: Ssrc, sequences: &[u16], out: &mut [u8]) -> Result<usize, NackError> {
    if sequences.is_empty() || sequences.len() > MAX_ENTRIES {
        return Err(NackError::Entries);
    }
    let mut payload = [0u8; 2 * MAX_ENTRIES];
    for (slot, seq) in payload.chunks_exact_mut(2).zip(sequences) {
        slot.copy_from_slice(&seq.to_be_bytes());
    }
    let header = Header {
        marker: false,
        payload_type: PAYLOAD_TYPE,
        seq: 1,
        timestamp: 0,
        ssrc: requester,
        extension: Some(Extension::default()),
    };
    packet::encode(
        &header,
        &payload[..2 * sequences.len()],
        SendForm::TrailerA,
        out,
    )
    .map_err(|_| NackError::BufferTooSmall)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ostp::packet::{Accept, Integrity, decode};

    #[test]
    fn relay_nack_layout_and_round_trip() {
        let mut out = [0u8; 128];
        let n = encode(Ssrc(0xDEAD_BEEF), &[0xFFFF, 2, 3], &mut out).unwrap();
        assert_eq!(
            out[..24],
            [
                0x90, 126, 0, 1, 0, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF, 0x4F, 0x53, 0, 2, 0, 0, 0, 0,
                0, 0, 0, 0
            ]
        );
        assert_eq!(out[24..30], [0xFF, 0xFF, 0, 2, 0, 3]);
        assert_eq!(n, 34);
        let crc = crc32fast::hash(&out[..30]);
        assert_eq!(out[30..34], crc.to_le_bytes(), "variant-A trailer");
        let packet = decode(&out[..n], Accept::default()).unwrap();
        assert_eq!(packet.integrity, Integrity::TrailerA);
        let nack = RelayNack::from_packet(&packet).unwrap();
        assert_eq!(nack.requester, Ssrc(0xDEAD_BEEF));
        assert_eq!(nack.sequences().collect::<Vec<_>>(), [0xFFFF, 2, 3]);
    }

    #[test]
    fn entry_limits() {
        let mut out = [0u8; 256];
        assert_eq!(encode(Ssrc(1), &[], &mut out), Err(NackError::Entries));
        assert_eq!(encode(Ssrc(1), &[0; 33], &mut out), Err(NackError::Entries));
        assert!(encode(Ssrc(1), &[0; 32], &mut out).is_ok());
        assert_eq!(
            encode(Ssrc(1), &[0; 32], &mut out[..40]),
            Err(NackError::BufferTooSmall)
        );
        let odd = Packet {
            header: Header {
                payload_type: PAYLOAD_TYPE,
                ..Header::default()
            },
            payload: &[1, 2, 3],
            integrity: Integrity::TrailerA,
        };
        assert_eq!(RelayNack::from_packet(&odd), Err(NackError::Entries));
        let media = Packet {
            header: Header {
                payload_type: 96,
                ..Header::default()
            },
            ..odd
        };
        assert_eq!(RelayNack::from_packet(&media), Err(NackError::NotNack));
    }
}
