//! Our OSTP stream (0x4F53 extension, CRC in RTP padding) received by standard RTP software
//! nobody here wrote: GStreamer's `rtpopusdepay ! opusdec` and ffmpeg with our SDP. Both must
//! decode the same audio as our own receiver.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use codec::opus::{self, FrameDuration};
use proto::ostp::packet::{self, Accept, Extension, Header, SendForm, Ssrc, StreamId};
use proto::sdp;

use crate::support::{
    KillOnDrop, dominant_frequency, expect_clean_exit, interrupt_and_expect_clean_exit, tempdir,
};

const SR: f64 = 48_000.0;
const PT_OPUS: u8 = 111;
const FRAME: FrameDuration = FrameDuration::Ms5;
/// 16-bit sequence numbers roll over after the first five packets: receivers must follow.
pub(crate) const FIRST_SEQ: u32 = 0xFFFB;

/// Packet `index` of a test stream in our canonical form: sequence numbers start at
/// [`FIRST_SEQ`] (so they roll over the 16-bit field), RTP and media timestamps advance by
/// `frames` per packet from `ts0`.
fn ostp_packet(
    pt: u8,
    ssrc: u32,
    index: usize,
    frames: usize,
    ts0: u32,
    payload: &[u8],
) -> Vec<u8> {
    let seq = FIRST_SEQ + index as u32;
    let media = (index * frames) as u32;
    let header = Header {
        marker: index == 0,
        payload_type: pt,
        seq: seq as u16,
        timestamp: ts0.wrapping_add(media),
        ssrc: Ssrc(ssrc),
        extension: Some(Extension {
            stream_id: StreamId::PRIMARY,
            seq_ext: (seq >> 16) as u16,
            media_timestamp: media,
        }),
    };
    let mut out = vec![0u8; proto::ostp::MAX_DATAGRAM];
    let n = packet::encode(&header, payload, SendForm::Padding, &mut out).expect("packetize");
    out.truncate(n);
    out
}

/// An OSTP Opus stream of `seconds` of a 440 Hz stereo sine, in our canonical form.
pub(crate) fn opus_stream(seconds: f64) -> Vec<Vec<u8>> {
    let frames = (seconds * SR) as usize / FRAME.samples();
    let config = opus::Config {
        frame: FRAME,
        bitrate: 128_000,
        ..opus::Config::default()
    };
    let mut encoder = opus::Encoder::new(config).expect("encoder");
    let mut payload = [0u8; opus::MAX_PACKET];
    let mut pcm = vec![0f32; FRAME.samples() * 2];
    (0..frames)
        .map(|f| {
            for (i, pair) in pcm.chunks_exact_mut(2).enumerate() {
                let n = (f * FRAME.samples() + i) as f64;
                let s = 0.5 * (2.0 * std::f64::consts::PI * 440.0 * n / SR).sin() as f32;
                pair.fill(s);
            }
            let len = encoder.encode(&pcm, &mut payload).expect("encode");
            ostp_packet(
                PT_OPUS,
                0x05F1_A7E0,
                f,
                FRAME.samples(),
                0x1000_0000,
                &payload[..len],
            )
        })
        .collect()
}

/// What our own receiver makes of the stream, interleaved stereo.
fn our_decode(packets: &[Vec<u8>]) -> Vec<f32> {
    let mut decoder = opus::Decoder::new(2).expect("decoder");
    let mut out = vec![0f32; packets.len() * FRAME.samples() * 2];
    for (p, frame) in packets
        .iter()
        .zip(out.chunks_exact_mut(FRAME.samples() * 2))
    {
        let pkt = packet::decode(p, Accept::default()).expect("our own packet");
        assert_eq!(pkt.integrity, packet::Integrity::Padding);
        decoder.decode(pkt.payload, frame).expect("decode");
    }
    out
}

/// An even UDP port on 127.0.0.1 whose successor is free too (RTP + RTCP for ffmpeg).
pub(crate) fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = a.local_addr().expect("addr").port();
        if port.is_multiple_of(2)
            && port < u16::MAX
            && UdpSocket::bind((Ipv4Addr::LOCALHOST, port + 1)).is_ok()
        {
            return port;
        }
    }
    panic!("no free even port pair on 127.0.0.1");
}

/// Waits until some process holds `port` on 127.0.0.1 (the receiver is listening).
fn wait_until_bound(port: u16) {
    let start = Instant::now();
    while UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "receiver never bound port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends Opus packets to 127.0.0.1:`port`, paced in real time.
pub(crate) fn send_paced(packets: &[Vec<u8>], port: u16) {
    send_paced_every(
        packets,
        port,
        Duration::from_secs_f64(FRAME.samples() as f64 / SR),
    );
}

/// Sends packets to 127.0.0.1:`port`, one every `period`.
fn send_paced_every(packets: &[Vec<u8>], port: u16, period: Duration) {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind sender");
    let dest = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let start = Instant::now();
    for (i, p) in packets.iter().enumerate() {
        let due = start + period * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        socket.send_to(p, dest).expect("send");
    }
}

/// Reads a 16-bit stereo WAV as interleaved f32.
fn read_wav(path: &Path) -> Vec<f32> {
    let mut reader = hound::WavReader::open(path).expect("open wav");
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 48_000, 16)
    );
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("sample")) / 32_768.0)
        .collect()
}

/// SNR (dB) of `theirs` against `ours` at the best alignment (left channel), and the lag.
fn aligned_snr(ours: &[f32], theirs: &[f32]) -> (f64, isize) {
    let left = |x: &[f32]| x.iter().step_by(2).copied().collect::<Vec<f32>>();
    let (a, b) = (left(ours), left(theirs));
    let snr_at = |lag: isize| {
        let (mut signal, mut noise) = (0.0f64, 0.0f64);
        for (i, &x) in a.iter().enumerate().skip(2_400) {
            let j = i as isize + lag;
            if j < 0 || j as usize >= b.len() {
                continue;
            }
            let y = b[j as usize];
            signal += f64::from(x).powi(2);
            noise += f64::from(y - x).powi(2);
        }
        if signal == 0.0 {
            f64::NEG_INFINITY
        } else {
            10.0 * (signal / noise.max(1e-30)).log10()
        }
    };
    (-2_400..=2_400isize)
        .map(|lag| (snr_at(lag), lag))
        .max_by(|x, y| x.0.total_cmp(&y.0))
        .expect("lags")
}

fn assert_same_audio(receiver: &str, ours: &[f32], theirs: &[f32]) {
    assert!(
        theirs.len() > ours.len() / 2,
        "{receiver} decoded only {} samples",
        theirs.len()
    );
    let (snr, lag) = aligned_snr(ours, theirs);
    assert!(
        snr > 40.0,
        "{receiver}: SNR {snr:.1} dB against our decode (lag {lag})"
    );
    let tail: Vec<f32> = theirs
        .iter()
        .step_by(2)
        .skip(4_800)
        .take(9_600)
        .copied()
        .collect();
    let f = dominant_frequency(&tail, SR, 440.0);
    assert!((f - 440.0).abs() < 0.5, "{receiver}: {f} Hz");
}

#[test]
fn gstreamer_decodes_our_ostp_opus_stream_like_we_do() {
    let dir = tempdir("gst");
    let wav = dir.join("gst.wav");
    let packets = opus_stream(2.0);
    let port = free_port_pair();
    let caps = format!(
        "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload={PT_OPUS}"
    );
    let gst = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "-e",
            "udpsrc",
            "address=127.0.0.1",
            &format!("port={port}"),
        ])
        .arg(format!("caps={caps}"))
        .args([
            "!",
            "rtpjitterbuffer",
            "latency=100",
            "!",
            "rtpopusdepay",
            "!",
            "opusdec",
        ])
        .args([
            "!",
            "audioconvert",
            "!",
            "audio/x-raw,format=S16LE,channels=2",
            "!",
            "wavenc",
        ])
        .args(["!", "filesink", &format!("location={}", wav.display())])
        .stdout(Stdio::null())
        .spawn()
        .expect("gst-launch-1.0 (Debian gstreamer1.0-tools)");
    let mut gst = KillOnDrop(gst);
    wait_until_bound(port);
    send_paced(&packets, port);
    std::thread::sleep(Duration::from_millis(400));
    interrupt_and_expect_clean_exit(&mut gst, "gst-launch-1.0");
    assert_same_audio("GStreamer", &our_decode(&packets), &read_wav(&wav));
}

#[test]
fn ffmpeg_decodes_our_ostp_opus_stream_from_our_sdp() {
    let dir = tempdir("ffmpeg");
    let wav = dir.join("ffmpeg.wav");
    let sdp_path = dir.join("stream.sdp");
    let packets = opus_stream(2.0);
    let port = free_port_pair();
    let sdp_text = sdp::write(&sdp::Stream {
        address: Ipv4Addr::LOCALHOST.into(),
        port,
        payload_type: PT_OPUS,
        encoding: sdp::Encoding::Opus { channels: 2 },
        ptime_ms: 5.0,
    });
    std::fs::write(&sdp_path, sdp_text).expect("write sdp");
    let ffmpeg = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-y",
            "-loglevel",
            "error",
            "-protocol_whitelist",
            "file,udp,rtp",
        ])
        .args([
            "-i",
            &sdp_path.display().to_string(),
            "-c:a",
            "pcm_s16le",
            "-ac",
            "2",
        ])
        .arg(&wav)
        .stdout(Stdio::null())
        .spawn()
        .expect("ffmpeg (Debian ffmpeg)");
    let mut ffmpeg = KillOnDrop(ffmpeg);
    wait_until_bound(port);
    send_paced(&packets, port);
    // ffmpeg ends the input by itself about 10 s after the last packet; SIGINT earlier would
    // truncate the WAV.
    expect_clean_exit(&mut ffmpeg, "ffmpeg", Duration::from_secs(30));
    assert_same_audio("ffmpeg", &our_decode(&packets), &read_wav(&wav));
}

/// Frames per PCM packet: 1.333 ms, the LAN setting.
const PCM_FRAMES: usize = 64;

/// Integer stereo samples (interleaved) of a sine plus deterministic noise, so every bit of
/// the sample word is exercised, and the OSTP packets carrying them.
fn pcm_stream(format: codec::pcm::Format, pt: u8, seconds: f64) -> (Vec<i32>, Vec<Vec<u8>>) {
    let bits = 8 * format.bytes_per_sample() as u32;
    let full = f64::from(1u32 << (bits - 1));
    let frames = (seconds * SR) as usize / PCM_FRAMES * PCM_FRAMES;
    let mut noise = 0x1234_5678u32;
    let mut ints = Vec::with_capacity(frames * 2);
    for n in 0..frames {
        let s = 0.5 * (2.0 * std::f64::consts::PI * 440.0 * n as f64 / SR).sin();
        for _ in 0..2 {
            noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let dither = f64::from(noise >> 16) / 65_536.0 - 0.5;
            ints.push((s * full + dither * 64.0).round() as i32);
        }
    }
    let floats: Vec<f32> = ints.iter().map(|&v| (f64::from(v) / full) as f32).collect();
    let packets = floats
        .chunks_exact(PCM_FRAMES * 2)
        .enumerate()
        .map(|(i, chunk)| {
            let mut payload = vec![0u8; chunk.len() * format.bytes_per_sample()];
            codec::pcm::encode(format, chunk, &mut payload).expect("pcm encode");
            ostp_packet(pt, 0x0C0F_FEE0, i, PCM_FRAMES, 0, &payload)
        })
        .collect();
    (ints, packets)
}

/// Sends a PCM stream to GStreamer's `rtpL24depay`/`rtpL16depay` and checks the WAV it writes
/// holds exactly our samples.
fn gstreamer_pcm_is_bit_exact(format: codec::pcm::Format, name: &str, pt: u8) {
    let dir = tempdir(&format!("gst-{name}"));
    let wav = dir.join("out.wav");
    let (ints, packets) = pcm_stream(format, pt, 1.0);
    let port = free_port_pair();
    let (raw, bits) = if name == "L24" {
        ("S24LE", 24)
    } else {
        ("S16LE", 16)
    };
    let gst = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "-e",
            "udpsrc",
            "address=127.0.0.1",
            &format!("port={port}"),
        ])
        .arg(format!(
            "caps=application/x-rtp,media=audio,clock-rate=48000,encoding-name={name},\
             channels=2,payload={pt}"
        ))
        .args([
            "!",
            "rtpjitterbuffer",
            "latency=100",
            "!",
            &format!("rtp{name}depay"),
        ])
        .args([
            "!",
            "audioconvert",
            "!",
            &format!("audio/x-raw,format={raw},channels=2"),
        ])
        .args([
            "!",
            "wavenc",
            "!",
            "filesink",
            &format!("location={}", wav.display()),
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("gst-launch-1.0");
    let mut gst = KillOnDrop(gst);
    wait_until_bound(port);
    send_paced_every(
        &packets,
        port,
        Duration::from_secs_f64(PCM_FRAMES as f64 / SR),
    );
    std::thread::sleep(Duration::from_millis(400));
    interrupt_and_expect_clean_exit(&mut gst, "gst-launch-1.0");

    let mut reader = hound::WavReader::open(&wav).expect("open wav");
    assert_eq!(reader.spec().bits_per_sample, bits);
    let theirs: Vec<i32> = reader
        .samples::<i32>()
        .map(|s| s.expect("sample"))
        .collect();
    assert!(
        theirs.len() >= ints.len() * 9 / 10,
        "{name}: got {} of {}",
        theirs.len(),
        ints.len()
    );
    // Align on the first 32 samples, then every overlapping sample must be identical.
    let start = (0..ints.len() - 32)
        .step_by(2)
        .find(|&k| ints[k..k + 32] == theirs[..32])
        .unwrap_or_else(|| panic!("{name}: GStreamer output matches no offset of ours"));
    let overlap = (ints.len() - start).min(theirs.len());
    let mismatches = (0..overlap)
        .filter(|&i| ints[start + i] != theirs[i])
        .count();
    assert_eq!(
        mismatches, 0,
        "{name}: {mismatches} of {overlap} samples differ"
    );
}

#[test]
fn gstreamer_receives_our_l24_stream_bit_exactly() {
    gstreamer_pcm_is_bit_exact(codec::pcm::Format::L24, "L24", 96);
}

#[test]
fn gstreamer_receives_our_l16_stream_bit_exactly() {
    gstreamer_pcm_is_bit_exact(codec::pcm::Format::L16, "L16", 97);
}
