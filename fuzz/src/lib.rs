//! Fuzz bodies for every decoder of untrusted input, and the seed inputs of their corpora.
//!
//! Each body feeds the bytes to a decoder and asserts what must hold for any input: no panic,
//! views stay inside the input, counters add up, and whatever decodes re-encodes to bytes that
//! decode to the same thing. cargo-fuzz drives them from `fuzz_targets/`; the normal test suite
//! (`tests/it/robustness.rs`) drives them on stable over the corpora and seeded mutations.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use codec::{opus, pcm};
use proto::connect;
use proto::demux::{self, Kind};
use proto::osp;
use proto::ostp::inbound::{self, Inbound};
use proto::ostp::packet::{self, Accept, Extension, Header, SendForm, Ssrc, StreamId};
use proto::ostp::{nack, parity, sync};
use proto::rendezvous::{self, Command, Reply};
use proto::rtcp;

/// Effect-chain presets (reference JSON from files, the plugin state and the room): any text
/// is a preset or a clear error, and a preset writes back to JSON that reads as itself.
pub fn preset(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(parsed) = dsp::chain::Preset::from_json(&text) {
        let again =
            dsp::chain::Preset::from_json(&parsed.to_json()).expect("a preset's own JSON parses");
        assert_eq!(again.units, parsed.units);
    }
}

/// A fuzz body: takes arbitrary bytes, panics only on a bug.
pub type Body = fn(&[u8]);

/// Every target, by name (the corpus directory names).
pub const TARGETS: &[(&str, Body)] = &[
    ("ostp_packet", ostp_packet),
    ("rtcp", rtcp),
    ("parity", parity),
    ("osp", osp),
    ("clock_sync", clock_sync),
    ("inbound", inbound),
    ("pcm", pcm),
    ("opus", opus),
    ("preset", preset),
    ("rendezvous", rendezvous),
    ("stun", stun),
];

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

fn assert_inside(outer: &[u8], inner: &[u8]) {
    let start = inner.as_ptr() as usize;
    let base = outer.as_ptr() as usize;
    assert!(inner.is_empty() || (start >= base && start + inner.len() <= base + outer.len()));
}

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

/// RTCP compound packets and generic NACKs.
pub fn rtcp(data: &[u8]) {
    let mut total = 0;
    for packet in rtcp::packets(data) {
        let Ok(packet) = packet else { break };
        assert_inside(data, packet.body);
        total += packet.body.len() + 4;
        if let Ok(nack) = rtcp::GenericNack::parse(&packet) {
            let lost: Vec<u16> = nack.lost().collect();
            assert!(lost.len() <= 17 * packet.body.len() / 4);
        }
    }
    assert!(total <= data.len());
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

/// OSP frames: whatever decodes re-encodes to a frame that decodes and re-encodes identically.
pub fn osp(data: &[u8]) {
    let _ = osp::open(data);
    let Ok(frame) = osp::decode(data) else {
        return;
    };
    let mut first = vec![0u8; 65_536 + osp::OVERHEAD];
    let n = osp::encode(frame.header, &frame.message, &mut first).unwrap();
    let again = osp::decode(&first[..n]).unwrap();
    let mut second = vec![0u8; n];
    let m = osp::encode(again.header, &again.message, &mut second).unwrap();
    assert_eq!(first[..n], second[..m]);
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

/// PCM payloads in every format we accept.
pub fn pcm(data: &[u8]) {
    let mut out = vec![0f32; data.len()];
    for format in [
        pcm::Format::L16,
        pcm::Format::L24,
        pcm::Format::S24In32Le,
        pcm::Format::S24PackedLe,
        pcm::Format::F32Le,
    ] {
        if let Ok(n) = pcm::decode(format, data, &mut out) {
            assert!(n <= out.len());
            // Nothing a sender does may put NaN, infinities or overs into the mix.
            assert!(
                out[..n]
                    .iter()
                    .all(|x| x.is_finite() && x.abs() <= 1.0 + 1e-6)
            );
        }
    }
}

/// Opus packets into a stereo decoder.
pub fn opus(data: &[u8]) {
    let mut decoder = opus::Decoder::new(2).unwrap();
    let mut out = vec![0f32; 2 * 5760];
    if let Ok(n) = decoder.decode(data, &mut out) {
        assert!(n <= 5760);
    }
}

/// The relay text dialect in both directions, then the room server and a rendezvous client fed
/// the same bytes: whatever parses writes back to text that parses as itself, and neither
/// state machine panics or answers what it must not.
pub fn rendezvous(data: &[u8]) {
    if let Ok(command) = Command::parse(data) {
        let mut out = Vec::new();
        command.write(&mut out);
        assert_eq!(Command::parse(&out), Ok(command));
        assert!(out.len() <= rendezvous::MAX_TEXT);
    }
    if let Ok(reply) = Reply::parse(data) {
        let mut out = Vec::new();
        reply.write(&mut out);
        assert_eq!(Reply::parse(&out), Ok(reply));
    }
    let now = proto::time::Instant::from_micros(1);
    let stranger = SocketAddr::from(([127, 0, 0, 1], 9));
    let mut server = relay::Server::new(relay::Config::default(), [0; 32], now);
    server.handle_datagram(now, stranger, data);
    let mut out = Vec::new();
    let mut answered = 0;
    while let Some(t) = server.poll_transmit(&mut out) {
        assert_eq!(t.destination, stranger);
        answered += 1;
    }
    // Only a JOIN is ever answered (its sequence, or one ERR).
    assert!(answered == 0 || matches!(Command::parse(data), Ok(Command::Join(_))));
    let config = rendezvous::client::Config {
        server: stranger,
        credentials: rendezvous::Credentials::derive(b"fuzz", "room"),
        device_name: "fuzz".into(),
        device_id: 1,
    };
    let mut client = rendezvous::client::Client::new(config, now).unwrap();
    client.handle_input(now, stranger, data);
    let stats = *client.stats();
    assert_eq!(stats.replies + stats.ignored + stats.malformed, 1);
}

/// The dialect seeds: every command and reply form, IPv4 and IPv6 addresses.
fn rendezvous_seeds() -> Vec<Vec<u8>> {
    [
        "JOIN:0123456789abcdef0123456789abcdef:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef:bass:42",
        "HELLO",
        "LEAVE",
        "PUNCH\n",
        "MODE:private",
        "CAND:host:2130706431:169.254.10.2:40000",
        "CAND:relay:255:[2001:db8::2]:3478",
        "OK:joined",
        "YOUR_ADDR:198.18.0.9:61000",
        "SESSION:000102030405060708090a0b0c0d0e0f",
        "PEER:[::1]:5100",
        "CAND:42:srflx:1694498815:198.18.0.9:61000",
        "ERR:wrong_password",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// Where a [`stun`] input's datagram comes from (its first byte, low two bits).
const STUN_SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)), 3478);
const TURN_SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)), 3478);
const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 2, 1)), 40000);
const STRANGER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 9, 9)), 1234);

/// A connectivity agent (user 1) mid-gathering: STUN Binding and TURN Allocate outstanding,
/// user 2's candidate added and its first check sent. Returns it and the transaction ids of
/// what it sent, in order.
fn stun_agent(user_id: u32, peer: u32) -> (connect::Agent, Vec<[u8; 12]>, Vec<Vec<u8>>) {
    let mut agent = connect::Agent::new(connect::Config {
        user_id,
        key: proto::auth::RoomKey::derive(b"room secret", "jam"),
        host: vec![SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(169, 254, 1, 10)),
            5000,
        )],
        stun: Some(STUN_SERVER),
        turn: Some(connect::TurnServer {
            addr: TURN_SERVER,
            username: "alice".into(),
            password: "secret".into(),
        }),
        timing: connect::Timing::default(),
        limits: connect::Limits::default(),
        seed: u64::from(user_id),
    });
    let start = proto::time::Instant::from_micros(0);
    agent.handle_timeout(start);
    let candidate = connect::Candidate::new(connect::Kind::ServerReflexive, PEER, 65535);
    agent.add_remote_candidate(start, peer, candidate);
    let mut ids = Vec::new();
    let mut sent = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(t) = agent.poll_transmit(&mut buf) {
        let datagram = &buf[..t.len];
        if datagram.len() >= 20 {
            ids.push(datagram[8..20].try_into().expect("12 bytes"));
        }
        sent.push(datagram.to_vec());
    }
    (agent, ids, sent)
}

/// STUN and TURN input of the connectivity agent (responses, checks, ChannelData, Data
/// indications). The first byte picks the source (STUN server, TURN server, the known peer, a
/// stranger) in its low two bits and, in bits 2-4, an outstanding transaction id to splice into
/// the message (so responses reach the integrity and attribute checks); the rest is the
/// datagram. Whatever it is, nothing panics and a stranger's datagram changes no address and
/// selects no path.
pub fn stun(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let (mut agent, ids, _) = stun_agent(1, 2);
    let from = [STUN_SERVER, TURN_SERVER, PEER, STRANGER][usize::from(control & 3)];
    let mut datagram = rest.to_vec();
    let splice = usize::from((control >> 2) & 7);
    if splice > 0
        && datagram.len() >= 20
        && let Some(id) = ids.get(splice - 1)
    {
        datagram[8..20].copy_from_slice(id);
    }
    let now = proto::time::Instant::from_micros(5_000);
    let relayed = matches!(
        agent.handle_datagram(now, from, &datagram),
        connect::Received::Payload {
            route: connect::Route::Relayed(_),
            ..
        }
    );
    if from == STRANGER {
        assert!(!relayed, "only the TURN server relays");
        assert_eq!(agent.server_reflexive(), None);
        assert_eq!(agent.relayed(), None);
        assert_eq!(agent.selected(2), None);
    }
    let mut buf = [0u8; 1500];
    let mut transmits = 0;
    while agent.poll_transmit(&mut buf).is_some() {
        transmits += 1;
        assert!(transmits < 1000, "bounded output");
    }
    while agent.poll_event().is_some() {}
    agent.handle_timeout(now + std::time::Duration::from_secs(1));
}

fn stun_seeds() -> Vec<Vec<u8>> {
    // What the agents send each other and the servers: requests, a check and its answer, and a
    // ChannelData frame; each behind a control byte that gives it a plausible source.
    let (_, _, alice_sent) = stun_agent(1, 2);
    let (mut bob, _, _) = stun_agent(2, 1);
    let check = alice_sent.last().cloned().unwrap_or_default();
    let now = proto::time::Instant::from_micros(1_000);
    let _ = bob.handle_datagram(now, PEER, &check);
    let mut buf = [0u8; 1500];
    let mut answer = Vec::new();
    while let Some(t) = bob.poll_transmit(&mut buf) {
        if t.dest == PEER && buf[0] == 0x01 {
            answer = buf[..t.len].to_vec();
        }
    }
    let with = |control: u8, bytes: &[u8]| {
        let mut seed = vec![control];
        seed.extend_from_slice(bytes);
        seed
    };
    let mut seeds: Vec<Vec<u8>> = alice_sent.iter().map(|m| with(0, m)).collect();
    seeds.push(with(2, &check));
    seeds.push(with(2 | (3 << 2), &answer));
    seeds.push(with(1, &[0x40, 0x00, 0x00, 0x04, 0x80, 0x60, 0x00, 0x01]));
    seeds
}

/// Valid inputs for each target: the starting corpus (written to `corpus/<target>/` by the
/// normal suite's regeneration test, and fed to the bodies on every run).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
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
        "rtcp" => {
            let mut out = vec![0u8; 256];
            let n = rtcp::encode_nack(Ssrc(1), Ssrc(2), &[1, 2, 5, 40, 41], &mut out).unwrap();
            let m = rtcp::encode_nack(Ssrc(1), Ssrc(3), &[9], &mut out[n..]).unwrap();
            vec![out[..n].to_vec(), out[..n + m].to_vec()]
        }
        "parity" => {
            let mut out = vec![0u8; 1200];
            let n = builder.write(&mut out).unwrap();
            vec![out[..n].to_vec()]
        }
        "osp" => osp_seeds(),
        "rendezvous" => rendezvous_seeds(),
        "stun" => stun_seeds(),
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
        "pcm" => vec![payload.clone()],
        "preset" => vec![
            br#"{"compressor": {"enabled": true, "threshold": -20, "ratio": 1e300},
                "eq": {"bands": [{"frequency": 100, "gain": 6, "type": "lowshelf"}]},
                "delay": {"tempoSync": true, "subdivision": "1/8D"},
                "harmonizer": {"harmonyType": "custom", "customIntervals": [3, 7, -12, 24, 5]},
                "multibandCompressor": {"lowBand": {"threshold": -30}},
                "reverb": {"type": "plate"}, "limiter": {"enabled": false}}"#
                .to_vec(),
        ],
        "opus" => {
            let mut encoder = opus::Encoder::new(opus::Config {
                channels: 2,
                frame: opus::FrameDuration::Ms10,
                bitrate: 96_000,
                complexity: 5,
                constant_bitrate: false,
            })
            .unwrap();
            let pcm: Vec<f32> = (0..960).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
            let mut out = vec![0u8; opus::MAX_PACKET];
            let n = encoder.encode(&pcm, &mut out).unwrap();
            vec![out[..n].to_vec()]
        }
        _ => Vec::new(),
    }
}

fn osp_seeds() -> Vec<Vec<u8>> {
    use osp::message::*;
    let messages = [
        Message::Ping(Ping {
            ping_id: 1,
            send_time: 2,
        }),
        Message::AudioFrame(AudioFrame {
            user_id: 1,
            track_id: 0,
            codec: AudioCodec::Opus,
            channels: 2,
            sample_count: 480,
            data: &[1, 2, 3],
        }),
        Message::ResendRequest(ResendRequest {
            sequences: vec![1, 2],
        }),
        Message::ChatMessage(ChatMessage {
            user_id: "u".into(),
            user_name: "n".into(),
            content: "hi".into(),
            message_type: "text".into(),
            timestamp: 3,
        }),
        Message::TransportSync(TransportSync {
            version: 1,
            playing: true,
            bpm: 120.0,
            beats_per_bar: 4,
            beat_unit: 4,
            anchor_tick: 0,
            anchor_beat: 0.0,
        }),
        Message::HandshakeAck(HandshakeAck {
            success: true,
            error: None,
            assigned_user_id: Some(1),
            room_state: Some(RoomState {
                room_id: "r".into(),
                users: vec![UserJoin::default()],
                tracks: vec![TrackCreate::default()],
                tempo: 120.0,
                key: "C".into(),
                scale: "major".into(),
                time_signature: (4, 4),
                transport_state: TransportAction::Stop,
                transport_position: 0.0,
            }),
            is_master: true,
        }),
        Message::PeerHello(PeerHello {
            version: 1,
            user_id: 1,
            nonce: [1; 32],
        }),
        Message::PeerAuth(PeerAuth {
            from: 1,
            to: 2,
            from_nonce: [1; 32],
            to_nonce: [2; 32],
            announce: StreamAnnounce {
                user_id: 1,
                version: 1,
                streams: vec![
                    StreamInfo::stereo(0x1001, 1, StreamEncoding::Opus, 111, 120)
                        .with_parity(0x2001, 127, 5),
                ],
            },
            tag: [3; 32],
        }),
        Message::PeerLeave(PeerLeave {
            from: 2,
            to: 1,
            reason: 0,
            tag: [4; 32],
        }),
    ];
    messages
        .iter()
        .map(|m| {
            let mut out = vec![0u8; osp::MAX_DATAGRAM];
            let n = osp::encode(osp::FrameHeader::default(), m, &mut out).unwrap();
            out.truncate(n);
            out
        })
        .collect()
}

/// Kinds the demultiplexer must give each seed family (a cross-check used by the suite).
pub fn expected_kind(target: &str) -> Option<Kind> {
    match target {
        "ostp_packet" => Some(Kind::Rtp),
        "rtcp" => Some(Kind::Rtcp),
        "osp" => Some(Kind::Osp),
        "clock_sync" => Some(Kind::ClockSync),
        _ => None,
    }
}
