//! The session endpoint: every peer's connection state machine, clock estimator, link health and
//! stream recovery, the master election and the shared timeline, behind one sans-IO run loop.
//!
//! ```text
//! ep.handle(now, Input::Datagram { from, data });    // or Input::Timeout, Input::Command(..)
//! while let Some(t) = ep.poll_transmit(&mut buf) { /* send buf[..t.len] on t.dest */ }
//! while let Some(ev) = ep.poll_event() { /* PeerUp, Audio, Missing, MasterChanged, .. */ }
//! let deadline = ep.poll_timeout();                  // call handle(.., Timeout) then
//! ```
//!
//! This file routes: each datagram to its peer (by the path it came on) and protocol, each
//! command and each expired timer to the module that owns the concern:
//!
//! | module | owns |
//! |---|---|
//! | `peers` | the peer table: stable ids, lookups by path and user id |
//! | `link` | one peer's state: paths, handshake state, timers, clock, health, streams |
//! | `handshake` | Hello, proof, leave, stream announcements |
//! | `timers` | what each expired timer does |
//! | `timeline` | clock probes, master election, the session timeline, tempo and transport |
//! | `receive` | inbound media: validation, recovery, NACKs, audio and missing events |
//! | `send` | local streams: packets, parity, fan-out, resends on NACK |
//! | `policy` | link reports and what they drive: parity group size, bitrate |
//! | `outbox` | queued datagrams and events, the pooled buffers they travel in |
//!
//! Everything from the network is validated: frames that fail their CRC or do not decode,
//! messages from addresses that are not peers, messages a peer may not send in its state,
//! proofs and leave notices with a wrong tag or a stale nonce, clock replies to probes never
//! sent. Each is counted in [`Stats`] and dropped; none changes another peer's state. Memory is
//! bounded by [`Limits`]: peers, streams per peer, queued transmits and events.

mod config;
mod event;
mod handshake;
mod input;
mod link;
mod outbox;
mod peers;
mod policy;
mod receive;
mod send;
mod stats;
mod timeline;
mod timers;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

pub use config::{Config, Limits, Timing};
pub use event::{Audio, Event, GoneReason, Transmit};
pub use input::{Command, Input};
pub use send::MAX_LOCAL_STREAMS;
pub use stats::Stats;

use crate::auth::RoomKey;
use crate::clock;
use crate::demux::{self, Kind};
use crate::election::{self, MasterElection};
use crate::health;
use crate::osp::message::{StreamAnnounce, TransportSync};
use crate::osp::{self, Message};
use crate::ostp::inbound;
use crate::peer::State;
use crate::recovery;
use crate::time::Instant;
use peers::{PeerId, Peers};
use send::LocalStream;

/// Handshake version carried in `PeerHello`.
pub const HANDSHAKE_VERSION: u32 = 1;

/// Endpoint-level timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EndpointTimer {
    /// Re-broadcast of the transport state by the master.
    Transport,
    /// Bitrate / FEC policy update.
    Policy,
    /// Delayed transmits (second resend copies) are due.
    Delayed,
}

impl crate::timer::Kind for EndpointTimer {
    const COUNT: usize = 3;
    const ALL: &'static [Self] = &[Self::Transport, Self::Policy, Self::Delayed];

    fn index(self) -> usize {
        self as usize
    }
}

/// The session endpoint.
#[derive(Debug)]
pub struct Endpoint {
    config: Config,
    key: RoomKey,
    rng: Pcg64Mcg,
    announce: StreamAnnounce,
    announce_bytes: Vec<u8>,
    local: Vec<Option<LocalStream>>,
    peers: Peers,
    election: MasterElection,
    master: Option<u32>,
    /// Session time − local time (µs) while we are master (frozen when we take over, so the
    /// timeline continues across a change of master).
    master_offset: i64,
    transport: Option<TransportSync>,
    timers: crate::timer::Table<EndpointTimer, 3>,
    bitrate: health::BitratePolicy,
    out: outbox::Outbox,
    stats: Stats,
    left: bool,
}

impl Endpoint {
    /// A new endpoint; nothing is sent until a peer is added (or a Hello accepted).
    pub fn new(config: Config) -> Self {
        let mut rng = Pcg64Mcg::seed_from_u64(config.seed);
        let key = RoomKey::derive(&config.room_secret, &config.room_id);
        let local: Vec<Option<LocalStream>> = config
            .streams
            .iter()
            .map(|info| Some(LocalStream::new(info, config.history, &mut rng)))
            .collect();
        let announce = StreamAnnounce {
            user_id: config.user_id,
            version: 1,
            streams: config.streams.clone(),
        };
        let announce_bytes = announce.to_bytes();
        let election = MasterElection::new(config.user_id, election::Config::default());
        Self {
            key,
            rng,
            announce,
            announce_bytes,
            local,
            peers: Peers::default(),
            election,
            master: None,
            master_offset: 0,
            transport: None,
            timers: crate::timer::Table::new(),
            bitrate: health::BitratePolicy::new(health::BitrateConfig::default()),
            out: outbox::Outbox::new(config.limits),
            stats: Stats::default(),
            left: false,
            config,
        }
    }

    /// Takes one input. Afterwards drain [`Endpoint::poll_transmit`], then
    /// [`Endpoint::poll_event`], then read [`Endpoint::poll_timeout`].
    pub fn handle(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::Datagram { from, data } => self.handle_datagram(now, from, data),
            Input::Timeout => self.handle_timeout(now),
            Input::Command(command) => self.handle_command(now, command),
        }
    }

    /// The next datagram to send, written into `buf` (which should hold
    /// [`MAX_DATAGRAM`](crate::ostp::MAX_DATAGRAM) bytes; a longer datagram is dropped and
    /// counted).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        self.out.poll_transmit(buf)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.poll_event()
    }

    /// Gives a buffer back to the endpoint's pool (an [`Audio`] payload once copied out), so
    /// the receive path allocates nothing per packet. Optional: a buffer not returned is freed.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.out.recycle(buf);
    }

    /// When to call `handle(.., Input::Timeout)` next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let peers = self.peers.iter().filter_map(|(_, p)| p.timers.next()).min();
        [peers, self.timers.next(), self.election.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            transmit_overflow: self.out.transmit_overflow,
            event_overflow: self.out.event_overflow,
            ..self.stats
        }
    }

    /// The current master, if elected.
    pub fn master(&self) -> Option<u32> {
        self.master
    }

    /// Our id.
    pub fn user_id(&self) -> u32 {
        self.config.user_id
    }

    /// Ids of the connected peers.
    pub fn connected(&self) -> impl Iterator<Item = u32> + '_ {
        self.peers
            .iter()
            .filter(|(_, p)| p.is_connected())
            .filter_map(|(_, p)| p.user_id)
    }

    /// A peer's connection state.
    pub fn peer_state(&self, user_id: u32) -> Option<&State> {
        self.peer(user_id).map(|p| &p.state)
    }

    /// The path a peer's datagrams go out on (and its media is expected on).
    pub fn active_path(&self, user_id: u32) -> Option<crate::path::Path> {
        Some(self.peer(user_id)?.paths.active())
    }

    /// A peer's link health.
    pub fn health(&self, user_id: u32) -> Option<health::Health> {
        Some(self.peer(user_id)?.health.snapshot())
    }

    /// Loss-recovery counters of a peer's stream.
    pub fn recovery_stats(&self, user_id: u32, stream_id: u16) -> Option<recovery::Stats> {
        Some(self.remote_stream(user_id, stream_id)?.recovery.stats())
    }

    /// Inbound counters of a peer's stream.
    pub fn inbound_stats(&self, user_id: u32, stream_id: u16) -> Option<inbound::Stats> {
        Some(self.remote_stream(user_id, stream_id)?.inbound.stats())
    }

    /// The local stream's current parity group size (0 = off).
    pub fn parity_group(&self, stream: usize) -> Option<u8> {
        self.local
            .get(stream)?
            .as_ref()?
            .parity
            .as_ref()
            .map(|p| p.group)
    }

    /// Peers held (any state).
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// The clock estimate for a peer: its session clock − our local clock.
    pub fn clock_estimate(&self, user_id: u32) -> Option<clock::Estimate> {
        self.peer(user_id)?.clock.estimate()
    }

    fn peer(&self, user_id: u32) -> Option<&link::Peer> {
        self.peers.get(self.peers.by_user(user_id)?)
    }

    fn remote_stream(&self, user_id: u32, stream_id: u16) -> Option<&receive::RemoteStream> {
        let peer = self.peer(user_id)?;
        peer.streams.iter().find(|s| s.info.stream_id == stream_id)
    }

    fn handle_command(&mut self, now: Instant, command: Command<'_>) {
        match command {
            Command::AddPeer { path, user_id } => self.add_peer(now, path, user_id),
            Command::SetPath { user_id, path } => self.update_paths(user_id, |p| p.switch_to(path)),
            Command::AcceptPath { user_id, path } => self.update_paths(user_id, |p| p.accept(path)),
            Command::ForgetPath { user_id, path } => self.update_paths(user_id, |p| p.forget(path)),
            Command::Leave => self.leave(now),
            Command::SendAudio {
                stream,
                timestamp,
                capture,
                payload,
            } => self.send_audio(now, stream, timestamp, capture, payload),
            Command::SetStream { index, info } => self.set_stream(now, index, info),
            Command::SetTransport {
                playing,
                bpm,
                beats_per_bar,
                beat_unit,
                beat,
            } => self.set_transport(now, playing, bpm, beats_per_bar, beat_unit, beat),
            Command::SetPlayoutDelay { user_id, delay } => {
                if let Some(id) = self.peers.by_user(user_id)
                    && let Some(peer) = self.peers.get_mut(id)
                {
                    peer.playout_delay = delay;
                    for stream in &mut peer.streams {
                        stream.recovery.set_playout_delay(delay);
                    }
                }
            }
        }
    }

    fn update_paths(&mut self, user_id: u32, change: impl FnOnce(&mut crate::path::Paths)) {
        if let Some(id) = self.peers.by_user(user_id) {
            self.peers.update_paths(id, change);
        }
    }

    fn handle_datagram(&mut self, now: Instant, from: crate::path::Path, data: &[u8]) {
        let id = self.peers.by_path(from);
        let kind = demux::classify(data, false);
        match kind {
            Kind::Osp => {
                let Ok(frame) = osp::decode(data) else {
                    self.stats.invalid_control += 1;
                    return;
                };
                match (id, frame.message) {
                    (_, Message::PeerHello(hello)) => self.handle_hello(now, from, id, hello),
                    (Some(id), message) => self.handle_control(now, id, message),
                    (None, _) => self.stats.unknown_source += 1,
                }
            }
            Kind::Rtp | Kind::Rtcp => {
                let Some(peer) = id.and_then(|id| self.peers.get_mut(id)) else {
                    self.stats.unknown_source += 1;
                    return;
                };
                if !peer.is_connected() {
                    self.stats.out_of_state += 1;
                    return;
                }
                peer.heard(now);
                let Some(id) = id else { return };
                if kind == Kind::Rtcp {
                    self.handle_rtcp(now, id, data);
                } else {
                    self.handle_media(now, id, data);
                }
            }
            _ => self.stats.unsupported += 1,
        }
    }

    /// A control message from a known peer: the handshake's own, or (once connected) the
    /// session's.
    fn handle_control(&mut self, now: Instant, id: PeerId, message: Message<'_>) {
        match message {
            Message::PeerAuth(auth) => self.handle_auth(now, id, auth),
            Message::PeerLeave(leave) => self.handle_leave(now, id, leave),
            message => {
                let Some(peer) = self.peers.get_mut(id) else {
                    return;
                };
                if !peer.is_connected() {
                    self.stats.out_of_state += 1;
                    return;
                }
                peer.heard(now);
                // Control (a probe or reply every 50 ms) keeps the peer present in the
                // election; media need not re-run it per packet.
                if let Some(user_id) = peer.user_id {
                    self.election.handle_heard(now, user_id);
                }
                match message {
                    Message::ClockProbe(probe) => self.answer_probe(now, id, probe),
                    Message::ClockReply(reply) => self.handle_clock_reply(now, id, reply),
                    Message::MasterElection(candidacy) => {
                        self.handle_candidacy(now, id, &candidacy)
                    }
                    Message::TransportSync(sync) => self.handle_transport(sync),
                    Message::PerformanceInfo(info) => self.handle_report(id, &info),
                    _ => {}
                }
            }
        }
    }

    /// Encodes and queues a control message to a peer on its active path.
    fn send_control(&mut self, now: Instant, id: PeerId, message: &Message<'_>) {
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        let header = osp::FrameHeader {
            seq: peer.osp_seq,
            timestamp: (now.as_micros() / 1000) as u16,
        };
        peer.osp_seq = peer.osp_seq.wrapping_add(1);
        let dest = peer.paths.active();
        let mut buf = self.out.buffer();
        buf.resize(crate::ostp::MAX_DATAGRAM, 0);
        // Our messages are built to fit; one that does not is a bug, not a network condition.
        let Ok(len) = osp::encode(header, message, &mut buf) else {
            debug_assert!(false, "control message does not fit a datagram");
            self.out.recycle(buf);
            return;
        };
        buf.truncate(len);
        self.out.send(dest, buf);
    }

    /// Sends `message` to every connected peer.
    fn broadcast(&mut self, now: Instant, message: &Message<'_>) {
        let mut cursor = None;
        while let Some(id) = self.peers.next_id(cursor) {
            cursor = Some(id);
            if self.peers.get(id).is_some_and(link::Peer::is_connected) {
                self.send_control(now, id, message);
            }
        }
    }

    fn push_event(&mut self, event: Event) {
        self.out.push_event(event);
    }
}

#[cfg(test)]
mod tests;
