//! XOR parity: one parity packet per group of N consecutive media packets recovers any single
//! loss in the group without a round trip.
//!
//! **Our form** (`docs/protocol.md`, "Parity"): the parity packet is an OSTP packet on its own
//! SSRC (announced in StreamAnnounce next to the media SSRC it protects) with its own contiguous
//! sequence numbers, so standard receivers of the media stream see no sequence errors, and the CRC
//! in padding as for media. Its payload:
//!
//! | Off | Size | Field |
//! |---|---|---|
//! | 0 | 4 | protected media SSRC |
//! | 4 | 4 | base sequence: 32-bit sequence of the group's first packet |
//! | 8 | 1 | N: packets in the group (1..=16), consecutive from base |
//! | 9 | 1 | XOR of the protected packets' M/PT bytes |
//! | 10 | 2 | XOR of their payload lengths |
//! | 12 | 4 | XOR of their RTP timestamps |
//! | 16 | 4 | XOR of their media timestamps (0 without extension) |
//! | 20 | L | XOR of their payloads, each zero-padded to the longest (L) |
//!
//! All big-endian. The length and timestamp XORs recover variable-size packets (Opus VBR), not
//! only constant-size ones.
//!
//! **Relay dialect** (PT 127, stream_id `0xFFFF`, deployed relay): seq = the first protected
//! packet's 16-bit seq, timestamp and SSRC of the last, seq_ext 0, media_ts 0, variant-B trailer;
//! payload = the XOR of the N payloads only, so it recovers constant-size payloads only.

use super::MAX_DATAGRAM;
use super::packet::{self, Extension, Header, Packet, SendForm, Ssrc, StreamId};

/// Bytes of our parity payload before the XOR of the payloads.
pub const HEADER_LEN: usize = 20;
/// Most packets one parity packet protects.
pub const MAX_GROUP: u8 = 16;
/// Largest protected payload: the parity packet (canonical OSTP overhead 29 B + 20 B) must itself
/// fit in one datagram.
pub const MAX_PROTECTED_PAYLOAD: usize = MAX_DATAGRAM - 29 - HEADER_LEN;
/// Payload type of relay-dialect parity packets (and ours by default).
pub const PAYLOAD_TYPE: u8 = 127;

/// Why parity could not be built, parsed or used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParityError {
    /// Shorter than the parity header, or N outside 1..=16.
    #[error("malformed parity payload")]
    Malformed,
    /// A packet of another SSRC, or not the next consecutive sequence number.
    #[error("packet does not belong to this parity group")]
    NotInGroup,
    /// The group already holds [`MAX_GROUP`] packets.
    #[error("parity group is full")]
    GroupFull,
    /// Payload larger than [`MAX_PROTECTED_PAYLOAD`].
    #[error("payload too large to protect")]
    TooLarge,
    /// The same packet was given twice.
    #[error("duplicate packet in parity group")]
    Duplicate,
    /// Not exactly one packet of the group is missing.
    #[error("parity recovers exactly one missing packet; {missing} are missing")]
    Unrecoverable {
        /// How many are missing.
        missing: u8,
    },
    /// The output buffer is too small.
    #[error("output buffer too small")]
    BufferTooSmall,
    /// The group is empty.
    #[error("empty parity group")]
    Empty,
}

/// Accumulates a group of media packets into parity. Fixed size, never allocates.
#[derive(Clone, Debug)]
pub struct Builder {
    protected: Ssrc,
    base_seq: u32,
    count: u8,
    marker_pt: u8,
    length: u16,
    timestamp: u32,
    media_timestamp: u32,
    last_seq16: u16,
    last_timestamp: u32,
    longest: usize,
    xor: [u8; MAX_PROTECTED_PAYLOAD],
}

impl Builder {
    /// An empty group protecting `protected`.
    pub fn new(protected: Ssrc) -> Self {
        Self {
            protected,
            base_seq: 0,
            count: 0,
            marker_pt: 0,
            length: 0,
            timestamp: 0,
            media_timestamp: 0,
            last_seq16: 0,
            last_timestamp: 0,
            longest: 0,
            xor: [0; MAX_PROTECTED_PAYLOAD],
        }
    }

    /// Packets in the group so far.
    pub fn len(&self) -> u8 {
        self.count
    }

    /// No packet yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Starts a new group (same protected SSRC).
    pub fn clear(&mut self) {
        let longest = self.longest;
        self.xor[..longest].fill(0);
        *self = Self {
            xor: self.xor,
            ..Self::new(self.protected)
        };
    }

    /// Adds the next media packet (the first sets the base sequence).
    ///
    /// # Errors
    ///
    /// [`ParityError::NotInGroup`] for another SSRC or a non-consecutive sequence,
    /// [`ParityError::GroupFull`], [`ParityError::TooLarge`].
    pub fn add(&mut self, header: &Header, payload: &[u8]) -> Result<(), ParityError> {
        if header.ssrc != self.protected {
            return Err(ParityError::NotInGroup);
        }
        if self.count == MAX_GROUP {
            return Err(ParityError::GroupFull);
        }
        if payload.len() > MAX_PROTECTED_PAYLOAD {
            return Err(ParityError::TooLarge);
        }
        let seq = header.seq32();
        if self.count == 0 {
            self.base_seq = seq;
        } else if seq != self.base_seq.wrapping_add(u32::from(self.count)) {
            return Err(ParityError::NotInGroup);
        }
        self.count += 1;
        self.marker_pt ^= marker_pt(header);
        self.length ^= payload.len() as u16;
        self.timestamp ^= header.timestamp;
        self.media_timestamp ^= header.extension.map_or(0, |e| e.media_timestamp);
        self.last_seq16 = header.seq;
        self.last_timestamp = header.timestamp;
        self.longest = self.longest.max(payload.len());
        xor_into(&mut self.xor, payload);
        Ok(())
    }

    /// Writes our parity payload; returns its length.
    ///
    /// # Errors
    ///
    /// [`ParityError::Empty`], [`ParityError::BufferTooSmall`].
    pub fn write(&self, out: &mut [u8]) -> Result<usize, ParityError> {
        if self.count == 0 {
            return Err(ParityError::Empty);
        }
        let len = HEADER_LEN + self.longest;
        let out = out.get_mut(..len).ok_or(ParityError::BufferTooSmall)?;
        out[0..4].copy_from_slice(&self.protected.0.to_be_bytes());
        out[4..8].copy_from_slice(&self.base_seq.to_be_bytes());
        out[8] = self.count;
        out[9] = self.marker_pt;
        out[10..12].copy_from_slice(&self.length.to_be_bytes());
        out[12..16].copy_from_slice(&self.timestamp.to_be_bytes());
        out[16..20].copy_from_slice(&self.media_timestamp.to_be_bytes());
        out[HEADER_LEN..].copy_from_slice(&self.xor[..self.longest]);
        Ok(len)
    }

    /// Writes the whole parity packet in our form: `header` is the parity stream's (its SSRC,
    /// payload type and sequence); its extension's stream_id should be [`StreamId::PARITY`].
    ///
    /// # Errors
    ///
    /// As [`Builder::write`].
    pub fn encode_packet(&self, header: &Header, out: &mut [u8]) -> Result<usize, ParityError> {
        let mut payload = [0u8; HEADER_LEN + MAX_PROTECTED_PAYLOAD];
        let len = self.write(&mut payload)?;
        packet::encode(header, &payload[..len], SendForm::Padding, out)
            .map_err(|_| ParityError::BufferTooSmall)
    }

    /// Writes the group as a relay-dialect parity packet (PT 127, stream_id 0xFFFF, variant B).
    ///
    /// # Errors
    ///
    /// [`ParityError::Empty`], [`ParityError::BufferTooSmall`].
    pub fn encode_relay_packet(&self, out: &mut [u8]) -> Result<usize, ParityError> {
        if self.count == 0 {
            return Err(ParityError::Empty);
        }
        let header = Header {
            marker: false,
            payload_type: PAYLOAD_TYPE,
            seq: self.base_seq as u16,
            timestamp: self.last_timestamp,
            ssrc: self.protected,
            extension: Some(Extension {
                stream_id: StreamId::PARITY,
                seq_ext: 0,
                media_timestamp: 0,
            }),
        };
        packet::encode(&header, &self.xor[..self.longest], SendForm::TrailerB, out)
            .map_err(|_| ParityError::BufferTooSmall)
    }
}

/// A received parity payload in our form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parity<'a> {
    /// The protected media SSRC.
    pub protected: Ssrc,
    /// 32-bit sequence of the group's first packet.
    pub base_seq: u32,
    /// Packets in the group.
    pub count: u8,
    marker_pt: u8,
    length: u16,
    timestamp: u32,
    media_timestamp: u32,
    xor: &'a [u8],
}

/// A packet rebuilt from parity: its header and the length of its payload in the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// The lost packet's header (extension present if the group's packets had one).
    pub header: Header,
    /// Payload bytes written to the output buffer.
    pub len: usize,
}

impl<'a> Parity<'a> {
    /// Parses our parity payload.
    ///
    /// # Errors
    ///
    /// [`ParityError::Malformed`].
    pub fn parse(payload: &'a [u8]) -> Result<Self, ParityError> {
        let head = payload.get(..HEADER_LEN).ok_or(ParityError::Malformed)?;
        let count = head[8];
        if count == 0 || count > MAX_GROUP {
            return Err(ParityError::Malformed);
        }
        let be32 =
            |at: usize| u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        Ok(Self {
            protected: Ssrc(be32(0)),
            base_seq: be32(4),
            count,
            marker_pt: head[9],
            length: u16::from_be_bytes([head[10], head[11]]),
            timestamp: be32(12),
            media_timestamp: be32(16),
            xor: &payload[HEADER_LEN..],
        })
    }

    /// Whether the 32-bit sequence `seq` is in this group.
    pub fn covers(&self, seq: u32) -> bool {
        seq.wrapping_sub(self.base_seq) < u32::from(self.count)
    }

    /// Rebuilds the single missing packet of the group from the others, writing its payload to
    /// `out`.
    ///
    /// # Errors
    ///
    /// [`ParityError::NotInGroup`] or [`ParityError::Duplicate`] for a wrong input packet,
    /// [`ParityError::Unrecoverable`] unless exactly one is missing, [`ParityError::Malformed`]
    /// if the XORed length exceeds the parity data, [`ParityError::BufferTooSmall`].
    pub fn recover<'p>(
        &self,
        received: impl IntoIterator<Item = (Header, &'p [u8])>,
        out: &mut [u8],
    ) -> Result<Recovered, ParityError> {
        let out = out
            .get_mut(..self.xor.len())
            .ok_or(ParityError::BufferTooSmall)?;
        out.copy_from_slice(self.xor);
        let mut seen = 0u16;
        let mut marker_pt_xor = self.marker_pt;
        let mut length = self.length;
        let mut timestamp = self.timestamp;
        let mut media_timestamp = self.media_timestamp;
        let mut stream_id = None;
        for (header, payload) in received {
            let index = header.seq32().wrapping_sub(self.base_seq);
            if header.ssrc != self.protected || index >= u32::from(self.count) {
                return Err(ParityError::NotInGroup);
            }
            if seen & 1 << index != 0 {
                return Err(ParityError::Duplicate);
            }
            if payload.len() > out.len() {
                return Err(ParityError::NotInGroup);
            }
            seen |= 1 << index;
            marker_pt_xor ^= marker_pt(&header);
            length ^= payload.len() as u16;
            timestamp ^= header.timestamp;
            media_timestamp ^= header.extension.map_or(0, |e| e.media_timestamp);
            stream_id = stream_id.or(header.extension.map(|e| e.stream_id));
            xor_into(out, payload);
        }
        let all = (1u32 << self.count) - 1;
        let missing = all & !u32::from(seen);
        if missing.count_ones() != 1 {
            return Err(ParityError::Unrecoverable {
                missing: missing.count_ones() as u8,
            });
        }
        let len = usize::from(length);
        if len > out.len() {
            return Err(ParityError::Malformed);
        }
        let seq = self.base_seq.wrapping_add(missing.trailing_zeros());
        let header = Header {
            marker: marker_pt_xor & 0x80 != 0,
            payload_type: marker_pt_xor & 0x7F,
            seq: seq as u16,
            timestamp,
            ssrc: self.protected,
            extension: stream_id.map(|stream_id| Extension {
                stream_id,
                seq_ext: (seq >> 16) as u16,
                media_timestamp,
            }),
        };
        Ok(Recovered { header, len })
    }
}

/// A received relay-dialect parity packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayParity<'a> {
    /// 16-bit sequence of the first protected packet.
    pub base_seq: u16,
    /// The protected stream's SSRC.
    pub ssrc: Ssrc,
    /// XOR of the protected payloads.
    pub xor: &'a [u8],
}

impl<'a> RelayParity<'a> {
    /// Recognises a relay-dialect parity packet: PT 127 with stream_id `0xFFFF`. (PT 127 with any
    /// other stream_id is a relay control frame, not parity.)
    pub fn from_packet(packet: &Packet<'a>) -> Option<Self> {
        let ext = packet.header.extension?;
        (packet.header.payload_type == PAYLOAD_TYPE && ext.stream_id == StreamId::PARITY).then_some(
            Self {
                base_seq: packet.header.seq,
                ssrc: packet.header.ssrc,
                xor: packet.payload,
            },
        )
    }

    /// Rebuilds the missing payload from the other N − 1 payloads of the group. Its length is
    /// the parity's (the dialect protects constant-size payloads only).
    ///
    /// # Errors
    ///
    /// [`ParityError::BufferTooSmall`], or [`ParityError::NotInGroup`] for a payload longer than
    /// the parity.
    pub fn recover<'p>(
        &self,
        others: impl IntoIterator<Item = &'p [u8]>,
        out: &mut [u8],
    ) -> Result<usize, ParityError> {
        let out = out
            .get_mut(..self.xor.len())
            .ok_or(ParityError::BufferTooSmall)?;
        out.copy_from_slice(self.xor);
        for payload in others {
            if payload.len() > out.len() {
                return Err(ParityError::NotInGroup);
            }
            xor_into(out, payload);
        }
        Ok(out.len())
    }
}

fn marker_pt(header: &Header) -> u8 {
    u8::from(header.marker) << 7 | header.payload_type
}

fn xor_into(acc: &mut [u8], data: &[u8]) {
    for (a, d) in acc.iter_mut().zip(data) {
        *a ^= d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ostp::packet::{Accept, Integrity, decode};

    fn media(seq32: u32, len: usize) -> (Header, Vec<u8>) {
        let header = Header {
            marker: seq32 == 0x0001_FFFE,
            payload_type: 111,
            seq: seq32 as u16,
            timestamp: 1000 + seq32.wrapping_mul(120),
            ssrc: Ssrc(0xA1B2_C3D4),
            extension: Some(Extension {
                stream_id: StreamId::PRIMARY,
                seq_ext: (seq32 >> 16) as u16,
                media_timestamp: seq32.wrapping_mul(120),
            }),
        };
        let payload = (0..len).map(|i| (i as u32 * 7 + seq32) as u8).collect();
        (header, payload)
    }

    #[test]
    fn any_single_loss_of_a_vbr_group_is_rebuilt_exactly() {
        // Five packets across a 16-bit wrap, different lengths (Opus VBR).
        let group: Vec<_> = (0..5u32)
            .map(|i| media(0x0001_FFFE + i, 40 + 13 * i as usize))
            .collect();
        let mut builder = Builder::new(Ssrc(0xA1B2_C3D4));
        for (h, p) in &group {
            builder.add(h, p).unwrap();
        }
        let parity_header = Header {
            payload_type: PAYLOAD_TYPE,
            seq: 77,
            ssrc: Ssrc(0x0BAD_F00D),
            extension: Some(Extension {
                stream_id: StreamId::PARITY,
                ..Extension::default()
            }),
            ..Header::default()
        };
        let mut wire = [0u8; MAX_DATAGRAM];
        let n = builder.encode_packet(&parity_header, &mut wire).unwrap();
        let packet = decode(&wire[..n], Accept::default()).unwrap();
        assert_eq!(packet.integrity, Integrity::Padding);
        assert_eq!(packet.header.ssrc, Ssrc(0x0BAD_F00D));
        let parity = Parity::parse(packet.payload).unwrap();
        assert_eq!(parity.protected, Ssrc(0xA1B2_C3D4));
        assert_eq!(parity.base_seq, 0x0001_FFFE);
        assert_eq!(parity.count, 5);
        for lost in 0..5 {
            let others = group
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != lost)
                .map(|(_, (h, p))| (*h, p.as_slice()));
            let mut out = [0u8; MAX_PROTECTED_PAYLOAD];
            let rebuilt = parity.recover(others, &mut out).unwrap();
            assert_eq!(rebuilt.header, group[lost].0, "header of packet {lost}");
            assert_eq!(
                &out[..rebuilt.len],
                group[lost].1.as_slice(),
                "payload of {lost}"
            );
        }
        // Two missing, a stranger, a duplicate.
        let mut out = [0u8; MAX_PROTECTED_PAYLOAD];
        let three = group[..3].iter().map(|(h, p)| (*h, p.as_slice()));
        assert_eq!(
            parity.recover(three, &mut out),
            Err(ParityError::Unrecoverable { missing: 2 })
        );
        let (stranger, bytes) = media(0x0002_0010, 40);
        assert_eq!(
            parity.recover([(stranger, bytes.as_slice())], &mut out),
            Err(ParityError::NotInGroup)
        );
        let twice = [group[0].clone(), group[0].clone()];
        assert_eq!(
            parity.recover(twice.iter().map(|(h, p)| (*h, p.as_slice())), &mut out),
            Err(ParityError::Duplicate)
        );
    }

    #[test]
    fn builder_enforces_consecutive_packets_of_one_stream() {
        let mut builder = Builder::new(Ssrc(0xA1B2_C3D4));
        let (h0, p0) = media(10, 20);
        let (h2, p2) = media(12, 20);
        builder.add(&h0, &p0).unwrap();
        assert_eq!(builder.add(&h2, &p2), Err(ParityError::NotInGroup));
        let other = Header {
            ssrc: Ssrc(1),
            ..media(11, 20).0
        };
        assert_eq!(builder.add(&other, &p0), Err(ParityError::NotInGroup));
        assert_eq!(
            builder.add(&media(11, 2000).0, &[0; 2000]),
            Err(ParityError::TooLarge)
        );
        for seq in 11..26 {
            let (h, p) = media(seq, 20);
            builder.add(&h, &p).unwrap();
        }
        assert_eq!(builder.len(), 16);
        let (h, p) = media(26, 20);
        assert_eq!(builder.add(&h, &p), Err(ParityError::GroupFull));
        builder.clear();
        assert!(builder.is_empty());
        assert_eq!(builder.write(&mut [0; 64]), Err(ParityError::Empty));
        builder.add(&h, &p).unwrap();
        let mut out = [0u8; 64];
        let n = builder.write(&mut out).unwrap();
        assert_eq!(
            &out[HEADER_LEN..n],
            p.as_slice(),
            "cleared state does not leak"
        );
        assert_eq!(Parity::parse(&out[..19]), Err(ParityError::Malformed));
        out[8] = 17;
        assert_eq!(Parity::parse(&out[..n]), Err(ParityError::Malformed));
    }

    #[test]
    fn relay_dialect_parity() {
        let group: Vec<_> = (0..5u32).map(|i| media(100 + i, 480)).collect();
        let mut builder = Builder::new(Ssrc(0xA1B2_C3D4));
        for (h, p) in &group {
            builder.add(h, p).unwrap();
        }
        let mut wire = [0u8; MAX_DATAGRAM];
        let n = builder.encode_relay_packet(&mut wire).unwrap();
        assert_eq!(wire[0], 0x90);
        assert_eq!(wire[1], 127);
        assert_eq!(wire[2..4], 100u16.to_be_bytes(), "seq = first protected");
        assert_eq!(
            wire[4..8],
            group[4].0.timestamp.to_be_bytes(),
            "ts of the last"
        );
        assert_eq!(wire[16..24], [0xFF, 0xFF, 0, 0, 0, 0, 0, 0]);
        let packet = decode(&wire[..n], Accept::default()).unwrap();
        assert_eq!(packet.integrity, Integrity::TrailerB);
        let parity = RelayParity::from_packet(&packet).unwrap();
        assert_eq!(parity.base_seq, 100);
        let mut out = [0u8; 480];
        let others = [0, 1, 3, 4].map(|i| group[i].1.as_slice());
        assert_eq!(parity.recover(others, &mut out), Ok(480));
        assert_eq!(out.as_slice(), group[2].1.as_slice());
        let control = Packet {
            header: Header {
                extension: Some(Extension::default()),
                ..packet.header
            },
            ..packet
        };
        assert_eq!(
            RelayParity::from_packet(&control),
            None,
            "PT 127 control frame"
        );
    }
}
