//! The endpoint on netsim virtual time: handshake and authentication, clock and beat alignment,
//! loss recovery, vanishing peers, path switches and hostile input, with the numbers the session
//! needs asserted.

use std::net::SocketAddr;
use std::time::Duration;

use netsim::{Loss, Mesh, Netem};

use std::collections::VecDeque;

use super::*;
use crate::osp::message::StreamEncoding;
use crate::osp::message::{PeerAuth, PeerHello, StreamInfo};
use crate::osp::{Frame, FrameHeader};
use crate::ostp::packet::{self, Accept};
use crate::path::Path;
use crate::path::RelayTrack;
use crate::peer::BackoffPolicy;
use crate::recovery::Via;
use crate::time::MediaTime;

/// A clock running `1 + skew` times real time from `offset` µs.
#[derive(Clone, Copy, Debug)]
struct Clock {
    offset: u64,
    skew: f64,
}

impl Clock {
    fn local(self, global: Duration) -> Instant {
        let us = global.as_micros() as f64 * (1.0 + self.skew);
        Instant::from_micros(self.offset + us as u64)
    }

    /// The first global instant whose local reading is at or after `local`.
    fn global(self, local: Instant) -> Duration {
        let us = local.as_micros().saturating_sub(self.offset) as f64 / (1.0 + self.skew);
        let mut global = Duration::from_micros(us.ceil() as u64);
        while self.local(global) < local {
            global += Duration::from_micros(1);
        }
        global
    }
}

/// Sends one constant-size packet per frame on stream 0 while `sending`.
#[derive(Clone, Copy, Debug)]
struct Source {
    frame: Duration,
    frame_ticks: u64,
    bytes: usize,
    next: Duration,
    ticks: u64,
}

/// The capture instant the test source stamps on the packet with RTP timestamp `ticks` (an
/// offset that wraps, as the session timeline's 32 bits do).
fn capture_of(ticks: u64) -> u32 {
    (ticks as u32).wrapping_add(0xF000_0123)
}

impl Source {
    /// 160-byte packets every 2.5 ms (120 samples) from `now`.
    fn every_2_5_ms(now: Duration) -> Self {
        Self {
            frame: Duration::from_micros(2_500),
            frame_ticks: 120,
            bytes: 160,
            next: now,
            ticks: 0,
        }
    }
}

/// An endpoint as a netsim node, logging events and transmits on the global clock.
struct Node {
    ep: Endpoint,
    clock: Clock,
    alive: bool,
    source: Option<Source>,
    events: Vec<(Duration, Event)>,
    sent: Vec<(Duration, SocketAddr, usize)>,
    /// Every media datagram (SSRC 0x1000 + id) in or out: (global time, SSRC, seq32, sent).
    media: Vec<(Duration, u32, u32, bool)>,
    /// The test relay's address, if [`Path::Relay`] is used (see [`Relay`]).
    relay: Option<SocketAddr>,
}

impl Node {
    fn new(config: Config, clock: Clock) -> Self {
        Self {
            ep: Endpoint::new(config),
            clock,
            alive: true,
            source: None,
            events: Vec::new(),
            sent: Vec::new(),
            media: Vec::new(),
            relay: None,
        }
    }

    fn command(&mut self, now: Duration, command: Command<'_>) {
        let local = self.clock.local(now);
        self.ep.handle(local, Input::Command(command));
        self.drain(now);
    }

    fn drain(&mut self, now: Duration) {
        while let Some(event) = self.ep.poll_event() {
            self.events.push((now, event));
        }
    }

    fn log_media(&mut self, now: Duration, data: &[u8], sent: bool) {
        if let Ok(packet) = packet::decode(data, Accept::default()) {
            let ssrc = packet.header.ssrc.0;
            if (0x1000..0x2000).contains(&ssrc) {
                self.media.push((now, ssrc, packet.header.seq32(), sent));
            }
        }
    }

    fn gone_events(&self, user: u32) -> Vec<(Duration, GoneReason)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::PeerGone { user_id, reason } if *user_id == user => Some((*t, *reason)),
                _ => None,
            })
            .collect()
    }
}

impl netsim::Node for Node {
    fn handle_datagram(&mut self, now: Duration, from: SocketAddr, data: &[u8]) {
        if !self.alive {
            return;
        }
        let (from, data) = match Relay::unwrap(self.relay, from, data) {
            Some((track, inner)) => (Path::Relay(track), inner),
            None => (Path::Direct(from), data),
        };
        self.log_media(now, data, false);
        let local = self.clock.local(now);
        self.ep.handle(local, Input::Datagram { from, data });
        self.drain(now);
    }

    fn handle_timeout(&mut self, now: Duration) {
        if !self.alive {
            return;
        }
        if let Some(mut source) = self.source
            && source.next <= now
        {
            let payload = vec![0x5A; source.bytes];
            let local = self.clock.local(now);
            self.ep.handle(
                local,
                Input::Command(Command::SendAudio {
                    stream: 0,
                    timestamp: MediaTime(source.ticks),
                    capture: Some(capture_of(source.ticks)),
                    payload: &payload,
                }),
            );
            source.ticks += source.frame_ticks;
            source.next += source.frame;
            self.source = Some(source);
        }
        let local = self.clock.local(now);
        if self.ep.poll_timeout().is_some_and(|t| t <= local) {
            self.ep.handle(local, Input::Timeout);
        }
        self.drain(now);
    }

    fn poll_transmit(&mut self, now: Duration, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        if !self.alive {
            return None;
        }
        // Room for the relay's track header in front; moved back for a direct send.
        let t = self.ep.poll_transmit(&mut buf[RELAY_HEADER..])?;
        self.log_media(now, &buf[RELAY_HEADER..RELAY_HEADER + t.len], true);
        let (addr, len) = match t.dest {
            Path::Direct(addr) => {
                buf.copy_within(RELAY_HEADER..RELAY_HEADER + t.len, 0);
                (addr, t.len)
            }
            Path::Relay(track) => {
                buf[..RELAY_HEADER].copy_from_slice(&track.0.to_be_bytes());
                let relay = self.relay.expect("a relay path without a relay");
                (relay, RELAY_HEADER + t.len)
            }
            Path::Multicast(_) => panic!("no multicast in this mesh"),
        };
        self.sent.push((now, addr, len));
        Some((addr, len))
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.alive {
            return None;
        }
        let ep = self.ep.poll_timeout().map(|t| self.clock.global(t));
        let source = self.source.map(|s| s.next);
        [ep, source].into_iter().flatten().min()
    }
}

/// The test relay's header: the destination track on the way in, the source track on the way
/// out (big-endian u32).
const RELAY_HEADER: usize = 4;

/// A stand-in for the relay layer: node `i` publishes on track `i`; a datagram sent to the relay
/// with a track header goes to that track's owner, its header rewritten to the sender's track.
/// It only moves datagrams: what a relay path changes for the endpoint (another [`Path`],
/// another delay) is what the switch test needs.
struct Relay {
    tracks: Vec<SocketAddr>,
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
    forwarded: u64,
}

impl Relay {
    /// The source track and inner datagram of a datagram from the relay at `relay`.
    fn unwrap(
        relay: Option<SocketAddr>,
        from: SocketAddr,
        data: &[u8],
    ) -> Option<(RelayTrack, &[u8])> {
        let (header, inner) = data.split_first_chunk::<RELAY_HEADER>()?;
        (relay == Some(from)).then(|| (RelayTrack(u32::from_be_bytes(*header)), inner))
    }
}

/// A mesh holding endpoints and, for the path tests, the relay.
enum Sim {
    Peer(Box<Node>),
    Relay(Relay),
}

impl Sim {
    fn peer(&self) -> &Node {
        match self {
            Self::Peer(node) => node,
            Self::Relay(_) => panic!("the relay is not a peer"),
        }
    }

    fn peer_mut(&mut self) -> &mut Node {
        match self {
            Self::Peer(node) => node,
            Self::Relay(_) => panic!("the relay is not a peer"),
        }
    }
}

impl netsim::Node for Sim {
    fn handle_datagram(&mut self, now: Duration, from: SocketAddr, data: &[u8]) {
        match self {
            Self::Peer(node) => node.handle_datagram(now, from, data),
            Self::Relay(relay) => {
                let Some((header, inner)) = data.split_first_chunk::<RELAY_HEADER>() else {
                    return;
                };
                let to = relay.tracks.get(u32::from_be_bytes(*header) as usize);
                let source = relay.tracks.iter().position(|a| *a == from);
                if let (Some(&to), Some(source)) = (to, source) {
                    let mut out = (source as u32).to_be_bytes().to_vec();
                    out.extend_from_slice(inner);
                    relay.queue.push_back((to, out));
                    relay.forwarded += 1;
                }
            }
        }
    }

    fn handle_timeout(&mut self, now: Duration) {
        if let Self::Peer(node) = self {
            node.handle_timeout(now);
        }
    }

    fn poll_transmit(&mut self, now: Duration, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        match self {
            Self::Peer(node) => node.poll_transmit(now, buf),
            Self::Relay(relay) => {
                let (to, data) = relay.queue.pop_front()?;
                buf[..data.len()].copy_from_slice(&data);
                Some((to, data.len()))
            }
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        match self {
            Self::Peer(node) => node.poll_timeout(),
            Self::Relay(_) => None,
        }
    }
}

const SECRET: &[u8] = b"correct horse battery staple";

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40_000 + i as u16))
}

fn stream(user: u32, frame_samples: u32, parity: bool) -> StreamInfo {
    let stream = StreamInfo::stereo(0x1000 + user, 1, StreamEncoding::Opus, 111, frame_samples);
    if parity {
        stream.with_parity(0x2000 + user, 127, 5)
    } else {
        stream
    }
}

fn config(user: u32, secret: &[u8]) -> Config {
    let mut config = Config::new(user, "room", secret, u64::from(user) * 7 + 1);
    config.streams = vec![stream(user, 120, true)];
    config
}

fn clocks() -> [Clock; 4] {
    [
        Clock {
            offset: 1_000_000,
            skew: 0.0,
        },
        Clock {
            offset: 7_345_678,
            skew: 40e-6,
        },
        Clock {
            offset: 3_000_000_000,
            skew: -60e-6,
        },
        Clock {
            offset: 12_000,
            skew: 100e-6,
        },
    ]
}

/// `n` nodes (ids 1..=n), everyone told about everyone.
fn mesh(n: usize, link: Netem, configure: impl Fn(&mut Config)) -> Mesh<Node> {
    let mut mesh = Mesh::new(link, 42);
    for i in 0..n {
        let mut config = config(i as u32 + 1, SECRET);
        configure(&mut config);
        mesh.add(addr(i), Node::new(config, clocks()[i % 4]));
    }
    for i in 0..n {
        for j in 0..n {
            if i != j {
                mesh.node_mut(i).command(
                    Duration::ZERO,
                    Command::AddPeer {
                        path: Path::Direct(addr(j)),
                        user_id: Some(j as u32 + 1),
                    },
                );
            }
        }
    }
    mesh
}

/// Nodes `0..n` start sending 160-byte packets every 2.5 ms (120 samples) from now.
fn start_audio(mesh: &mut Mesh<Node>, n: usize) {
    let now = mesh.now();
    for i in 0..n {
        mesh.node_mut(i).source = Some(Source::every_2_5_ms(now));
    }
}

fn lan() -> Netem {
    Netem::latency(Duration::from_millis(2)).with_jitter(Duration::from_micros(100))
}

#[test]
fn peers_authenticate_and_announce_their_streams() {
    let mut mesh = mesh(3, lan(), |_| {});
    mesh.run_for(Duration::from_secs(1));
    for i in 0..3 {
        let node = mesh.node(i);
        let mut up: Vec<u32> = node.ep.connected().collect();
        up.sort_unstable();
        let expected: Vec<u32> = (1..=3).filter(|&u| u != i as u32 + 1).collect();
        assert_eq!(up, expected, "node {i}");
        let announced = node.events.iter().find_map(|(t, e)| match e {
            Event::PeerUp { streams, .. } => Some((*t, streams.clone())),
            _ => None,
        });
        let (at, streams) = announced.expect("PeerUp");
        assert!(at < Duration::from_millis(20), "connected after {at:?}");
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0].parity.map(|p| p.group_size), Some(5));
        let stats = node.ep.stats();
        assert_eq!((stats.bad_tag, stats.stale_nonce), (0, 0));
    }
}

#[test]
fn a_wrong_secret_never_connects() {
    let mut mesh = Mesh::new(lan(), 1);
    mesh.add(addr(0), Node::new(config(1, SECRET), clocks()[0]));
    mesh.add(addr(1), Node::new(config(2, b"wrong"), clocks()[1]));
    for (i, j) in [(0, 1), (1, 0)] {
        mesh.node_mut(i).command(
            Duration::ZERO,
            Command::AddPeer {
                path: Path::Direct(addr(j)),
                user_id: None,
            },
        );
    }
    mesh.run_for(Duration::from_secs(3));
    for i in 0..2 {
        assert_eq!(mesh.node(i).ep.connected().count(), 0);
        assert!(
            mesh.node(i).ep.stats().bad_tag >= 10,
            "{:?}",
            mesh.node(i).ep.stats()
        );
    }
}

/// Runs two endpoints against each other by hand, returning every datagram each sent.
fn pump(a: &mut Endpoint, b: &mut Endpoint, at: Instant, rounds: usize) -> [Vec<Vec<u8>>; 2] {
    let mut log = [Vec::new(), Vec::new()];
    let mut buf = vec![0; 1500];
    let pa = Path::Direct(addr(0));
    let pb = Path::Direct(addr(1));
    for _ in 0..rounds {
        while let Some(t) = a.poll_transmit(&mut buf) {
            log[0].push(buf[..t.len].to_vec());
            b.handle(
                at,
                Input::Datagram {
                    from: pa,
                    data: &buf[..t.len],
                },
            );
        }
        while let Some(t) = b.poll_transmit(&mut buf) {
            log[1].push(buf[..t.len].to_vec());
            a.handle(
                at,
                Input::Datagram {
                    from: pb,
                    data: &buf[..t.len],
                },
            );
        }
    }
    while a.poll_event().is_some() || b.poll_event().is_some() {}
    log
}

#[test]
fn a_captured_handshake_cannot_be_replayed() {
    let t = Instant::from_micros(1_000_000);
    let mut a = Endpoint::new(config(1, SECRET));
    let mut b = Endpoint::new(config(2, SECRET));
    let pa = Path::Direct(addr(0));
    let pb = Path::Direct(addr(1));
    a.handle(
        t,
        Input::Command(Command::AddPeer {
            path: pb,
            user_id: Some(2),
        }),
    );
    b.handle(
        t,
        Input::Command(Command::AddPeer {
            path: pa,
            user_id: Some(1),
        }),
    );
    let captured = pump(&mut a, &mut b, t, 4);
    assert_eq!(b.connected().collect::<Vec<_>>(), [1]);

    // B restarts (new nonces from a new seed); the attacker replays everything A sent.
    let mut restarted = config(2, SECRET);
    restarted.seed = 999;
    let mut b = Endpoint::new(restarted);
    b.handle(
        t,
        Input::Command(Command::AddPeer {
            path: pa,
            user_id: Some(1),
        }),
    );
    for datagram in &captured[0] {
        b.handle(
            t,
            Input::Datagram {
                from: pa,
                data: datagram,
            },
        );
    }
    assert_eq!(b.connected().count(), 0, "replay accepted");
    let stats = b.stats();
    assert!(stats.stale_nonce >= 1, "{stats:?}");

    // A forged proof with the right nonces but no key, and a tampered announcement.
    let mut buf = vec![0; 1500];
    let hello = loop {
        let t = b.poll_transmit(&mut buf).unwrap();
        if let Ok(Frame {
            message: Message::PeerHello(hello),
            ..
        }) = osp::decode(&buf[..t.len])
        {
            break hello;
        }
    };
    let forged = Message::PeerAuth(PeerAuth {
        from: 1,
        to: 2,
        from_nonce: [7; 32],
        to_nonce: hello.nonce,
        announce: StreamAnnounce {
            user_id: 1,
            version: 1,
            streams: vec![],
        },
        tag: [0; 32],
    });
    let mut frame = vec![0; 1500];
    let len = osp::encode(
        FrameHeader {
            seq: 0,
            timestamp: 0,
        },
        &forged,
        &mut frame,
    )
    .unwrap();
    b.handle(
        t,
        Input::Datagram {
            from: pa,
            data: &frame[..len],
        },
    );
    assert_eq!(b.connected().count(), 0);
    assert_eq!(b.stats().bad_tag, stats.bad_tag + 1);

    // A real A still connects to the restarted B.
    let mut a = Endpoint::new(config(1, SECRET));
    a.handle(
        t,
        Input::Command(Command::AddPeer {
            path: pb,
            user_id: Some(2),
        }),
    );
    pump(&mut a, &mut b, t, 4);
    assert_eq!(b.connected().collect::<Vec<_>>(), [1]);
}

/// B sends `count` frames of its stream from frame `first` on; returns how many A delivered.
fn audio_through(a: &mut Endpoint, b: &mut Endpoint, at: Instant, first: u64, count: u64) -> usize {
    let mut buf = vec![0; 1500];
    let mut delivered = 0;
    for k in first..first + count {
        b.handle(
            at,
            Input::Command(Command::SendAudio {
                stream: 0,
                timestamp: MediaTime(k * 120),
                capture: None,
                payload: &[7; 40],
            }),
        );
        while let Some(t) = b.poll_transmit(&mut buf) {
            a.handle(
                at,
                Input::Datagram {
                    from: Path::Direct(addr(1)),
                    data: &buf[..t.len],
                },
            );
        }
        while let Some(event) = a.poll_event() {
            delivered += usize::from(matches!(event, Event::Audio(_)));
        }
        while a.poll_transmit(&mut buf).is_some() {}
    }
    delivered
}

#[test]
fn a_restarted_peer_is_heard_whatever_sequence_numbers_it_starts_from() {
    // Each seed gives the restarted B other initial sequence numbers, some behind the ones
    // its first run reached: before the fix its announcement (version 1 again) was ignored,
    // the old receive window kept, and every packet of those runs dropped as old.
    for seed in 1..=8u64 {
        let t = Instant::from_micros(1_000_000);
        let mut a = Endpoint::new(config(1, SECRET));
        let mut b = Endpoint::new(config(2, SECRET));
        let (pa, pb) = (Path::Direct(addr(0)), Path::Direct(addr(1)));
        let add = |e: &mut Endpoint, path, user| {
            e.handle(
                t,
                Input::Command(Command::AddPeer {
                    path,
                    user_id: Some(user),
                }),
            );
        };
        add(&mut a, pb, 2);
        add(&mut b, pa, 1);
        pump(&mut a, &mut b, t, 4);
        assert_eq!(audio_through(&mut a, &mut b, t, 0, 100), 100);

        // B is killed. A notices the silence, and calls the restarted B back (it calls
        // nobody) on its address, before A forgets it.
        let mut now = t;
        let mut b = {
            let mut restarted = config(2, SECRET);
            restarted.seed = 1_000 + seed;
            restarted.accept_unknown = true;
            Endpoint::new(restarted)
        };
        let mut buf = vec![0; 1500];
        let mut b_alive = false;
        while !(b.connected().eq([1]) && a.connected().eq([2])) {
            assert!(
                now < t + Duration::from_secs(60),
                "seed {seed}: never reconnected"
            );
            now += Duration::from_millis(10);
            // B stays dead for 10 s: long enough for A to call it gone.
            b_alive |= now >= t + Duration::from_secs(10);
            if a.poll_timeout().is_some_and(|at| at <= now) {
                a.handle(now, Input::Timeout);
            }
            if b_alive && b.poll_timeout().is_some_and(|at| at <= now) {
                b.handle(now, Input::Timeout);
            }
            while let Some(t) = a.poll_transmit(&mut buf) {
                if b_alive {
                    b.handle(
                        now,
                        Input::Datagram {
                            from: pa,
                            data: &buf[..t.len],
                        },
                    );
                }
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
            while a.poll_event().is_some() || b.poll_event().is_some() {}
        }
        let heard = audio_through(&mut a, &mut b, now, 1_000, 100);
        assert!(
            heard >= 98,
            "seed {seed}: A delivered {heard} of the restarted B's 100"
        );
    }
}

/// Global instant of beat `beat` as node `i` places it.
fn beat_global(mesh: &Mesh<Node>, i: usize, beat: f64) -> f64 {
    let node = mesh.node(i);
    let now = node.clock.local(mesh.now());
    let local = node.ep.beat_instant(now, beat).expect("transport playing");
    (local - node.clock.offset as f64) / (1.0 + node.clock.skew)
}

#[test]
fn every_peer_places_each_beat_within_half_a_millisecond_of_the_master() {
    let link = Netem::latency(Duration::from_millis(10)).with_jitter(Duration::from_millis(5));
    let mut mesh = mesh(4, link, |_| {});
    mesh.run_for(Duration::from_secs(60));
    let master = mesh.node(0).ep.master().expect("a master");
    for i in 0..4 {
        assert_eq!(mesh.node(i).ep.master(), Some(master), "node {i} disagrees");
    }
    let m = (master - 1) as usize;
    let now = mesh.now();
    mesh.node_mut(m).command(
        now,
        Command::SetTransport {
            playing: true,
            bpm: 120.0,
            beats_per_bar: 4,
            beat_unit: 4,
            beat: 0.0,
        },
    );
    mesh.run_for(Duration::from_secs(5));
    // Tempo change on the master, then check the following beats on every peer.
    let now = mesh.now();
    let beat_now = mesh.node(m).ep.transport().unwrap().beat_at(
        mesh.node(m)
            .ep
            .session_time(mesh.node(m).clock.local(now))
            .ticks(),
    );
    mesh.node_mut(m).command(
        now,
        Command::SetTransport {
            playing: true,
            bpm: 137.5,
            beats_per_bar: 4,
            beat_unit: 4,
            beat: beat_now,
        },
    );
    let mut worst = 0.0f64;
    for step in 0..20 {
        mesh.run_for(Duration::from_millis(500));
        if step < 2 {
            continue; // the change is in flight
        }
        let next = beat_now.ceil() + 4.0 + step as f64;
        let reference = beat_global(&mesh, m, next);
        for i in (0..4).filter(|&i| i != m) {
            assert_eq!(mesh.node(i).ep.transport().unwrap().bpm, 137.5);
            let error = (beat_global(&mesh, i, next) - reference).abs();
            worst = worst.max(error);
        }
    }
    eprintln!("beat alignment: worst error {worst:.1} µs over 3 peers × 18 checks");
    assert!(worst <= 500.0, "beat misplaced by {worst:.1} µs");
}

#[test]
fn a_vanished_master_is_declared_gone_replaced_and_retried_with_backoff() {
    let mut mesh = mesh(3, lan(), |c| {
        c.timing.backoff = BackoffPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(8),
            jitter: 0.2,
        };
        c.timing.forget_after = Duration::from_secs(3600);
    });
    mesh.run_for(Duration::from_secs(15));
    let master = mesh.node(0).ep.master().expect("elected");
    let m = (master - 1) as usize;
    let vanished_at = mesh.now();
    mesh.node_mut(m).alive = false;
    mesh.run_for(Duration::from_secs(120));
    let idle = Timing::default().idle_timeout;
    for i in (0..3).filter(|&i| i != m) {
        let node = mesh.node(i);
        let gone = node.gone_events(master);
        assert_eq!(gone.len(), 1, "node {i}: {gone:?}");
        let (at, reason) = gone[0];
        assert_eq!(reason, GoneReason::Timeout);
        let after = at - vanished_at;
        assert!(
            after >= idle && after <= idle + Duration::from_millis(300),
            "{after:?}"
        );
        let new_master = node.ep.master().unwrap();
        assert_ne!(new_master, master);
        let changed = node
            .events
            .iter()
            .find(|(t, e)| *t > vanished_at && matches!(e, Event::MasterChanged { .. }))
            .map(|(t, _)| *t - vanished_at)
            .expect("re-elected");
        assert!(
            changed <= Duration::from_secs(6),
            "re-elected after {changed:?}"
        );
        // Reconnection attempts: Hellos to the dead address, grouped into attempts.
        let hellos: Vec<Duration> = node
            .sent
            .iter()
            .filter(|(t, to, _)| *t > at && *to == addr(m))
            .map(|(t, _, _)| *t)
            .collect();
        let mut starts = vec![hellos[0]];
        for pair in hellos.windows(2) {
            if pair[1] - pair[0] > Duration::from_millis(400) {
                starts.push(pair[1]);
            }
        }
        let window = Timing::default().retry_window;
        let gaps: Vec<f64> = starts
            .windows(2)
            .map(|w| (w[1] - w[0]).saturating_sub(window).as_secs_f64())
            .collect();
        eprintln!(
            "node {i}: gone after {after:?}, re-elected after {changed:?}, backoff {gaps:.2?}"
        );
        // Delay k (k = 2, 3, ..) = min(0.5 × 2^(k−1), 8) s ± 20 %, then it stays at the cap.
        for (k, gap) in gaps.iter().enumerate() {
            let nominal = (0.5 * 2f64.powi(k as i32 + 1)).min(8.0);
            assert!(
                (gap - nominal).abs() <= nominal * 0.2 + 0.26,
                "attempt {k}: waited {gap:.2} s, expected {nominal} ± 20 %"
            );
        }
        assert!(gaps.len() >= 10 && gaps[gaps.len() - 1] > 6.0, "{gaps:?}");
    }
}

/// Ground truth for the packets node 0 sent node 1, from the datagrams themselves: an original
/// arrives within 10 ms + 8σ of its send; a resend cannot arrive before send + one round trip
/// (20 ms) + the overdue wait, so any later copy is a resend.
#[derive(Debug, Default)]
struct Outcome {
    sent: u64,
    lost: u64,
    recovered: u64,
    parity: u64,
    resend: u64,
    missing: u64,
    /// Recovered after send + 10 ms + the 30 ms buffer.
    late: u64,
    /// What the receiver itself counted as lost.
    counted_lost: u64,
}

fn run_loss(loss: Loss, seconds: u64) -> Outcome {
    let link = Netem::latency(Duration::from_millis(10))
        .with_jitter(Duration::from_millis(1))
        .with_loss(loss);
    let mut mesh = mesh(2, link, |c| {
        c.playout_delay = Duration::from_millis(30);
        // Small enough that a buffer pool growing with every resend would exceed it.
        c.limits.max_transmits = 256;
    });
    mesh.run_for(Duration::from_secs(2));
    start_audio(&mut mesh, 2);
    mesh.run_for(Duration::from_secs(seconds));
    let end = mesh.now() - Duration::from_millis(200);
    let mut first_sent = std::collections::HashMap::new();
    for &(t, ssrc, seq, sent) in &mesh.node(0).media {
        if sent && ssrc == 0x1001 {
            first_sent.entry(seq).or_insert(t);
        }
    }
    let mut original = std::collections::HashSet::new();
    for &(t, ssrc, seq, sent) in &mesh.node(1).media {
        let on_time = first_sent
            .get(&seq)
            .is_some_and(|s| t < *s + Duration::from_millis(18));
        if !sent && ssrc == 0x1001 && on_time {
            original.insert(seq);
        }
    }
    let mut delivered = std::collections::HashMap::new();
    for (t, event) in &mesh.node(1).events {
        if let Event::Audio(audio) = event
            && audio.user_id == 1
        {
            // Whether original, resent or rebuilt from parity: the sender's capture stamp.
            assert_eq!(
                audio.capture,
                Some(capture_of(audio.timestamp)),
                "{:?}",
                audio.via
            );
            delivered
                .entry(audio.seq.0 as u32)
                .or_insert((*t, audio.via));
        }
    }
    let mut outcome = Outcome::default();
    for (&seq, &sent_at) in &first_sent {
        if sent_at > end {
            continue;
        }
        outcome.sent += 1;
        if original.contains(&seq) {
            continue;
        }
        outcome.lost += 1;
        match delivered.get(&seq) {
            Some(&(t, via)) => {
                outcome.recovered += 1;
                match via {
                    Via::Parity => outcome.parity += 1,
                    _ => outcome.resend += 1,
                }
                if t > sent_at + Duration::from_millis(40) {
                    outcome.late += 1;
                }
            }
            None => outcome.missing += 1,
        }
    }
    let rx = &mesh.node(1).ep;
    eprintln!("receiver counters {:?}", rx.recovery_stats(1, 1));
    outcome.counted_lost = rx.recovery_stats(1, 1).expect("stream").lost;
    // Resends and their delayed copies bring buffers into the pool too: it stays bounded.
    for i in 0..2 {
        let ep = &mesh.node(i).ep;
        assert!(
            ep.out.pooled() <= ep.config.limits.max_transmits,
            "{}",
            ep.out.pooled()
        );
    }
    eprintln!("sender {:?}", mesh.node(0).ep.stats());
    outcome
}

fn assert_recovered(name: &str, outcome: &Outcome, rate: f64) {
    let share = outcome.recovered as f64 / outcome.lost as f64;
    eprintln!(
        "{name}: {} sent, {} lost ({:.2} %), recovered {:.2} % (parity {}, resend {}), \
         missing {}, late {}",
        outcome.sent,
        outcome.lost,
        outcome.lost as f64 * 100.0 / outcome.sent as f64,
        share * 100.0,
        outcome.parity,
        outcome.resend,
        outcome.missing,
        outcome.late
    );
    let loss = outcome.lost as f64 / outcome.sent as f64;
    assert!(
        (loss - rate).abs() < rate * 0.3,
        "{name}: the link lost {loss}, not {rate}"
    );
    assert!(share >= 0.99, "{name}: {:.2} % recovered", share * 100.0);
    // The receiver's own loss count (which cannot see the datagrams) matches the truth within
    // 0.1 percentage points of the packets sent: a packet only slow (reordered behind its
    // parity, or NACKed too soon) is not counted, since resends are marked. Measured: 617
    // counted for 614 lost (5 % random), 463 for 463 (Gilbert-Elliott).
    let error = outcome.counted_lost.abs_diff(outcome.lost);
    assert!(
        error * 1_000 <= outcome.sent,
        "{name}: counted {} lost, {} were, of {} sent",
        outcome.counted_lost,
        outcome.lost,
        outcome.sent
    );
    // A loss whose NACK or resend is lost too needs a second round trip (20 ms) inside the
    // 30 ms buffer: most make it, a few (5 % of 5 % of packets) cannot. At most 0.5 % of the
    // losses may be recovered only after their deadline; which ones depends on the random
    // sequence (an extra control message at connect moved one over the line).
    assert!(
        outcome.late * 200 <= outcome.lost,
        "{name}: {} of {} recovered after the deadline",
        outcome.late,
        outcome.lost
    );
}

#[test]
fn five_percent_random_loss_is_recovered_before_the_deadline() {
    let outcome = run_loss(Loss::Random(0.05), 30);
    assert_recovered("5 % random", &outcome, 0.05);
}

#[test]
fn gilbert_elliott_bursts_are_recovered_before_the_deadline() {
    let outcome = run_loss(Loss::bursts(0.02, 3.0), 60);
    assert_recovered("GE 2 %, bursts of 3", &outcome, 0.02);
}

#[test]
fn hostile_input_is_counted_and_bounded_without_disturbing_a_session() {
    let mut mesh = mesh(2, lan(), |c| {
        c.accept_unknown = true;
        c.limits.max_peers = 8;
    });
    mesh.run_for(Duration::from_secs(1));
    start_audio(&mut mesh, 2);
    mesh.run_for(Duration::from_secs(1));
    let mut rng = Pcg64Mcg::seed_from_u64(5);
    let mut data = vec![0u8; 1200];
    let mut frame = vec![0u8; 1500];
    for round in 0..20_000u32 {
        let now = mesh.now() + Duration::from_micros(u64::from(round) * 50);
        let node = mesh.node_mut(1);
        let local = node.clock.local(now);
        let from = Path::Direct(SocketAddr::from(([127, 0, 0, 2], (round % 60_000) as u16)));
        let len = rand::Rng::random_range(&mut rng, 0..1200);
        rand::RngCore::fill_bytes(&mut rng, &mut data[..len]);
        // Random bytes, OSP-looking bytes, and valid Hellos from ever new addresses.
        let datagram: &[u8] = match round % 4 {
            0 => &data[..len],
            1 => {
                data[..4].copy_from_slice(b"OSP1");
                &data[..len.max(4)]
            }
            2 => {
                let hello = Message::PeerHello(PeerHello {
                    version: 1,
                    user_id: 1000 + round,
                    nonce: [round as u8; 32],
                });
                let header = FrameHeader {
                    seq: 0,
                    timestamp: 0,
                };
                let n = osp::encode(header, &hello, &mut frame).unwrap();
                &frame[..n]
            }
            _ => {
                // Media from the real peer's address with random bytes after a valid header.
                data[0] = 0xB0;
                data[1] = 111;
                data[8..12].copy_from_slice(&0x1001u32.to_be_bytes());
                let from = Path::Direct(addr(0));
                node.ep.handle(
                    local,
                    Input::Datagram {
                        from,
                        data: &data[..len.max(12)],
                    },
                );
                continue;
            }
        };
        node.ep.handle(
            local,
            Input::Datagram {
                from,
                data: datagram,
            },
        );
        let mut sink = vec![0; 1500];
        while node.ep.poll_transmit(&mut sink).is_some() {}
        node.drain(now);
    }
    let stats = mesh.node(1).ep.stats();
    eprintln!("{stats:?}; peers held {}", mesh.node(1).ep.peer_count());
    assert!(
        mesh.node(1).ep.peer_count() <= 8,
        "peer table grew without bound"
    );
    assert!(stats.refused_hello > 4_000);
    assert!(stats.unknown_source + stats.unsupported + stats.invalid_control > 5_000);
    assert!(stats.invalid_media > 4_000);
    // The real session carries on.
    let before = mesh.node(1).events.len();
    mesh.run_for(Duration::from_secs(2));
    let node = mesh.node(1);
    assert_eq!(node.ep.connected().collect::<Vec<_>>(), [1]);
    let audio = node.events[before..]
        .iter()
        .filter(|(_, e)| matches!(e, Event::Audio(_)))
        .count();
    assert!(audio > 700, "audio after the flood: {audio}");
    let missing = node
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Missing { .. }))
        .count();
    assert_eq!(missing, 0);
}

/// Both peers stream over a direct 10 ms path, move to a 16 ms relay path, and back to the
/// direct one (where new packets overtake those still in flight on the relay), each side
/// switching at its own moment after both accepted the new path: every packet is delivered
/// exactly once, nothing is reported `Missing` or late.
#[test]
fn a_path_switch_under_a_live_stream_leaves_no_gap() {
    let direct = Netem::latency(Duration::from_millis(10)).with_jitter(Duration::from_millis(1));
    let leg = Netem::latency(Duration::from_millis(8)).with_jitter(Duration::from_millis(1));
    let mut mesh = Mesh::new(direct, 42);
    for i in 0..2 {
        let mut config = config(i as u32 + 1, SECRET);
        config.playout_delay = Duration::from_millis(30);
        let mut node = Node::new(config, clocks()[i]);
        node.relay = Some(addr(2));
        mesh.add(addr(i), Sim::Peer(Box::new(node)));
    }
    let relay = mesh.add(
        addr(2),
        Sim::Relay(Relay {
            tracks: vec![addr(0), addr(1)],
            queue: Default::default(),
            forwarded: 0,
        }),
    );
    for i in 0..2 {
        mesh.set_link_both(i, relay, leg);
    }
    let to_relay: fn(usize) -> Path = |peer| Path::Relay(RelayTrack(peer as u32));
    let to_direct: fn(usize) -> Path = |peer| Path::Direct(addr(peer));
    let command = |mesh: &mut Mesh<Sim>, i: usize, make: &dyn Fn(u32) -> Command<'static>| {
        let now = mesh.now();
        mesh.node_mut(i).peer_mut().command(now, make(2 - i as u32));
    };
    for i in 0..2 {
        command(&mut mesh, i, &|user_id| Command::AddPeer {
            path: to_direct(user_id as usize - 1),
            user_id: Some(user_id),
        });
    }
    mesh.run_for(Duration::from_secs(2));
    let start = mesh.now();
    for i in 0..2 {
        mesh.node_mut(i).peer_mut().source = Some(Source::every_2_5_ms(start));
    }
    // (at, node, what): accept first, then each side moves on its own; forget the relay last.
    type Step = (
        u64,
        usize,
        fn(usize) -> Path,
        fn(u32, Path) -> Command<'static>,
    );
    let accept: fn(u32, Path) -> Command<'static> =
        |user_id, path| Command::AcceptPath { user_id, path };
    let switch: fn(u32, Path) -> Command<'static> =
        |user_id, path| Command::SetPath { user_id, path };
    let forget: fn(u32, Path) -> Command<'static> =
        |user_id, path| Command::ForgetPath { user_id, path };
    let plan: [Step; 8] = [
        (5_000, 0, to_relay, accept),
        (5_000, 1, to_relay, accept),
        (5_100, 0, to_relay, switch),
        (5_237, 1, to_relay, switch),
        (10_000, 0, to_direct, switch),
        (10_113, 1, to_direct, switch),
        (12_000, 0, to_relay, forget),
        (12_000, 1, to_relay, forget),
    ];
    for (at, node, path, make) in plan {
        mesh.run_until(start + Duration::from_millis(at));
        let peer = 1 - node;
        command(&mut mesh, node, &|user_id| make(user_id, path(peer)));
    }
    mesh.run_until(start + Duration::from_secs(15));
    let end = mesh.now();

    let Sim::Relay(r) = mesh.node(relay) else {
        unreachable!()
    };
    let forwarded = r.forwarded;
    for (tx, rx) in [(0, 1), (1, 0)] {
        let ssrc = 0x1001 + tx as u32;
        let mut sent = std::collections::BTreeMap::new();
        for &(t, s, seq, out) in &mesh.node(tx).peer().media {
            if out && s == ssrc {
                sent.entry(seq).or_insert(t);
            }
        }
        let receiver = mesh.node(rx).peer();
        let mut delivered = std::collections::HashMap::<u32, u32>::new();
        for (_, event) in &receiver.events {
            if let Event::Audio(audio) = event
                && audio.user_id == tx as u32 + 1
            {
                *delivered.entry(audio.seq.0 as u32).or_default() += 1;
            }
        }
        let window = start + Duration::from_millis(100)..end - Duration::from_millis(200);
        let expected: Vec<u32> = sent
            .iter()
            .filter(|(_, t)| window.contains(t))
            .map(|(seq, _)| *seq)
            .collect();
        let gaps: Vec<u32> = expected
            .iter()
            .filter(|seq| delivered.get(seq) != Some(&1))
            .copied()
            .collect();
        let stats = receiver.ep.recovery_stats(tx as u32 + 1, 1).unwrap();
        let on_relay = |from: u64, to: u64| {
            let window = start + Duration::from_millis(from)..start + Duration::from_millis(to);
            let node = mesh.node(tx).peer();
            let direct = node
                .sent
                .iter()
                .filter(|(t, a, _)| window.contains(t) && *a == addr(rx));
            let relayed = node
                .sent
                .iter()
                .filter(|(t, a, _)| window.contains(t) && *a == addr(2));
            (relayed.count(), direct.count())
        };
        let switched = [5_100, 5_237][tx];
        let back = [10_000, 10_113][tx];
        let (relayed, direct) = on_relay(switched + 1, back);
        let (relayed_after, _) = on_relay(back + 1, 15_000);
        eprintln!(
            "{tx} -> {rx}: {} packets, {} not delivered exactly once, {relayed} datagrams on the \
             relay and {direct} direct while switched, {relayed_after} on the relay after; {stats:?}",
            expected.len(),
            gaps.len()
        );
        assert!(expected.len() > 5_000, "{}", expected.len());
        assert!(gaps.is_empty(), "{tx} -> {rx}: {gaps:?}");
        assert_eq!((stats.missing, stats.late, stats.lost), (0, 0, 0));
        assert!(
            relayed > 1_900 && direct == 0,
            "{relayed} relayed, {direct} direct"
        );
        assert_eq!(relayed_after, 0);
    }
    assert!(forwarded > 3_800, "{forwarded}");
}

#[test]
fn a_track_started_and_stopped_mid_session_reaches_connected_peers_through_loss() {
    // 30 % loss: each copy of the announcement may be lost; the repeats carry it.
    let link = lan().with_loss(Loss::Random(0.3));
    let mut mesh = mesh(2, link, |_| {});
    mesh.run_for(Duration::from_secs(3));
    assert_eq!(mesh.node(1).ep.connected().count(), 1);
    let second = StreamInfo::stereo(0x1801, 2, StreamEncoding::Opus, 111, 120);
    let now = mesh.now();
    mesh.node_mut(0).command(
        now,
        Command::SetStream {
            index: 1,
            info: Some(second),
        },
    );
    mesh.run_for(Duration::from_secs(6));
    let changed: Vec<Vec<u16>> = mesh
        .node(1)
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::StreamsChanged {
                user_id: 1,
                streams,
            } => Some(streams.iter().map(|s| s.stream_id).collect()),
            _ => None,
        })
        .collect();
    assert_eq!(changed, [vec![1, 2]], "one change, both streams");
    // Audio on the new slot reaches the peer as that stream's.
    let now = mesh.now();
    for k in 0..20u64 {
        mesh.node_mut(0).command(
            now,
            Command::SendAudio {
                stream: 1,
                timestamp: MediaTime(k * 120),
                capture: None,
                payload: &[7; 40],
            },
        );
    }
    mesh.run_for(Duration::from_millis(200));
    let heard = mesh
        .node(1)
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Audio(a) if a.user_id == 1 && a.stream_id == 2))
        .count();
    assert!(heard >= 8, "{heard} of 20 packets of the new stream");
    // Stopping it announces the first stream alone; a slot past the bound is refused.
    let now = mesh.now();
    mesh.node_mut(0).command(
        now,
        Command::SetStream {
            index: 1,
            info: None,
        },
    );
    mesh.node_mut(0).command(
        now,
        Command::SetStream {
            index: MAX_LOCAL_STREAMS,
            info: Some(second),
        },
    );
    mesh.run_for(Duration::from_secs(6));
    let last = mesh.node(1).events.iter().rev().find_map(|(_, e)| match e {
        Event::StreamsChanged { streams, .. } => Some(streams.len()),
        _ => None,
    });
    assert_eq!(last, Some(1));
    assert_eq!(mesh.node(0).ep.stats().no_such_stream, 1);
}
