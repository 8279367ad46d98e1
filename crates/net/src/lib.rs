//! OSP Jam's network driver: owns a session's one UDP socket and drives the sans-IO
//! [`proto::endpoint::Endpoint`] with it. It translates and never decides: bytes from the socket
//! and the monotonic clock go in, datagrams and events come out, and every protocol choice
//! (handshakes, resends, clock probes, elections) stays in `proto`.
//!
//! - [`udp`]: socket setup (DSCP EF, buffer sizes, dual stack, address normalisation).
//! - [`link`]: the fixed-slot rings and atomics between the driver and the audio thread.
//! - [`driver`]: the event loop on its own thread (a current-thread tokio runtime) and the
//!   wake-up thread that notices audio-thread packets.
//!
//! [`spawn`] starts a session and returns a [`Handle`] for the control thread and an
//! [`link::AudioLink`] for the audio thread.

pub mod driver;
pub mod link;
pub mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::endpoint;

pub use driver::{PeerStatus, Status};

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
    /// How long the wake-up thread sleeps between looks at the audio thread's ring: the most a
    /// packet waits there before the driver sends it.
    pub wake_interval: Duration,
    /// How often the shared [`Status`] and the playout delays are refreshed.
    pub status_interval: Duration,
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
    let status = Arc::new(Mutex::new(Status::new(&setup, config.endpoint.user_id)));
    let thread = driver::start(
        config,
        socket,
        setup,
        driver_link,
        request_rx,
        Arc::clone(&status),
    )
    .map_err(Error::Thread)?;
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
