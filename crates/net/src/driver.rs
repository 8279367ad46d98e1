//! The driver thread: one current-thread tokio runtime that waits on the socket, the endpoint's
//! next deadline, control requests and the audio thread's packets, feeds each to the
//! [`Session`], and after every wake-up sends what it has to send, a burst per syscall
//! ([`crate::batch`]) (the run loop of `proto`'s documentation, with the socket and the
//! monotonic clock around the sans-IO session). A readable socket is drained in bursts too
//! ([`crate::recv`]): every datagram waiting when the driver wakes is read by one call.
//!
//! Waking for audio: the audio thread may not make the syscall a wake-up needs, and tokio's
//! timers tick in milliseconds, which is a whole 64-sample block. A small wake-up thread per
//! session looks at the audio rings when a [`Pacer`] says (an `hrtimer` sleep, not tokio's
//! wheel) and notifies the driver when packets arrived. Locked to the audio callback's phase
//! from the schedule the audio side publishes, it looks about once per packet, just after the
//! predicted hand-over, so a packet waits tens of µs (the pacer's tests); without a lock (start-up, a stall,
//! a host whose callbacks wander) it looks every [`crate::Config::wake_interval`] (250 µs: a
//! packet waits 125 µs on average).
//!
//! The wake-up thread stays a thread of its own, rather than a timer inside the driver's loop:
//! tokio's timers cannot wake within a block, and the precise timer a loop could wait on with
//! its socket (a Linux `timerfd`) would need a second path on every other platform, while the
//! thread costs one context switch more per packet than it (a few µs each).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::time::Instant;
use tokio::sync::{Notify, mpsc};

use crate::batch::{Batch, SEND_BATCH, SLOT_BYTES};
use crate::recv::Arrivals;
use crate::session::Session;
use crate::status::Status;
use crate::wake::Pacer;
use crate::{Config, Request};
use rt::packet::Watch;

// A send slot holds the endpoint's largest datagram behind the connectivity agent's headroom.
const _: () = assert!(SLOT_BYTES >= proto::ostp::MAX_DATAGRAM + proto::connect::HEADROOM);

/// Reads of up to [`crate::recv::RECV_BATCH`] datagrams in one wake-up before the driver
/// turns to its other inputs (and sends what the datagrams made the endpoint send). The read
/// that finds the socket empty counts: it is what tells tokio to wait for readiness again.
const READS_PER_WAKE: usize = 3;

/// Starts the driver and wake-up threads around `session`, whose `now` counts from `epoch`.
pub(crate) fn start(
    config: Config,
    socket: std::net::UdpSocket,
    session: Session,
    epoch: std::time::Instant,
    requests: mpsc::UnboundedReceiver<Request>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let notify = Arc::new(Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let watches = session.watches();
    let wake = {
        let (watches, notify, stop) =
            (Arc::clone(&watches), Arc::clone(&notify), Arc::clone(&stop));
        let fallback = config.wake_interval;
        std::thread::Builder::new()
            .name("osp-net-wake".into())
            .spawn(move || {
                // Where permitted, real-time: a loaded machine must not delay the packets the
                // audio thread hands over (else normal scheduling, which works, less well).
                let _ = rt::priority::raise_to_realtime(rt::priority::NETWORK_PRIORITY);
                let mut pacers: Vec<(Watch, Pacer)> = Vec::new();
                let mut seen = 0;
                while !stop.load(Ordering::Relaxed) {
                    let now = epoch.elapsed();
                    let (sent, next) = look(&watches, &mut pacers, fallback, now);
                    if sent != seen {
                        seen = sent;
                        notify.notify_one();
                    }
                    // `thread::sleep` is an hrtimer sleep (clock_nanosleep on Linux), precise
                    // to tens of µs, unlike tokio's millisecond wheel.
                    std::thread::sleep(next.saturating_sub(epoch.elapsed()));
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
                        let driver = Driver {
                            session,
                            socket,
                            epoch,
                            tokio_epoch: tokio::time::Instant::from_std(epoch),
                            batch: Batch::default(),
                            arrivals: Arrivals::default(),
                        };
                        driver.run(config, requests, notify).await;
                    }
                    Err(_) => mark_stopped(&session.status()),
                }
            });
            stop.store(true, Ordering::Relaxed);
            let _ = wake.join();
        })
}

struct Driver {
    session: Session,
    socket: tokio::net::UdpSocket,
    epoch: std::time::Instant,
    tokio_epoch: tokio::time::Instant,
    batch: Batch,
    arrivals: Arrivals,
}

impl Driver {
    fn now(&self) -> Instant {
        Instant::from_duration(self.epoch.elapsed())
    }

    async fn run(
        mut self,
        config: Config,
        mut requests: mpsc::UnboundedReceiver<Request>,
        notify: Arc<Notify>,
    ) {
        // A fresh socket is writable, but tokio learns it only from the reactor's first poll,
        // and until then `try_io` in `flush` refuses every send: the first Hellos, room JOIN
        // and STUN/TURN requests would be dropped, to wait for their retries (the JOIN's 1 s).
        if self.socket.writable().await.is_err() {
            mark_stopped(&self.session.status());
            return;
        }
        let now = self.now();
        self.session.call(now, &config.peers);
        self.flush();
        let mut status_tick = tokio::time::interval(config.status_interval);
        status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self
                .session
                .poll_timeout()
                .map(|at| self.tokio_epoch + at.as_duration());
            tokio::select! {
                readable = self.socket.readable() => match readable {
                    Ok(()) => self.receive(),
                    // The socket itself failed (the runtime is shutting down): stop.
                    Err(_) => break,
                },
                () = notify.notified() => {
                    let now = self.now();
                    self.session.send_audio(now);
                }
                request = requests.recv() => match request {
                    Some(Request::Leave) | None => break,
                    Some(request) => {
                        let now = self.now();
                        self.session.request(now, request);
                    }
                },
                () = sleep_until(deadline) => {
                    let now = self.now();
                    self.session.handle_timeout(now);
                }
                // The wake-up thread's notification may race a packet queued just after it
                // looked; the status tick picks up any such straggler.
                _ = status_tick.tick() => {
                    let now = self.now();
                    self.session.tick(now);
                }
            }
            self.flush();
        }
        let now = self.now();
        self.session.leave(now);
        self.flush();
    }

    /// Hands every datagram waiting on the socket to the session, a burst per syscall, until
    /// it is empty or [`READS_PER_WAKE`] reads were made.
    fn receive(&mut self) {
        for _ in 0..READS_PER_WAKE {
            match self.arrivals.read(&self.socket) {
                Ok(_) => {
                    let now = self.now();
                    for (from, data) in self.arrivals.iter() {
                        match from {
                            Some(from) => self.session.handle_datagram(now, from, data),
                            // Not an IP sender: nothing a UDP socket delivers.
                            None => self.session.note_recv_error(),
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => self.session.note_recv_error(),
            }
        }
    }

    /// Sends what the session has to send, a batch per syscall.
    fn flush(&mut self) {
        loop {
            while self.batch.gather(|buf| self.session.poll_transmit(buf)) {}
            if self.batch.is_empty() {
                return;
            }
            let full = self.batch.len() == SEND_BATCH;
            let session = &mut self.session;
            self.batch.send(&self.socket, |len, sent| {
                if sent {
                    session.note_sent(len);
                } else {
                    // A full socket buffer drops the datagram rather than stalling every
                    // stream.
                    session.note_send_error();
                }
            });
            if !full {
                return;
            }
        }
    }
}

/// One look at every track's ring: the sum of their packet counters (any new packet changes
/// it) and when to look next (the earliest of their pacers' plans). `pacers` follows the
/// session's rings; the lock is only contended when a track is added or removed (never by the
/// audio side).
fn look(
    watches: &Mutex<Vec<Watch>>,
    pacers: &mut Vec<(Watch, Pacer)>,
    fallback: Duration,
    now: Duration,
) -> (u64, Duration) {
    let watches = match watches.lock() {
        Ok(w) => w,
        Err(poisoned) => poisoned.into_inner(),
    };
    if pacers.len() != watches.len()
        || pacers
            .iter()
            .zip(watches.iter())
            .any(|((p, _), w)| !p.same_ring(w))
    {
        let mut old = std::mem::take(pacers);
        for watch in watches.iter() {
            let pacer = match old.iter().position(|(p, _)| p.same_ring(watch)) {
                Some(at) => old.swap_remove(at).1,
                None => Pacer::new(fallback),
            };
            pacers.push((watch.clone(), pacer));
        }
    }
    let sent = watches.iter().map(Watch::sent).sum();
    let next = pacers
        .iter_mut()
        .map(|(watch, pacer)| pacer.look(now, watch.schedule()))
        .min()
        .unwrap_or(now + fallback);
    (sent, next)
}

fn mark_stopped(status: &Mutex<Status>) {
    match status.lock() {
        Ok(mut status) => status.stopped = true,
        Err(poisoned) => poisoned.into_inner().stopped = true,
    }
}

/// Sleeps until `deadline`, or for ever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};

    use proto::endpoint;

    /// The driver's first flush (here a call's Hello; with NAT traversal the room server's
    /// JOIN and the STUN and TURN requests) reaches the kernel: a datagram refused then would
    /// wait for its retry (the JOIN's is 1 s away).
    #[test]
    fn the_first_datagrams_at_start_are_sent_not_dropped() {
        let peer = UdpSocket::bind("127.0.0.1:0").expect("bind the peer");
        peer.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        let endpoint = endpoint::Config::new(1, "driver-test", b"secret", 1);
        let mut config = crate::Config::new("127.0.0.1:0".parse().expect("an address"), endpoint);
        config.peers = vec![peer.local_addr().expect("peer address")];
        let (handle, _audio) = crate::spawn(config).expect("spawn");
        let mut buf = [0u8; 1_500];
        peer.recv_from(&mut buf).expect("a Hello within 5 s");
        let start = Instant::now();
        let status = loop {
            let status = handle.status();
            if status.sent.0 > 0 {
                break status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "no status within 5 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(
            status.send_errors, 0,
            "refused at start: {} (sent {})",
            status.send_errors, status.sent.0
        );
    }
}
