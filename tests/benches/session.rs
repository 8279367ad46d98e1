//! Session-core costs: ns per media packet through `Endpoint::handle` + draining its outputs on
//! the receiving side, and per packet on the sending side (encode, history, parity, queue).
//!
//! Two endpoints are connected by hand (no sockets); each figure is the median of 7 batches.

use std::net::SocketAddr;
use std::time::{Duration, Instant as Clock};

use proto::endpoint::{Command, Config, Endpoint, Input};
use proto::osp::message::{CrcForm, ParityStream, StreamEncoding, StreamInfo};
use proto::path::Path;
use proto::time::{Instant, MediaTime};

fn config(user: u32) -> Config {
    let mut config = Config::new(user, "bench", b"secret", u64::from(user));
    config.streams = vec![StreamInfo {
        ssrc: 0x1000 + user,
        stream_id: 1,
        track_id: 0,
        payload_type: 111,
        encoding: StreamEncoding::Opus,
        channels: 2,
        clock_rate: 48_000,
        frame_samples: 120,
        crc: CrcForm::Padding,
        parity: Some(ParityStream {
            ssrc: 0x2000 + user,
            payload_type: 127,
            group_size: 5,
        }),
    }];
    config
}

fn main() {
    let pa = Path::Direct(SocketAddr::from(([127, 0, 0, 1], 1)));
    let pb = Path::Direct(SocketAddr::from(([127, 0, 0, 1], 2)));
    let mut a = Endpoint::new(config(1));
    let mut b = Endpoint::new(config(2));
    let mut now = Instant::from_micros(1_000_000);
    a.handle(
        now,
        Input::Command(Command::AddPeer {
            path: pb,
            user_id: Some(2),
        }),
    );
    b.handle(
        now,
        Input::Command(Command::AddPeer {
            path: pa,
            user_id: Some(1),
        }),
    );
    let mut buf = vec![0u8; 1500];
    for _ in 0..8 {
        while let Some(t) = a.poll_transmit(&mut buf) {
            b.handle(
                now,
                Input::Datagram {
                    from: pa,
                    data: &buf[..t.len],
                },
            );
        }
        while let Some(t) = b.poll_transmit(&mut buf) {
            a.handle(
                now,
                Input::Datagram {
                    from: pb,
                    data: &buf[..t.len],
                },
            );
        }
    }
    assert_eq!(b.connected().count(), 1, "handshake");
    while a.poll_event().is_some() || b.poll_event().is_some() {}

    let payload = [0x5Au8; 160];
    let mut ticks = 0u64;
    let mut packets: Vec<(Instant, Vec<u8>)> = Vec::new();
    let mut send_ns = Vec::new();
    let mut receive_ns = Vec::new();
    for _ in 0..7 {
        let n = 20_000;
        packets.clear();
        let start = Clock::now();
        for _ in 0..n {
            now += Duration::from_micros(2_500);
            ticks += 120;
            a.handle(
                now,
                Input::Command(Command::SendAudio {
                    stream: 0,
                    timestamp: MediaTime(ticks),
                    payload: &payload,
                }),
            );
            while let Some(t) = a.poll_transmit(&mut buf) {
                packets.push((now + Duration::from_millis(10), buf[..t.len].to_vec()));
            }
        }
        send_ns.push(start.elapsed().as_nanos() as f64 / n as f64);
        let count = packets.len();
        let start = Clock::now();
        let mut audio = 0usize;
        for (at, packet) in &packets {
            b.handle(
                *at,
                Input::Datagram {
                    from: pa,
                    data: packet,
                },
            );
            while b.poll_transmit(&mut buf).is_some() {}
            while let Some(event) = b.poll_event() {
                audio += usize::from(matches!(event, proto::endpoint::Event::Audio(_)));
            }
        }
        assert_eq!(audio, n, "every packet delivered as audio");
        receive_ns.push(start.elapsed().as_nanos() as f64 / count as f64);
    }
    send_ns.sort_by(f64::total_cmp);
    receive_ns.sort_by(f64::total_cmp);
    println!(
        "endpoint send (SendAudio + drain, 160 B Opus, parity 1/5): {:>8.1} ns/packet",
        send_ns[3]
    );
    println!(
        "endpoint receive (handle + drain, media and parity):     {:>8.1} ns/datagram",
        receive_ns[3]
    );
}
