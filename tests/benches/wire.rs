//! Wire-format and codec costs: ns per packet to encode and decode OSTP (with CRC), OSP, RTCP
//! NACK and XOR parity, and Opus encode + decode per stereo frame as a fraction of real time.
//!
//! Each figure is the median of 7 batches, each batch sized to take about 30 ms.

use std::hint::black_box;
use std::time::{Duration, Instant};

use codec::opus::{self, FrameDuration};
use proto::osp::{self, FrameHeader, Message, message::*};
use proto::ostp::packet::{self, Accept, Extension, Header, SendForm, Ssrc, StreamId};
use proto::ostp::parity;
use proto::rtcp;

/// Median ns per call of `f`.
fn measure(mut f: impl FnMut()) -> f64 {
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..batch {
            f();
        }
        if start.elapsed() > Duration::from_millis(30) {
            break;
        }
        batch *= 2;
    }
    let mut samples: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                f();
            }
            start.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[3]
}

fn row(what: &str, ns: f64) {
    println!("{what:<52} {ns:>10.1} ns");
}

fn header() -> Header {
    Header {
        marker: false,
        payload_type: 96,
        seq: 7,
        timestamp: 64_000,
        ssrc: Ssrc(0x05F1_A7E0),
        extension: Some(Extension {
            stream_id: StreamId::PRIMARY,
            seq_ext: 0,
            media_timestamp: 64_000,
        }),
    }
}

fn ostp() {
    println!("OSTP (canonical form: extension + CRC-32 in padding)");
    for (name, len) in [
        ("Opus 10 ms @128k, 160 B", 160usize),
        ("L24 stereo 64 frames, 384 B", 384),
        ("max payload, 1171 B", 1171),
    ] {
        let payload = vec![0x5Au8; len];
        let mut out = [0u8; 1200];
        let n = packet::encode(&header(), &payload, SendForm::Padding, &mut out).unwrap();
        row(
            &format!("  encode {name}"),
            measure(|| {
                black_box(
                    packet::encode(
                        black_box(&header()),
                        black_box(&payload),
                        SendForm::Padding,
                        &mut out,
                    )
                    .unwrap(),
                );
            }),
        );
        let wire = out[..n].to_vec();
        row(
            &format!("  decode {name}"),
            measure(|| {
                black_box(packet::decode(black_box(&wire), Accept::default()).unwrap());
            }),
        );
    }
    // Worst accepted case: a legacy variant-B trailer is found only after three CRC attempts.
    let payload = vec![0x5Au8; 384];
    let mut out = [0u8; 1200];
    let n = packet::encode(&header(), &payload, SendForm::TrailerB, &mut out).unwrap();
    let wire = out[..n].to_vec();
    row(
        "  decode legacy trailer B, 384 B (3 CRC passes)",
        measure(|| {
            black_box(packet::decode(black_box(&wire), Accept::default()).unwrap());
        }),
    );
}

fn osp_messages() {
    println!("OSP frames");
    let data = [0x5Au8; 160];
    let cases: [(&str, Message<'_>); 4] = [
        (
            "AudioFrame, 160 B Opus",
            Message::AudioFrame(AudioFrame {
                user_id: 1,
                track_id: 0,
                codec: AudioCodec::Opus,
                channels: 2,
                sample_count: 480,
                data: &data,
            }),
        ),
        (
            "Ping",
            Message::Ping(Ping {
                ping_id: 1,
                send_time: 2,
            }),
        ),
        (
            "TransportSync",
            Message::TransportSync(TransportSync {
                version: 1,
                playing: true,
                bpm: 120.0,
                beats_per_bar: 4,
                beat_unit: 4,
                anchor_tick: 0,
                anchor_beat: 0.0,
            }),
        ),
        (
            "ChatMessage, 40-char text",
            Message::ChatMessage(ChatMessage {
                user_id: "user-0001".into(),
                user_name: "Ada".into(),
                content: "x".repeat(40),
                message_type: "text".into(),
                timestamp: 0,
            }),
        ),
    ];
    for (name, message) in &cases {
        let mut out = [0u8; osp::MAX_DATAGRAM];
        let n = osp::encode(FrameHeader::default(), message, &mut out).unwrap();
        row(
            &format!("  encode {name}"),
            measure(|| {
                black_box(
                    osp::encode(FrameHeader::default(), black_box(message), &mut out).unwrap(),
                );
            }),
        );
        let wire = out[..n].to_vec();
        row(
            &format!("  decode {name}"),
            measure(|| {
                black_box(osp::decode(black_box(&wire)).unwrap());
            }),
        );
    }
}

fn loss_recovery() {
    println!("Loss recovery");
    let lost = [100u16, 101, 103, 120, 121, 140];
    let mut out = [0u8; 256];
    let n = rtcp::encode_nack(Ssrc(1), Ssrc(2), &lost, &mut out).unwrap();
    row(
        "  RTCP generic NACK encode, 6 seqs",
        measure(|| {
            black_box(rtcp::encode_nack(Ssrc(1), Ssrc(2), black_box(&lost), &mut out).unwrap());
        }),
    );
    let wire = out[..n].to_vec();
    row(
        "  RTCP generic NACK decode + list",
        measure(|| {
            for p in rtcp::packets(black_box(&wire)) {
                let nack = rtcp::GenericNack::parse(&p.unwrap()).unwrap();
                black_box(nack.lost().count());
            }
        }),
    );
    let payloads: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 384]).collect();
    let headers: Vec<Header> = (0..5u16)
        .map(|i| Header {
            seq: 7 + i,
            ..header()
        })
        .collect();
    let mut builder = parity::Builder::new(Ssrc(0x05F1_A7E0));
    row(
        "  parity build, 5 x 384 B",
        measure(|| {
            builder.clear();
            for (h, p) in headers.iter().zip(&payloads) {
                builder.add(h, p).unwrap();
            }
            black_box(&builder);
        }),
    );
    let mut par = [0u8; 1200];
    let n = builder.write(&mut par).unwrap();
    let parsed = parity::Parity::parse(&par[..n]).unwrap();
    let mut rebuilt = [0u8; 1200];
    row(
        "  parity recover 1 of 5 x 384 B",
        measure(|| {
            let others = [0usize, 1, 3, 4].map(|i| (headers[i], payloads[i].as_slice()));
            black_box(parsed.recover(others, &mut rebuilt).unwrap());
        }),
    );
}

/// Median ns to encode one stereo frame at 128 kb/s and decode it `decoders` times (each
/// decoder with its own state, as each remote stream has).
fn opus_frame_ns(
    frame: FrameDuration,
    complexity: u8,
    constant_bitrate: bool,
    decoders: usize,
) -> f64 {
    let mut encoder = opus::Encoder::new(opus::Config {
        channels: 2,
        frame,
        bitrate: 128_000,
        complexity,
        constant_bitrate,
    })
    .unwrap();
    let mut decoders: Vec<opus::Decoder> = (0..decoders)
        .map(|_| opus::Decoder::new(2).unwrap())
        .collect();
    let samples = frame.samples();
    let pcm: Vec<f32> = (0..2 * samples)
        .map(|i| ((i / 2) as f32 * 0.0576).sin() * 0.5)
        .collect();
    let mut packet = [0u8; opus::MAX_PACKET];
    let mut decoded = vec![0f32; 2 * samples];
    measure(|| {
        let n = encoder.encode(black_box(&pcm), &mut packet).unwrap();
        for decoder in &mut decoders {
            black_box(decoder.decode(&packet[..n], &mut decoded).unwrap());
        }
    })
}

fn real_time_ns(frame: FrameDuration) -> f64 {
    frame.samples() as f64 / 48_000.0 * 1e9
}

fn opus_cost() {
    println!("Opus, stereo 128 kbit/s, encode + decode one frame (fraction of real time)");
    for frame in [FrameDuration::Ms2_5, FrameDuration::Ms10] {
        for complexity in [5u8, 10] {
            let ns = opus_frame_ns(frame, complexity, false, 1);
            let samples = frame.samples();
            println!(
                "  {:>4} ms, complexity {complexity:>2}: {ns:>9.0} ns per frame = {:.4} of real time ({:.1} ns/sample)",
                samples as f64 / 48.0,
                ns / real_time_ns(frame),
                ns / samples as f64,
            );
        }
    }
}

/// The codec work of one participant in an 8-performer mesh (the latency bench's mesh row):
/// our stream encoded once, the 7 others' decoded, Opus 2.5 ms at 128 kb/s with the send
/// path's settings (complexity 5, constant bitrate), as a share of one core.
fn mesh_codec_cost() {
    const PEERS: usize = 7;
    println!("Codec work of one participant of an 8-performer mesh");
    let frame = FrameDuration::Ms2_5;
    let ns = opus_frame_ns(frame, 5, true, PEERS);
    println!(
        "  1 encode + {PEERS} decodes, 2.5 ms stereo 128 kb/s: {ns:>9.0} ns per frame = {:.2} % of a core",
        100.0 * ns / real_time_ns(frame),
    );
}

fn main() {
    // `cargo test --benches` runs this binary with `--bench` absent; keep that fast.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    ostp();
    osp_messages();
    loss_recovery();
    opus_cost();
    mesh_codec_cost();
}
