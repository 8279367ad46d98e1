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

mod handshake;
mod hostile;
mod loss;
mod paths;
mod timeline;
mod tracks;
