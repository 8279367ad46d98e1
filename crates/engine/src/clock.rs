//! The control thread's clock: the system's monotonic clock in a running session, or a clock
//! the caller moves (a simulation on virtual time). The audio side never reads it: it counts
//! samples.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where the [`crate::controller::Controller`] reads the time.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system's monotonic clock.
    #[default]
    System,
    /// A clock the caller sets.
    Manual(ManualClock),
}

impl Clock {
    /// The time now.
    // The one place the control side reads the system clock (the crate forbids it elsewhere:
    // the audio side takes its time from the sample clock).
    #[allow(clippy::disallowed_methods)]
    pub fn now(&self) -> Instant {
        match self {
            Self::System => Instant::now(),
            Self::Manual(clock) => clock.now(),
        }
    }
}

/// A clock that stands still until [`ManualClock::set`] moves it: `epoch` plus the time set.
/// Clones share the time.
#[derive(Clone, Debug)]
pub struct ManualClock {
    epoch: Instant,
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at `epoch` (any instant: only differences between its readings matter).
    pub fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The instant the clock counts from.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Sets the time to `since_epoch` after the epoch.
    pub fn set(&self, since_epoch: Duration) {
        let nanos = u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.store(nanos, Ordering::Relaxed);
    }

    /// Time since the epoch.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }

    /// The time now.
    pub fn now(&self) -> Instant {
        self.epoch + self.elapsed()
    }
}
