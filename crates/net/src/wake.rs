//! When the wake-up thread next looks at an audio ring, sans-IO: [`Pacer`] turns the
//! [`Schedule`] the audio thread publishes (its 48 kHz tick at each hand-over and the ticks to
//! its next packet) and the times the thread looked into the time of its next look.
//!
//! The audio side cannot say when, on the monotonic clock, its callback runs, so the pacer
//! learns the phase: the tick count changes between two looks, and when the looks were close
//! together (a fine observation) the hand-over is pinned to their midpoint. With a phase it
//! predicts the next hand-over from the published ticks (48 kHz, the audio clock's nominal
//! rate: a sound card's few ppm of drift are caught by the phase updates) and looks once,
//! [`MARGIN`] after it. Every [`PROBE_EVERY`]-th packet it looks [`LEAD`] before instead and
//! polls every [`FINE`] until the packet is there, so the phase stays pinned; a hand-over later
//! than predicted is polled for the same way. Without a phase (start-up), after three misses
//! (a stall, a new block size, a host whose callbacks wander) or without a schedule, it looks
//! every `fallback` interval, the plain poll, and locks again from what it sees.

use std::time::Duration;

use rt::packet::Schedule;

/// One tick of the audio side's clock (48 kHz) in nanoseconds.
const TICK_NANOS: f64 = 1e9 / 48_000.0;

/// How long after the predicted hand-over a normal look comes: the scheduler's wake-up
/// latency covers the rest of the callback's jitter.
pub const MARGIN: Duration = Duration::from_micros(15);

/// How long before the predicted hand-over a probing look comes.
pub const LEAD: Duration = Duration::from_micros(40);

/// The poll interval while a packet is due and not there yet.
pub const FINE: Duration = Duration::from_micros(40);

/// Looks at most this far apart pin a hand-over (a timer's overshoot on a busy machine
/// included).
pub const FINE_WIDTH: Duration = Duration::from_micros(200);

/// Every this many packets found without being polled for, one is probed for.
pub const PROBE_EVERY: u32 = 8;

/// A fine sighting later than predicted moves the phase by 1/`LATE_GAIN` of the difference,
/// one earlier by 1/`EARLY_GAIN`: a late callback is usually a one-off, while a phase that runs
/// late makes every packet wait.
const LATE_GAIN: i64 = 8;
const EARLY_GAIN: i64 = 2;

/// Callbacks whose sightings stray further than this from the prediction on average are
/// not trusted to come no earlier than predicted: looks stay at most `fallback` apart.
pub const MAX_JITTER: Duration = Duration::from_micros(100);
const JITTER_GAIN: u64 = 8;

/// A packet this late against the prediction is a miss: the pacer waits for it at the
/// fallback interval.
pub const LOCK_WINDOW: Duration = Duration::from_micros(400);

/// Misses (late packets, or probes that came too late to pin one) in a row that drop the
/// phase.
pub const MAX_MISSES: u32 = 3;

/// A hand-over on the monotonic clock: the audio side stood at `position` about `at`, give or
/// take `width / 2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Edge {
    at: Duration,
    position: u64,
    width: Duration,
    fine: bool,
}

/// The wake-up plan for one audio ring. Times are the caller's, counted from any fixed origin.
#[derive(Clone, Debug)]
pub struct Pacer {
    fallback: Duration,
    /// The previous look: when, and the position it saw.
    last: Option<(Duration, u64)>,
    edge: Option<Edge>,
    /// Packets found by a single look since the last fine observation.
    coarse: u32,
    misses: u32,
    /// The position whose hand-over was declared missed (counted once).
    missed: Option<u64>,
    /// Mean distance of fine sightings from their predictions, ns.
    jitter_ns: u64,
}

impl Pacer {
    /// A pacer that polls every `fallback` while it has no phase.
    pub fn new(fallback: Duration) -> Self {
        Self {
            fallback,
            last: None,
            edge: None,
            coarse: 0,
            misses: 0,
            missed: None,
            jitter_ns: 0,
        }
    }

    /// Whether the phase is pinned (the pacer looks about once per packet).
    pub fn is_locked(&self) -> bool {
        self.edge.is_some_and(|e| e.fine)
    }

    /// The ring seen at `now` with `schedule` (none: the audio side has not published one):
    /// returns when to look next.
    pub fn look(&mut self, now: Duration, schedule: Option<Schedule>) -> Duration {
        let Some(schedule) = schedule else {
            self.last = None;
            return now + self.fallback;
        };
        self.observe(now, schedule.position);
        self.last = Some((now, schedule.position));
        self.next_look(now, schedule)
    }

    fn observe(&mut self, now: Duration, position: u64) {
        let Some((before, seen)) = self.last else {
            return;
        };
        if position < seen {
            // A new ring or a restarted clock: start over.
            *self = Self::new(self.fallback);
            return;
        }
        if position == seen {
            return;
        }
        let width = now.saturating_sub(before);
        let at = now - width / 2;
        if width <= FINE_WIDTH {
            let at = match self.edge.filter(|e| e.fine) {
                // Halfway from the prediction to the sighting: one timer's overshoot moves the
                // phase by half of it.
                Some(edge) => {
                    let predicted = predict(edge, position);
                    let error = signed_nanos(at) - signed_nanos(predicted);
                    let size = error.unsigned_abs().min(LOCK_WINDOW.as_nanos() as u64);
                    self.jitter_ns =
                        self.jitter_ns - self.jitter_ns / JITTER_GAIN + size / JITTER_GAIN;
                    if error.unsigned_abs() >= LOCK_WINDOW.as_nanos() as u64 {
                        at
                    } else if error > 0 {
                        // A callback that came late is mostly the scheduler's jitter: follow
                        // it slowly, or the packets after it would wait for the late phase.
                        from_signed_nanos(signed_nanos(predicted) + error / LATE_GAIN)
                    } else {
                        from_signed_nanos(signed_nanos(predicted) + error / EARLY_GAIN)
                    }
                }
                None => at,
            };
            self.edge = Some(Edge {
                at,
                position,
                width,
                fine: true,
            });
            self.coarse = 0;
            self.misses = 0;
            self.missed = None;
        } else if self.is_locked() {
            self.coarse += 1;
            if self.coarse > PROBE_EVERY {
                // A probe was due and still found the packet waiting: the phase runs late.
                self.miss();
            }
        } else {
            self.edge = Some(Edge {
                at,
                position,
                width,
                fine: false,
            });
        }
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
        // How early to start polling: an unpinned phase is only known to its sighting's width.
        // A failed probe probes earlier next time.
        let lead = if edge.fine {
            LEAD * (1 << self.misses)
        } else {
            edge.width / 2 + LEAD
        };
        let first = due.saturating_sub(lead);
        if now < first {
            let planned = if self.coarse >= PROBE_EVERY || !edge.fine {
                first
            } else {
                due + MARGIN
            };
            // Not locked, or locked to callbacks so irregular that they come early as often as
            // late: the plain poll, with fine polls where the packet may come.
            let trusted = edge.fine && self.jitter_ns <= MAX_JITTER.as_nanos() as u64;
            return if trusted {
                planned
            } else {
                planned.min(now + self.fallback)
            };
        }
        let window = if edge.fine {
            LOCK_WINDOW
        } else {
            edge.width / 2 + LOCK_WINDOW
        };
        if now <= due + window {
            return (now + FINE).min(due + window);
        }
        if self.missed != Some(target) {
            self.missed = Some(target);
            if edge.fine {
                self.miss();
            } else {
                // The sighting was misleading: learn from the next one.
                self.edge = None;
            }
        }
        now + self.fallback
    }

    /// A packet was late, or a probe found it waiting: probe for the next one.
    fn miss(&mut self) {
        self.misses += 1;
        self.coarse = PROBE_EVERY;
        if self.misses >= MAX_MISSES {
            self.edge = None;
            self.misses = 0;
        }
    }
}

/// When the audio side reaches `position`, from `edge` at the nominal 48 kHz.
fn predict(edge: Edge, position: u64) -> Duration {
    let ticks = position.wrapping_sub(edge.position) as i64;
    from_signed_nanos(signed_nanos(edge.at) + (ticks as f64 * TICK_NANOS).round() as i64)
}

fn signed_nanos(at: Duration) -> i64 {
    i64::try_from(at.as_nanos()).unwrap_or(i64::MAX)
}

fn from_signed_nanos(nanos: i64) -> Duration {
    Duration::from_nanos(nanos.max(0) as u64)
}

#[cfg(test)]
mod tests;
