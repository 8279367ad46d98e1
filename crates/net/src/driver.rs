//! The driver thread: one current-thread tokio runtime that waits on the socket, the endpoint's
//! next deadline, control requests and the audio thread's packets, feeds each to the endpoint,
//! and after every input drains transmits to the socket and events to the audio thread (the run
//! loop of `proto`'s documentation).
//!
//! Waking for audio: the audio thread may not make the syscall a wake-up needs, and tokio's
//! timers tick in milliseconds, which is a whole 64-sample block. A small wake-up thread looks
//! at the audio ring's counter every [`crate::Config::wake_interval`] (250 µs: an `hrtimer`
//! sleep, not tokio's wheel) and notifies the driver when packets arrived, so a packet waits
//! 125 µs on average before it is sent. It stays cheap: a load and, when audio flows, one
//! notification per interval.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::endpoint::{Command, Endpoint, Event, Input};
use proto::path::Path;
use proto::time::{Instant, MediaTime};
use tokio::sync::{Notify, mpsc};

use crate::link::{DriverLink, Inbound, MAX_PAYLOAD, OutboundReceiver};
use crate::udp::{self, Setup};
use crate::{Config, Request};
use rt::packet::Watch;

/// Datagrams read in one go before the endpoint's outputs are drained.
const RECV_BATCH: usize = 64;

/// Largest datagram read (anything longer is truncated by the kernel and fails decoding).
const RECV_BUFFER: usize = 2_048;

/// A playout delay change smaller than this is not worth telling the endpoint.
const PLAYOUT_REPORT_STEP: Duration = Duration::from_micros(500);

/// One connected peer as the control thread sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeerStatus {
    /// Its id.
    pub user_id: u32,
    /// Smoothed round-trip time.
    pub rtt: Option<Duration>,
    /// RFC 3550 interarrival jitter of its audio.
    pub jitter: Duration,
    /// Fraction of its packets lost since the first (before recovery), 0..=1: `lost / expected`.
    pub loss: f64,
    /// Packets expected from it.
    pub expected: u64,
    /// Packets lost on the way, summed over its streams (the recovery's count: an original
    /// that only came late, after its parity or before any resend could have, is not lost).
    pub lost: u64,
    /// Losses repaired by parity or resend in time.
    pub recovered: u64,
    /// Losses the network side gave up on (concealed by the audio thread).
    pub missing: u64,
    /// Losses still awaited now (NACKed or waiting for parity).
    pub pending: u64,
    /// Originals that arrived after their deadline.
    pub late: u64,
    /// Its clock minus ours, µs (the session master's clock defines the beat grid).
    pub clock_offset_us: Option<f64>,
}

/// The session as the control thread sees it, refreshed every status interval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    /// The bound address.
    pub local: Option<SocketAddr>,
    /// Whether datagrams carry DSCP EF.
    pub dscp: bool,
    /// Our id.
    pub user_id: u32,
    /// The session master, once elected.
    pub master: Option<u32>,
    /// Connected peers.
    pub peers: Vec<PeerStatus>,
    /// Peers currently reconnecting (id, failed attempts).
    pub reconnecting: Vec<(u32, u32)>,
    /// The room's tempo and transport.
    pub transport: Option<proto::osp::message::TransportSync>,
    /// When this status was taken, and the session timeline (µs) at that instant: relates the
    /// room's beat grid to the control thread's clock ([`Status::session_micros_at`]).
    pub session_clock: Option<(std::time::Instant, f64)>,
    /// The endpoint's drop counters.
    pub endpoint: proto::endpoint::Stats,
    /// Datagrams and bytes sent / received.
    pub sent: (u64, u64),
    /// Datagrams and bytes received.
    pub received: (u64, u64),
    /// Sends the socket refused (buffer full or an OS error): the datagram was dropped.
    pub send_errors: u64,
    /// Receive errors (ICMP port unreachable from a peer that is down, mostly).
    pub recv_errors: u64,
    /// Packets the audio thread queued, and those the ring dropped (full / too long).
    pub outbound_ring: rt::packet::Stats,
    /// Packets queued to the audio thread, and those the ring dropped.
    pub inbound_ring: rt::packet::Stats,
    /// Packets the endpoint declared missing (too late for any recovery).
    pub missing: u64,
    /// The driver has stopped (left the room).
    pub stopped: bool,
}

impl Status {
    /// The session timeline (µs) at `at`, extrapolated from when the status was taken (the
    /// timeline runs at the rate of the local clock between refreshes).
    pub fn session_micros_at(&self, at: std::time::Instant) -> Option<f64> {
        let (taken, micros) = self.session_clock?;
        let since = if at >= taken {
            at.duration_since(taken).as_secs_f64()
        } else {
            -taken.duration_since(at).as_secs_f64()
        };
        Some(micros + since * 1e6)
    }

    pub(crate) fn new(setup: &Setup, user_id: u32) -> Self {
        Self {
            local: Some(setup.local),
            dscp: setup.dscp,
            user_id,
            ..Self::default()
        }
    }
}

/// Starts the driver and wake-up threads.
pub(crate) fn start(
    config: Config,
    socket: std::net::UdpSocket,
    setup: Setup,
    link: DriverLink,
    requests: mpsc::UnboundedReceiver<Request>,
    status: Arc<Mutex<Status>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let notify = Arc::new(Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let watches = Arc::new(Mutex::new(vec![link.outbound.watch()]));
    let wake = {
        let (watches, notify, stop) =
            (Arc::clone(&watches), Arc::clone(&notify), Arc::clone(&stop));
        let interval = config.wake_interval;
        std::thread::Builder::new()
            .name("osp-net-wake".into())
            .spawn(move || {
                // Where permitted, real-time: a loaded machine must not delay the packets the
                // audio thread hands over (else normal scheduling, which works, less well).
                let _ = rt::priority::raise_to_realtime(rt::priority::NETWORK_PRIORITY);
                // The sum over every track's ring: any new packet changes it. The lock is
                // only contended when a track is added or removed (never by the audio side).
                let total = || match watches.lock() {
                    Ok(w) => w.iter().map(Watch::sent).sum::<u64>(),
                    Err(poisoned) => poisoned.into_inner().iter().map(Watch::sent).sum(),
                };
                let mut seen = total();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(interval);
                    let sent = total();
                    if sent != seen {
                        seen = sent;
                        notify.notify_one();
                    }
                }
            })?
    };
    std::thread::Builder::new()
        .name("osp-net".into())
        .spawn(move || {
            // As the wake-up thread: arrivals reach the jitter buffer on time on a busy machine.
            let _ = rt::priority::raise_to_realtime(rt::priority::NETWORK_PRIORITY);
            runtime.block_on(async move {
                match tokio::net::UdpSocket::from_std(socket) {
                    Ok(socket) => {
                        let mut driver = Driver::new(&config, socket, setup, link, status);
                        driver.watches = watches;
                        driver.run(config, requests, notify).await;
                    }
                    Err(_) => {
                        if let Ok(mut status) = status.lock() {
                            status.stopped = true;
                        }
                    }
                }
            });
            stop.store(true, Ordering::Relaxed);
            let _ = wake.join();
        })
}

struct Driver {
    endpoint: Endpoint,
    socket: tokio::net::UdpSocket,
    local: SocketAddr,
    dscp: bool,
    epoch: std::time::Instant,
    tokio_epoch: tokio::time::Instant,
    link: DriverLink,
    /// Rings of the tracks added after the first (slot index = local stream index).
    tracks: Vec<Option<OutboundReceiver>>,
    /// Every track ring's counters, for the wake-up thread.
    watches: Arc<Mutex<Vec<Watch>>>,
    status: Arc<Mutex<Status>>,
    counters: Counters,
    /// The playout delay last told to the endpoint, per peer.
    reported: HashMap<u32, Duration>,
    reconnecting: HashMap<u32, u32>,
    /// Each connected peer's announced stream ids (for per-stream recovery counters).
    streams: HashMap<u32, Vec<u16>>,
    transmit: Vec<u8>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    sent: (u64, u64),
    received: (u64, u64),
    send_errors: u64,
    recv_errors: u64,
    missing: u64,
}

impl Driver {
    fn new(
        config: &Config,
        socket: tokio::net::UdpSocket,
        setup: Setup,
        link: DriverLink,
        status: Arc<Mutex<Status>>,
    ) -> Self {
        let epoch = std::time::Instant::now();
        Self {
            endpoint: Endpoint::new(config.endpoint.clone()),
            socket,
            local: setup.local,
            dscp: setup.dscp,
            epoch,
            tokio_epoch: tokio::time::Instant::from_std(epoch),
            link,
            tracks: Vec::new(),
            watches: Arc::new(Mutex::new(Vec::new())),
            status,
            counters: Counters::default(),
            reported: HashMap::new(),
            reconnecting: HashMap::new(),
            streams: HashMap::new(),
            transmit: vec![0; RECV_BUFFER],
        }
    }

    fn now(&self) -> Instant {
        Instant::from_duration(self.epoch.elapsed())
    }

    async fn run(
        mut self,
        config: Config,
        mut requests: mpsc::UnboundedReceiver<Request>,
        notify: Arc<Notify>,
    ) {
        for peer in &config.peers {
            self.handle(Input::Command(Command::AddPeer {
                path: Path::Direct(*peer),
                user_id: None,
            }));
        }
        let mut status_tick = tokio::time::interval(config.status_interval);
        status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut buf = vec![0u8; RECV_BUFFER];
        loop {
            let deadline = self
                .endpoint
                .poll_timeout()
                .map(|at| self.tokio_epoch + at.as_duration());
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    self.received(received, &buf);
                    // Drain what else is queued before sleeping again.
                    for _ in 1..RECV_BATCH {
                        match self.socket.try_recv_from(&mut buf) {
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            other => self.received(other, &buf),
                        }
                    }
                }
                () = notify.notified() => self.send_audio(),
                request = requests.recv() => match request {
                    Some(Request::Leave) | None => break,
                    Some(request) => self.request(request),
                },
                () = sleep_until(deadline) => self.handle(Input::Timeout),
                _ = status_tick.tick() => {
                    // The wake-up thread's notification may race a packet queued just after
                    // it looked; the status tick picks up any such straggler.
                    self.send_audio();
                    self.report_playout();
                    self.publish_status(false);
                }
            }
        }
        self.handle(Input::Command(Command::Leave));
        self.publish_status(true);
    }

    /// Feeds one input, then drains the endpoint's outputs (the run-loop contract).
    fn handle(&mut self, input: Input<'_>) {
        let now = self.now();
        self.endpoint.handle(now, input);
        self.flush();
    }

    fn received(&mut self, result: std::io::Result<(usize, SocketAddr)>, buf: &[u8]) {
        match result {
            Ok((len, from)) => {
                self.counters.received.0 += 1;
                self.counters.received.1 += len as u64;
                let from = udp::normalize(from);
                self.handle(Input::Datagram {
                    from: Path::Direct(from),
                    data: &buf[..len],
                });
            }
            // ICMP unreachable from a peer that went down surfaces here on Linux: counted, and
            // the endpoint's own timeouts handle the peer.
            Err(_) => self.counters.recv_errors += 1,
        }
    }

    fn send_audio(&mut self) {
        while let Some(packet) = self.link.outbound.recv() {
            self.send_packet(&packet);
        }
        for index in 0..self.tracks.len() {
            while let Some(packet) = self.tracks[index].as_mut().and_then(OutboundReceiver::recv) {
                self.send_packet(&packet);
            }
        }
    }

    fn send_packet(&mut self, packet: &rt::packet::Packet<crate::link::Outbound, MAX_PAYLOAD>) {
        let now = self.now();
        self.endpoint.handle(
            now,
            Input::Command(Command::SendAudio {
                stream: usize::from(packet.meta.stream),
                timestamp: MediaTime(packet.meta.timestamp),
                capture: packet.meta.capture,
                payload: packet.payload(),
            }),
        );
        self.flush();
    }

    /// Starts sending local stream slot `index` from `ring` (announced to every peer), or stops
    /// it (`None`).
    fn set_track(
        &mut self,
        index: u8,
        track: Option<(proto::osp::message::StreamInfo, OutboundReceiver)>,
    ) {
        let slot = usize::from(index);
        if slot == 0 || slot >= proto::endpoint::MAX_LOCAL_STREAMS {
            // Slot 0 is the first track's, fixed for the session's life.
            return;
        }
        if self.tracks.len() < slot {
            self.tracks.resize_with(slot, || None);
        }
        // What is left in a stopped track's ring goes out before its announcement changes.
        self.send_audio();
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
        self.handle(Input::Command(Command::SetStream { index: slot, info }));
    }

    fn request(&mut self, request: Request) {
        match request {
            Request::AddPeer(addr) => self.handle(Input::Command(Command::AddPeer {
                path: Path::Direct(addr),
                user_id: None,
            })),
            Request::SetTransport {
                playing,
                bpm,
                beats_per_bar,
                beat_unit,
                beat,
            } => self.handle(Input::Command(Command::SetTransport {
                playing,
                bpm,
                beats_per_bar,
                beat_unit,
                beat,
            })),
            Request::AddTrack { index, info, ring } => self.set_track(index, Some((info, ring))),
            Request::RemoveTrack { index } => self.set_track(index, None),
            Request::Leave => {}
        }
    }

    fn flush(&mut self) {
        while let Some(transmit) = self.endpoint.poll_transmit(&mut self.transmit) {
            let Path::Direct(dest) = transmit.dest else {
                // Multicast and relay paths come with their drivers (later stages); nothing
                // configures them yet, so nothing is sent there.
                self.counters.send_errors += 1;
                continue;
            };
            let dest = udp::outbound(dest, self.local);
            match self
                .socket
                .try_send_to(&self.transmit[..transmit.len], dest)
            {
                Ok(_) => {
                    self.counters.sent.0 += 1;
                    self.counters.sent.1 += transmit.len as u64;
                }
                // A full socket buffer drops the datagram rather than stalling every stream:
                // resend and concealment handle it like any other loss.
                Err(_) => self.counters.send_errors += 1,
            }
        }
        while let Some(event) = self.endpoint.poll_event() {
            self.dispatch(event);
        }
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
                let now_ids: Vec<u16> = streams.iter().map(|s| s.stream_id).collect();
                let before = self
                    .streams
                    .insert(user_id, now_ids.clone())
                    .unwrap_or_default();
                for stream_id in before.into_iter().filter(|id| !now_ids.contains(id)) {
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
    /// budget matches what the audio thread really buffers.
    fn report_playout(&mut self) {
        let mut per_peer: HashMap<u32, u32> = HashMap::new();
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
                self.handle(Input::Command(Command::SetPlayoutDelay { user_id, delay }));
            }
        }
    }

    fn publish_status(&mut self, stopped: bool) {
        let taken = std::time::Instant::now();
        let now = Instant::from_duration(taken.saturating_duration_since(self.epoch));
        let endpoint = &self.endpoint;
        let peers = endpoint
            .connected()
            .map(|user_id| {
                let health = endpoint.health(user_id).unwrap_or_default();
                let mut recovery = proto::recovery::Stats::default();
                for &stream_id in self.streams.get(&user_id).map_or(&[][..], Vec::as_slice) {
                    if let Some(s) = endpoint.recovery_stats(user_id, stream_id) {
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

/// Sleeps until `deadline`, or for ever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
