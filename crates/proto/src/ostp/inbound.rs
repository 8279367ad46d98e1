//! One inbound media stream before the jitter buffer: integrity, stream lock, payload type,
//! sequence and timestamp extension, duplicate suppression and counters.
//!
//! It accepts our OSTP packets and plain RTP from standard senders alike (GStreamer
//! `rtpopuspay`, ffmpeg: no extension, no CRC, random initial sequence and timestamp, marker on
//! the first packet only or on every packet). The marker bit is reported, never interpreted.
//! Fixed size; never allocates.

use super::packet::{self, Accept, Integrity, RESEND_PAYLOAD_TYPE, Ssrc};
use crate::seq::{Extender, SeqNo};

/// What a stream accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The announced payload type; others are counted and dropped.
    pub payload_type: u8,
    /// The announced SSRC, or `None` to lock onto the first valid one (spec anti-hijack rule).
    pub ssrc: Option<Ssrc>,
    /// Integrity forms besides checked OSTP (plain RTP for standard senders).
    pub accept: Accept,
    /// Accept resends marked with [`RESEND_PAYLOAD_TYPE`] (our peers); a standard sender's
    /// stream leaves it off.
    pub resends: bool,
}

/// One accepted packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival<'a> {
    /// Extended sequence number (from `seq_ext:seq` with the OSTP extension, else from the
    /// 16-bit field with rollover tracking).
    pub seq: SeqNo,
    /// RTP timestamp extended to 64 bits.
    pub timestamp: u64,
    /// Marker bit as sent (informational).
    pub marker: bool,
    /// How integrity was established.
    pub integrity: Integrity,
    /// Codec payload.
    pub payload: &'a [u8],
    /// The decoded header (parity repair XORs its fields), with the stream's payload type
    /// also on a resend.
    pub header: packet::Header,
    /// A resend (sent with [`RESEND_PAYLOAD_TYPE`]), not the original.
    pub resend: bool,
}

/// Why a datagram was dropped; each is also counted in [`Stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Dropped {
    /// Not a valid packet (see [`packet::DecodeError`]).
    #[error("malformed or failed integrity: {0}")]
    Invalid(packet::DecodeError),
    /// Another SSRC than the one this stream is locked onto.
    #[error("packet from a foreign SSRC")]
    ForeignSsrc,
    /// Not the announced payload type.
    #[error("unexpected payload type {0}")]
    PayloadType(u8),
    /// Already received (or older than the duplicate window).
    #[error("duplicate packet {}", .seq.0)]
    Duplicate {
        /// Its extended sequence number.
        seq: SeqNo,
        /// Whether this copy is a resend.
        resend: bool,
    },
}

/// Counters of one inbound stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets accepted.
    pub accepted: u64,
    /// Of those, packets with the marker bit.
    pub markers: u64,
    /// Packets that arrived after a higher sequence number.
    pub reordered: u64,
    /// Sequence numbers skipped over by forward jumps (provisional loss: late arrivals reduce it).
    pub gaps: u64,
    /// Drops: malformed or failed integrity.
    pub invalid: u64,
    /// Drops: foreign SSRC.
    pub foreign: u64,
    /// Drops: wrong payload type.
    pub wrong_payload_type: u64,
    /// Drops: duplicates.
    pub duplicates: u64,
}

/// Duplicates are detected exactly within this many sequence numbers of the highest; older
/// packets are treated as duplicates (they are far too late to play anyway).
pub const DUPLICATE_WINDOW: u64 = 64;

/// The inbound side of one stream.
#[derive(Clone, Debug)]
pub struct Inbound {
    config: Config,
    ssrc: Option<Ssrc>,
    seq16: Extender<16>,
    seq32: Extender<32>,
    timestamps: Extender<32>,
    highest: Option<u64>,
    /// Bit i set: `highest - i` received.
    recent: u64,
    stats: Stats,
}

impl Inbound {
    /// A stream that has received nothing yet.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            ssrc: config.ssrc,
            seq16: Extender::new(),
            seq32: Extender::new(),
            timestamps: Extender::new(),
            highest: None,
            recent: 0,
            stats: Stats::default(),
        }
    }

    /// The SSRC this stream is locked onto.
    pub fn ssrc(&self) -> Option<Ssrc> {
        self.ssrc
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Takes one datagram already classified as RTP.
    ///
    /// # Errors
    ///
    /// A [`Dropped`] saying why the datagram was counted and dropped.
    pub fn receive<'a>(&mut self, datagram: &'a [u8]) -> Result<Arrival<'a>, Dropped> {
        let packet = match packet::decode(datagram, self.config.accept) {
            Ok(packet) => packet,
            Err(e) => {
                self.stats.invalid += 1;
                return Err(Dropped::Invalid(e));
            }
        };
        let mut header = packet.header;
        let resend = self.config.resends && header.payload_type == RESEND_PAYLOAD_TYPE;
        if resend {
            header.payload_type = self.config.payload_type;
        }
        if header.payload_type != self.config.payload_type {
            self.stats.wrong_payload_type += 1;
            return Err(Dropped::PayloadType(header.payload_type));
        }
        match self.ssrc {
            Some(ssrc) if ssrc != header.ssrc => {
                self.stats.foreign += 1;
                return Err(Dropped::ForeignSsrc);
            }
            Some(_) => {}
            None => self.ssrc = Some(header.ssrc),
        }
        let seq = match header.extension {
            Some(_) => self.seq32.extend(header.seq32().into()),
            None => self.seq16.extend(header.seq.into()),
        };
        if !self.mark_received(seq.0) {
            self.stats.duplicates += 1;
            return Err(Dropped::Duplicate { seq, resend });
        }
        let timestamp = self.timestamps.extend(header.timestamp.into()).0;
        self.stats.accepted += 1;
        self.stats.markers += u64::from(header.marker);
        Ok(Arrival {
            seq,
            timestamp,
            marker: header.marker,
            integrity: packet.integrity,
            payload: packet.payload,
            header,
            resend,
        })
    }

    /// Records `seq`; false if it was already received or is older than the window.
    fn mark_received(&mut self, seq: u64) -> bool {
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            self.recent = 1;
            return true;
        };
        if seq > highest {
            let jump = seq - highest;
            self.stats.gaps += jump - 1;
            self.recent = if jump >= DUPLICATE_WINDOW {
                0
            } else {
                self.recent << jump
            } | 1;
            self.highest = Some(seq);
            return true;
        }
        let age = highest - seq;
        if age >= DUPLICATE_WINDOW || self.recent & 1 << age != 0 {
            return false;
        }
        self.recent |= 1 << age;
        self.stats.reordered += 1;
        self.stats.gaps = self.stats.gaps.saturating_sub(1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ostp::packet::{Extension, Header, SendForm, StreamId};

    fn plain(seq: u16, ts: u32, ssrc: u32, pt: u8) -> Vec<u8> {
        let header = Header {
            marker: false,
            payload_type: pt,
            seq,
            timestamp: ts,
            ssrc: Ssrc(ssrc),
            extension: None,
        };
        let mut out = [0u8; 64];
        let n = packet::encode(&header, &[1, 2, 3], SendForm::Plain, &mut out).unwrap();
        out[..n].to_vec()
    }

    fn config() -> Config {
        Config {
            payload_type: 111,
            ssrc: None,
            accept: Accept {
                plain_rtp: true,
                legacy_no_crc: false,
            },
            resends: false,
        }
    }

    #[test]
    fn standard_sender_with_random_start_wraps_cleanly() {
        let mut inbound = Inbound::new(config());
        let start = 0xFFF0u16;
        let ts0 = 0xFFFF_F000u32;
        let mut seqs = Vec::new();
        // 40 packets across both wraps; swap two to reorder, repeat one.
        let mut order: Vec<u16> = (0..40).collect();
        order.swap(20, 21);
        order.insert(30, 29);
        for i in order {
            let datagram = plain(
                start.wrapping_add(i),
                ts0.wrapping_add(960 * u32::from(i)),
                7,
                111,
            );
            match inbound.receive(&datagram) {
                Ok(a) => seqs.push((a.seq.0, a.timestamp)),
                Err(Dropped::Duplicate { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        let expected: Vec<(u64, u64)> = (0..40u64)
            .map(|i| (0xFFF0 + i, 0xFFFF_F000 + 960 * i))
            .collect();
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expected);
        let stats = inbound.stats();
        assert_eq!(
            (
                stats.accepted,
                stats.duplicates,
                stats.reordered,
                stats.gaps
            ),
            (40, 1, 1, 0)
        );
    }

    #[test]
    fn locks_onto_one_ssrc_and_payload_type() {
        let mut inbound = Inbound::new(config());
        assert_eq!(
            inbound.receive(&plain(1, 0, 9, 96)),
            Err(Dropped::PayloadType(96))
        );
        assert!(inbound.receive(&plain(1, 0, 7, 111)).is_ok());
        assert_eq!(inbound.ssrc(), Some(Ssrc(7)));
        assert_eq!(
            inbound.receive(&plain(2, 0, 8, 111)),
            Err(Dropped::ForeignSsrc)
        );
        assert!(matches!(
            inbound.receive(&[0x80, 111]),
            Err(Dropped::Invalid(_))
        ));
        assert!(inbound.receive(&plain(5, 0, 7, 111)).is_ok());
        let stats = inbound.stats();
        assert_eq!(
            (
                stats.foreign,
                stats.wrong_payload_type,
                stats.invalid,
                stats.gaps
            ),
            (1, 1, 1, 3)
        );
        // Far older than the duplicate window: dropped as a duplicate.
        for seq in 6..80 {
            inbound.receive(&plain(seq, 0, 7, 111)).unwrap();
        }
        assert_eq!(
            inbound.receive(&plain(3, 0, 7, 111)),
            Err(Dropped::Duplicate {
                seq: SeqNo(3),
                resend: false
            })
        );
    }

    #[test]
    fn ostp_packets_use_the_32_bit_sequence() {
        let mut inbound = Inbound::new(Config {
            accept: Accept::default(),
            ..config()
        });
        let mut out = [0u8; 64];
        for seq32 in [0x0004_FFFFu32, 0x0005_0000] {
            let header = Header {
                payload_type: 111,
                seq: seq32 as u16,
                ssrc: Ssrc(1),
                extension: Some(Extension {
                    stream_id: StreamId::PRIMARY,
                    seq_ext: (seq32 >> 16) as u16,
                    media_timestamp: 0,
                }),
                ..Header::default()
            };
            let n = packet::encode(&header, &[0], SendForm::Padding, &mut out).unwrap();
            let arrival = inbound.receive(&out[..n]).unwrap();
            assert_eq!(arrival.seq, SeqNo(u64::from(seq32)));
            assert_eq!(arrival.integrity, Integrity::Padding);
        }
        // Without plain RTP allowed, a CRC-less packet is invalid.
        assert!(matches!(
            inbound.receive(&plain(1, 0, 1, 111)),
            Err(Dropped::Invalid(packet::DecodeError::Integrity))
        ));
    }

    #[test]
    fn a_marked_resend_is_told_from_its_original() {
        let ours = |seq: u16, pt: u8| {
            let header = Header {
                marker: false,
                payload_type: pt,
                seq,
                timestamp: u32::from(seq) * 120,
                ssrc: Ssrc(7),
                extension: Some(Extension {
                    stream_id: StreamId(1),
                    seq_ext: 0,
                    media_timestamp: 0,
                }),
            };
            let mut out = [0u8; 64];
            let n = packet::encode(&header, &[9, 9], SendForm::Padding, &mut out).unwrap();
            out[..n].to_vec()
        };
        let original = ours(2, 111);
        let mut resend = [0u8; 64];
        let n = packet::encode_resend(&original, &mut resend).unwrap();
        let resend = &resend[..n];
        assert_eq!(resend[1] & 0x7F, RESEND_PAYLOAD_TYPE);

        let mut stream = Inbound::new(Config {
            resends: true,
            ..config()
        });
        assert!(!stream.receive(&ours(1, 111)).unwrap().resend);
        let arrival = stream.receive(resend).unwrap();
        assert!(arrival.resend);
        assert_eq!((arrival.seq, arrival.header.payload_type), (SeqNo(2), 111));
        assert_eq!(arrival.payload, &[9, 9]);
        assert_eq!(
            stream.receive(&original),
            Err(Dropped::Duplicate {
                seq: SeqNo(2),
                resend: false
            })
        );
        // A stream of a standard sender does not take the marked payload type.
        let mut plain = Inbound::new(config());
        assert_eq!(
            plain.receive(resend),
            Err(Dropped::PayloadType(RESEND_PAYLOAD_TYPE))
        );
    }
}
