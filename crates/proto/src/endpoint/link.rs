//! One remote member as the endpoint holds it: how it is reached, where its handshake stands,
//! its timers, clock estimate and link health, and the streams it announced.

use std::time::Duration;

use super::receive::RemoteStream;
use crate::auth::Nonce;
use crate::clock;
use crate::health;
use crate::path::{Path, Paths};
use crate::peer::{self, CloseReason, State, Timer, Timers};
use crate::time::Instant;

/// Clock probes kept for matching replies.
pub(super) const PROBES: usize = 16;

/// One remote member.
#[derive(Debug)]
pub(super) struct Peer {
    /// Its id once known (from our `AddPeer`, its Hello or its proof); changed only through
    /// [`super::peers::Peers::set_user`], which indexes it.
    pub(super) user_id: Option<u32>,
    /// Its paths; changed only through [`super::peers::Peers::update_paths`].
    pub(super) paths: Paths,
    pub(super) state: State,
    pub(super) timers: Timers,
    pub(super) clock: Box<clock::Estimator>,
    /// Outstanding clock probes: (probe id, send time µs).
    pub(super) probes: [(u32, u64); PROBES],
    pub(super) next_probe: u32,
    pub(super) streams: Vec<RemoteStream>,
    pub(super) announce_version: Option<u32>,
    pub(super) last_auth_sent: Option<Instant>,
    /// Copies of a changed announcement still to send (one per clock probe).
    pub(super) announce_repeats: u8,
    pub(super) osp_seq: u16,
    pub(super) health: health::Monitor,
    /// Loss the peer reports on our streams (0..1), latest interval.
    pub(super) reported_loss: f64,
    /// Our media packets sent to the peer since its last report, and totals the reports imply
    /// (sent, lost), which drive the parity group size for it.
    pub(super) sent_since_report: u64,
    pub(super) remote_counts: (u64, u64),
    pub(super) fec: health::FecPolicy,
    pub(super) rtt: Option<Duration>,
    pub(super) playout_delay: Duration,
    /// Created by a Hello from an address nobody named (LAN rooms); never authenticated.
    pub(super) stranger: bool,
    pub(super) created: Instant,
}

impl Peer {
    /// A peer in its first connection attempt, its Hello timer armed.
    pub(super) fn connecting(
        path: Path,
        user_id: Option<u32>,
        now: Instant,
        nonce: Nonce,
        hello_at: Instant,
        playout_delay: Duration,
    ) -> Self {
        let mut timers = Timers::new();
        timers.set(Timer::Hello, hello_at);
        Self {
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
            playout_delay,
            stranger: false,
            created: now,
        }
    }

    pub(super) fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected(_))
    }

    /// Our nonce in the current state, if it has one.
    pub(super) fn nonce(&self) -> Option<Nonce> {
        match &self.state {
            State::Connecting(c) => Some(c.nonce),
            State::Connected(c) => Some(c.nonce),
            State::Backoff(_) | State::Closed(_) => None,
        }
    }

    /// Takes the state out for a consuming transition; the caller puts the next one back (the
    /// placeholder never outlives the call).
    pub(super) fn take_state(&mut self) -> State {
        std::mem::replace(
            &mut self.state,
            State::Closed(peer::Closed {
                reason: CloseReason::Forgotten,
            }),
        )
    }

    /// Notes that a valid datagram came from the peer (the idle timer's clock).
    pub(super) fn heard(&mut self, now: Instant) {
        if let State::Connected(connected) = &mut self.state {
            connected.last_heard = now;
        }
    }

    /// Arms the timers of a (re)connection attempt and returns its state: Hellos now, and the
    /// window after which it backs off.
    pub(super) fn start_attempt(
        &mut self,
        now: Instant,
        timing: &super::Timing,
        attempt: peer::Connecting,
    ) -> State {
        self.timers.stop_all();
        self.timers.set(Timer::Hello, now + timing.hello_interval);
        let window = if attempt.failures == 0 {
            timing.connect_timeout
        } else {
            timing.retry_window
        };
        self.timers.set(Timer::Attempt, now + window);
        State::Connecting(attempt)
    }
}
