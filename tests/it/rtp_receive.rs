//! Our receiver decodes plain RTP Opus sent by standard tools: GStreamer's `rtpopuspay` (marker
//! on the first packet only) and ffmpeg's RTP muxer (marker on every packet). No extension, no
//! CRC, random initial sequence number, timestamp and SSRC.

use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use codec::opus;
use proto::ostp::inbound::{self, Inbound};
use proto::ostp::packet::{Accept, Integrity};

use crate::support::{KillOnDrop, dominant_frequency, expect_clean_exit, rms};

const PT_OPUS: u8 = 111;

/// Everything received on `socket` until `sender` has exited and the socket stayed quiet for
/// 500 ms (bounded at 30 s).
fn receive_all(socket: &UdpSocket, sender: &mut KillOnDrop, what: &str) -> Vec<Vec<u8>> {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let start = Instant::now();
    let mut last = Instant::now();
    let mut datagrams = Vec::new();
    let mut buf = vec![0u8; proto::ostp::RECEIVE_BUFFER];
    loop {
        match socket.recv(&mut buf) {
            Ok(n) => {
                datagrams.push(buf[..n].to_vec());
                last = Instant::now();
            }
            Err(_) => {
                let exited = sender.0.try_wait().expect("wait").is_some();
                if exited && last.elapsed() > Duration::from_millis(500) {
                    break;
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} never finished"
        );
    }
    expect_clean_exit(sender, what, Duration::from_secs(1));
    datagrams
}

struct Decoded {
    audio: Vec<f32>,
    stats: inbound::Stats,
    first_seq: u64,
}

/// Runs the datagrams through our inbound stream and Opus decoder, in sequence order.
fn our_receiver(datagrams: &[Vec<u8>]) -> Decoded {
    let mut stream = Inbound::new(inbound::Config {
        payload_type: PT_OPUS,
        ssrc: None,
        accept: Accept {
            plain_rtp: true,
            legacy_no_crc: false,
        },
        resends: false,
    });
    let mut arrivals: Vec<_> = datagrams
        .iter()
        .map(|d| stream.receive(d).expect("standard RTP accepted"))
        .collect();
    assert!(arrivals.iter().all(|a| a.integrity == Integrity::Unchecked));
    arrivals.sort_by_key(|a| a.seq);
    let first_seq = arrivals[0].seq.0;
    for (i, a) in arrivals.iter().enumerate() {
        assert_eq!(a.seq.0, first_seq + i as u64, "contiguous sequence");
    }
    let mut decoder = opus::Decoder::new(2).expect("decoder");
    let mut frame = vec![0f32; 2 * 5760];
    let mut audio = Vec::new();
    for a in &arrivals {
        let n = decoder.decode(a.payload, &mut frame).expect("decode");
        audio.extend_from_slice(&frame[..2 * n]);
    }
    Decoded {
        audio,
        stats: stream.stats(),
        first_seq,
    }
}

/// The steady part of the left channel: 440 Hz at the expected level.
fn assert_tone(what: &str, audio: &[f32], seconds: f64, amplitude: f64) {
    let frames = audio.len() / 2;
    assert!(
        (frames as f64 / 48_000.0 - seconds).abs() < 0.1,
        "{what}: {frames} frames decoded, expected {seconds} s"
    );
    let left: Vec<f32> = audio
        .iter()
        .step_by(2)
        .skip(4_800)
        .take(48_000)
        .copied()
        .collect();
    let f = dominant_frequency(&left, 48_000.0, 440.0);
    assert!((f - 440.0).abs() < 0.5, "{what}: {f} Hz");
    let level_db = 20.0 * (rms(&left) * 2f64.sqrt() / amplitude).log10();
    assert!(level_db.abs() < 0.5, "{what}: level {level_db:+.2} dB off");
}

#[test]
fn our_receiver_decodes_gstreamer_rtpopuspay() {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = socket.local_addr().expect("addr").port();
    // 150 buffers of 480 samples = 1.5 s, 10 ms Opus frames, live pacing.
    let gst = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "audiotestsrc",
            "is-live=true",
            "num-buffers=150",
            "samplesperbuffer=480",
        ])
        .args([
            "freq=440",
            "volume=0.5",
            "!",
            "audio/x-raw,rate=48000,channels=2",
        ])
        .args(["!", "opusenc", "bitrate=128000", "frame-size=10"])
        .args(["!", "rtpopuspay", &format!("pt={PT_OPUS}")])
        .args(["!", "udpsink", "host=127.0.0.1", &format!("port={port}")])
        .stdout(Stdio::null())
        .spawn()
        .expect("gst-launch-1.0 (Debian gstreamer1.0-tools)");
    let mut gst = KillOnDrop(gst);
    let datagrams = receive_all(&socket, &mut gst, "gst-launch-1.0");
    let decoded = our_receiver(&datagrams);
    eprintln!(
        "GStreamer: {} packets from seq {}, stats {:?}",
        datagrams.len(),
        decoded.first_seq,
        decoded.stats
    );
    // opusenc drains its lookahead into one extra packet at EOS.
    assert!(
        (150..=151).contains(&decoded.stats.accepted),
        "{:?}",
        decoded.stats
    );
    assert_eq!(
        decoded.stats.markers, 1,
        "rtpopuspay marks the first packet only"
    );
    assert_eq!(
        decoded.stats.gaps + decoded.stats.duplicates + decoded.stats.invalid,
        0
    );
    assert_tone("GStreamer", &decoded.audio, 1.5, 0.5);
}

#[test]
fn our_receiver_decodes_ffmpeg_rtp_opus() {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = socket.local_addr().expect("addr").port();
    // 2 s at 20 ms per frame; ffmpeg's sine source has amplitude 1/8.
    let ffmpeg = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2:sample_rate=48000",
        ])
        .args([
            "-ac",
            "2",
            "-c:a",
            "libopus",
            "-b:a",
            "128k",
            "-frame_duration",
            "20",
        ])
        .args(["-payload_type", &PT_OPUS.to_string(), "-f", "rtp"])
        .arg(format!("rtp://127.0.0.1:{port}?rtcpport={port}"))
        .stdout(Stdio::null())
        .spawn()
        .expect("ffmpeg (Debian ffmpeg)");
    let mut ffmpeg = KillOnDrop(ffmpeg);
    let mut datagrams = receive_all(&socket, &mut ffmpeg, "ffmpeg");
    // ffmpeg also sends RTCP sender reports to the same port: the demultiplexer sets them aside.
    let before = datagrams.len();
    datagrams.retain(|d| proto::demux::classify(d, false) == proto::demux::Kind::Rtp);
    let rtcp = before - datagrams.len();
    let decoded = our_receiver(&datagrams);
    eprintln!(
        "ffmpeg: {} RTP packets from seq {}, {rtcp} RTCP, stats {:?}",
        datagrams.len(),
        decoded.first_seq,
        decoded.stats
    );
    assert!(
        (100..=101).contains(&decoded.stats.accepted),
        "{:?}",
        decoded.stats
    );
    assert_eq!(
        decoded.stats.markers, decoded.stats.accepted,
        "ffmpeg marks every packet"
    );
    assert_eq!(
        decoded.stats.gaps + decoded.stats.duplicates + decoded.stats.invalid,
        0
    );
    // Upmixing the mono source to stereo costs 3 dB per channel.
    assert_tone(
        "ffmpeg",
        &decoded.audio,
        2.0,
        0.125 * std::f64::consts::FRAC_1_SQRT_2,
    );
}
