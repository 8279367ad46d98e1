//! Our traffic as Wireshark sees it: tshark's RTP stream analysis counts every packet of our OSTP
//! stream and no loss; our Lua dissector (`tools/wireshark/osp_jam.lua`) decodes the 0x4F53
//! extension and OSP control frames, field by field.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::rtp_interop::{FIRST_SEQ, free_port_pair, opus_stream, send_paced};
use crate::support::{KillOnDrop, interrupt_and_expect_clean_exit, tempdir};

fn dissector() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/wireshark/osp_jam.lua")
}

/// Captures on loopback what `send` sends to 127.0.0.1:`port` into a pcapng file.
fn capture(name: &str, port: u16, send: impl FnOnce()) -> PathBuf {
    let capture = tempdir(name).join("capture.pcapng");
    // A sink so the datagrams have a receiver (no ICMP port-unreachable noise).
    let _sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).expect("bind sink");

    // -P prints a line per captured packet while writing the file: warm-up datagrams are sent
    // until one shows up, so the capture provably runs before the traffic starts.
    let mut tshark = Command::new("tshark")
        .args([
            "-l",
            "-P",
            "-i",
            "lo",
            "-f",
            &format!("udp dst port {port}"),
            "-w",
        ])
        .arg(&capture)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tshark (Debian tshark)");
    let stdout = tshark.stdout.take().expect("stdout");
    let mut tshark = KillOnDrop(tshark);
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for _ in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = seen_tx.send(());
        }
    });
    let warm = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind warm-up");
    let start = Instant::now();
    loop {
        warm.send_to(b"warm-up", (Ipv4Addr::LOCALHOST, port))
            .expect("send warm-up");
        if seen_rx.recv_timeout(Duration::from_millis(50)).is_ok() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "tshark never started capturing"
        );
    }
    send();
    std::thread::sleep(Duration::from_millis(300));
    interrupt_and_expect_clean_exit(&mut tshark, "tshark");
    capture
}

#[test]
fn tshark_counts_our_stream_and_our_dissector_decodes_the_extension() {
    let port = free_port_pair();
    let packets = opus_stream(0.5);
    let capture = capture("tshark-ostp", port, || send_paced(&packets, port));

    // RTP stream statistics.
    let stats = run_tshark(&[
        "-r",
        &capture.display().to_string(),
        "-d",
        &format!("udp.port=={port},rtp"),
        "-q",
        "-z",
        "rtp,streams",
    ]);
    let line = stats
        .lines()
        .find(|l| l.to_lowercase().contains("0x05f1a7e0"))
        .unwrap_or_else(|| panic!("our SSRC is not in tshark's stream list:\n{stats}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    let ssrc_at = fields
        .iter()
        .position(|f| f.eq_ignore_ascii_case("0x05f1a7e0"))
        .expect("ssrc");
    // SSRC, payload name, packets, lost.
    let count: usize = fields[ssrc_at + 2].parse().expect("packet count");
    let lost: i64 = fields[ssrc_at + 3].parse().expect("lost");
    assert_eq!(count, packets.len(), "{line}");
    assert_eq!(lost, 0, "{line}");

    // Our dissector, field by field.
    let decoded = run_tshark(&[
        "-r",
        &capture.display().to_string(),
        "-X",
        &format!("lua_script:{}", dissector().display()),
        "-d",
        &format!("udp.port=={port},rtp"),
        "-Y",
        "ostp",
        "-T",
        "fields",
        "-e",
        "rtp.seq",
        "-e",
        "ostp.stream_id",
        "-e",
        "ostp.seq_ext",
        "-e",
        "ostp.media_ts",
        "-e",
        "ostp.seq32",
        "-e",
        "rtp.padding.count",
    ]);
    let rows: Vec<Vec<&str>> = decoded.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), packets.len(), "{decoded}");
    for (i, row) in rows.iter().enumerate() {
        let seq32 = FIRST_SEQ + i as u32;
        let expected = [
            (seq32 & 0xFFFF).to_string(),
            "0x0001".to_owned(),
            (seq32 >> 16).to_string(),
            (i * 240).to_string(),
            seq32.to_string(),
            "5".to_owned(),
        ];
        assert_eq!(row.as_slice(), expected.as_slice(), "packet {i}");
    }
}

fn run_tshark(args: &[&str]) -> String {
    let start = Instant::now();
    let out = Command::new("tshark")
        .args(args)
        .output()
        .expect("run tshark");
    assert!(start.elapsed() < Duration::from_secs(60));
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn our_dissector_decodes_osp_frames() {
    use proto::osp::message::*;
    use proto::osp::{self, FrameHeader, Message};

    let messages = [
        Message::Ping(Ping {
            ping_id: 42,
            send_time: 1_000,
        }),
        Message::AudioFrame(AudioFrame {
            user_id: osp::peer_id("alice"),
            track_id: 2,
            codec: AudioCodec::Opus,
            channels: 2,
            sample_count: 240,
            data: &[0xfc, 0xff, 0xfe],
        }),
        Message::TransportSync(TransportSync {
            version: 3,
            playing: true,
            bpm: 132.5,
            beats_per_bar: 7,
            beat_unit: 8,
            anchor_tick: 123_456_789,
            anchor_beat: 16.0,
        }),
        Message::ClockReply(ClockReply {
            probe_id: 9,
            t1_us: 1,
            t2_us: 2,
            t3_us: 3_000_000_000,
        }),
        Message::ChatMessage(ChatMessage {
            user_id: "u-1".into(),
            user_name: "Ada".into(),
            content: "from the top".into(),
            message_type: "text".into(),
            timestamp: 0,
        }),
        Message::StreamAnnounce(StreamAnnounce {
            user_id: 1,
            version: 1,
            streams: vec![
                StreamInfo::stereo(0x1111_2222, 1, StreamEncoding::Opus, 111, 120).with_parity(
                    0x3333_4444,
                    127,
                    5,
                ),
                StreamInfo {
                    channels: 1,
                    ..StreamInfo::stereo(0x5555_6666, 2, StreamEncoding::L24, 96, 64)
                },
            ],
        }),
        Message::ResendRequest(ResendRequest {
            sequences: vec![7, 8, 65_535],
        }),
        Message::Handshake(Handshake {
            protocol_version: 1,
            user_id: "u-1".into(),
            user_name: "Ada".into(),
            room_id: "rehearsal".into(),
            room_secret_hash: [0; 32],
            public_key: [0; 32],
            has_native_bridge: true,
        }),
        Message::PeerHello(PeerHello {
            version: 1,
            user_id: 7,
            nonce: [0xAB; 32],
        }),
        Message::PeerAuth(PeerAuth {
            from: 7,
            to: 9,
            from_nonce: [0x11; 32],
            to_nonce: [0x22; 32],
            announce: StreamAnnounce {
                user_id: 7,
                version: 2,
                streams: vec![StreamInfo::stereo(
                    0x0000_1007,
                    1,
                    StreamEncoding::Opus,
                    111,
                    120,
                )],
            },
            tag: [0xCD; 32],
        }),
        Message::PeerLeave(PeerLeave {
            from: 9,
            to: 7,
            reason: 2,
            tag: [0xEF; 32],
        }),
    ];
    let n = messages.len();
    let mut datagrams: Vec<Vec<u8>> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut out = [0u8; osp::MAX_DATAGRAM];
            let header = FrameHeader {
                seq: 100 + i as u16,
                timestamp: 5,
            };
            let n = osp::encode(header, m, &mut out).expect("encode");
            out[..n].to_vec()
        })
        .collect();
    // A corrupted copy of the Ping: the dissector must flag its CRC.
    let mut corrupt = datagrams[0].clone();
    corrupt[13] ^= 0x01;
    datagrams.push(corrupt);

    let port = free_port_pair();
    let capture = capture("tshark-osp", port, || {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        for d in &datagrams {
            socket
                .send_to(d, (Ipv4Addr::LOCALHOST, port))
                .expect("send");
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let fields = [
        "osp.type",
        "osp.seq",
        "osp.crc_ok",
        "osp.audio.user_id",
        "osp.audio.sample_count",
        "osp.transport.bpm",
        "osp.transport.anchor_tick",
        "osp.clock.t3_us",
        "osp.chat.content",
        "osp.stream.ssrc",
        "osp.resend.seq",
        "osp.handshake.room_id",
        "osp.ping.id",
        "osp.peer.user_id",
        "osp.peer.from",
        "osp.peer.to_nonce",
        "osp.peer.reason",
        "osp.peer.tag",
    ];
    let mut args = vec![
        "-r".to_owned(),
        capture.display().to_string(),
        "-X".to_owned(),
        format!("lua_script:{}", dissector().display()),
        "-Y".to_owned(),
        "osp".to_owned(),
        "-T".to_owned(),
        "fields".to_owned(),
    ];
    for f in fields {
        args.extend(["-e".to_owned(), f.to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let decoded = run_tshark(&args);
    let rows: Vec<Vec<&str>> = decoded.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), datagrams.len(), "{decoded}");
    let cell =
        |row: usize, field: &str| rows[row][fields.iter().position(|f| *f == field).unwrap()];
    let ids = [
        "0x0301", "0x0001", "0x020e", "0x030c", "0x0207", "0x020d", "0x030a", "0x0306", "0x030d",
        "0x030e", "0x030f", "0x0301",
    ];
    for (row, id) in ids.iter().enumerate() {
        assert!(cell(row, "osp.type").eq_ignore_ascii_case(id), "{decoded}");
        assert_eq!(cell(row, "osp.seq"), (100 + row % n).to_string().as_str());
    }
    let ok: Vec<&str> = (0..rows.len()).map(|r| cell(r, "osp.crc_ok")).collect();
    assert!(
        ok[..n]
            .iter()
            .all(|c| *c == "1" || c.eq_ignore_ascii_case("true")),
        "{ok:?}"
    );
    assert!(
        ok[n] == "0" || ok[n].eq_ignore_ascii_case("false"),
        "{ok:?}"
    );
    assert_eq!(cell(0, "osp.ping.id"), "42");
    assert!(cell(1, "osp.audio.user_id").eq_ignore_ascii_case("0xf378b271"));
    assert_eq!(cell(1, "osp.audio.sample_count"), "240");
    assert_eq!(cell(2, "osp.transport.bpm"), "132.5");
    assert_eq!(cell(2, "osp.transport.anchor_tick"), "123456789");
    assert_eq!(cell(3, "osp.clock.t3_us"), "3000000000");
    assert_eq!(cell(4, "osp.chat.content"), "from the top");
    assert!(cell(5, "osp.stream.ssrc").eq_ignore_ascii_case("0x11112222,0x55556666"));
    assert_eq!(cell(6, "osp.resend.seq"), "7,8,65535");
    assert_eq!(cell(7, "osp.handshake.room_id"), "rehearsal");
    assert_eq!(cell(8, "osp.peer.user_id"), "7");
    // PeerAuth: the announcement inside is dissected, the tag found after it.
    assert_eq!(cell(9, "osp.peer.from"), "7");
    assert_eq!(
        cell(9, "osp.peer.to_nonce").to_ascii_lowercase(),
        "22".repeat(32)
    );
    assert!(cell(9, "osp.stream.ssrc").eq_ignore_ascii_case("0x00001007"));
    assert_eq!(
        cell(9, "osp.peer.tag").to_ascii_lowercase(),
        "cd".repeat(32)
    );
    assert_eq!(cell(10, "osp.peer.reason"), "2");
    assert_eq!(
        cell(10, "osp.peer.tag").to_ascii_lowercase(),
        "ef".repeat(32)
    );
}

#[test]
fn wireshark_reads_our_rtcp_generic_nack() {
    use proto::ostp::packet::Ssrc;
    use proto::rtcp;

    // Two NACKs in one compound datagram, as a receiver sends them for two streams.
    let mut datagram = [0u8; 128];
    let n = rtcp::encode_nack(
        Ssrc(0x0102_0304),
        Ssrc(0x05F1_A7E0),
        &[65_534, 65_535, 0, 3, 40],
        &mut datagram,
    )
    .expect("nack");
    let m = rtcp::encode_nack(
        Ssrc(0x0102_0304),
        Ssrc(0x0BAD_F00D),
        &[9],
        &mut datagram[n..],
    )
    .expect("nack");
    let datagram = datagram[..n + m].to_vec();
    let port = free_port_pair();
    let capture = capture("tshark-rtcp", port, || {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        socket
            .send_to(&datagram, (Ipv4Addr::LOCALHOST, port))
            .expect("send");
    });
    let decoded = run_tshark(&[
        "-r",
        &capture.display().to_string(),
        "-d",
        &format!("udp.port=={port},rtcp"),
        "-Y",
        "rtcp.pt == 205",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-e",
        "rtcp.pt",
        "-e",
        "rtcp.rtpfb.fmt",
        "-e",
        "rtcp.senderssrc",
        "-e",
        "rtcp.mediassrc",
        "-e",
        "rtcp.rtpfb.nack_pid",
        "-e",
        "rtcp.rtpfb.nack_blp",
    ]);
    let row: Vec<&str> = decoded.trim_end().split('\t').collect();
    assert_eq!(row.len(), 6, "{decoded}");
    assert_eq!(row[0], "205,205", "{decoded}");
    assert_eq!(row[1], "1,1", "{decoded}");
    assert!(
        row[2].eq_ignore_ascii_case("0x01020304,0x01020304"),
        "{decoded}"
    );
    assert!(
        row[3].eq_ignore_ascii_case("0x05f1a7e0,0x0badf00d"),
        "{decoded}"
    );
    // Wireshark lists every lost packet, PIDs and bitmask bits alike (it adds the bit offsets
    // without wrapping at 2^16, so compare modulo 2^16): 65534 with bits 0, 1, 4, then 40, 9.
    let lost: Vec<u16> = row[4]
        .split(',')
        .map(|v| (v.parse::<u32>().expect("seq") % 65_536) as u16)
        .collect();
    assert_eq!(lost, [65_534, 65_535, 0, 3, 40, 9], "{decoded}");
    assert!(
        row[5].eq_ignore_ascii_case("0x0013,0x0000,0x0000"),
        "{decoded}"
    );
}
