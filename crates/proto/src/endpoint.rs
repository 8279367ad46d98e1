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
//! Everything from the network is validated here: frames that fail their CRC or do not decode,
//! messages from addresses that are not peers, messages a peer may not send in its state,
//! proofs and leave notices with a wrong tag or a stale nonce, clock replies to probes never
//! sent. Each is counted in [`Stats`] and dropped; none changes another peer's state. Memory is
//! bounded by [`Limits`]: peers, streams per peer, queued transmits and events.

use std::collections::VecDeque;
use std::time::Duration;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

use crate::auth::{self, Nonce, RoomKey, Transcript};
use crate::clock;
use crate::demux::{self, Kind};
use crate::election::{self, MasterElection};
use crate::health;
use crate::osp::message::{
    ClockProbe, ClockReply, LeaveReason, MasterElection as Candidacy, PeerAuth, PeerHello,
    PeerLeave, PerformanceInfo, StreamAnnounce, StreamInfo, TransportSync,
};
use crate::osp::{self, FrameHeader, Message};
use crate::ostp::MAX_DATAGRAM;
use crate::ostp::inbound::{self, Inbound};
use crate::ostp::packet::{self, Accept, Extension, Header, SendForm, Ssrc, StreamId};
use crate::ostp::parity::{self, Parity};
use crate::path::{Path, Paths};
use crate::peer::{self, BackoffPolicy, CloseReason, State, Timer, Timers};
use crate::recovery::{self, History, Received, Via};
use crate::rtcp;
use crate::seq::SeqNo;
use crate::time::{Instant, MediaTime};

/// Handshake version carried in [`PeerHello`].
pub const HANDSHAKE_VERSION: u32 = 1;

/// Timing of the session (defaults follow `reference/osp.md` §8 where it has a value).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Hello interval while connecting.
    pub hello_interval: Duration,
    /// How long a first connection attempt sends Hellos before backing off.
    pub connect_timeout: Duration,
    /// How long each reconnection attempt sends Hellos.
    pub retry_window: Duration,
    /// Clock probe interval per connected peer (also the heartbeat).
    pub probe_interval: Duration,
    /// A connected peer silent this long is gone.
    pub idle_timeout: Duration,
    /// Reconnection backoff.
    pub backoff: BackoffPolicy,
    /// A peer in backoff this long is forgotten.
    pub forget_after: Duration,
    /// Link report interval (loss seen on the peer's streams, sent to it).
    pub report_interval: Duration,
    /// The master re-sends the transport state this often (state, so repetition is delivery).
    pub transport_refresh: Duration,
    /// First NACK repeat.
    pub nack_repeat: Duration,
    /// A resend is sent again this much later (`None`: once). Loss comes in bursts: a second
    /// copy a frame later survives what took the first, for bytes spent only on loss.
    pub resend_copy_after: Option<Duration>,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            hello_interval: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(5),
            retry_window: Duration::from_secs(1),
            probe_interval: Duration::from_millis(50),
            idle_timeout: Duration::from_secs(5),
            backoff: BackoffPolicy {
                base: Duration::from_millis(500),
                cap: Duration::from_secs(30),
                jitter: 0.2,
            },
            forget_after: Duration::from_secs(600),
            report_interval: Duration::from_secs(1),
            transport_refresh: Duration::from_secs(1),
            nack_repeat: Duration::from_micros(4_500),
            resend_copy_after: Some(Duration::from_micros(4_500)),
        }
    }
}

/// Bounds on what the network can make the endpoint hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Peers (configured and accepted).
    pub max_peers: usize,
    /// Streams one peer may announce.
    pub max_streams: usize,
    /// Queued transmits; beyond, new ones are dropped and counted.
    pub max_transmits: usize,
    /// Queued events; beyond, new ones are dropped and counted.
    pub max_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_peers: 32,
            max_streams: 8,
            max_transmits: 4096,
            max_events: 8192,
        }
    }
}

/// Endpoint configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our peer id.
    pub user_id: u32,
    /// The room.
    pub room_id: String,
    /// The room secret every member shares (the room key is derived from it).
    pub room_secret: Vec<u8>,
    /// Seed of every random choice (nonces, backoff jitter, initial sequence numbers).
    pub seed: u64,
    /// The streams we send.
    pub streams: Vec<StreamInfo>,
    /// Timers.
    pub timing: Timing,
    /// Bounds.
    pub limits: Limits,
    /// Accept Hellos from addresses no [`Command::AddPeer`] named (LAN rooms).
    pub accept_unknown: bool,
    /// Playout delay assumed for NACK decisions until the engine reports its jitter target.
    pub playout_delay: Duration,
    /// Resend history per stream.
    pub history: Duration,
    /// Adapt the parity group size to the loss peers report.
    pub adaptive_fec: bool,
}

impl Config {
    /// A configuration with default timing and limits.
    pub fn new(user_id: u32, room_id: &str, room_secret: &[u8], seed: u64) -> Self {
        Self {
            user_id,
            room_id: room_id.to_owned(),
            room_secret: room_secret.to_vec(),
            seed,
            streams: Vec::new(),
            timing: Timing::default(),
            limits: Limits::default(),
            accept_unknown: false,
            playout_delay: Duration::from_millis(20),
            history: Duration::from_millis(500),
            adaptive_fec: true,
        }
    }
}

/// One input to [`Endpoint::handle`].
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// A datagram arrived on `from`.
    Datagram {
        /// The path it came on (its source address for UDP).
        from: Path,
        /// Its bytes.
        data: &'a [u8],
    },
    /// The deadline from [`Endpoint::poll_timeout`] passed.
    Timeout,
    /// The application asks for something.
    Command(Command<'a>),
}

/// What the application can ask.
#[derive(Clone, Copy, Debug)]
pub enum Command<'a> {
    /// Connect to a peer reached on `path` (its id, if known, is checked in the handshake).
    AddPeer {
        /// Where it is.
        path: Path,
        /// Its id, if known.
        user_id: Option<u32>,
    },
    /// Send to `user_id` on `path` from now on; its old path stays accepted, so packets still
    /// in flight on it count.
    SetPath {
        /// The peer.
        user_id: u32,
        /// The new path.
        path: Path,
    },
    /// Accept datagrams from `user_id` on `path` too, without sending there: the first half of
    /// a switch without a gap. Both sides accept the new path, then each moves with
    /// [`Command::SetPath`] whenever it is ready; a datagram on a path nobody accepted would be
    /// taken for a stranger's.
    AcceptPath {
        /// The peer.
        user_id: u32,
        /// The extra path.
        path: Path,
    },
    /// Stop accepting `path` from `user_id` (the last half of a switch; the active path stays).
    ForgetPath {
        /// The peer.
        user_id: u32,
        /// The path to drop.
        path: Path,
    },
    /// Leave the session: tell every peer, then stop.
    Leave,
    /// Send one encoded audio packet on local stream `stream` (index into `Config::streams`).
    SendAudio {
        /// Stream index.
        stream: usize,
        /// RTP timestamp of its first sample (the stream's 48 kHz sample clock).
        timestamp: MediaTime,
        /// When its first sample was captured, in 48 kHz ticks of the session timeline (mod
        /// 2^32), if the caller relates its sample clock to that timeline; sent as the
        /// extension's `media_timestamp`. `None` stamps the moment of sending instead.
        capture: Option<u32>,
        /// Codec payload.
        payload: &'a [u8],
    },
    /// Starts (`Some`) or stops (`None`) sending local stream slot `index` (below
    /// [`MAX_LOCAL_STREAMS`]; slots of `Config::streams` come first). Connected peers are sent
    /// the new announcement; [`Command::SendAudio`] addresses the slot by `index`.
    SetStream {
        /// Slot.
        index: usize,
        /// What it sends, or `None` to stop it.
        info: Option<StreamInfo>,
    },
    /// Set tempo and transport; beat `beat` falls at `now`.
    SetTransport {
        /// Playing.
        playing: bool,
        /// Tempo.
        bpm: f64,
        /// Beats per bar.
        beats_per_bar: u8,
        /// Beat unit.
        beat_unit: u8,
        /// Beat position at `now`.
        beat: f64,
    },
    /// The engine's jitter target for `user_id`'s streams (NACK budget).
    SetPlayoutDelay {
        /// The peer.
        user_id: u32,
        /// Its current playout delay.
        delay: Duration,
    },
}

/// One datagram to send: `len` bytes of the caller's buffer, on `dest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where.
    pub dest: Path,
    /// Bytes written.
    pub len: usize,
}

/// One received (or rebuilt) audio packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audio {
    /// From whom.
    pub user_id: u32,
    /// Which of their streams.
    pub stream_id: u16,
    /// Extended sequence number.
    pub seq: SeqNo,
    /// Extended RTP timestamp (48 kHz).
    pub timestamp: u64,
    /// The sender's `media_timestamp`: when the packet's first sample was captured, in 48 kHz
    /// ticks of the session timeline, mod 2^32 (what our senders stamp; see `ostp.md` §1).
    pub capture: Option<u32>,
    /// How it arrived.
    pub via: Via,
    /// Codec payload.
    pub payload: Vec<u8>,
}

/// Why a peer is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoneReason {
    /// Silent for the idle timeout: reconnection with backoff follows.
    Timeout,
    /// It left.
    Left,
    /// In backoff for `forget_after`: removed.
    Forgotten,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A connected peer announced a changed set of streams (it started or stopped a track).
    StreamsChanged {
        /// Its id.
        user_id: u32,
        /// Its streams now.
        streams: Vec<StreamInfo>,
    },
    /// A peer authenticated and announced its streams.
    PeerUp {
        /// Its id.
        user_id: u32,
        /// Its streams.
        streams: Vec<StreamInfo>,
    },
    /// A peer is gone.
    PeerGone {
        /// Its id.
        user_id: u32,
        /// Why.
        reason: GoneReason,
    },
    /// A reconnection attempt starts (after backoff).
    Reconnecting {
        /// The peer.
        user_id: u32,
        /// Attempts that failed so far.
        failures: u32,
    },
    /// Audio to play.
    Audio(Audio),
    /// A packet will not arrive in time: conceal it.
    Missing {
        /// From whom.
        user_id: u32,
        /// Which stream.
        stream_id: u16,
        /// Which packet.
        seq: SeqNo,
    },
    /// The session master changed.
    MasterChanged {
        /// The new master.
        master: u32,
    },
    /// New tempo/transport state.
    Transport(TransportSync),
    /// The bitrate policy's new target for our Opus streams.
    Bitrate {
        /// Bits per second.
        bps: u32,
    },
}

/// Drops and counters (each drop is counted once, by the first reason found).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams from paths that are no peer's (other than an accepted Hello).
    pub unknown_source: u64,
    /// Datagrams that are not OSP, RTP or RTCP.
    pub unsupported: u64,
    /// OSP frames that failed magic, CRC or decoding.
    pub invalid_control: u64,
    /// Hellos refused (version, id mismatch, no room for a new peer).
    pub refused_hello: u64,
    /// Proofs or leaves with a wrong tag.
    pub bad_tag: u64,
    /// Proofs or leaves bound to a nonce that is not the current one (replays).
    pub stale_nonce: u64,
    /// Messages a peer may not send in its current state.
    pub out_of_state: u64,
    /// Clock replies to probes never sent (or too old).
    pub unmatched_reply: u64,
    /// Clock exchanges the estimator rejected.
    pub rejected_clock: u64,
    /// Media or parity from unknown SSRCs or failing inbound checks.
    pub invalid_media: u64,
    /// Late media packets.
    pub late: u64,
    /// NACKs received that named unknown streams.
    pub invalid_nack: u64,
    /// Packets resent on NACK.
    pub resent: u64,
    /// Resends refused (no longer held, asked again too soon, or over the limit).
    pub resend_refused: u64,
    /// Transmits dropped: queue full.
    pub transmit_overflow: u64,
    /// Events dropped: queue full.
    pub event_overflow: u64,
    /// Audio or stream changes for local stream slots that do not exist (the caller's bug).
    pub no_such_stream: u64,
}

/// A local stream's send state.
#[derive(Debug)]
struct LocalStream {
    info: StreamInfo,
    seq: u64,
    history: History,
    parity: Option<LocalParity>,
    sent_any: bool,
}

impl LocalStream {
    fn new(info: &StreamInfo, history: Duration, rng: &mut Pcg64Mcg) -> Self {
        let per_second = 48_000 / info.frame_samples.max(1) as u128;
        let packets = (per_second * history.as_millis() / 1000) as usize;
        Self {
            info: *info,
            seq: u64::from(rand::Rng::random::<u16>(rng)),
            history: History::new(packets),
            parity: info.parity.map(|p| LocalParity {
                ssrc: Ssrc(p.ssrc),
                payload_type: p.payload_type,
                group: p.group_size.clamp(0, parity::MAX_GROUP),
                builder: parity::Builder::new(Ssrc(info.ssrc)),
                seq: u64::from(rand::Rng::random::<u16>(rng)),
            }),
            sent_any: false,
        }
    }
}

/// Local stream slots [`Command::SetStream`] may fill (a DAW's instances each sending a track).
pub const MAX_LOCAL_STREAMS: usize = 8;

/// How many times a changed announcement is sent to each connected peer (at once, then with
/// each clock probe): the peer does not acknowledge it, so a lost copy is covered by the next.
const ANNOUNCE_REPEATS: u8 = 4;

#[derive(Debug)]
struct LocalParity {
    ssrc: Ssrc,
    payload_type: u8,
    group: u8,
    builder: parity::Builder,
    seq: u64,
}

/// One of a peer's announced streams.
#[derive(Debug)]
struct RemoteStream {
    info: StreamInfo,
    inbound: Inbound,
    recovery: recovery::Receiver,
}

/// Clock probes kept for matching replies.
const PROBES: usize = 16;

/// One remote member.
#[derive(Debug)]
struct Peer {
    user_id: Option<u32>,
    paths: Paths,
    state: State,
    timers: Timers,
    clock: Box<clock::Estimator>,
    probes: [(u32, u64); PROBES],
    next_probe: u32,
    streams: Vec<RemoteStream>,
    announce_version: Option<u32>,
    last_auth_sent: Option<Instant>,
    /// Copies of a changed announcement still to send (one per clock probe).
    announce_repeats: u8,
    osp_seq: u16,
    health: health::Monitor,
    /// Loss the peer reports on our streams (0..1), latest interval.
    reported_loss: f64,
    /// Our media packets sent to the peer since its last report, and totals the reports imply
    /// (sent, lost), which drive the parity group size for it.
    sent_since_report: u64,
    remote_counts: (u64, u64),
    fec: health::FecPolicy,
    rtt: Option<Duration>,
    playout_delay: Duration,
    /// Created by a Hello from an address nobody named (LAN rooms); never authenticated.
    stranger: bool,
    created: Instant,
}

impl Peer {
    /// Takes the state out for a consuming transition; the caller puts the next one back (the
    /// placeholder never outlives the call).
    fn take_state(&mut self) -> State {
        std::mem::replace(
            &mut self.state,
            State::Closed(peer::Closed {
                reason: CloseReason::Forgotten,
            }),
        )
    }
}

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
    peers: Vec<Peer>,
    election: MasterElection,
    master: Option<u32>,
    /// Session time − local time (µs) while we are master (frozen when we take over, so the
    /// timeline continues across a change of master).
    master_offset: i64,
    transport: Option<TransportSync>,
    timers: crate::timer::Table<EndpointTimer, 3>,
    /// Transmits held until their time, in time order (bounded like `transmits`).
    /// Second resend copies: (due, peer id, datagram); sent on the peer's path of that moment,
    /// so a copy never follows a path the peer has left.
    delayed: VecDeque<(Instant, u32, Vec<u8>)>,
    bitrate: health::BitratePolicy,
    transmits: VecDeque<(Path, Vec<u8>)>,
    spare: Vec<Vec<u8>>,
    events: VecDeque<Event>,
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
            peers: Vec::new(),
            election,
            master: None,
            master_offset: 0,
            transport: None,
            timers: crate::timer::Table::new(),
            bitrate: health::BitratePolicy::new(health::BitrateConfig::default()),
            transmits: VecDeque::new(),
            delayed: VecDeque::new(),
            spare: Vec::new(),
            events: VecDeque::new(),
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

    /// The next datagram to send, written into `buf` (which should hold [`MAX_DATAGRAM`]
    /// bytes; a longer datagram is dropped and counted).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        loop {
            let (dest, bytes) = self.transmits.pop_front()?;
            let fits = buf.len() >= bytes.len();
            if fits {
                buf[..bytes.len()].copy_from_slice(&bytes);
            } else {
                self.stats.transmit_overflow += 1;
            }
            let len = bytes.len();
            self.recycle(bytes);
            if fits {
                return Some(Transmit { dest, len });
            }
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call `handle(.., Input::Timeout)` next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let peers = self.peers.iter().filter_map(|p| p.timers.next()).min();
        [peers, self.timers.next(), self.election.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
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
            .filter(|p| matches!(p.state, State::Connected(_)))
            .filter_map(|p| p.user_id)
    }

    /// A peer's connection state.
    pub fn peer_state(&self, user_id: u32) -> Option<&State> {
        self.peer(user_id).map(|p| &p.state)
    }

    /// A peer's link health.
    pub fn health(&self, user_id: u32) -> Option<health::Health> {
        let peer = self.peer(user_id)?;
        Some(peer.health.snapshot())
    }

    /// Loss-recovery counters of a peer's stream.
    pub fn recovery_stats(&self, user_id: u32, stream_id: u16) -> Option<recovery::Stats> {
        Some(self.remote_stream(user_id, stream_id)?.recovery.stats())
    }

    /// Inbound counters of a peer's stream.
    pub fn inbound_stats(&self, user_id: u32, stream_id: u16) -> Option<inbound::Stats> {
        Some(self.remote_stream(user_id, stream_id)?.inbound.stats())
    }

    fn remote_stream(&self, user_id: u32, stream_id: u16) -> Option<&RemoteStream> {
        let peer = self.peer(user_id)?;
        peer.streams.iter().find(|s| s.info.stream_id == stream_id)
    }

    fn peer(&self, user_id: u32) -> Option<&Peer> {
        self.peers.iter().find(|p| p.user_id == Some(user_id))
    }

    fn peer_mut(&mut self, user_id: u32) -> Option<&mut Peer> {
        self.peers.iter_mut().find(|p| p.user_id == Some(user_id))
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
        let peer = self.peer(user_id)?;
        peer.clock.estimate()
    }

    /// The shared session timeline at local time `now`, in µs: the master's clock as this
    /// endpoint estimates it. Before a master is known, our own clock.
    pub fn session_micros(&self, now: Instant) -> f64 {
        let local = now.as_micros() as f64;
        match self.master {
            Some(master) if master != self.config.user_id => self
                .clock_estimate(master)
                .map_or(local + self.master_offset as f64, |e| {
                    local + e.offset_at(now.as_micros() as i64)
                }),
            _ => local + self.master_offset as f64,
        }
    }

    /// The shared session timeline at local time `now`, in 48 kHz ticks.
    pub fn session_time(&self, now: Instant) -> MediaTime {
        MediaTime::from_micros(self.session_micros(now).max(0.0) as u64)
    }

    /// The current tempo/transport state.
    pub fn transport(&self) -> Option<TransportSync> {
        self.transport
    }

    /// The local instant at which beat `beat` falls, by the current transport state and clock
    /// estimate (evaluated at `now`).
    pub fn beat_instant(&self, now: Instant, beat: f64) -> Option<f64> {
        let transport = self.transport?;
        if !transport.playing {
            return None;
        }
        let session_us = transport.tick_of(beat) * 1000.0 / 48.0;
        let offset = self.session_micros(now) - now.as_micros() as f64;
        Some(session_us - offset)
    }

    // -----------------------------------------------------------------------------------------
    // Inputs
    // -----------------------------------------------------------------------------------------

    fn handle_command(&mut self, now: Instant, command: Command<'_>) {
        match command {
            Command::AddPeer { path, user_id } => self.add_peer(now, path, user_id),
            Command::SetPath { user_id, path } => {
                if let Some(peer) = self.peer_mut(user_id) {
                    peer.paths.switch_to(path);
                }
            }
            Command::AcceptPath { user_id, path } => {
                if let Some(peer) = self.peer_mut(user_id) {
                    peer.paths.accept(path);
                }
            }
            Command::ForgetPath { user_id, path } => {
                if let Some(peer) = self.peer_mut(user_id) {
                    peer.paths.forget(path);
                }
            }
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
            } => {
                let version = self.transport.map_or(1, |t| t.version.wrapping_add(1));
                let transport = TransportSync {
                    version,
                    playing,
                    bpm: if bpm.is_finite() {
                        bpm.clamp(1.0, 999.0)
                    } else {
                        120.0
                    },
                    beats_per_bar,
                    beat_unit,
                    anchor_tick: self.session_time(now).ticks(),
                    anchor_beat: if beat.is_finite() { beat } else { 0.0 },
                };
                self.transport = Some(transport);
                self.push_event(Event::Transport(transport));
                self.broadcast_transport(now);
                self.timers.set(
                    EndpointTimer::Transport,
                    now + self.config.timing.transport_refresh,
                );
            }
            Command::SetPlayoutDelay { user_id, delay } => {
                if let Some(peer) = self.peer_mut(user_id) {
                    peer.playout_delay = delay;
                    for stream in &mut peer.streams {
                        stream.recovery.set_playout_delay(delay);
                    }
                }
            }
        }
    }

    fn add_peer(&mut self, now: Instant, path: Path, user_id: Option<u32>) {
        if self.peers.iter().any(|p| p.paths.accepts(path)) || user_id == Some(self.user_id()) {
            return;
        }
        if self.peers.len() >= self.config.limits.max_peers {
            self.stats.refused_hello += 1;
            return;
        }
        let nonce = Nonce::random(&mut self.rng);
        let mut peer = self.new_peer(path, user_id, now, nonce);
        peer.timers
            .set(Timer::Attempt, now + self.config.timing.connect_timeout);
        self.peers.push(peer);
        let index = self.peers.len() - 1;
        self.send_hello(now, index);
    }

    fn new_peer(&self, path: Path, user_id: Option<u32>, now: Instant, nonce: Nonce) -> Peer {
        let mut timers = Timers::new();
        timers.set(Timer::Hello, now + self.config.timing.hello_interval);
        Peer {
            user_id,
            paths: Paths::new(path),
            state: State::Connecting(peer::Connecting {
                nonce,
                since: now,
                failures: 0,
            }),
            timers,
            clock: Box::new(clock::Estimator::new()),
            probes: [(u32::MAX, u64::MAX); PROBES],
            next_probe: 0,
            streams: Vec::new(),
            announce_version: None,
            last_auth_sent: None,
            announce_repeats: 0,
            osp_seq: 0,
            health: health::Monitor::new(),
            reported_loss: 0.0,
            sent_since_report: 0,
            remote_counts: (0, 0),
            fec: health::FecPolicy::default(),
            rtt: None,
            playout_delay: self.config.playout_delay,
            stranger: false,
            created: now,
        }
    }

    fn handle_datagram(&mut self, now: Instant, from: Path, data: &[u8]) {
        let index = self.peers.iter().position(|p| p.paths.accepts(from));
        let kind = demux::classify(data, false);
        match kind {
            Kind::Osp => {
                let Ok(frame) = osp::decode(data) else {
                    self.stats.invalid_control += 1;
                    return;
                };
                match (index, frame.message) {
                    (_, Message::PeerHello(hello)) => self.handle_hello(now, from, index, hello),
                    (Some(i), message) => self.handle_control(now, i, message),
                    (None, _) => self.stats.unknown_source += 1,
                }
            }
            Kind::Rtp | Kind::Rtcp => {
                let Some(i) = index else {
                    self.stats.unknown_source += 1;
                    return;
                };
                if !matches!(self.peers[i].state, State::Connected(_)) {
                    self.stats.out_of_state += 1;
                    return;
                }
                self.heard(now, i);
                if kind == Kind::Rtcp {
                    self.handle_rtcp(now, i, data);
                } else {
                    self.handle_media(now, i, data);
                }
            }
            _ => self.stats.unsupported += 1,
        }
    }

    fn handle_hello(&mut self, now: Instant, from: Path, index: Option<usize>, hello: PeerHello) {
        let me = self.user_id();
        if hello.version != HANDSHAKE_VERSION || hello.user_id == me || self.left {
            self.stats.refused_hello += 1;
            return;
        }
        let Some(index) = index else {
            let known_elsewhere = self.peers.iter().any(|p| p.user_id == Some(hello.user_id));
            if !self.config.accept_unknown || known_elsewhere {
                self.stats.refused_hello += 1;
                return;
            }
            if self.peers.len() >= self.config.limits.max_peers {
                // Full: make room only by replacing the oldest stranger that never proved
                // the room key, so a Hello flood cannot lock members out or grow memory.
                let oldest = self
                    .peers
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.stranger && matches!(p.state, State::Connecting(_)))
                    .min_by_key(|(_, p)| p.created)
                    .map(|(i, _)| i);
                let Some(oldest) = oldest else {
                    self.stats.refused_hello += 1;
                    return;
                };
                self.stats.refused_hello += 1;
                self.peers.swap_remove(oldest);
            }
            let nonce = Nonce::random(&mut self.rng);
            let mut peer = self.new_peer(from, Some(hello.user_id), now, nonce);
            peer.stranger = true;
            peer.timers
                .set(Timer::Attempt, now + self.config.timing.connect_timeout);
            self.peers.push(peer);
            // Answer a stranger with a Hello of the same size (no amplification towards a
            // spoofed source); our proof follows once it has proved itself.
            let index = self.peers.len() - 1;
            self.send_hello(now, index);
            return;
        };
        let peer = &mut self.peers[index];
        if peer.user_id.is_some_and(|id| id != hello.user_id) {
            self.stats.refused_hello += 1;
            return;
        }
        peer.user_id = Some(hello.user_id);
        // A peer in backoff or closed is back: start a fresh attempt at once.
        let failures = match &peer.state {
            State::Backoff(backoff) => Some(backoff.failures),
            State::Closed(_) => Some(0),
            State::Connecting(_) | State::Connected(_) => None,
        };
        if let Some(failures) = failures {
            let attempt = peer::Connecting {
                nonce: Nonce::random(&mut self.rng),
                since: now,
                failures,
            };
            let forget = self.peers[index].timers.get(Timer::Forget);
            self.peers[index].state = self.start_attempt(now, index, attempt);
            if let Some(at) = forget {
                self.peers[index].timers.set(Timer::Forget, at);
            }
        }
        self.send_auth(now, index, Nonce(hello.nonce), false);
    }

    fn start_attempt(&mut self, now: Instant, index: usize, attempt: peer::Connecting) -> State {
        let timing = self.config.timing;
        let peer = &mut self.peers[index];
        peer.timers.stop_all();
        peer.timers.set(Timer::Hello, now + timing.hello_interval);
        let window = if attempt.failures == 0 {
            timing.connect_timeout
        } else {
            timing.retry_window
        };
        peer.timers.set(Timer::Attempt, now + window);
        State::Connecting(attempt)
    }

    fn handle_control(&mut self, now: Instant, index: usize, message: Message<'_>) {
        match message {
            Message::PeerAuth(auth) => self.handle_auth(now, index, auth),
            Message::PeerLeave(leave) => self.handle_leave(now, index, leave),
            message => {
                if !matches!(self.peers[index].state, State::Connected(_)) {
                    self.stats.out_of_state += 1;
                    return;
                }
                self.heard(now, index);
                // Control (a probe or reply every 50 ms) keeps the peer present in the
                // election; media need not re-run it per packet.
                if let Some(user_id) = self.peers[index].user_id {
                    self.election.handle_heard(now, user_id);
                }
                match message {
                    Message::ClockProbe(probe) => self.answer_probe(now, index, probe),
                    Message::ClockReply(reply) => self.handle_clock_reply(now, index, reply),
                    Message::MasterElection(candidacy) => {
                        self.handle_candidacy(now, index, &candidacy)
                    }
                    Message::TransportSync(sync) => self.handle_transport(sync),
                    Message::PerformanceInfo(info) => self.handle_report(index, &info),
                    _ => {}
                }
            }
        }
    }

    fn handle_auth(&mut self, now: Instant, index: usize, auth: PeerAuth) {
        let me = self.user_id();
        let peer = &self.peers[index];
        let Some(ours) = current_nonce(&peer.state) else {
            self.stats.out_of_state += 1;
            return;
        };
        if auth.to != me || peer.user_id.is_some_and(|id| id != auth.from) {
            self.stats.bad_tag += 1;
            return;
        }
        if auth.to_nonce != ours.0 {
            self.stats.stale_nonce += 1;
            return;
        }
        let from_nonce = Nonce(auth.from_nonce);
        let transcript = Transcript {
            from: auth.from,
            to: me,
            from_nonce: &from_nonce,
            to_nonce: &ours,
        };
        let announce_bytes = auth.announce.to_bytes();
        if auth::verify_proof(&self.key, transcript, &announce_bytes, &auth.tag).is_err()
            || auth.announce.user_id != auth.from
        {
            self.stats.bad_tag += 1;
            return;
        }
        let peer = &mut self.peers[index];
        peer.user_id = Some(auth.from);
        // Versions order the announcements of one run of the peer (one nonce). A new run (a
        // restarted peer, a new handshake) numbers from 1 again and sends new sequence
        // numbers: its announcement always replaces the old streams, or their receive windows
        // would take the new packets for old ones and drop every one of them.
        let same_run = matches!(&peer.state, State::Connected(c) if c.peer_nonce == from_nonce);
        let fresh = !same_run
            || peer
                .announce_version
                .is_none_or(|v| auth.announce.version > v);
        if fresh {
            self.apply_announce(index, &auth.announce);
        }
        let peer = &mut self.peers[index];
        let state = peer.take_state();
        match state {
            State::Connecting(connecting) => {
                peer.stranger = false;
                let connected = connecting.authenticated(from_nonce, now);
                peer.state = State::Connected(connected);
                let timing = self.config.timing;
                peer.timers.stop_all();
                peer.timers.set(Timer::Probe, now);
                peer.timers.set(Timer::Idle, now + timing.idle_timeout);
                peer.timers.set(Timer::Report, now + timing.report_interval);
                let streams = auth.announce.streams.clone();
                self.push_event(Event::PeerUp {
                    user_id: auth.from,
                    streams,
                });
                // The peer may not have our proof yet (it may never have seen our Hello).
                self.send_auth(now, index, from_nonce, true);
                // The newcomer hears who the master is at once.
                self.election.announce();
                self.on_membership_change(now);
            }
            State::Connected(mut connected) => {
                // A new nonce from a connected peer: it restarted and reconnected.
                connected.peer_nonce = from_nonce;
                connected.last_heard = now;
                peer.state = State::Connected(connected);
                if fresh {
                    self.push_event(Event::StreamsChanged {
                        user_id: auth.from,
                        streams: auth.announce.streams.clone(),
                    });
                }
            }
            other => peer.state = other,
        }
    }

    fn handle_leave(&mut self, now: Instant, index: usize, leave: PeerLeave) {
        let me = self.user_id();
        let peer = &self.peers[index];
        let State::Connected(connected) = &peer.state else {
            self.stats.out_of_state += 1;
            return;
        };
        if leave.to != me || peer.user_id != Some(leave.from) {
            self.stats.bad_tag += 1;
            return;
        }
        let transcript = Transcript {
            from: leave.from,
            to: me,
            from_nonce: &connected.peer_nonce,
            to_nonce: &connected.nonce,
        };
        if auth::verify_leave(&self.key, transcript, leave.reason, &leave.tag).is_err() {
            self.stats.bad_tag += 1;
            return;
        }
        let peer = &mut self.peers[index];
        let State::Connected(connected) = peer.take_state() else {
            return;
        };
        peer.state = State::Closed(connected.left());
        peer.timers.stop_all();
        peer.timers
            .set(Timer::Forget, now + self.config.timing.forget_after);
        self.push_event(Event::PeerGone {
            user_id: leave.from,
            reason: GoneReason::Left,
        });
        self.election.remove(now, leave.from);
        self.on_membership_change(now);
    }

    fn apply_announce(&mut self, index: usize, announce: &StreamAnnounce) {
        let max = self.config.limits.max_streams;
        let delay = self.peers[index].playout_delay;
        let peer = &mut self.peers[index];
        peer.announce_version = Some(announce.version);
        peer.streams.clear();
        for info in announce.streams.iter().take(max) {
            peer.streams.push(RemoteStream {
                info: *info,
                inbound: Inbound::new(inbound::Config {
                    payload_type: info.payload_type,
                    ssrc: Some(Ssrc(info.ssrc)),
                    accept: Accept::default(),
                }),
                recovery: recovery::Receiver::new(recovery::Config {
                    frame_ticks: info.frame_samples.clamp(1, 48_000),
                    playout_delay: delay,
                    nack_repeat: self.config.timing.nack_repeat,
                    ..recovery::Config::default()
                }),
            });
        }
    }

    fn handle_media(&mut self, now: Instant, index: usize, data: &[u8]) {
        let Some(ssrc) = data
            .get(8..12)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            self.stats.invalid_media += 1;
            return;
        };
        let peer = &mut self.peers[index];
        let Some(user_id) = peer.user_id else {
            return;
        };
        let Some(s) = peer
            .streams
            .iter()
            .position(|s| s.info.ssrc == ssrc || s.info.parity.is_some_and(|p| p.ssrc == ssrc))
        else {
            self.stats.invalid_media += 1;
            return;
        };
        let stream = &mut peer.streams[s];
        let stream_id = stream.info.stream_id;
        if stream.info.ssrc == ssrc {
            let arrival = match stream.inbound.receive(data) {
                Ok(arrival) => arrival,
                Err(inbound::Dropped::Duplicate(seq)) => {
                    // A copy may undo a counted loss. Link health keeps it: the parity policy
                    // follows what arrived before any resend (measured: counting such packets
                    // as arrived there thinned parity and raised resend-repaired losses 5-7 %
                    // over the truth on the impaired-link test).
                    stream.recovery.handle_duplicate(now, seq);
                    return;
                }
                Err(_) => {
                    self.stats.invalid_media += 1;
                    return;
                }
            };
            let outcome = stream.recovery.handle_packet(
                now,
                arrival.seq,
                arrival.timestamp,
                &arrival.header,
                arrival.payload,
            );
            // Link health (and so the parity policy) sees the network's loss: a resend repairs
            // a loss, it does not undo it; an original that its parity overtook still arrived.
            if outcome != Received::Accepted(Via::Resend) {
                peer.health
                    .record_arrival(now, MediaTime(arrival.timestamp), arrival.seq);
            }
            let via = match outcome {
                Received::Accepted(via) => {
                    if via != Via::Original {
                        peer.health.record_recovered();
                    }
                    via
                }
                Received::Resynced => Via::Original,
                Received::Late => {
                    // Too late by the network side's estimate of the playout deadline, which
                    // it learns from the engine only every few blocks; the jitter buffer on
                    // the audio thread knows the real one. Forward it: if the buffer already
                    // played the slot it counts the packet late and raises its delay, which is
                    // how the delay learns to cover such arrivals.
                    peer.health.record_late();
                    self.stats.late += 1;
                    Via::Original
                }
                Received::Duplicate => return self.drain_recovery(now, index, s),
            };
            self.push_event(Event::Audio(Audio {
                user_id,
                stream_id,
                seq: arrival.seq,
                timestamp: arrival.timestamp,
                capture: arrival.header.extension.map(|e| e.media_timestamp),
                via,
                payload: arrival.payload.to_vec(),
            }));
        } else {
            let parity_pt = stream
                .info
                .parity
                .map_or(parity::PAYLOAD_TYPE, |p| p.payload_type);
            let Ok(packet) = packet::decode(data, Accept::default()) else {
                self.stats.invalid_media += 1;
                return;
            };
            let Ok(parity) = Parity::parse(packet.payload) else {
                self.stats.invalid_media += 1;
                return;
            };
            if packet.header.payload_type != parity_pt || parity.protected != Ssrc(stream.info.ssrc)
            {
                self.stats.invalid_media += 1;
                return;
            }
            stream.recovery.handle_parity(now, &parity, packet.payload);
        }
        self.drain_recovery(now, index, s);
    }

    /// Emits what a stream's recovery produced (repairs, missing), sends its NACKs and re-arms
    /// the peer's recovery timer.
    fn drain_recovery(&mut self, now: Instant, index: usize, s: usize) {
        let me_ssrc = self
            .local
            .iter()
            .flatten()
            .next()
            .map_or(0, |l| l.info.ssrc);
        let peer = &mut self.peers[index];
        let Some(user_id) = peer.user_id else {
            return;
        };
        let stream = &mut peer.streams[s];
        let stream_id = stream.info.stream_id;
        let media = Ssrc(stream.info.ssrc);
        let mut events = Vec::new();
        while let Some((seq, timestamp, header, payload)) = stream.recovery.poll_repaired() {
            peer.health.record_recovered();
            events.push(Event::Audio(Audio {
                user_id,
                stream_id,
                seq,
                timestamp,
                // Parity rebuilds the extension with the rest of the header.
                capture: header.extension.map(|e| e.media_timestamp),
                via: Via::Parity,
                payload: payload.to_vec(),
            }));
        }
        while let Some(seq) = stream.recovery.poll_missing() {
            peer.health.record_concealed();
            events.push(Event::Missing {
                user_id,
                stream_id,
                seq,
            });
        }
        let mut lost = [0u16; recovery::MAX_GAP as usize];
        let n = stream.recovery.poll_nacks(now, &mut lost);
        let next = peer
            .streams
            .iter()
            .filter_map(|s| s.recovery.poll_timeout())
            .min();
        match next {
            Some(at) => peer.timers.set(Timer::Recovery, at),
            None => peer.timers.stop(Timer::Recovery),
        }
        let dest = peer.paths.active();
        for event in events {
            self.push_event(event);
        }
        if n > 0 {
            let mut buf = self.take_buffer();
            buf.resize(rtcp::nack_len(&lost[..n]), 0);
            if let Ok(len) = rtcp::encode_nack(Ssrc(me_ssrc), media, &lost[..n], &mut buf) {
                buf.truncate(len);
                self.queue(dest, buf);
            }
        }
    }

    fn handle_rtcp(&mut self, now: Instant, index: usize, data: &[u8]) {
        let dest = self.peers[index].paths.active();
        let user_id = self.peers[index].user_id;
        let min_interval = self.peers[index]
            .rtt
            .map_or(Duration::from_millis(5), |rtt| {
                (rtt / 2).max(Duration::from_millis(2))
            });
        for packet in rtcp::packets(data) {
            let Ok(packet) = packet else {
                self.stats.invalid_nack += 1;
                return;
            };
            let Ok(nack) = rtcp::GenericNack::parse(&packet) else {
                continue;
            };
            let Some(stream) = self
                .local
                .iter_mut()
                .flatten()
                .find(|l| Ssrc(l.info.ssrc) == nack.media)
            else {
                self.stats.invalid_nack += 1;
                continue;
            };
            let mut resends = Vec::new();
            for seq16 in nack.lost().take(recovery::MAX_GAP as usize) {
                match stream.history.resend(now, seq16, min_interval) {
                    Some(bytes) => {
                        self.stats.resent += 1;
                        // `take_buffer` by hand: `stream` borrows `self.local`.
                        let mut copy = self.spare.pop().unwrap_or_default();
                        copy.clear();
                        copy.extend_from_slice(bytes);
                        resends.push(copy);
                    }
                    None => self.stats.resend_refused += 1,
                }
            }
            let copy_at = self
                .config
                .timing
                .resend_copy_after
                .map(|after| now + after);
            for bytes in resends {
                if let (Some(at), Some(user_id)) = (copy_at, user_id)
                    && self.delayed.len() < self.config.limits.max_transmits
                {
                    let mut copy = self.take_buffer();
                    copy.extend_from_slice(&bytes);
                    self.delayed.push_back((at, user_id, copy));
                    if self.timers.get(EndpointTimer::Delayed).is_none() {
                        self.timers.set(EndpointTimer::Delayed, at);
                    }
                }
                self.queue(dest, bytes);
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.peers.len() {
            let mut removed = false;
            while let Some(timer) = self.peers[i].timers.pop_expired(now) {
                if self.fire(now, i, timer) {
                    removed = true;
                    break;
                }
            }
            if !removed {
                i += 1;
            }
        }
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                EndpointTimer::Transport => {
                    if self.is_master() {
                        self.broadcast_transport(now);
                    }
                    self.timers.set(
                        EndpointTimer::Transport,
                        now + self.config.timing.transport_refresh,
                    );
                }
                EndpointTimer::Policy => self.run_policies(now),
                EndpointTimer::Delayed => {
                    while self.delayed.front().is_some_and(|(at, _, _)| *at <= now) {
                        if let Some((_, user_id, bytes)) = self.delayed.pop_front()
                            && let Some(peer) = self.peer(user_id)
                        {
                            self.queue(peer.paths.active(), bytes);
                        }
                    }
                    if let Some((at, _, _)) = self.delayed.front() {
                        self.timers.set(EndpointTimer::Delayed, *at);
                    }
                }
            }
        }
        self.election.handle_timeout(now);
        self.drain_election(now);
    }

    /// Fires one peer timer; true if the peer was removed.
    fn fire(&mut self, now: Instant, index: usize, timer: Timer) -> bool {
        let timing = self.config.timing;
        match timer {
            Timer::Hello => {
                if matches!(self.peers[index].state, State::Connecting(_)) {
                    self.send_hello(now, index);
                    self.peers[index]
                        .timers
                        .set(Timer::Hello, now + timing.hello_interval);
                }
            }
            Timer::Attempt => {
                let peer = &mut self.peers[index];
                let state = peer.take_state();
                peer.state = match state {
                    State::Connecting(c) => {
                        let backoff = c.give_up(now, &timing.backoff, &mut self.rng);
                        peer.timers.stop(Timer::Hello);
                        peer.timers.set(Timer::Retry, backoff.retry_at);
                        if peer.timers.get(Timer::Forget).is_none() {
                            peer.timers
                                .set(Timer::Forget, backoff.gone_since + timing.forget_after);
                        }
                        State::Backoff(backoff)
                    }
                    other => other,
                };
            }
            Timer::Retry => {
                let peer = &mut self.peers[index];
                let state = peer.take_state();
                match state {
                    State::Backoff(backoff) => {
                        let forget = peer.timers.get(Timer::Forget);
                        let failures = backoff.failures;
                        let nonce = Nonce::random(&mut self.rng);
                        let state = self.start_attempt(now, index, backoff.retry(nonce, now));
                        let peer = &mut self.peers[index];
                        peer.state = state;
                        if let Some(at) = forget {
                            peer.timers.set(Timer::Forget, at);
                        }
                        if let Some(user_id) = peer.user_id {
                            self.push_event(Event::Reconnecting { user_id, failures });
                        }
                        self.send_hello(now, index);
                    }
                    other => peer.state = other,
                }
            }
            Timer::Forget => {
                let peer = &self.peers[index];
                if matches!(peer.state, State::Backoff(_) | State::Closed(_)) {
                    let peer = self.peers.swap_remove(index);
                    if let (Some(user_id), State::Backoff(_)) = (peer.user_id, &peer.state) {
                        self.push_event(Event::PeerGone {
                            user_id,
                            reason: GoneReason::Forgotten,
                        });
                    }
                    return true;
                }
            }
            Timer::Probe => {
                if matches!(self.peers[index].state, State::Connected(_)) {
                    self.send_probe(now, index);
                    if self.peers[index].announce_repeats > 0 {
                        self.peers[index].announce_repeats -= 1;
                        self.reannounce(now, index);
                    }
                    self.peers[index]
                        .timers
                        .set(Timer::Probe, now + timing.probe_interval);
                }
            }
            Timer::Idle => {
                let peer = &mut self.peers[index];
                let State::Connected(connected) = &peer.state else {
                    return false;
                };
                let quiet_until = connected.last_heard + timing.idle_timeout;
                if now < quiet_until {
                    peer.timers.set(Timer::Idle, quiet_until);
                    return false;
                }
                let State::Connected(connected) = peer.take_state() else {
                    return false;
                };
                let backoff = connected.timed_out(now, &timing.backoff, &mut self.rng);
                peer.timers.stop_all();
                peer.timers.set(Timer::Retry, backoff.retry_at);
                peer.timers
                    .set(Timer::Forget, backoff.gone_since + timing.forget_after);
                peer.state = State::Backoff(backoff);
                if let Some(user_id) = peer.user_id {
                    self.push_event(Event::PeerGone {
                        user_id,
                        reason: GoneReason::Timeout,
                    });
                    self.election.remove(now, user_id);
                }
                self.on_membership_change(now);
            }
            Timer::Recovery => {
                let peer = &mut self.peers[index];
                for stream in &mut peer.streams {
                    stream.recovery.handle_timeout(now);
                }
                for s in 0..self.peers[index].streams.len() {
                    self.drain_recovery(now, index, s);
                }
            }
            Timer::Report => {
                if matches!(self.peers[index].state, State::Connected(_)) {
                    self.send_report(now, index);
                    self.peers[index]
                        .timers
                        .set(Timer::Report, now + timing.report_interval);
                }
            }
        }
        false
    }

    // -----------------------------------------------------------------------------------------
    // Clock, election, transport
    // -----------------------------------------------------------------------------------------

    fn send_probe(&mut self, now: Instant, index: usize) {
        let peer = &mut self.peers[index];
        let probe_id = peer.next_probe;
        peer.next_probe = peer.next_probe.wrapping_add(1);
        let t1 = now.as_micros();
        peer.probes[probe_id as usize % PROBES] = (probe_id, t1);
        let message = Message::ClockProbe(ClockProbe {
            probe_id,
            t1_us: t1,
        });
        self.send_control(now, index, &message);
    }

    fn answer_probe(&mut self, now: Instant, index: usize, probe: ClockProbe) {
        // Replies carry our session time, so a prober of the master measures the session
        // timeline directly (and of anyone else, the RTT).
        let t = self.session_micros(now).max(0.0) as u64;
        let reply = Message::ClockReply(ClockReply {
            probe_id: probe.probe_id,
            t1_us: probe.t1_us,
            t2_us: t,
            t3_us: t,
        });
        self.send_control(now, index, &reply);
    }

    fn handle_clock_reply(&mut self, now: Instant, index: usize, reply: ClockReply) {
        let peer = &mut self.peers[index];
        let slot = peer.probes[reply.probe_id as usize % PROBES];
        if slot != (reply.probe_id, reply.t1_us) {
            self.stats.unmatched_reply += 1;
            return;
        }
        // Each probe is answered once.
        peer.probes[reply.probe_id as usize % PROBES] = (u32::MAX, u64::MAX);
        let (Ok(t1), Ok(t2), Ok(t3)) = (
            i64::try_from(reply.t1_us),
            i64::try_from(reply.t2_us),
            i64::try_from(reply.t3_us),
        ) else {
            self.stats.rejected_clock += 1;
            return;
        };
        let t4 = now.as_micros() as i64;
        let rtt = (t4 - t1) - (t3 - t2);
        if peer.clock.add(t1, t2, t3, t4).is_err() {
            self.stats.rejected_clock += 1;
            return;
        }
        let rtt = Duration::from_micros(rtt.max(0) as u64);
        peer.rtt = Some(rtt);
        peer.health.record_rtt(now, rtt);
        // The NACK budget uses the path's floor round trip (the window minimum), not the
        // latest noisy sample: asking too late wastes a resend, not asking loses the packet.
        if let Some(estimate) = peer.clock.estimate() {
            let floor = Duration::from_micros(estimate.min_rtt.max(0) as u64);
            for stream in &mut peer.streams {
                stream.recovery.set_rtt(floor);
            }
        }
        if let Some(user_id) = peer.user_id {
            self.election.record_rtt(now, user_id, rtt);
        }
    }

    fn handle_candidacy(&mut self, now: Instant, index: usize, candidacy: &Candidacy) {
        let Some(user_id) = self.peers[index].user_id else {
            return;
        };
        if election::parse_candidate(&candidacy.candidate_id) != Some(user_id) {
            self.stats.bad_tag += 1;
            return;
        }
        let claimed = candidacy
            .current_master_id
            .as_deref()
            .and_then(election::parse_candidate);
        self.election
            .handle_candidacy(now, user_id, candidacy.priority, claimed);
        self.drain_election(now);
    }

    fn drain_election(&mut self, now: Instant) {
        while let Some(event) = self.election.poll_event() {
            let election::Event::MasterChanged { to, .. } = event;
            self.set_master(now, to);
        }
        if let Some(candidacy) = self.election.poll_candidacy(now) {
            let message = Message::MasterElection(Candidacy {
                candidate_id: election::candidate_string(candidacy.candidate),
                priority: candidacy.priority,
                current_master_id: candidacy.master.map(election::candidate_string),
            });
            for i in 0..self.peers.len() {
                if matches!(self.peers[i].state, State::Connected(_)) {
                    self.send_control(now, i, &message);
                }
            }
        }
    }

    fn set_master(&mut self, now: Instant, master: u32) {
        if self.master == Some(master) {
            return;
        }
        if master == self.user_id() {
            // Keep the timeline continuous: from now on it is our clock plus the offset it had.
            let session = self.session_micros(now);
            self.master_offset = (session - now.as_micros() as f64).round() as i64;
        }
        self.master = Some(master);
        self.push_event(Event::MasterChanged { master });
        if self.is_master() && self.transport.is_some() {
            self.broadcast_transport(now);
        }
    }

    fn is_master(&self) -> bool {
        self.master.is_none_or(|m| m == self.user_id())
    }

    fn handle_transport(&mut self, sync: TransportSync) {
        let newer = self
            .transport
            .is_none_or(|t| sync.version.wrapping_sub(t.version) as i32 > 0);
        if !newer || !sync.bpm.is_finite() || sync.bpm <= 0.0 || !sync.anchor_beat.is_finite() {
            return;
        }
        self.transport = Some(sync);
        self.push_event(Event::Transport(sync));
    }

    fn broadcast_transport(&mut self, now: Instant) {
        let Some(transport) = self.transport else {
            return;
        };
        let message = Message::TransportSync(transport);
        for i in 0..self.peers.len() {
            if matches!(self.peers[i].state, State::Connected(_)) {
                self.send_control(now, i, &message);
            }
        }
    }

    fn on_membership_change(&mut self, now: Instant) {
        self.election.handle_timeout(now);
        self.drain_election(now);
        if self.timers.get(EndpointTimer::Policy).is_none() {
            self.timers.set(
                EndpointTimer::Policy,
                now + self.config.timing.report_interval,
            );
        }
    }

    // -----------------------------------------------------------------------------------------
    // Health, FEC and bitrate
    // -----------------------------------------------------------------------------------------

    fn send_report(&mut self, now: Instant, index: usize) {
        let peer = &mut self.peers[index];
        peer.health.end_interval();
        let health = peer.health.snapshot();
        let ms = |d: Duration| d.as_secs_f32() * 1000.0;
        let message = Message::PerformanceInfo(PerformanceInfo {
            user_id: election::candidate_string(self.config.user_id),
            rtt_ms: health.rtt.map_or(0.0, ms),
            jitter_ms: ms(health.jitter),
            packet_loss: health.loss_interval as f32,
            audio_latency_ms: ms(peer.playout_delay),
            quality_score: health.score().unwrap_or(0),
            quality_tier: health
                .quality()
                .map_or_else(|| "unknown".to_owned(), |q| format!("{q:?}").to_lowercase()),
        });
        self.send_control(now, index, &message);
    }

    /// A peer's report on the streams we send it: its loss drives our parity group size.
    fn handle_report(&mut self, index: usize, info: &PerformanceInfo) {
        let peer = &mut self.peers[index];
        let loss = f64::from(info.packet_loss);
        let loss = if loss.is_finite() {
            loss.clamp(0.0, 1.0)
        } else {
            0.0
        };
        peer.reported_loss = loss;
        let sent = std::mem::take(&mut peer.sent_since_report);
        peer.remote_counts.0 += sent;
        peer.remote_counts.1 += (loss * sent as f64).round() as u64;
    }

    fn run_policies(&mut self, now: Instant) {
        self.timers.set(
            EndpointTimer::Policy,
            now + self.config.timing.report_interval,
        );
        let mut worst = health::Health::default();
        let mut group: Option<Option<u8>> = None;
        for peer in &mut self.peers {
            if !matches!(peer.state, State::Connected(_)) {
                continue;
            }
            let (expected, lost) = peer.remote_counts;
            let seen = health::Health {
                expected,
                lost,
                ..health::Health::default()
            };
            peer.fec.update(now, &seen);
            // The strongest protection any peer needs (smaller group = more parity).
            let wanted = peer.fec.group();
            group = Some(match (group.flatten(), wanted) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            });
            let own = peer.health.snapshot();
            if own.rtt > worst.rtt {
                worst.rtt = own.rtt;
                worst.rtt_min = own.rtt_min;
            }
            worst.loss_interval = worst.loss_interval.max(peer.reported_loss);
        }
        if self.config.adaptive_fec
            && let Some(group) = group
        {
            for stream in self.local.iter_mut().flatten() {
                if let Some(parity) = &mut stream.parity {
                    parity.group = group.unwrap_or(0);
                }
            }
        }
        if let Some(decision) = self.bitrate.update(now, &worst) {
            self.push_event(Event::Bitrate {
                bps: decision.bitrate,
            });
        }
    }

    // -----------------------------------------------------------------------------------------
    // Sending
    // -----------------------------------------------------------------------------------------

    fn set_stream(&mut self, now: Instant, index: usize, info: Option<StreamInfo>) {
        if index >= MAX_LOCAL_STREAMS {
            self.stats.no_such_stream += 1;
            return;
        }
        if self.local.len() <= index {
            self.local.resize_with(index + 1, || None);
        }
        let same = match (&self.local[index], &info) {
            (Some(stream), Some(info)) => stream.info == *info,
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        self.local[index] =
            info.map(|info| LocalStream::new(&info, self.config.history, &mut self.rng));
        self.announce = StreamAnnounce {
            user_id: self.config.user_id,
            version: self.announce.version.wrapping_add(1),
            streams: self.local.iter().flatten().map(|l| l.info).collect(),
        };
        self.announce_bytes = self.announce.to_bytes();
        for peer in 0..self.peers.len() {
            if matches!(self.peers[peer].state, State::Connected(_)) {
                self.peers[peer].announce_repeats = ANNOUNCE_REPEATS - 1;
                self.reannounce(now, peer);
            }
        }
    }

    /// Sends our current announcement to a connected peer, in a `PeerAuth` for the session's
    /// nonces (the announcement is only ever believed under the room key's proof).
    fn reannounce(&mut self, now: Instant, index: usize) {
        let State::Connected(connected) = &self.peers[index].state else {
            return;
        };
        let to_nonce = connected.peer_nonce;
        self.send_auth(now, index, to_nonce, true);
    }

    fn send_audio(
        &mut self,
        now: Instant,
        index: usize,
        timestamp: MediaTime,
        capture: Option<u32>,
        payload: &[u8],
    ) {
        let session = capture.unwrap_or_else(|| self.session_time(now).ticks() as u32);
        let Some(Some(stream)) = self.local.get_mut(index) else {
            self.stats.no_such_stream += 1;
            return;
        };
        let seq = stream.seq;
        stream.seq += 1;
        let header = Header {
            marker: !stream.sent_any,
            payload_type: stream.info.payload_type,
            seq: seq as u16,
            timestamp: timestamp.ticks() as u32,
            ssrc: Ssrc(stream.info.ssrc),
            extension: Some(Extension {
                stream_id: StreamId(stream.info.stream_id),
                seq_ext: (seq >> 16) as u16,
                media_timestamp: session,
            }),
        };
        stream.sent_any = true;
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.resize(MAX_DATAGRAM, 0);
        let Ok(len) = packet::encode(&header, payload, SendForm::Padding, &mut buf) else {
            return;
        };
        buf.truncate(len);
        stream.history.record(SeqNo(seq), &buf);
        let mut parity_packet = None;
        if let Some(parity) = &mut stream.parity {
            if parity.group >= 2 && parity.builder.add(&header, payload).is_ok() {
                if parity.builder.len() >= parity.group {
                    let parity_header = Header {
                        marker: false,
                        payload_type: parity.payload_type,
                        seq: parity.seq as u16,
                        timestamp: header.timestamp,
                        ssrc: parity.ssrc,
                        extension: Some(Extension {
                            stream_id: StreamId(stream.info.stream_id),
                            seq_ext: (parity.seq >> 16) as u16,
                            media_timestamp: session,
                        }),
                    };
                    parity.seq += 1;
                    let mut out = self.spare.pop().unwrap_or_default();
                    out.resize(MAX_DATAGRAM, 0);
                    // A group of packets that each fit always does; if not, no parity.
                    if let Ok(n) = parity.builder.encode_packet(&parity_header, &mut out) {
                        out.truncate(n);
                        parity_packet = Some(out);
                    }
                    parity.builder.clear();
                }
            } else {
                parity.builder.clear();
            }
        }
        for peer in &mut self.peers {
            if matches!(peer.state, State::Connected(_)) {
                peer.sent_since_report += 1;
            }
        }
        self.fan_out(&buf);
        self.recycle(buf);
        if let Some(parity) = parity_packet {
            self.fan_out(&parity);
            self.recycle(parity);
        }
    }

    /// Queues a copy of `datagram` once per distinct active path of the connected peers (peers
    /// sharing a multicast group or relay track get one copy).
    fn fan_out(&mut self, datagram: &[u8]) {
        let connected = |p: &Peer| matches!(p.state, State::Connected(_));
        for i in 0..self.peers.len() {
            let dest = self.peers[i].paths.active();
            let first = !self.peers[..i]
                .iter()
                .any(|p| connected(p) && p.paths.active() == dest);
            if connected(&self.peers[i]) && first {
                let mut copy = self.take_buffer();
                copy.extend_from_slice(datagram);
                self.queue(dest, copy);
            }
        }
    }

    fn send_hello(&mut self, now: Instant, index: usize) {
        let Some(nonce) = current_nonce(&self.peers[index].state) else {
            return;
        };
        let message = Message::PeerHello(PeerHello {
            version: HANDSHAKE_VERSION,
            user_id: self.user_id(),
            nonce: nonce.0,
        });
        self.send_control(now, index, &message);
    }

    /// Sends our proof for the peer's nonce `to_nonce` (at most once per 20 ms per peer, so a
    /// flood of Hellos cannot be amplified; `force` for the answer that completes a handshake).
    fn send_auth(&mut self, now: Instant, index: usize, to_nonce: Nonce, force: bool) {
        let peer = &self.peers[index];
        let (Some(to), Some(ours)) = (peer.user_id, current_nonce(&peer.state)) else {
            return;
        };
        let recent = peer
            .last_auth_sent
            .is_some_and(|at| now.saturating_since(at) < Duration::from_millis(20));
        if recent && !force {
            return;
        }
        let transcript = Transcript {
            from: self.user_id(),
            to,
            from_nonce: &ours,
            to_nonce: &to_nonce,
        };
        let tag = auth::proof(&self.key, transcript, &self.announce_bytes);
        let message = Message::PeerAuth(PeerAuth {
            from: self.user_id(),
            to,
            from_nonce: ours.0,
            to_nonce: to_nonce.0,
            announce: self.announce.clone(),
            tag,
        });
        self.peers[index].last_auth_sent = Some(now);
        self.send_control(now, index, &message);
    }

    fn leave(&mut self, now: Instant) {
        if self.left {
            return;
        }
        self.left = true;
        let reason = LeaveReason::Normal as u8;
        for i in 0..self.peers.len() {
            let peer = &self.peers[i];
            let (Some(to), State::Connected(connected)) = (peer.user_id, &peer.state) else {
                continue;
            };
            let transcript = Transcript {
                from: self.user_id(),
                to,
                from_nonce: &connected.nonce,
                to_nonce: &connected.peer_nonce,
            };
            let tag = auth::leave_tag(&self.key, transcript, reason);
            let message = Message::PeerLeave(PeerLeave {
                from: self.user_id(),
                to,
                reason,
                tag,
            });
            // Twice: a lost leave costs the peer an idle timeout, a duplicate costs nothing.
            self.send_control(now, i, &message);
            self.send_control(now, i, &message);
        }
        for peer in &mut self.peers {
            peer.state = State::Closed(peer::Closed {
                reason: CloseReason::WeLeft,
            });
            peer.timers.stop_all();
        }
        self.timers.stop_all();
    }

    fn send_control(&mut self, now: Instant, index: usize, message: &Message<'_>) {
        let peer = &mut self.peers[index];
        let header = FrameHeader {
            seq: peer.osp_seq,
            timestamp: (now.as_micros() / 1000) as u16,
        };
        peer.osp_seq = peer.osp_seq.wrapping_add(1);
        let dest = peer.paths.active();
        let mut buf = self.take_buffer();
        buf.resize(MAX_DATAGRAM, 0);
        // Our messages are built to fit; one that does not is a bug, not a network condition.
        let Ok(len) = osp::encode(header, message, &mut buf) else {
            debug_assert!(false, "control message does not fit a datagram");
            self.recycle(buf);
            return;
        };
        buf.truncate(len);
        self.queue(dest, buf);
    }

    fn heard(&mut self, now: Instant, index: usize) {
        if let State::Connected(connected) = &mut self.peers[index].state {
            connected.last_heard = now;
        }
    }

    fn take_buffer(&mut self) -> Vec<u8> {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf
    }

    /// Returns a datagram buffer to the pool, which holds at most as many as the transmit queue
    /// (buffers enter it from resends and delayed copies too; unbounded, it would grow with
    /// every one).
    fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < self.config.limits.max_transmits {
            self.spare.push(buf);
        }
    }

    fn queue(&mut self, dest: Path, bytes: Vec<u8>) {
        if self.transmits.len() >= self.config.limits.max_transmits {
            self.stats.transmit_overflow += 1;
            self.recycle(bytes);
            return;
        }
        self.transmits.push_back((dest, bytes));
    }

    fn push_event(&mut self, event: Event) {
        if self.events.len() >= self.config.limits.max_events {
            self.stats.event_overflow += 1;
            return;
        }
        self.events.push_back(event);
    }
}

/// Our nonce in `state`, if it has one.
fn current_nonce(state: &State) -> Option<Nonce> {
    match state {
        State::Connecting(c) => Some(c.nonce),
        State::Connected(c) => Some(c.nonce),
        State::Backoff(_) | State::Closed(_) => None,
    }
}

#[cfg(test)]
mod tests;
