//! Session-core costs: ns per media packet through `Endpoint::handle` + draining its outputs on
//! the receiving side, and per packet on the sending side (encode, history, parity, queue).
//!
//! Two endpoints are connected by hand (no sockets); each figure is the median of 7 batches.
//! Then a whole session: 8 peers in a full mesh on netsim virtual time (10 ms ± |N(0, 1 ms)|
//! links, 1 % random loss), each sending 2.5 ms Opus frames with parity for 10 simulated
//! minutes; the figure is its wall time, and the ratio of simulated to wall time.

use std::net::SocketAddr;
use std::time::{Duration, Instant as Clock};

use netsim::{Loss, Mesh, Netem};
use proto::endpoint::{Command, Config, Endpoint, Event, Input};
use proto::osp::message::{StreamEncoding, StreamInfo};
use proto::path::Path;
use proto::time::{Instant, MediaTime};

fn config(user: u32) -> Config {
    let mut config = Config::new(user, "bench", b"secret", u64::from(user));
    config.streams = vec![
        StreamInfo::stereo(0x1000 + user, 1, StreamEncoding::Opus, 111, 120).with_parity(
            0x2000 + user,
            127,
            5,
        ),
    ];
    config
}

fn main() {
    two_endpoints();
    mesh_session();
}

fn two_endpoints() {
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
                    capture: None,
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
                audio += usize::from(matches!(event, Event::Audio(_)));
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

/// Peers in the simulated session.
const PEERS: usize = 8;
/// Simulated session length: 10 minutes, or `OSP_BENCH_SESSION_SECS` (for profiling).
fn session_length() -> Duration {
    let secs = std::env::var("OSP_BENCH_SESSION_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    Duration::from_secs(secs)
}

/// One endpoint of the simulated session: sends a 160-byte packet every 2.5 ms once connected,
/// and counts what it receives.
struct Peer {
    ep: Endpoint,
    next_frame: Duration,
    ticks: u64,
    audio: u64,
    missing: u64,
}

/// The mesh runs on a global clock from zero; endpoints get it shifted by a second.
fn local(now: Duration) -> Instant {
    Instant::from_micros(1_000_000) + now
}

impl netsim::Node for Peer {
    fn handle_datagram(&mut self, now: Duration, from: SocketAddr, data: &[u8]) {
        let from = Path::Direct(from);
        self.ep.handle(local(now), Input::Datagram { from, data });
        self.drain();
    }

    fn handle_timeout(&mut self, now: Duration) {
        if self.next_frame <= now {
            self.ep.handle(
                local(now),
                Input::Command(Command::SendAudio {
                    stream: 0,
                    timestamp: MediaTime(self.ticks),
                    capture: None,
                    payload: &[0x5A; 160],
                }),
            );
            self.ticks += 120;
            self.next_frame += Duration::from_micros(2_500);
        }
        if self.ep.poll_timeout().is_some_and(|t| t <= local(now)) {
            self.ep.handle(local(now), Input::Timeout);
        }
        self.drain();
    }

    fn poll_transmit(&mut self, _: Duration, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        let t = self.ep.poll_transmit(buf)?;
        match t.dest {
            Path::Direct(addr) => Some((addr, t.len)),
            other => panic!("{other:?} in a direct mesh"),
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        let ep = self
            .ep
            .poll_timeout()
            .map(|t| t.saturating_since(local(Duration::ZERO)));
        Some(ep.map_or(self.next_frame, |ep| ep.min(self.next_frame)))
    }
}

impl Peer {
    fn drain(&mut self) {
        while let Some(event) = self.ep.poll_event() {
            match event {
                Event::Audio(_) => self.audio += 1,
                Event::Missing { .. } => self.missing += 1,
                _ => {}
            }
        }
    }
}

fn mesh_session() {
    let session = session_length();
    let addr = |i: usize| SocketAddr::from(([127, 0, 0, 1], 40_000 + i as u16));
    let link = Netem::latency(Duration::from_millis(10))
        .with_jitter(Duration::from_millis(1))
        .with_loss(Loss::Random(0.01));
    let mut mesh = Mesh::new(link, 8);
    for i in 0..PEERS {
        let mut config = config(i as u32 + 1);
        config.playout_delay = Duration::from_millis(30);
        let mut ep = Endpoint::new(config);
        for j in (0..PEERS).filter(|&j| j != i) {
            ep.handle(
                local(Duration::ZERO),
                Input::Command(Command::AddPeer {
                    path: Path::Direct(addr(j)),
                    user_id: Some(j as u32 + 1),
                }),
            );
        }
        let peer = Peer {
            ep,
            // Audio starts once the mesh has had a second to connect.
            next_frame: Duration::from_secs(1),
            ticks: 0,
            audio: 0,
            missing: 0,
        };
        mesh.add(addr(i), peer);
    }
    let start = Clock::now();
    mesh.run_until(session);
    let wall = start.elapsed();
    let stats = mesh.stats();
    let (mut audio, mut missing) = (0, 0);
    for i in 0..PEERS {
        let peer = mesh.node(i);
        assert_eq!(
            peer.ep.connected().count(),
            PEERS - 1,
            "peer {i} lost the mesh"
        );
        audio += peer.audio;
        missing += peer.missing;
    }
    let sent_media =
        (session - Duration::from_secs(1)).as_micros() / 2_500 * (PEERS * (PEERS - 1)) as u128;
    println!(
        "8-peer mesh, {} s simulated: {:.2} s wall ({:.0}x real time), {} datagrams \
         ({:.0} ns each), {audio} packets played of {sent_media} sent ({missing} missing, \
         link loss 1 %)",
        session.as_secs(),
        wall.as_secs_f64(),
        session.as_secs_f64() / wall.as_secs_f64(),
        stats.delivered,
        wall.as_nanos() as f64 / stats.delivered as f64,
    );
}
