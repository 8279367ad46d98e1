//! A session's network side without a socket or a clock: it feeds the protocol core
//! ([`proto::endpoint::Endpoint`]) and translates between it and the audio thread's link. The
//! caller brings the time and the datagrams: [`crate::driver`] from a UDP socket and the
//! monotonic clock, a test harness from simulated links on virtual time.
//!
//! After every input the endpoint's events go straight to the audio thread's ring; its
//! datagrams wait in the endpoint until the caller takes them with [`Session::poll_transmit`]
//! (the run-loop contract of `proto`: drain after every input).

mod connect;
mod room;

pub use room::RoomStats;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::endpoint::{self, Command, Endpoint, Event, Input};
use proto::path::Path;
use proto::time::{Instant, MediaTime};
use rt::packet::Watch;

use crate::link::{DriverLink, Inbound, MAX_PAYLOAD, OutboundReceiver};
use crate::status::{PeerStatus, RemoteStream, Status};
use crate::{Request, udp};

/// A playout delay change smaller than this is not worth telling the endpoint.
const PLAYOUT_REPORT_STEP: Duration = Duration::from_micros(500);

/// The translation between one endpoint, the audio thread's link and the control thread's
/// status. Every method that can make the endpoint act takes `now`, on the caller's clock
/// (its origin is the session's `epoch`).
#[derive(Debug)]
pub struct Session {
    endpoint: Endpoint,
    local: SocketAddr,
    dscp: bool,
    /// The control thread's instant at which `now` is zero: status snapshots carry the
    /// control thread's time of taking.
    epoch: std::time::Instant,
    link: DriverLink,
    /// Rings of the tracks added after the first (slot index = local stream index).
    tracks: Vec<Option<OutboundReceiver>>,
    /// Every track ring's counter, for a caller that waits for audio packets to arrive.
    watches: Arc<Mutex<Vec<Watch>>>,
    status: Arc<Mutex<Status>>,
    counters: Counters,
    /// The playout delay last told to the endpoint, per peer.
    reported: HashMap<u32, Duration>,
    reconnecting: HashMap<u32, u32>,
    /// Each connected peer's announced streams (per-stream recovery counters, the status's
    /// codecs).
    streams: HashMap<u32, Vec<RemoteStream>>,
    /// NAT traversal on this socket (`None`: peers are given by address).
    connect: Option<proto::connect::Agent>,
    /// Local candidates for the room, oldest first.
    candidates: VecDeque<proto::connect::Candidate>,
    /// Membership of the room on a room server (`None`: candidates are not exchanged).
    room: Option<room::Room>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    sent: (u64, u64),
    received: (u64, u64),
    send_errors: u64,
    recv_errors: u64,
    missing: u64,
}

impl Session {
    /// A session at `local` (the address peers reach it at) with the audio thread's link.
    /// `epoch` is the control thread's instant that `now` counts from.
    pub fn new(
        endpoint: endpoint::Config,
        local: SocketAddr,
        dscp: bool,
        link: DriverLink,
        epoch: std::time::Instant,
    ) -> Self {
        let status = Status::new(local, dscp, endpoint.user_id);
        let watches = vec![link.outbound.watch()];
        Self {
            endpoint: Endpoint::new(endpoint),
            local,
            dscp,
            epoch,
            link,
            tracks: Vec::new(),
            watches: Arc::new(Mutex::new(watches)),
            status: Arc::new(Mutex::new(status)),
            counters: Counters::default(),
            reported: HashMap::new(),
            reconnecting: HashMap::new(),
            streams: HashMap::new(),
            connect: None,
            candidates: VecDeque::new(),
            room: None,
        }
    }

    /// Where the session publishes its [`Status`] (for the control thread's handle).
    pub fn status(&self) -> Arc<Mutex<Status>> {
        Arc::clone(&self.status)
    }

    /// The counters of every track ring the audio side sends on: their sum changes whenever a
    /// packet is queued (the driver's wake-up thread watches it).
    pub fn watches(&self) -> Arc<Mutex<Vec<Watch>>> {
        Arc::clone(&self.watches)
    }

    /// When the endpoint next wants [`Session::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.endpoint.poll_timeout(),
            self.connect_timeout(),
            self.room_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The endpoint's (or the connectivity agent's) deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.handle_room_timeout(now);
        self.handle_connect_timeout(now);
        self.handle(now, Input::Timeout);
    }

    /// A datagram arrived from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.counters.received.0 += 1;
        self.counters.received.1 += data.len() as u64;
        let from = udp::normalize(from);
        if self.handle_room_datagram(now, from, data) {
            return;
        }
        if self.connect.is_some() {
            if let Some((from, data)) = self.route_inbound(now, from, data) {
                self.handle(now, Input::Datagram { from, data });
            }
            return;
        }
        self.handle(
            now,
            Input::Datagram {
                from: Path::Direct(from),
                data,
            },
        );
    }

    /// Receiving failed (ICMP unreachable from a peer that went down, mostly): counted; the
    /// endpoint's own timeouts handle the peer.
    pub fn note_recv_error(&mut self) {
        self.counters.recv_errors += 1;
    }

    /// The next datagram to send, written into `buf`: the address to hand the socket and
    /// which bytes of `buf` are the datagram (with a connectivity agent, the endpoint writes
    /// behind [`proto::connect::HEADROOM`] bytes so a relayed datagram is framed where it
    /// lies; `buf` should hold that plus [`proto::ostp::MAX_DATAGRAM`]). Report what became of
    /// it with [`Session::note_sent`] or [`Session::note_send_error`].
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, Range<usize>)> {
        if let Some((dest, len)) = self.poll_room_transmit(buf) {
            return Some((udp::outbound(dest, self.local), 0..len));
        }
        if let Some((dest, len)) = self.poll_connect_transmit(buf) {
            return Some((udp::outbound(dest, self.local), 0..len));
        }
        let headroom = self.headroom();
        while let Some(transmit) = self.endpoint.poll_transmit(buf.get_mut(headroom..)?) {
            match transmit.dest {
                Path::Direct(dest) => match self.frame_outbound(dest, buf, transmit.len) {
                    Some((dest, range)) => return Some((udp::outbound(dest, self.local), range)),
                    None => self.counters.send_errors += 1,
                },
                // Multicast and relay paths come with their drivers (later stages); nothing
                // configures them yet, so nothing is sent there.
                _ => self.counters.send_errors += 1,
            }
        }
        None
    }

    /// A datagram of `len` bytes went out.
    pub fn note_sent(&mut self, len: usize) {
        self.counters.sent.0 += 1;
        self.counters.sent.1 += len as u64;
    }

    /// A datagram was dropped on its way out (a full socket buffer): resend and concealment
    /// handle it like any other loss.
    pub fn note_send_error(&mut self) {
        self.counters.send_errors += 1;
    }

    /// Calls each of `peers`.
    pub fn call(&mut self, now: Instant, peers: &[SocketAddr]) {
        for &peer in peers {
            self.request(now, Request::AddPeer(peer));
        }
    }

    /// Hands every packet the audio side queued to the endpoint.
    pub fn send_audio(&mut self, now: Instant) {
        while let Some(packet) = self.link.outbound.recv() {
            self.send_packet(now, &packet);
        }
        for index in 0..self.tracks.len() {
            while let Some(packet) = self.tracks[index].as_mut().and_then(OutboundReceiver::recv) {
                self.send_packet(now, &packet);
            }
        }
    }

    /// The periodic work of every status interval: picks up packets a wake-up missed, tells
    /// the endpoint the audio side's playout delays, publishes the status.
    pub fn tick(&mut self, now: Instant) {
        self.send_audio(now);
        self.report_playout(now);
        self.publish_status(now, false);
    }

    /// Carries out a control-thread request ([`Request::Leave`] is [`Session::leave`]).
    pub fn request(&mut self, now: Instant, request: Request) {
        match request {
            Request::AddPeer(addr) => self.handle(
                now,
                Input::Command(Command::AddPeer {
                    path: Path::Direct(addr),
                    user_id: None,
                }),
            ),
            Request::SetTransport {
                playing,
                bpm,
                beats_per_bar,
                beat_unit,
                beat,
            } => self.handle(
                now,
                Input::Command(Command::SetTransport {
                    playing,
                    bpm,
                    beats_per_bar,
                    beat_unit,
                    beat,
                }),
            ),
            Request::AddTrack { index, info, ring } => {
                self.set_track(now, index, Some((info, ring)));
            }
            Request::RemoveTrack { index } => self.set_track(now, index, None),
            Request::Leave => self.leave(now),
        }
    }

    /// Leaves the room (peers are told) and publishes the final status.
    pub fn leave(&mut self, now: Instant) {
        self.handle(now, Input::Command(Command::Leave));
        self.close_room();
        self.publish_status(now, true);
    }

    /// Feeds one input, then hands the endpoint's events to the audio side.
    fn handle(&mut self, now: Instant, input: Input<'_>) {
        self.endpoint.handle(now, input);
        while let Some(event) = self.endpoint.poll_event() {
            self.dispatch(event);
        }
    }

    fn send_packet(
        &mut self,
        now: Instant,
        packet: &rt::packet::Packet<crate::link::Outbound, MAX_PAYLOAD>,
    ) {
        self.handle(
            now,
            Input::Command(Command::SendAudio {
                stream: usize::from(packet.meta.stream),
                timestamp: MediaTime(packet.meta.timestamp),
                capture: packet.meta.capture,
                payload: packet.payload(),
            }),
        );
    }

    /// Starts sending local stream slot `index` from `ring` (announced to every peer), or stops
    /// it (`None`).
    fn set_track(
        &mut self,
        now: Instant,
        index: u8,
        track: Option<(proto::osp::message::StreamInfo, OutboundReceiver)>,
    ) {
        let slot = usize::from(index);
        if slot == 0 || slot >= endpoint::MAX_LOCAL_STREAMS {
            // Slot 0 is the first track's, fixed for the session's life.
            return;
        }
        if self.tracks.len() < slot {
            self.tracks.resize_with(slot, || None);
        }
        // What is left in a stopped track's ring goes out before its announcement changes.
        self.send_audio(now);
        let info = match track {
            Some((info, ring)) => {
                let watch = ring.watch();
                self.tracks[slot - 1] = Some(ring);
                match self.watches.lock() {
                    Ok(mut watches) => watches.push(watch),
                    Err(poisoned) => poisoned.into_inner().push(watch),
                }
                Some(info)
            }
            None => {
                self.tracks[slot - 1] = None;
                None
            }
        };
        self.handle(
            now,
            Input::Command(Command::SetStream { index: slot, info }),
        );
    }

    fn dispatch(&mut self, event: Event) {
        let inbound = &mut self.link.inbound;
        match event {
            Event::Audio(audio) => {
                inbound.send(
                    Inbound::Audio {
                        user_id: audio.user_id,
                        stream_id: audio.stream_id,
                        seq: audio.seq.0,
                        timestamp: audio.timestamp,
                        capture: audio.capture,
                    },
                    &audio.payload,
                );
                // Back to the endpoint's pool: the receive path allocates nothing per packet.
                self.endpoint.recycle(audio.payload);
            }
            // A peer up (again) or announcing a changed set: streams it no longer sends are
            // freed, the others (re)announced.
            Event::PeerUp { user_id, streams } | Event::StreamsChanged { user_id, streams } => {
                self.reconnecting.remove(&user_id);
                let now: Vec<RemoteStream> = streams.iter().map(RemoteStream::from).collect();
                let before = self.streams.insert(user_id, now).unwrap_or_default();
                for gone in before
                    .into_iter()
                    .filter(|old| !streams.iter().any(|s| s.stream_id == old.stream_id))
                {
                    let stream_id = gone.stream_id;
                    inbound.send(Inbound::StreamDown { user_id, stream_id }, &[]);
                }
                for stream in streams {
                    // A stream already playing is re-announced unchanged: the audio side
                    // keeps its slot.
                    inbound.send(
                        Inbound::StreamUp {
                            user_id,
                            stream_id: stream.stream_id,
                            encoding: stream.encoding,
                            channels: stream.channels,
                            frame_samples: stream.frame_samples,
                        },
                        &[],
                    );
                }
            }
            Event::PeerGone { user_id, .. } => {
                self.reported.remove(&user_id);
                self.streams.remove(&user_id);
                inbound.send(Inbound::PeerGone { user_id }, &[]);
            }
            Event::Reconnecting { user_id, failures } => {
                self.reconnecting.insert(user_id, failures);
            }
            Event::Bitrate { bps } => {
                inbound.send(Inbound::Bitrate { bps }, &[]);
            }
            Event::Missing { .. } => self.counters.missing += 1,
            Event::MasterChanged { .. } | Event::Transport(_) => {}
        }
    }

    /// Tells the endpoint each peer's playout delay (the largest of its streams), so its NACK
    /// budget matches what the audio thread really buffers. Peers in id order: the same run
    /// gives the endpoint the same commands in the same order.
    fn report_playout(&mut self, now: Instant) {
        let mut per_peer: BTreeMap<u32, u32> = BTreeMap::new();
        for (user_id, _stream, delay_us) in self.link.playout.entries() {
            let entry = per_peer.entry(user_id).or_default();
            *entry = (*entry).max(delay_us);
        }
        for (user_id, delay_us) in per_peer {
            let delay = Duration::from_micros(u64::from(delay_us));
            let changed = self
                .reported
                .get(&user_id)
                .is_none_or(|old| old.abs_diff(delay) >= PLAYOUT_REPORT_STEP);
            if changed {
                self.reported.insert(user_id, delay);
                self.handle(
                    now,
                    Input::Command(Command::SetPlayoutDelay { user_id, delay }),
                );
            }
        }
    }

    fn publish_status(&mut self, now: Instant, stopped: bool) {
        let taken = self.epoch + now.as_duration();
        let endpoint = &self.endpoint;
        let peers = endpoint
            .connected()
            .map(|user_id| {
                let health = endpoint.health(user_id).unwrap_or_default();
                let mut recovery = proto::recovery::Stats::default();
                let streams = self.streams.get(&user_id).map_or(&[][..], Vec::as_slice);
                for stream in streams {
                    if let Some(s) = endpoint.recovery_stats(user_id, stream.stream_id) {
                        recovery.lost += s.lost;
                        recovery.repaired_parity += s.repaired_parity;
                        recovery.repaired_resend += s.repaired_resend;
                        recovery.missing += s.missing;
                        recovery.pending += s.pending;
                        recovery.late += s.late;
                    }
                }
                PeerStatus {
                    user_id,
                    rtt: health.rtt,
                    jitter: health.jitter,
                    loss: recovery.lost as f64 / health.expected.max(1) as f64,
                    expected: health.expected,
                    lost: recovery.lost,
                    recovered: recovery.repaired_parity + recovery.repaired_resend,
                    missing: recovery.missing,
                    pending: recovery.pending,
                    late: recovery.late,
                    clock_offset_us: endpoint
                        .clock_estimate(user_id)
                        .map(|e| e.offset_at(now.as_micros() as i64)),
                    path: endpoint.active_path(user_id),
                    path_kind: self.path_kind(user_id),
                    path_selections: self.path_selections(user_id),
                    streams: streams.to_vec(),
                }
            })
            .collect();
        let mut reconnecting: Vec<(u32, u32)> =
            self.reconnecting.iter().map(|(&u, &f)| (u, f)).collect();
        reconnecting.sort_unstable();
        let fresh = Status {
            local: Some(self.local),
            dscp: self.dscp,
            user_id: endpoint.user_id(),
            master: endpoint.master(),
            peers,
            reconnecting,
            transport: endpoint.transport(),
            session_clock: Some((taken, endpoint.session_micros(now))),
            endpoint: endpoint.stats(),
            sent: self.counters.sent,
            received: self.counters.received,
            send_errors: self.counters.send_errors,
            recv_errors: self.counters.recv_errors,
            outbound_ring: self.link.outbound.stats(),
            inbound_ring: self.link.inbound.stats(),
            missing: self.counters.missing,
            stopped,
        };
        match self.status.lock() {
            Ok(mut status) => *status = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }
}

#[cfg(test)]
mod tests {
    use proto::osp::message::{StreamEncoding, StreamInfo};

    use super::*;
    use crate::link::{self, AudioLink, Outbound};

    fn session(user_id: u32, port: u16) -> (Session, AudioLink) {
        let mut config = endpoint::Config::new(user_id, "session-test", b"secret", 7);
        config.accept_unknown = true;
        config.streams = vec![StreamInfo::stereo(
            user_id << 8,
            1,
            StreamEncoding::L24,
            96,
            64,
        )];
        let (audio, network) = link::pair();
        let local = SocketAddr::from(([127, 0, 0, 1], port));
        // Any instant does as the origin: the sessions never read it.
        let epoch = std::time::Instant::now();
        (Session::new(config, local, false, network, epoch), audio)
    }

    /// Carries every datagram `from` has to send to `to` at once.
    fn carry(from: &mut Session, to: &mut Session, now: Instant) -> usize {
        let mut buf = [0u8; 2_048];
        let mut carried = 0;
        while let Some((dest, range)) = from.poll_transmit(&mut buf) {
            assert_eq!(dest, to.local);
            from.note_sent(range.len());
            to.handle_datagram(now, from.local, &buf[range]);
            carried += 1;
        }
        carried
    }

    #[test]
    fn two_sessions_carry_audio_from_one_link_to_the_other_without_a_socket() {
        let (mut a, mut a_audio) = session(1, 1_000);
        let (mut b, mut b_audio) = session(2, 2_000);
        b.call(Instant::ZERO, &[a.local]);
        // 1 s in 1 ms steps: A's audio side queues a 64-sample packet every 4/3 ms.
        let mut sent = 0u64;
        // B's audio side: the stream announced, then A's packets in order with their bytes.
        let mut announced = false;
        let mut audio = Vec::new();
        for ms in 0..1_000u64 {
            let now = Instant::from_micros(ms * 1_000);
            while sent * 4_000 <= ms * 3_000 {
                let payload = [sent as u8; 384];
                let meta = Outbound {
                    stream: 0,
                    timestamp: sent * 64,
                    capture: None,
                };
                assert!(a_audio.outbound.send(meta, &payload));
                sent += 1;
            }
            a.send_audio(now);
            for session in [&mut a, &mut b] {
                if session.poll_timeout().is_some_and(|at| at <= now) {
                    session.handle_timeout(now);
                }
                if ms % 100 == 0 {
                    session.tick(now);
                }
            }
            while carry(&mut a, &mut b, now) + carry(&mut b, &mut a, now) > 0 {}
            while let Some(packet) = b_audio.inbound.recv() {
                match packet.meta {
                    Inbound::StreamUp { user_id, .. } => announced |= user_id == 1,
                    Inbound::Audio {
                        user_id, timestamp, ..
                    } => {
                        assert!(announced, "audio before its stream's announcement");
                        assert_eq!(user_id, 1);
                        assert_eq!(packet.payload(), &[(timestamp / 64) as u8; 384][..]);
                        audio.push(timestamp / 64);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        // Everything sent after the handshake arrived, in order (the first packets wait in the
        // endpoint until the peer is up, or are dropped by it before).
        assert!(
            audio.len() as u64 > sent * 9 / 10,
            "{} of {sent}",
            audio.len()
        );
        assert!(audio.windows(2).all(|w| w[1] == w[0] + 1), "{audio:?}");
        assert_eq!(audio.last(), Some(&(sent - 1)));
        let status = b.status().lock().unwrap().clone();
        assert_eq!(status.peers.len(), 1);
        assert_eq!(status.peers[0].user_id, 1);
        assert_eq!(status.peers[0].lost, 0);
        assert_eq!(a.status().lock().unwrap().peers.len(), 1);
        assert!(a_audio.inbound.recv().is_some(), "A heard of B's stream");
    }

    #[test]
    fn connectivity_checks_find_the_peer_and_the_status_says_direct() {
        let (mut a, _a_audio) = session(1, 1_000);
        let (mut b, _b_audio) = session(2, 2_000);
        for session in [&mut a, &mut b] {
            let user_id = session.endpoint.user_id();
            session.enable_connect(proto::connect::Config {
                user_id,
                key: proto::auth::RoomKey::derive(b"secret", "session-test"),
                host: vec![session.local],
                stun: None,
                turn: None,
                timing: proto::connect::Timing::default(),
                limits: proto::connect::Limits::default(),
                seed: u64::from(user_id),
            });
        }
        // No `call`: the room's candidate exchange (here: by hand) is all either side knows.
        for ms in 0..1_000u64 {
            let now = Instant::from_micros(ms * 1_000);
            for session in [&mut a, &mut b] {
                if session.poll_timeout().is_some_and(|at| at <= now) {
                    session.handle_timeout(now);
                }
            }
            while let Some(candidate) = a.poll_candidate() {
                b.add_remote_candidate(now, 1, candidate);
            }
            while let Some(candidate) = b.poll_candidate() {
                a.add_remote_candidate(now, 2, candidate);
            }
            while carry(&mut a, &mut b, now) + carry(&mut b, &mut a, now) > 0 {}
            if ms % 100 == 0 {
                a.tick(now);
                b.tick(now);
            }
        }
        for (session, peer) in [(&a, 2), (&b, 1)] {
            let status = session.status().lock().unwrap().clone();
            assert_eq!(status.peers.len(), 1);
            assert_eq!(status.peers[0].user_id, peer);
            assert_eq!(
                status.peers[0].path_kind,
                Some(proto::connect::PathKind::Direct)
            );
        }
    }
}
