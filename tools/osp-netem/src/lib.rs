//! The impairment proxy: a UDP relay on 127.0.0.1 that applies the netsim link model (delay,
//! jitter, loss, bursts, reordering, duplication) to real datagrams, since this kernel has no
//! netem. The tests start it in-process ([`Proxy::start`]); the `osp-netem` binary runs it in
//! front of a standalone, for the side-by-side latency probe under jitter. One socket: the first address that is not `upstream` is the client; datagrams from
//! the client go to `upstream` and back, each direction through its own seeded `netsim::Link`.
//!
//! It counts what it did to each direction, including how many RTP media packets of a given
//! payload type it dropped: the ground truth a receiver's loss counters are checked against.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netsim::{Fate, Link, Netem};

/// Datagrams held at once, at most (beyond: dropped and counted, so memory stays bounded).
const MAX_HELD: usize = 4096;
/// Longest wait for a datagram before the held ones are looked at again.
const MAX_WAIT: Duration = Duration::from_micros(200);
/// Shortest wait: below this the next delivery is sent without sleeping.
const MIN_WAIT: Duration = Duration::from_micros(20);

/// What the proxy did to one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Datagrams that came in.
    pub received: u64,
    /// Datagrams the model lost.
    pub lost: u64,
    /// Datagrams delivered (duplicates included).
    pub delivered: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// RTP media packets (the watched payload types) seen for the first time: originals.
    /// Later copies of the same (SSRC, sequence number) are resends, byte-identical by design.
    pub media: u64,
    /// Originals lost: the ground truth of what a receiver must count as lost.
    pub media_lost: u64,
    /// Dropped because too many were held.
    pub overflow: u64,
}

/// Both directions' counts: towards the upstream, and back to the client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// From the client to the upstream.
    pub to_upstream: Counts,
    /// From the upstream back to the client.
    pub to_client: Counts,
}

impl Report {
    /// One direction's counts: towards the upstream, or back to the client.
    fn direction(&mut self, to_upstream: bool) -> &mut Counts {
        if to_upstream {
            &mut self.to_upstream
        } else {
            &mut self.to_client
        }
    }
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<Report>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// A proxy on a free loopback port in front of `upstream`; `media_types` are the RTP
    /// payload types counted as media. Panics if no socket can be had (tests).
    pub fn start(upstream: SocketAddr, model: Netem, seed: u64, media_types: &[u8]) -> Self {
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::bind(listen, upstream, model, seed, media_types).expect("bind proxy")
    }

    /// A proxy on `listen` in front of `upstream`; `media_types` are the RTP payload types
    /// counted as media.
    pub fn bind(
        listen: SocketAddr,
        upstream: SocketAddr,
        model: Netem,
        seed: u64,
        media_types: &[u8],
    ) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(listen)?;
        socket.set_read_timeout(Some(MAX_WAIT))?;
        let addr = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(Mutex::new(Report::default()));
        let media_types = media_types.to_vec();
        let thread = {
            let (stop, report) = (Arc::clone(&stop), Arc::clone(&report));
            std::thread::spawn(move || {
                relay(&socket, upstream, model, seed, &media_types, &stop, &report);
            })
        };
        Ok(Self {
            addr,
            stop,
            report,
            thread: Some(thread),
        })
    }

    /// Where clients send.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it did so far.
    pub fn report(&self) -> Report {
        match self.report.lock() {
            Ok(report) => *report,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A datagram waiting for its delivery time (ordered by due time, then arrival order).
type Held = Reverse<(Instant, u64, bool, Vec<u8>)>;

fn relay(
    socket: &UdpSocket,
    upstream: SocketAddr,
    model: Netem,
    seed: u64,
    media_types: &[u8],
    stop: &AtomicBool,
    report: &Mutex<Report>,
) {
    let start = Instant::now();
    let mut links = [Link::new(model, seed), Link::new(model, seed ^ 0x9E37_79B9)];
    let mut client: Option<SocketAddr> = None;
    let mut held: BinaryHeap<Held> = BinaryHeap::new();
    let mut order = 0u64;
    let mut seen: HashSet<(u32, u16)> = HashSet::new();
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        // Sleep in the socket until the next delivery is due (a jitter model is only as
        // precise as the wake-ups that deliver it), at most MAX_WAIT.
        let wait = held.peek().map_or(MAX_WAIT, |Reverse((due, ..))| {
            due.saturating_duration_since(Instant::now())
                .clamp(MIN_WAIT, MAX_WAIT)
        });
        let _ = socket.set_read_timeout(Some(wait));
        if let Ok((len, from)) = socket.recv_from(&mut buf) {
            let to_upstream = from != upstream;
            if to_upstream {
                client = Some(from);
            }
            let data = &buf[..len];
            let mut r = report
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let counts = r.direction(to_upstream);
            counts.received += 1;
            // Only an original counts: the first time its (SSRC, sequence number) passes.
            let media = media_id(data, media_types).is_some_and(|id| seen.insert(id));
            counts.media += u64::from(media);
            let now = Instant::now();
            match links[usize::from(!to_upstream)].transmit(now - start, len) {
                Fate::Lost | Fate::QueueDrop => {
                    counts.lost += 1;
                    counts.media_lost += u64::from(media);
                }
                Fate::Delivered(delay, copy) => {
                    for (i, delay) in std::iter::once(delay).chain(copy).enumerate() {
                        if held.len() >= MAX_HELD {
                            counts.overflow += 1;
                            continue;
                        }
                        counts.duplicated += u64::from(i > 0);
                        order += 1;
                        held.push(Reverse((now + delay, order, to_upstream, data.to_vec())));
                    }
                }
            }
        }
        let now = Instant::now();
        while held.peek().is_some_and(|Reverse((due, ..))| *due <= now) {
            let Some(Reverse((_, _, to_upstream, data))) = held.pop() else {
                break;
            };
            let dest = if to_upstream { Some(upstream) } else { client };
            if let Some(dest) = dest {
                let _ = socket.send_to(&data, dest);
                let mut r = report
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                r.direction(to_upstream).delivered += 1;
            }
        }
    }
}

/// (SSRC, sequence number) of an RTP packet (version 2) of one of the watched payload types.
pub fn media_id(data: &[u8], media_types: &[u8]) -> Option<(u32, u16)> {
    let rtp = data.len() >= 12 && data[0] & 0xC0 == 0x80;
    (rtp && media_types.contains(&(data[1] & 0x7F))).then(|| {
        let seq = u16::from_be_bytes([data[2], data[3]]);
        let ssrc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
        (ssrc, seq)
    })
}
