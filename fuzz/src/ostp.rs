//! OSTP media: RTP/OSTP packets with their NACK and relay-parity views, our parity payload, the
//! inbound stream's accept-or-count contract, and the clock-sync packet.

use proto::demux;
use proto::ostp::inbound::{self, Inbound};
use proto::ostp::packet::{self, Accept, Extension, Header, SendForm, Ssrc, StreamId};
use proto::ostp::{nack, parity, sync};

use super::assert_inside;

const ACCEPTS: [Accept; 3] = [
    Accept {
        plain_rtp: false,
        legacy_no_crc: false,
    },
    Accept {
        plain_rtp: true,
        legacy_no_crc: false,
    },
    Accept {
        plain_rtp: false,
        legacy_no_crc: true,
    },
];

/// OSTP/RTP media packets, the PT 126 NACK and relay parity views of them, and the demultiplexer.
pub fn ostp_packet(data: &[u8]) {
    let _ = demux::classify(data, false);
    let _ = demux::classify(data, true);
    for accept in ACCEPTS {
        let Ok(p) = packet::decode(data, accept) else {
            continue;
        };
        assert_inside(data, p.payload);
        if let Ok(n) = nack::RelayNack::from_packet(&p) {
            assert!(n.sequences().count() <= nack::MAX_ENTRIES);
        }
        if let Some(relay) = parity::RelayParity::from_packet(&p) {
            let mut out = vec![0u8; relay.xor.len()];
            assert_eq!(relay.recover([&data[..0]], &mut out), Ok(relay.xor.len()));
        }
        // Our canonical form (no CSRCs, the OSTP extension, CRC in padding) re-encodes byte
        // for byte. (A foreign extension is skipped on decode, so it cannot re-encode.)
        if p.integrity == packet::Integrity::Padding
            && data[0] == 0xB0
            && p.header.extension.is_some()
        {
            let mut out = vec![0u8; data.len()];
            let n = packet::encode(&p.header, p.payload, SendForm::Padding, &mut out).unwrap();
            assert_eq!(&out[..n], data);
        }
    }
}

/// Our parity payload: parse, then recovery with the input itself as a received packet.
pub fn parity(data: &[u8]) {
    let Ok(p) = parity::Parity::parse(data) else {
        return;
    };
    let mut out = vec![0u8; data.len()];
    let header = Header {
        ssrc: p.protected,
        seq: p.base_seq as u16,
        extension: Some(Extension {
            stream_id: StreamId::PRIMARY,
            seq_ext: (p.base_seq >> 16) as u16,
            media_timestamp: 0,
        }),
        ..Header::default()
    };
    let half = &data[..data.len() / 2];
    if let Ok(r) = p.recover([(header, half)], &mut out) {
        assert!(r.len <= out.len());
        assert!(p.covers(r.header.seq32()));
    }
}

/// The 25-byte clock-sync packet.
pub fn clock_sync(data: &[u8]) {
    if let Ok(p) = sync::Packet::decode(data) {
        assert_eq!(p.encode().as_slice(), data);
        let _ = p.offset_and_rtt(u64::from_le_bytes([data[1]; 8]));
    }
}

/// A sequence of datagrams (each prefixed by a one-byte length) into one inbound stream: every
/// datagram is accepted or counted as exactly one drop.
pub fn inbound(data: &[u8]) {
    let mut stream = Inbound::new(inbound::Config {
        payload_type: data.first().map_or(111, |b| b & 0x7F),
        ssrc: None,
        accept: ACCEPTS[1],
        resends: true,
    });
    let mut rest = data.get(1..).unwrap_or_default();
    let mut count = 0u64;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (datagram, tail) = tail.split_at(len);
        rest = tail;
        count += 1;
        if let Ok(a) = stream.receive(datagram) {
            assert_inside(datagram, a.payload);
        }
    }
    let s = stream.stats();
    assert_eq!(
        s.accepted + s.invalid + s.foreign + s.wrong_payload_type + s.duplicates,
        count
    );
}

/// Seeds of the OSTP targets: one stream's packets in every send form, a relay NACK and relay
/// parity over them, a parity payload over five of them, and a clock-sync request.
pub(crate) fn seeds(target: &str) -> Vec<Vec<u8>> {
    let header = Header {
        marker: true,
        payload_type: 111,
        seq: 0xFFFF,
        timestamp: 960_000,
        ssrc: Ssrc(0x1234_5678),
        extension: Some(Extension {
            stream_id: StreamId::PRIMARY,
            seq_ext: 1,
            media_timestamp: 960_000,
        }),
    };
    let payload: Vec<u8> = (0..40u8).collect();
    let media = |form, header: &Header| {
        let mut out = vec![0u8; 1200];
        let n = packet::encode(header, &payload, form, &mut out).unwrap();
        out.truncate(n);
        out
    };
    let mut builder = parity::Builder::new(header.ssrc);
    for i in 0..5u32 {
        let mut h = header;
        let seq = header.seq32().wrapping_add(i);
        h.seq = seq as u16;
        h.extension = Some(Extension {
            seq_ext: (seq >> 16) as u16,
            ..header.extension.unwrap()
        });
        builder.add(&h, &payload[..20 + i as usize]).unwrap();
    }
    match target {
        "ostp_packet" => {
            let mut out = vec![0u8; 1200];
            let n = nack::encode(Ssrc(1), &[1, 2, 3], &mut out).unwrap();
            let relay_nack = out[..n].to_vec();
            let n = builder.encode_relay_packet(&mut out).unwrap();
            let relay_parity = out[..n].to_vec();
            vec![
                media(SendForm::Padding, &header),
                media(SendForm::TrailerA, &header),
                media(SendForm::TrailerB, &header),
                media(SendForm::TrailerC, &header),
                media(
                    SendForm::Plain,
                    &Header {
                        extension: None,
                        ..header
                    },
                ),
                relay_nack,
                relay_parity,
            ]
        }
        "parity" => {
            let mut out = vec![0u8; 1200];
            let n = builder.write(&mut out).unwrap();
            vec![out[..n].to_vec()]
        }
        "clock_sync" => vec![
            sync::Packet {
                t1: 1_741_996_800_123_456_789,
                t2: 0,
                t3: 0,
            }
            .encode()
            .to_vec(),
        ],
        "inbound" => {
            let plain = media(
                SendForm::Plain,
                &Header {
                    extension: None,
                    ..header
                },
            );
            let mut seed = vec![111];
            for _ in 0..3 {
                seed.push(plain.len() as u8);
                seed.extend(&plain);
            }
            vec![seed]
        }
        _ => Vec::new(),
    }
}
