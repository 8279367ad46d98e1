//! One remote member's connection state machine: connecting (hello + authentication),
//! connected (heartbeat and clock probes, idle timeout), backing off between reconnection
//! attempts, closed. Transitions consume the old state and name the event that caused them.
//!
//! ```text
//!            hello answered & proof verified
//! Connecting ───────────────────────────────▶ Connected
//!    ▲   │ attempt window over                 │ idle timeout        │ verified leave
//!    │   ▼                                     ▼                     ▼
//!    └── Backoff ◀─────────────────────────────┘                  Closed
//!  retry   │ stale for `forget_after`                                ▲
//!          └─────────────────────────────────────────────────────────┘
//! ```
//!
//! A Closed peer still answers a fresh Hello (it may come back), which starts a new
//! Connecting state with a new nonce.

use std::time::Duration;

use rand::Rng;

use crate::auth::Nonce;
use crate::time::Instant;
use crate::timer;

/// A peer's connection state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Sending Hellos, waiting for the peer's proof.
    Connecting(Connecting),
    /// Both sides proved the room key.
    Connected(Connected),
    /// The peer went silent or never answered; waiting to try again.
    Backoff(Backoff),
    /// The peer left (or was forgotten); answers only a fresh Hello.
    Closed(Closed),
}

/// [`State::Connecting`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connecting {
    /// Our nonce for this attempt.
    pub nonce: Nonce,
    /// When the attempt started.
    pub since: Instant,
    /// Attempts that failed before this one (0 on a first connection).
    pub failures: u32,
}

/// [`State::Connected`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connected {
    /// Our nonce for this connection.
    pub nonce: Nonce,
    /// The peer's nonce for this connection.
    pub peer_nonce: Nonce,
    /// When the connection was established.
    pub since: Instant,
    /// When a datagram from the peer was last accepted.
    pub last_heard: Instant,
}

/// [`State::Backoff`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Failed attempts so far (sets the next delay).
    pub failures: u32,
    /// When the peer was last connected or first tried.
    pub gone_since: Instant,
    /// When the next attempt starts.
    pub retry_at: Instant,
}

/// [`State::Closed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closed {
    /// Why.
    pub reason: CloseReason,
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer sent a verified leave.
    Left,
    /// We left.
    WeLeft,
    /// Stale: in backoff for longer than `forget_after`.
    Forgotten,
}

/// Exponential backoff with jitter for reconnection attempts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffPolicy {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
    /// Random spread, as a fraction of the delay (0.2 = ±20 %), so peers that lost each other
    /// at the same moment do not retry in lockstep.
    pub jitter: f64,
}

impl BackoffPolicy {
    /// The delay before attempt `failures + 1`: `min(base × 2^(failures − 1), cap)`, spread by
    /// ± `jitter`.
    pub fn delay(&self, failures: u32, rng: &mut impl Rng) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let nominal = self.base.saturating_mul(1 << doublings).min(self.cap);
        let spread = if self.jitter > 0.0 {
            rng.random_range(-self.jitter..=self.jitter)
        } else {
            0.0
        };
        nominal.mul_f64((1.0 + spread).max(0.0))
    }
}

impl Connecting {
    /// The peer's proof verified (and ours is on its way): connected.
    pub fn authenticated(self, peer_nonce: Nonce, now: Instant) -> Connected {
        Connected {
            nonce: self.nonce,
            peer_nonce,
            since: now,
            last_heard: now,
        }
    }

    /// The attempt window passed without an answer.
    pub fn give_up(self, now: Instant, policy: &BackoffPolicy, rng: &mut impl Rng) -> Backoff {
        let failures = self.failures + 1;
        Backoff {
            failures,
            gone_since: self.since.min(now),
            retry_at: now + policy.delay(failures, rng),
        }
    }
}

impl Connected {
    /// Nothing heard for the idle timeout: the peer is gone; retry after the first delay.
    pub fn timed_out(self, now: Instant, policy: &BackoffPolicy, rng: &mut impl Rng) -> Backoff {
        Backoff {
            failures: 1,
            gone_since: self.last_heard,
            retry_at: now + policy.delay(1, rng),
        }
    }

    /// The peer sent a verified leave.
    pub fn left(self) -> Closed {
        Closed {
            reason: CloseReason::Left,
        }
    }
}

impl Backoff {
    /// The retry time came: a new attempt with a fresh nonce.
    pub fn retry(self, nonce: Nonce, now: Instant) -> Connecting {
        Connecting {
            nonce,
            since: now,
            failures: self.failures,
        }
    }

    /// Stale for too long: forget the peer.
    pub fn forget(self) -> Closed {
        Closed {
            reason: CloseReason::Forgotten,
        }
    }
}

/// A peer's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Next Hello while connecting.
    Hello,
    /// End of the current connection attempt.
    Attempt,
    /// Next clock probe (also the heartbeat).
    Probe,
    /// Idle timeout while connected.
    Idle,
    /// Next reconnection attempt.
    Retry,
    /// Stale-peer cleanup.
    Forget,
    /// Loss-recovery work on the peer's streams (NACKs, deadlines).
    Recovery,
    /// Next link report to the peer.
    Report,
}

impl timer::Kind for Timer {
    const COUNT: usize = 8;
    const ALL: &'static [Self] = &[
        Self::Hello,
        Self::Attempt,
        Self::Probe,
        Self::Idle,
        Self::Retry,
        Self::Forget,
        Self::Recovery,
        Self::Report,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// The timer table of one peer.
pub(crate) type Timers = timer::Table<Timer, { <Timer as timer::Kind>::COUNT }>;

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_within_the_jitter() {
        let policy = BackoffPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            jitter: 0.2,
        };
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        for failures in 1..=12u32 {
            let nominal = (0.5 * 2f64.powi(failures as i32 - 1)).min(30.0);
            for _ in 0..100 {
                let d = policy.delay(failures, &mut rng).as_secs_f64();
                assert!(
                    (d - nominal).abs() <= nominal * 0.2 + 1e-9,
                    "{failures}: {d}"
                );
            }
        }
    }

    #[test]
    fn transitions_carry_what_the_next_state_needs() {
        let policy = BackoffPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(8),
            jitter: 0.0,
        };
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let t = |s: u64| Instant::from_micros(s * 1_000_000);
        let connecting = Connecting {
            nonce: Nonce([1; 32]),
            since: t(0),
            failures: 0,
        };
        let backoff = connecting.clone().give_up(t(5), &policy, &mut rng);
        assert_eq!(backoff.retry_at, t(6));
        let again = backoff.retry(Nonce([2; 32]), t(6));
        assert_eq!(again.failures, 1);
        let backoff = again.give_up(t(7), &policy, &mut rng);
        assert_eq!((backoff.failures, backoff.retry_at), (2, t(9)));
        let connected = connecting.authenticated(Nonce([3; 32]), t(1));
        assert_eq!(connected.peer_nonce, Nonce([3; 32]));
        let gone = connected.clone().timed_out(t(10), &policy, &mut rng);
        assert_eq!((gone.failures, gone.gone_since), (1, t(1)));
        assert_eq!(connected.left().reason, CloseReason::Left);
        assert_eq!(gone.forget().reason, CloseReason::Forgotten);
    }
}
