//! The transit floor: the lowest `arrival − media` the path allows, as a line over local time.
//!
//! A windowed minimum alone is right only while the sender's clock and ours run at the same
//! rate. When they do not (a crystal 100 ppm off, or a device that runs 10 % slow under load or
//! with a broken clock), transit drifts at the rate difference: falling, the window's minimum is
//! its newest sample and all is well; rising, the minimum is two seconds old and the whole rise
//! since then reads as jitter. So the floor keeps the minimum of each sub-window together with
//! the instant it was seen, fits a line through the newest minima that lie on one line (upward
//! outliers are jitter, an older regime is a rate that has since changed) and projects each
//! minimum to the present along that line. The slope is the *skew*: transit ticks per local tick,
//! positive when our clock runs faster than the sender's media clock.
//!
//! The fit is redone once per sub-window (about 8 times a second), on the audio thread: a few
//! hundred flops, no allocation.

/// Sub-windows of the sliding window.
const BUCKETS: usize = 16;
/// Fewest completed sub-windows a line is fitted through (two always fit exactly: noise).
const MIN_FIT: usize = 3;
/// Completed sub-windows (1 s) a line must fit before a skew starts to be followed: a
/// scheduler's stalls on a loaded machine can draw a steep line through a few minima, and
/// following it would skip and repeat audio on a link with no rate error at all. Once
/// followed, [`MIN_FIT`] sub-windows are enough to track a change.
const START_FIT: usize = 8;
/// Smallest skew followed (0.5 %: the resampler's own glide). Below it the floor is the plain
/// windowed minimum, whose steps the buffer's rate loop absorbs: a crystal's 100 ppm is far
/// below, and the fit of a bursty arrival pattern (a scheduler's stalls) can read a few tenths
/// of a percent from nothing, which would bend the pitch if followed.
const SKEW_FOLLOW: f64 = 0.005;
/// A followed skew is let go below this (0.3 %), so one near the bound does not flap.
const SKEW_RELEASE: f64 = 0.003;
/// Largest skew believed (25 %): beyond it no audio device is running, only a broken clock or
/// a hostile sender.
const MAX_SKEW: f64 = 0.25;
/// Smallest tolerance of the fit: the minima of a jittery link scatter by a few ticks, and a
/// step this large is a route change (see the buffer's `ROUTE_STEP_TICKS`).
const MIN_TOLERANCE: f64 = 48.0;

/// The minimum transit of one sub-window and the local time it was seen.
#[derive(Clone, Copy, Debug)]
struct Minimum {
    at: u64,
    value: i64,
}

const EMPTY: Minimum = Minimum {
    at: 0,
    value: i64::MAX,
};

/// What a refit found, for the buffer to judge whether its jitter history still holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Refit {
    /// The skew before the refit.
    pub(super) before: f64,
    /// The skew now.
    pub(super) after: f64,
    /// Whether a line fits at least [`MIN_FIT`] sub-windows: the skew is measured, not kept.
    pub(super) fits: bool,
}

/// Minimum transit over a sliding window of local time, projected along the fitted skew.
#[derive(Clone, Debug)]
pub(super) struct Floor {
    span: u64,
    /// Epoch (arrival / span) of the newest sub-window, the one being filled.
    epoch: u64,
    minima: [Minimum; BUCKETS],
    skew: f64,
    /// Completed sub-windows, newest first, that the line fits; older ones are ignored.
    fitted: usize,
}

impl Floor {
    pub(super) fn new(window_ticks: u32) -> Self {
        Self {
            span: (u64::from(window_ticks) / BUCKETS as u64).max(1),
            epoch: 0,
            minima: [EMPTY; BUCKETS],
            skew: 0.0,
            fitted: BUCKETS,
        }
    }

    /// Forgets every sample and the skew (a new stream, perhaps from another sender).
    pub(super) fn clear(&mut self) {
        self.minima = [EMPTY; BUCKETS];
        self.skew = 0.0;
        self.fitted = BUCKETS;
    }

    /// Transit ticks per local tick along the fitted line.
    pub(super) fn skew(&self) -> f64 {
        self.skew
    }

    /// Adds a transit sample seen at local time `at`; `frame` is the stream's packet length
    /// (a packet's worth of scatter is tolerated in the fit). Returns the skew's change when
    /// a sub-window completed and the line was fitted anew.
    pub(super) fn add(&mut self, at: u64, value: i64, frame: u64) -> Option<Refit> {
        let epoch = at / self.span;
        let mut refit = None;
        if epoch > self.epoch {
            // Sub-windows the window slid past start empty; a gap longer than the window
            // empties them all.
            let stale = (epoch - self.epoch - 1).min(BUCKETS as u64);
            for k in 1..=stale {
                self.minima[self.index(self.epoch + k)] = EMPTY;
            }
            self.epoch = epoch;
            self.minima[self.index(epoch)] = EMPTY;
            let before = self.skew;
            self.fit((frame as f64).max(MIN_TOLERANCE));
            refit = Some(Refit {
                before,
                after: self.skew,
                fits: self.fitted >= MIN_FIT,
            });
        }
        // A sample from before the newest sub-window (a caller's clock going backwards)
        // counts in the newest one.
        let newest = self.index(self.epoch);
        if value < self.minima[newest].value {
            self.minima[newest] = Minimum { at, value };
        }
        refit
    }

    /// The floor at local time `now`: every minimum the line fits, projected to `now`, and
    /// the newest sub-window's, the lowest of them. `None` before any sample.
    pub(super) fn at(&self, now: u64) -> Option<f64> {
        let completed = (1..=self.fitted as u64).map(|k| self.epoch.wrapping_sub(k));
        std::iter::once(self.epoch)
            .chain(completed)
            .map(|epoch| self.minima[self.index(epoch)])
            .filter(|m| m.value != i64::MAX)
            .map(|m| m.value as f64 + self.skew * (now as f64 - m.at as f64))
            .reduce(f64::min)
    }

    /// Fits the skew through the newest completed minima: the longest run of them (at least
    /// [`MIN_FIT`]) whose least-squares line leaves none further than `tolerance` from it.
    /// Without one the skew is kept and only the newest two minima count.
    fn fit(&mut self, tolerance: f64) {
        let mut points = [(0.0f64, 0.0f64); BUCKETS];
        let mut count = 0;
        for k in 1..BUCKETS as u64 {
            let m = self.minima[self.index(self.epoch.wrapping_sub(k))];
            if m.value == i64::MAX {
                break;
            }
            // Relative to the newest minimum, so the sums stay small in f64.
            points[count] = (m.at as f64, m.value as f64);
            count += 1;
        }
        if count == 0 {
            self.fitted = 0;
            return;
        }
        let (x0, y0) = points[0];
        for p in &mut points[..count] {
            *p = (p.0 - x0, p.1 - y0);
        }
        for len in (MIN_FIT..=count).rev() {
            if let Some(slope) = line_within(&points[..len], tolerance) {
                let following = self.skew != 0.0;
                let threshold = if following { SKEW_RELEASE } else { SKEW_FOLLOW };
                if slope.abs() >= threshold && (following || len >= START_FIT) {
                    self.skew = slope.clamp(-MAX_SKEW, MAX_SKEW);
                    self.fitted = len;
                } else {
                    self.skew = 0.0;
                    self.fitted = BUCKETS;
                }
                return;
            }
        }
        self.fitted = if self.skew == 0.0 {
            BUCKETS
        } else {
            count.min(MIN_FIT - 1)
        };
    }

    fn index(&self, epoch: u64) -> usize {
        (epoch % BUCKETS as u64) as usize
    }
}

/// The least-squares slope through `points`, if every point lies within `tolerance` of the
/// line (and the points span some time).
fn line_within(points: &[(f64, f64)], tolerance: f64) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (sxx, sxy) = points.iter().fold((0.0, 0.0), |(sxx, sxy), (x, y)| {
        (sxx + (x - mx) * (x - mx), sxy + (x - mx) * (y - my))
    });
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    points
        .iter()
        .all(|(x, y)| (y - (my + slope * (x - mx))).abs() <= tolerance)
        .then_some(slope)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds a packet every 64 ticks for `seconds` whose transit follows `line` plus a
    /// repeating upward scatter, and returns the floor.
    fn fed(line: impl Fn(u64) -> f64, seconds: u64) -> Floor {
        let mut floor = Floor::new(96_000);
        for at in (0..seconds * 48_000).step_by(64) {
            let scatter = [0, 30, 7, 120, 3, 15][(at / 64 % 6) as usize];
            floor.add(at, line(at).round() as i64 + scatter, 64);
        }
        floor
    }

    #[test]
    fn a_rising_transit_is_a_skew_not_jitter() {
        // A crystal's drift is left to the windowed minimum and the rate loop.
        let floor = fed(|at| 1_000.0 + 1e-4 * at as f64, 6);
        assert_eq!(floor.skew(), 0.0);
        for skew in [0.1, -0.1, 0.05, -0.006, 0.0] {
            let floor = fed(|at| 1_000.0 + skew * at as f64, 6);
            let now = 6 * 48_000;
            let truth = 1_000.0 + skew * now as f64;
            assert!(
                (floor.skew() - skew).abs() < 2e-4,
                "{skew}: {}",
                floor.skew()
            );
            let base = floor.at(now).unwrap();
            assert!((base - truth).abs() < 8.0, "{skew}: {base} vs {truth}");
        }
    }

    #[test]
    fn a_changed_rate_is_followed_within_half_a_second() {
        // 10 % slow for 5 s, then 10 % fast.
        let line = |at: u64| {
            let t = at as f64;
            let knee = 240_000.0;
            if t < knee {
                -0.1 * t
            } else {
                -0.1 * knee + 0.1 * (t - knee)
            }
        };
        let mut floor = Floor::new(96_000);
        let mut worst_after = 0.0f64;
        for at in (0..10 * 48_000).step_by(64) {
            floor.add(at, line(at).round() as i64, 64);
            if at > 240_000 + 24_000 {
                worst_after = worst_after.max((floor.at(at).unwrap() - line(at)).abs());
            }
        }
        assert!((floor.skew() - 0.1).abs() < 1e-3, "{}", floor.skew());
        assert!(worst_after < 600.0, "{worst_after}");
    }

    #[test]
    fn a_route_step_is_not_a_skew() {
        let floor = fed(|at| if at < 96_000 { 0.0 } else { 500.0 }, 4);
        assert!(floor.skew().abs() < 1e-3, "{}", floor.skew());
        assert!((floor.at(4 * 48_000).unwrap() - 500.0).abs() < 1.0);
    }
}
