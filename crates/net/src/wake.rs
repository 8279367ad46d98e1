//! When the wake-up thread next looks at an audio ring, sans-IO: [`Pacer`] turns the
//! [`Schedule`] the audio thread publishes (its 48 kHz tick at each hand-over and the ticks to
//! its next packet) and the times the thread looked into the time of its next look.
//!
//! The audio side cannot say when, on the monotonic clock, its callback runs, so the pacer
//! learns the phase. Each time the published tick changes between two looks, that hand-over
//! lies between them; shifted by the ticks between hand-overs (48 kHz, the audio clock's
//! nominal rate), successive such windows intersect, and once [`LOCK_SIGHTINGS`] of them
//! intersect narrower than [`FINE_WIDTH`] the phase is pinned (locked). Without a lock the pacer looks every
//! `fallback` interval (the plain poll), which is also what narrows the window: the poll's
//! phase slides against the callback's.
//!
//! Locked, it looks once per packet, [`MARGIN`] plus the callbacks' mean stray after the
//! predicted hand-over. Every
//! [`PROBE_EVERY`]-th packet it looks [`LEAD`] before instead and polls every [`FINE`], so
//! closely bracketed sightings keep the phase pinned (a sound card's few ppm of drift
//! included); a packet later than predicted is polled for the same way, for at most
//! [`FINE_WINDOW`], then at the fallback interval. [`MAX_MISSES`] misses in a row (late
//! packets, or probes that found the packet already waiting) or sightings that stray more
//! than [`MAX_JITTER`] on average drop the lock: a stall, a new block size, or a host whose
//! callbacks wander get the plain poll, never more looks than it.

use std::time::Duration;

use rt::packet::Schedule;

/// One tick of the audio side's clock (48 kHz) in nanoseconds.
const TICK_NANOS: f64 = 1e9 / 48_000.0;

/// How long after the predicted hand-over a normal look comes, beyond the callbacks' mean
/// stray from their predictions (the scheduler's wake-up latency adds to it).
pub const MARGIN: Duration = Duration::from_micros(15);

/// How long before the predicted hand-over a probing look comes (doubled after each miss).
pub const LEAD: Duration = Duration::from_micros(40);

/// The poll interval while a packet is due and not there yet.
pub const FINE: Duration = Duration::from_micros(40);

/// How long after the predicted hand-over the pacer keeps polling every [`FINE`].
pub const FINE_WINDOW: Duration = Duration::from_micros(120);

/// A window this narrow pins a hand-over (a timer's overshoot on a busy machine included).
pub const FINE_WIDTH: Duration = Duration::from_micros(200);

/// Consistent sightings a window needs before it locks: callbacks that wander narrow it by
/// chance now and then, and soon contradict it.
pub const LOCK_SIGHTINGS: u32 = 6;

/// Every this many packets found by a single look, one is probed for.
pub const PROBE_EVERY: u32 = 16;

/// Misses in a row that drop the lock.
pub const MAX_MISSES: u32 = 3;

/// Pinned sightings that stray further than this from their predictions on average drop the
/// lock: such callbacks come early as often as late.
pub const MAX_JITTER: Duration = Duration::from_micros(100);

/// Weight of the newest sighting in the mean stray.
const JITTER_GAIN: u64 = 8;

/// A pinned sighting later than predicted moves the phase by 1/`LATE_GAIN` of the difference,
/// one earlier by 1/`EARLY_GAIN`: a late callback is usually a one-off, while a phase that runs
/// late makes every packet wait.
const LATE_GAIN: i64 = 8;
const EARLY_GAIN: i64 = 2;

/// Where a hand-over lies: the audio side reached `position` between `from` and `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    from: Duration,
    to: Duration,
    position: u64,
    /// Sightings intersected into it.
    sightings: u32,
}

impl Window {
    fn width(&self) -> Duration {
        self.to.saturating_sub(self.from)
    }

    fn mid(&self) -> Duration {
        self.from + self.width() / 2
    }

    /// The same window moved to the hand-over at `position`.
    fn moved_to(&self, position: u64) -> Self {
        Self {
            from: shift(self.from, self.position, position),
            to: shift(self.to, self.position, position),
            position,
            sightings: self.sightings,
        }
    }
}

/// The wake-up plan for one audio ring. Times are the caller's, counted from any fixed origin.
#[derive(Clone, Debug)]
pub struct Pacer {
    fallback: Duration,
    /// The previous look: when, and the position it saw.
    last: Option<(Duration, u64)>,
    /// Unlocked: the intersection of the windows seen so far.
    window: Option<Window>,
    /// Locked: the hand-over the phase is pinned to (a window's midpoint).
    edge: Option<(Duration, u64)>,
    /// Packets found by a single look since the last pinned sighting.
    coarse: u32,
    misses: u32,
    /// The position whose hand-over was declared missed (counted once).
    missed: Option<u64>,
    /// Mean distance of pinned sightings from their predictions, ns.
    jitter_ns: u64,
}

impl Pacer {
    /// A pacer that polls every `fallback` while it has no lock.
    pub fn new(fallback: Duration) -> Self {
        Self {
            fallback,
            last: None,
            window: None,
            edge: None,
            coarse: 0,
            misses: 0,
            missed: None,
            jitter_ns: 0,
        }
    }

    /// Whether the phase is pinned (the pacer looks about once per packet).
    pub fn is_locked(&self) -> bool {
        self.edge.is_some()
    }

    /// The ring seen at `now` with `schedule` (none: the audio side has not published one):
    /// returns when to look next.
    pub fn look(&mut self, now: Duration, schedule: Option<Schedule>) -> Duration {
        let Some(schedule) = schedule else {
            self.last = None;
            return now + self.fallback;
        };
        if let Some((before, seen)) = self.last {
            if schedule.position < seen {
                // A new ring or a restarted clock: start over.
                *self = Self::new(self.fallback);
            } else if schedule.position > seen {
                self.sighted(Window {
                    from: before,
                    to: now,
                    position: schedule.position,
                    sightings: 1,
                });
            }
        }
        self.last = Some((now, schedule.position));
        self.next_look(now, schedule)
    }

    fn sighted(&mut self, window: Window) {
        let Some(edge) = self.edge else {
            let narrowed = match self.window.map(|w| w.moved_to(window.position)) {
                Some(w) if w.from.max(window.from) <= w.to.min(window.to) => Window {
                    from: w.from.max(window.from),
                    to: w.to.min(window.to),
                    position: window.position,
                    sightings: w.sightings + 1,
                },
                // Disjoint: the callback moved (or wandered); start from the newest.
                _ => window,
            };
            if narrowed.width() <= FINE_WIDTH && narrowed.sightings >= LOCK_SIGHTINGS {
                self.lock(narrowed);
            } else {
                self.window = Some(narrowed);
            }
            return;
        };
        if window.width() > FINE_WIDTH {
            self.coarse += 1;
            if self.coarse > PROBE_EVERY {
                // A probe was due and still found the packet waiting: the phase runs late.
                self.miss();
            }
            return;
        }
        let predicted = predict(edge, window.position);
        let error = signed_nanos(window.mid()) - signed_nanos(predicted);
        let stray = error.unsigned_abs().min(4 * MAX_JITTER.as_nanos() as u64);
        self.jitter_ns = self.jitter_ns - self.jitter_ns / JITTER_GAIN + stray / JITTER_GAIN;
        if self.jitter_ns > MAX_JITTER.as_nanos() as u64 {
            self.unlock();
            return;
        }
        let gain = if error > 0 { LATE_GAIN } else { EARLY_GAIN };
        let at = from_signed_nanos(signed_nanos(predicted) + error / gain);
        self.edge = Some((at, window.position));
        self.coarse = 0;
        self.misses = 0;
        self.missed = None;
    }

    fn lock(&mut self, window: Window) {
        self.edge = Some((window.mid(), window.position));
        self.window = None;
        self.coarse = 0;
        self.misses = 0;
        self.missed = None;
        // Three sightings straying 400 µs drop a new lock again.
        self.jitter_ns = 0;
    }

    fn unlock(&mut self) {
        self.edge = None;
        self.window = None;
        self.misses = 0;
        self.coarse = 0;
    }

    fn next_look(&mut self, now: Duration, schedule: Schedule) -> Duration {
        let Some(edge) = self.edge else {
            return now + self.fallback;
        };
        if schedule.ahead == 0 {
            return now + self.fallback;
        }
        let target = schedule.position + u64::from(schedule.ahead);
        let due = predict(edge, target);
        let first = due.saturating_sub(LEAD * (1 << self.misses));
        if now < first {
            // Past the callbacks' usual stray, so the packet is there at the first look.
            let margin = MARGIN + Duration::from_nanos(self.jitter_ns);
            return if self.coarse >= PROBE_EVERY {
                first
            } else {
                due + margin
            };
        }
        if now < due + FINE_WINDOW {
            return (now + FINE).min(due + FINE_WINDOW);
        }
        if self.missed != Some(target) {
            self.missed = Some(target);
            self.miss();
        }
        now + self.fallback
    }

    /// A packet was late, or a probe found it waiting: probe for the next one.
    fn miss(&mut self) {
        self.misses += 1;
        self.coarse = PROBE_EVERY;
        if self.misses >= MAX_MISSES {
            self.unlock();
        }
    }
}

/// `at` moved from the hand-over at `from` to the one at `to`, at the nominal 48 kHz.
fn shift(at: Duration, from: u64, to: u64) -> Duration {
    let ticks = to.wrapping_sub(from) as i64;
    from_signed_nanos(signed_nanos(at) + (ticks as f64 * TICK_NANOS).round() as i64)
}

/// When the audio side reaches `position`, from the pinned hand-over `edge`.
fn predict(edge: (Duration, u64), position: u64) -> Duration {
    shift(edge.0, edge.1, position)
}

fn signed_nanos(at: Duration) -> i64 {
    i64::try_from(at.as_nanos()).unwrap_or(i64::MAX)
}

fn from_signed_nanos(nanos: i64) -> Duration {
    Duration::from_nanos(nanos.max(0) as u64)
}

#[cfg(test)]
mod tests;
