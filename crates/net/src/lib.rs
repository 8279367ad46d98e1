//! OSP Jam's network driver: owns a session's one UDP socket and drives the sans-IO
//! [`proto::endpoint::Endpoint`] with it. It translates and never decides: bytes from the socket
//! and the monotonic clock go in, datagrams and events come out, and every protocol choice
//! (handshakes, resends, clock probes, elections) stays in `proto`.
//!
//! - [`session`]: the sans-IO part: the endpoint, the audio thread's link and the status,
//!   driven by whoever brings time and datagrams.
//! - [`driver`]: the event loop on its own thread (a current-thread tokio runtime) with the
//!   socket and the clock around a [`session::Session`], and the wake-up thread that notices
//!   audio-thread packets.
//! - [`wake`]: when the wake-up thread looks (phase-locked to the audio callback), sans-IO.
//! - [`batch`]: a burst of datagrams in one syscall (`sendmmsg` on Linux).
//! - [`recv`]: every datagram waiting on the socket in one syscall (`recvmmsg` on Linux).
//! - [`status`]: what the control thread sees of a running session.
//! - [`udp`]: socket setup (DSCP EF, buffer sizes, dual stack, address normalisation).
//! - [`link`]: the fixed-slot rings and atomics between the network side and the audio thread.
//!
//! [`spawn`] starts a session on a socket and returns a [`Handle`] for the control thread and
//! an [`link::AudioLink`] for the audio thread; [`detached`] returns the same two around a
//! [`Detached`] session that the caller steps itself (simulations on virtual time).

pub mod batch;
pub mod driver;
pub mod link;
pub mod recv;
pub mod session;
pub mod status;
pub mod udp;
pub mod wake;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::endpoint;

pub use session::Session;
pub use status::{PeerStatus, Status};

/// What a session needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Local address to bind (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Peers to call at start.
    pub peers: Vec<SocketAddr>,
    /// The protocol core's configuration (identity, room, streams, timing).
    pub endpoint: endpoint::Config,
    /// Mark datagrams DSCP EF.
    pub dscp: bool,
    /// How long the wake-up thread sleeps between looks at the audio thread's ring while it is
    /// not locked to the audio callback's phase: the most a packet then waits there before the
    /// driver sends it (locked, it looks just after each predicted hand-over instead).
    pub wake_interval: Duration,
    /// How often the shared [`Status`] and the playout delays are refreshed.
    pub status_interval: Duration,
    /// Find peers through a room server and NAT traversal (`None`: only `peers` are called).
    pub traversal: Option<Traversal>,
}

/// Where a session meets its room and how it crosses NATs, every host name resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Traversal {
    /// The room server (`osp-relay`): members' candidates are exchanged there.
    pub server: SocketAddr,
    /// A STUN server for our server-reflexive candidate.
    pub stun: Option<SocketAddr>,
    /// A TURN server for a relayed candidate (when no direct path works).
    pub turn: Option<proto::connect::TurnServer>,
}

impl Config {
    /// A configuration with the driver's defaults around `endpoint`.
    pub fn new(listen: SocketAddr, endpoint: endpoint::Config) -> Self {
        Self {
            listen,
            peers: Vec::new(),
            endpoint,
            dscp: true,
            wake_interval: Duration::from_micros(250),
            status_interval: Duration::from_millis(100),
            traversal: None,
        }
    }
}

/// Why a session could not start. The caller's fault (address) or the OS's; retrying with the
/// same address rarely helps.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket could not be bound.
    #[error("cannot bind UDP socket on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS's reason.
        source: io::Error,
    },
    /// The room server refused our configuration (a device name it cannot carry).
    #[error("cannot join the room server: {0}")]
    Room(#[from] proto::rendezvous::client::ConfigError),
    /// The driver threads could not be started.
    #[error("cannot start the network thread: {0}")]
    Thread(io::Error),
}

/// Control-thread requests to the driver.
#[derive(Debug)]
#[non_exhaustive]
pub enum Request {
    /// Call a peer at this address.
    AddPeer(SocketAddr),
    /// Publish tempo and transport (the master's is the room's); beat `beat` falls now.
    SetTransport {
        /// Playing.
        playing: bool,
        /// Tempo.
        bpm: f64,
        /// Beats per bar.
        beats_per_bar: u8,
        /// Beat unit.
        beat_unit: u8,
        /// Beat position now.
        beat: f64,
    },
    /// Start sending another local track on stream slot `index` (1..8; slot 0 is the first
    /// track's), its packets arriving on `ring`. Use [`Handle::add_track`].
    AddTrack {
        /// Local stream slot.
        index: u8,
        /// What peers are told about it.
        info: proto::osp::message::StreamInfo,
        /// Its audio thread's packets.
        ring: link::OutboundReceiver,
    },
    /// Stop sending the track on slot `index` (peers are told).
    RemoveTrack {
        /// Local stream slot.
        index: u8,
    },
    /// Leave the room (peers are told), then stop the driver.
    Leave,
}

/// The control thread's handle on a running session. Dropping it leaves the room and stops
/// the driver (waiting briefly for the goodbye to go out).
#[derive(Debug)]
pub struct Handle {
    requests: tokio::sync::mpsc::UnboundedSender<Request>,
    status: Arc<Mutex<Status>>,
    thread: Option<std::thread::JoinHandle<()>>,
    local: SocketAddr,
}

impl Handle {
    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends a request; false if the driver has stopped.
    pub fn request(&self, request: Request) -> bool {
        self.requests.send(request).is_ok()
    }

    /// Starts another local track on stream slot `index` (1..8) announced as `info`; returns
    /// the ring its audio thread sends on, or `None` if the driver has stopped.
    pub fn add_track(
        &self,
        index: u8,
        info: proto::osp::message::StreamInfo,
    ) -> Option<link::OutboundSender> {
        let (sender, ring) = rt::packet::ring(link::RING_SLOTS);
        self.request(Request::AddTrack { index, info, ring })
            .then_some(sender)
    }

    /// A copy of the latest status.
    pub fn status(&self) -> Status {
        match self.status.lock() {
            Ok(status) => status.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Leaves the room and waits for the driver to stop.
    pub fn leave(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.requests.send(Request::Leave);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds the socket and starts the driver. Returns the control handle and the audio thread's
/// link.
///
/// # Errors
/// [`Error::Bind`] if the address cannot be bound; [`Error::Thread`] if threads cannot start.
pub fn spawn(config: Config) -> Result<(Handle, link::AudioLink), Error> {
    let (socket, setup) = udp::bind(config.listen, config.dscp).map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;
    let (audio, driver_link) = link::pair();
    let (requests, request_rx) = tokio::sync::mpsc::unbounded_channel();
    let epoch = std::time::Instant::now();
    let mut session = Session::new(
        config.endpoint.clone(),
        setup.local,
        setup.dscp,
        driver_link,
        epoch,
    );
    if let Some(traversal) = &config.traversal {
        let host = udp::host_addresses(setup.local, traversal.server);
        start_traversal(
            &mut session,
            &config.endpoint,
            traversal,
            host,
            proto::time::Instant::ZERO,
        )?;
    }
    let status = session.status();
    let thread =
        driver::start(config, socket, session, epoch, request_rx).map_err(Error::Thread)?;
    Ok((
        Handle {
            requests,
            status,
            thread: Some(thread),
            local: setup.local,
        },
        audio,
    ))
}

/// Starts connectivity checks and the room membership on `session`, whose socket has the
/// host addresses `host`.
///
/// # Errors
/// [`Error::Room`] if the room server cannot carry our device name.
pub fn start_traversal(
    session: &mut Session,
    endpoint: &endpoint::Config,
    traversal: &Traversal,
    host: Vec<SocketAddr>,
    now: proto::time::Instant,
) -> Result<(), Error> {
    session.enable_connect(proto::connect::Config {
        user_id: endpoint.user_id,
        key: proto::auth::RoomKey::derive(&endpoint.room_secret, &endpoint.room_id),
        host,
        stun: traversal.stun,
        turn: traversal.turn.clone(),
        timing: proto::connect::Timing::default(),
        limits: proto::connect::Limits::default(),
        seed: endpoint.seed ^ 0x1CE,
    });
    session.enable_room(
        now,
        proto::rendezvous::client::Config {
            server: traversal.server,
            credentials: proto::rendezvous::Credentials::derive(
                &endpoint.room_secret,
                &endpoint.room_id,
            ),
            device_name: format!("osp-jam-{}", endpoint.user_id),
            device_id: endpoint.user_id,
        },
    )?;
    Ok(())
}

/// A session without socket or threads: the caller carries its datagrams between
/// [`Session::poll_transmit`] and [`Session::handle_datagram`], keeps its time, and calls
/// [`Detached::poll_requests`] to carry out what the control thread's [`Handle`] asked.
#[derive(Debug)]
pub struct Detached {
    /// The session.
    pub session: Session,
    requests: tokio::sync::mpsc::UnboundedReceiver<Request>,
    left: bool,
}

impl Detached {
    /// Carries out the control thread's pending requests at `now`.
    pub fn poll_requests(&mut self, now: proto::time::Instant) {
        while !self.left {
            match self.requests.try_recv() {
                Ok(Request::Leave) | Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    self.session.leave(now);
                    self.left = true;
                }
                Ok(request) => self.session.request(now, request),
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
            }
        }
    }

    /// The session has left the room (its handle asked, or was dropped).
    pub fn has_left(&self) -> bool {
        self.left
    }
}

/// Starts a session at `config.listen` without binding it: the [`Handle`] and
/// [`link::AudioLink`] work as [`spawn`]'s do, while the caller runs the network side through
/// the returned [`Detached`]. `now` is the caller's time, counted from the control thread's
/// `epoch`; the session calls `config.peers` at it. `config.dscp` is what the status reports.
pub fn detached(
    config: &Config,
    epoch: std::time::Instant,
    now: proto::time::Instant,
) -> (Handle, link::AudioLink, Detached) {
    let (audio, session_link) = link::pair();
    let (requests, request_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut session = Session::new(
        config.endpoint.clone(),
        config.listen,
        config.dscp,
        session_link,
        epoch,
    );
    session.call(now, &config.peers);
    let handle = Handle {
        requests,
        status: session.status(),
        thread: None,
        local: config.listen,
    };
    let detached = Detached {
        session,
        requests: request_rx,
        left: false,
    };
    (handle, audio, detached)
}
