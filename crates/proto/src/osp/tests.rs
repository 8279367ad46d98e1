//! OSP frames and payloads against the reference's test vectors (`docs/protocol.md` §6.1 and §6.3).

use std::collections::BTreeMap;

use super::message::*;
use super::*;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn frame(seq: u16, timestamp: u16, message: &Message<'_>) -> Vec<u8> {
    let mut out = [0u8; MAX_DATAGRAM];
    let n = encode(FrameHeader { seq, timestamp }, message, &mut out).unwrap();
    out[..n].to_vec()
}

fn payload_of(message: &Message<'_>) -> Vec<u8> {
    let bytes = frame(0, 0, message);
    bytes[HEADER_LEN..bytes.len() - 4].to_vec()
}

#[test]
fn ping_vector() {
    let ping = Message::Ping(Ping {
        ping_id: 1,
        send_time: 0x0102_0304_0506_0708,
    });
    let expected = hex("4f535031 0000 0000 0103 0c00 01000000 0807060504030201 77627236");
    assert_eq!(frame(0, 0, &ping), expected);
    let decoded = decode(&expected).unwrap();
    assert_eq!(decoded.header, FrameHeader::default());
    assert_eq!(decoded.message, ping);
}

#[test]
fn audio_frame_vector() {
    let user = peer_id("alice");
    assert_eq!(user, 0xF378_B271);
    let audio = Message::AudioFrame(AudioFrame {
        user_id: user,
        track_id: 0,
        codec: AudioCodec::Opus,
        channels: 2,
        sample_count: 480,
        data: &[0xfc, 0xff, 0xfe],
    });
    let expected = hex("4f535031 0500 6400 0100 0c00 71b278f3 00 01 02 e001 fcfffe 4f42bc25");
    assert_eq!(frame(5, 100, &audio), expected);
    let decoded = decode(&expected).unwrap();
    assert_eq!(
        decoded.header,
        FrameHeader {
            seq: 5,
            timestamp: 100
        }
    );
    assert_eq!(decoded.message, audio);
}

#[test]
fn payload_vectors() {
    let clock = Message::ClockSync(ClockSync {
        master_time: 1000,
        beat_position: 1.5,
        bpm: 120.0,
        time_sig_num: 4,
        time_sig_denom: 4,
        sync_sequence: 0,
    });
    assert_eq!(
        payload_of(&clock),
        hex("e803000000000000 000000000000f83f 0000f042 0404 00000000")
    );
    let track = Message::TrackState(TrackState {
        user_id: 7,
        track_id: 1,
        is_muted: Some(true),
        volume: Some(0.5),
        ..TrackState::default()
    });
    assert_eq!(
        payload_of(&track),
        hex("07000000 01 0101 00 00 010000003f 00 00")
    );
    let transport = Message::Transport(Transport {
        action: TransportAction::Seek,
        position: Some(2.0),
        sync_timestamp: None,
    });
    assert_eq!(
        payload_of(&transport),
        hex("03000000 01 0000000000000040 00")
    );
    let handshake = Message::Handshake(Handshake {
        protocol_version: 1,
        user_id: "a".into(),
        user_name: "A".into(),
        room_id: "r".into(),
        room_secret_hash: [0xaa; 32],
        public_key: [0xbb; 32],
        has_native_bridge: true,
    });
    let mut expected = hex("01000000 0100000000000000 61 0100000000000000 41 0100000000000000 72");
    expected.extend([0xaa; 32]);
    expected.extend([0xbb; 32]);
    expected.push(1);
    assert_eq!(expected.len(), 96);
    assert_eq!(payload_of(&handshake), expected);
}

/// One populated instance of every message, for round trips and mutation.
pub(crate) fn every_message() -> Vec<Message<'static>> {
    let join = UserJoin {
        user_id: "u-1".into(),
        user_name: "Ada".into(),
        avatar_url: None,
        instrument: Some("bass".into()),
        has_native_bridge: true,
        role: "performer".into(),
    };
    let track = TrackCreate {
        user_id: "u-1".into(),
        track_id: "t0".into(),
        track_name: "Bass DI".into(),
        track_type: "audio".into(),
        color: "#c0ffee".into(),
        audio_settings: TrackAudioSettings {
            input_mode: "mono".into(),
            sample_rate: 48_000,
            buffer_size: 128,
            channel_count: 1,
        },
    };
    let room = RoomState {
        room_id: "room".into(),
        users: vec![join.clone()],
        tracks: vec![track.clone()],
        tempo: 96.0,
        key: "E".into(),
        scale: "minor".into(),
        time_signature: (7, 8),
        transport_state: TransportAction::Play,
        transport_position: 12.25,
    };
    vec![
        Message::AudioFrame(AudioFrame {
            user_id: 9,
            track_id: 255,
            codec: AudioCodec::PcmF32,
            channels: 1,
            sample_count: 2,
            data: &[0, 0, 128, 63, 0, 0, 128, 191],
        }),
        Message::AudioLevels(AudioLevels {
            user_id: 9,
            track_levels: vec![
                TrackLevel {
                    track_id: 0,
                    level_db: -18.0,
                    peak_db: -6.0,
                },
                TrackLevel {
                    track_id: 1,
                    level_db: -60.0,
                    peak_db: -40.0,
                },
            ],
        }),
        Message::ClockSync(ClockSync {
            master_time: 1,
            beat_position: 2.0,
            bpm: 3.0,
            time_sig_num: 3,
            time_sig_denom: 4,
            sync_sequence: 5,
        }),
        Message::BeatPosition(BeatPosition {
            beat: 17.5,
            metronome_active: true,
        }),
        Message::TrackState(TrackState {
            user_id: 1,
            track_id: 2,
            is_solo: Some(false),
            pan: Some(-0.25),
            monitoring_enabled: Some(true),
            ..TrackState::default()
        }),
        Message::EffectParam(EffectParam {
            user_id: 1,
            track_id: 0,
            effect_type: "compressor".into(),
            param_name: "threshold".into(),
            value: -24.0,
        }),
        Message::EffectBypass(EffectBypass {
            user_id: 1,
            track_id: 0,
            effect_type: "reverb".into(),
            bypassed: true,
        }),
        Message::Transport(Transport {
            action: TransportAction::Play,
            position: None,
            sync_timestamp: Some(99),
        }),
        Message::TempoChange(TempoChange {
            bpm: 128.0,
            source: TempoSource::Tap,
            key: Some("F#".into()),
            scale: None,
        }),
        Message::StemMix(StemMix {
            stem: "drums".into(),
            enabled: false,
            volume: 0.5,
        }),
        Message::MonitoringState(MonitoringState {
            user_id: 1,
            track_id: 0,
            monitoring_enabled: false,
        }),
        Message::UserJoin(join),
        Message::UserLeave(UserLeave {
            user_id: "u-1".into(),
            reason: LeaveReason::Timeout,
        }),
        Message::TrackCreate(track),
        Message::TrackDelete(TrackDelete {
            user_id: "u-1".into(),
            track_id: "t0".into(),
        }),
        Message::EffectChain(EffectChain {
            user_id: 1,
            track_id: 0,
            effects_json: r#"{"limiter":{"enabled":true}}"#.into(),
        }),
        Message::Permission(Permission {
            user_id: "u-2".into(),
            new_role: "listener".into(),
            permissions: BTreeMap::from([("mic".into(), false), ("chat".into(), true)]),
        }),
        Message::ChatMessage(ChatMessage {
            user_id: "u-1".into(),
            user_name: "Ada".into(),
            content: "take it from the bridge ♪".into(),
            message_type: "text".into(),
            timestamp: 1_763_700_000_000,
        }),
        Message::PerformanceInfo(PerformanceInfo {
            user_id: "u-1".into(),
            rtt_ms: 23.5,
            jitter_ms: 1.25,
            packet_loss: 0.5,
            audio_latency_ms: 18.0,
            quality_score: 71,
            quality_tier: "good".into(),
        }),
        Message::SongChange(SongChange {
            song_id: "s1".into(),
            action: SongAction::Next,
        }),
        Message::LoopState(LoopState {
            loop_id: "l1".into(),
            action: LoopAction::Update,
            position: Some(1.5),
            volume: Some(0.8),
            muted: Some(false),
        }),
        Message::LyriaState(LyriaState {
            session_state: "playing".into(),
            config: Some(LyriaConfig {
                bpm: 100.0,
                scale: "dorian".into(),
                density: 0.5,
                brightness: 0.25,
                drums: 1.0,
                bass: 0.0,
            }),
        }),
        Message::RoomState(room.clone()),
        Message::StreamAnnounce(StreamAnnounce {
            user_id: 9,
            version: 3,
            streams: vec![StreamInfo {
                ssrc: 0x1234_5678,
                stream_id: 1,
                track_id: 0,
                payload_type: 111,
                encoding: StreamEncoding::Opus,
                channels: 2,
                clock_rate: 48_000,
                frame_samples: 120,
                crc: CrcForm::Padding,
                parity: Some(ParityStream {
                    ssrc: 0x9abc_def0,
                    payload_type: 127,
                    group_size: 5,
                }),
            }],
        }),
        Message::TransportSync(TransportSync {
            version: 4,
            playing: true,
            bpm: 120.0,
            beats_per_bar: 4,
            beat_unit: 4,
            anchor_tick: 480_000,
            anchor_beat: 8.0,
        }),
        Message::Ping(Ping {
            ping_id: 7,
            send_time: 8,
        }),
        Message::Pong(Pong {
            ping_id: 7,
            send_time: 8,
            recv_time: 9,
        }),
        Message::MasterElection(MasterElection {
            candidate_id: "u-1".into(),
            priority: 0xFFFF_FFFF - 12_000,
            current_master_id: Some("u-2".into()),
        }),
        Message::RelaySwitch(RelaySwitch {
            new_mode: NetworkMode::Hybrid,
            relay_url: None,
        }),
        Message::QualityPreset(QualityPreset {
            preset: "live_jamming".into(),
            opus_bitrate: 96_000,
            opus_frame_size: 120,
            jitter_buffer_size: 240,
        }),
        Message::Handshake(Handshake {
            protocol_version: 1,
            user_id: "u-1".into(),
            user_name: "Ada".into(),
            room_id: "room".into(),
            room_secret_hash: [1; 32],
            public_key: [2; 32],
            has_native_bridge: true,
        }),
        Message::HandshakeAck(HandshakeAck {
            success: true,
            error: None,
            assigned_user_id: Some(9),
            room_state: Some(RoomState {
                users: vec![],
                tracks: vec![],
                ..room
            }),
            is_master: false,
        }),
        Message::Disconnect(Disconnect {
            reason: LeaveReason::Normal,
        }),
        Message::Heartbeat(Heartbeat),
        Message::ResendRequest(ResendRequest {
            sequences: vec![65_535, 0, 1],
        }),
        Message::ClockProbe(ClockProbe {
            probe_id: 1,
            t1_us: 10,
        }),
        Message::ClockReply(ClockReply {
            probe_id: 1,
            t1_us: 10,
            t2_us: 20,
            t3_us: 25,
        }),
        Message::PeerHello(PeerHello {
            version: 1,
            user_id: 7,
            nonce: [0x11; 32],
        }),
        Message::PeerAuth(PeerAuth {
            from: 7,
            to: 9,
            from_nonce: [0x11; 32],
            to_nonce: [0x22; 32],
            announce: StreamAnnounce {
                user_id: 7,
                version: 1,
                streams: vec![],
            },
            tag: [0x33; 32],
        }),
        Message::PeerLeave(PeerLeave {
            from: 7,
            to: 9,
            reason: 0,
            tag: [0x44; 32],
        }),
    ]
}

#[test]
fn every_id_round_trips() {
    let messages = every_message();
    assert_eq!(messages.len(), Id::ALL.len());
    for (i, (message, id)) in messages.iter().zip(Id::ALL).enumerate() {
        assert_eq!(message.id(), *id);
        assert_eq!(Id::from_raw(id.raw()), Some(*id));
        let seq = i as u16 * 1000;
        let bytes = frame(seq, 7, message);
        assert!(bytes.len() <= MAX_DATAGRAM);
        let decoded = decode(&bytes).unwrap_or_else(|e| panic!("{id:?}: {e}"));
        assert_eq!(decoded.header, FrameHeader { seq, timestamp: 7 });
        assert_eq!(&decoded.message, message, "{id:?}");
        // Trailing bytes after the CRC are ignored.
        let mut longer = bytes.clone();
        longer.extend([0xEE; 3]);
        assert_eq!(&decode(&longer).unwrap().message, message);
    }
}

#[test]
fn ids_are_the_reference_table_plus_ours() {
    let raw: Vec<u16> = Id::ALL.iter().map(|id| id.raw()).collect();
    let reference = [
        0x0001, 0x0002, 0x0003, 0x0004, 0x0101, 0x0102, 0x0103, 0x0104, 0x0105, 0x0106, 0x0107,
        0x0201, 0x0202, 0x0203, 0x0204, 0x0205, 0x0206, 0x0207, 0x0208, 0x0209, 0x020A, 0x020B,
        0x020C, 0x0301, 0x0302, 0x0303, 0x0304, 0x0305, 0x0306, 0x0307, 0x0308, 0x0309, 0x030A,
    ];
    for id in reference {
        assert!(raw.contains(&id), "{id:#06x} missing");
    }
    let ours: Vec<u16> = raw
        .iter()
        .copied()
        .filter(|id| !reference.contains(id))
        .collect();
    assert_eq!(
        ours,
        [0x020D, 0x020E, 0x030B, 0x030C, 0x030D, 0x030E, 0x030F]
    );
    assert_eq!(Id::ChatMessage.raw(), 0x0207);
    assert_eq!(Id::EffectParam.raw(), 0x0102);
    assert_eq!(Id::Transport.delivery(), Delivery::Reliable);
    assert_eq!(Id::Ping.delivery(), Delivery::Unreliable);
}

#[test]
fn rejections_are_typed() {
    let ping = frame(
        0,
        0,
        &Message::Ping(Ping {
            ping_id: 1,
            send_time: 2,
        }),
    );
    assert_eq!(decode(&ping[..15]), Err(DecodeError::Short));
    assert_eq!(decode(&ping[..ping.len() - 1]), Err(DecodeError::Short));
    let mut bad_magic = ping.clone();
    bad_magic[3] = b'2';
    assert_eq!(decode(&bad_magic), Err(DecodeError::Magic));
    for byte in (4..10).chain(12..ping.len()) {
        let mut flipped = ping.clone();
        flipped[byte] ^= 0x10;
        assert_eq!(decode(&flipped), Err(DecodeError::Crc), "byte {byte}");
    }
    // The length field is outside the CRC: lengthening it only makes the frame short.
    let mut longer = ping.clone();
    longer[10] += 1;
    assert_eq!(decode(&longer), Err(DecodeError::Short));

    // A valid CRC around an unknown id or a bad payload.
    let reframe = |id: u16, payload: &[u8]| {
        let mut out = b"OSP1\0\0\0\0".to_vec();
        out.extend(id.to_le_bytes());
        out.extend((payload.len() as u16).to_le_bytes());
        out.extend(payload);
        let mut h = crc32fast::Hasher::new();
        h.update(&out[..10]);
        h.update(payload);
        out.extend(h.finalize().to_le_bytes());
        out
    };
    assert_eq!(
        decode(&reframe(0x0108, &[])),
        Err(DecodeError::UnknownId(0x0108))
    );
    // Reference bug 1: 7-8 byte AudioFrame payloads with a valid CRC.
    for len in 0..9 {
        assert_eq!(
            decode(&reframe(0x0001, &[0, 0, 0, 0, 0, 1, 2, 0, 0][..len])),
            Err(DecodeError::Payload(Id::AudioFrame))
        );
    }
    assert_eq!(
        decode(&reframe(0x0001, &[0, 0, 0, 0, 0, 2, 2, 0, 0])),
        Err(DecodeError::Payload(Id::AudioFrame)),
        "codec 2"
    );
    assert_eq!(
        decode(&reframe(0x0001, &[0, 0, 0, 0, 0, 1, 3, 0, 0])),
        Err(DecodeError::Payload(Id::AudioFrame)),
        "3 channels"
    );
    // Enum index out of range, invalid UTF-8, a string longer than the payload, a vector
    // claiming 2^60 entries.
    assert_eq!(
        decode(&reframe(0x0104, &[6, 0, 0, 0, 0, 0])),
        Err(DecodeError::Payload(Id::Transport))
    );
    assert_eq!(
        decode(&reframe(
            0x0106,
            &[1, 0, 0, 0, 0, 0, 0, 0, 0xff, 1, 0, 0, 0, 0]
        )),
        Err(DecodeError::Payload(Id::StemMix))
    );
    assert_eq!(
        decode(&reframe(
            0x0106,
            &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, b'a']
        )),
        Err(DecodeError::Payload(Id::StemMix))
    );
    assert_eq!(
        decode(&reframe(0x030A, &[0, 0, 0, 0, 0, 0, 0, 0x10, 1, 0])),
        Err(DecodeError::Payload(Id::ResendRequest))
    );
}

#[test]
fn encode_refuses_small_buffers() {
    let chat = Message::ChatMessage(ChatMessage {
        user_id: "u".into(),
        user_name: "n".into(),
        content: "x".repeat(2000),
        message_type: "text".into(),
        timestamp: 0,
    });
    let mut out = [0u8; MAX_DATAGRAM];
    assert_eq!(
        encode(FrameHeader::default(), &chat, &mut out),
        Err(EncodeError::BufferTooSmall)
    );
    assert_eq!(
        encode(
            FrameHeader::default(),
            &Message::Heartbeat(Heartbeat),
            &mut out[..15]
        ),
        Err(EncodeError::BufferTooSmall)
    );
    assert_eq!(
        encode(
            FrameHeader::default(),
            &Message::Heartbeat(Heartbeat),
            &mut out
        ),
        Ok(16)
    );
    // A huge buffer does not lift the 16-bit length limit.
    let Message::ChatMessage(line) = chat else {
        unreachable!()
    };
    let huge = Message::ChatMessage(ChatMessage {
        content: "x".repeat(70_000),
        ..line
    });
    let mut big = vec![0u8; 80_000];
    assert_eq!(
        encode(FrameHeader::default(), &huge, &mut big),
        Err(EncodeError::TooLong)
    );
}

#[test]
fn transport_sync_places_beats_on_the_timeline() {
    let sync = TransportSync {
        version: 1,
        playing: true,
        bpm: 120.0,
        beats_per_bar: 4,
        beat_unit: 4,
        anchor_tick: 48_000,
        anchor_beat: 4.0,
    };
    // 120 BPM: one beat per 24,000 ticks.
    assert_eq!(sync.beat_at(48_000 + 24_000), 5.0);
    assert_eq!(sync.tick_of(6.0), 96_000.0);
    assert_eq!(sync.beat_at(0), 2.0);
    assert_eq!(
        TransportSync {
            playing: false,
            ..sync
        }
        .beat_at(1 << 40),
        4.0
    );
}
