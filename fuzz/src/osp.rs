//! OSP frames (the session protocol): decode, re-encode, decode again.

use proto::osp;

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

/// One frame of each message family, from a ping to a handshake carrying the room state.
pub(crate) fn seeds() -> Vec<Vec<u8>> {
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
