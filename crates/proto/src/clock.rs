//! Per-peer clock estimation: offset, skew and round-trip time from NTP-style four-timestamp
//! exchanges (OSP `ClockProbe` / `ClockReply`), in microseconds.
//!
//! Network delay only ever adds to a timestamp, and an exchange whose round trip is close to the
//! path's minimum carries little delay in either direction, so its offset is close to the truth.
//! The estimator keeps a sliding window of exchanges, takes the [`BEST`] exchanges with the
//! lowest round trip (wherever they fall in the window), and fits offset against local time by
//! least squares over them: the intercept is the offset, the slope the skew. Selecting by round
//! trip is immune to skew (100 ppm moves a 20 ms round trip by 2 µs). Exchanges with a
//! round trip above 2.5 × the median of the last [`RECENT`] round trips (rejected ones
//! included, so a path that got longer is followed within a second or two instead of being
//! rejected for ever) are not used.
//!
//! What no estimator can see: a constant asymmetry between the two directions. If one direction
//! is A slower, every offset sample is biased by A/2 and the RTT is unchanged; the estimate
//! carries that A/2 (`docs/protocol.md`, clock sync).
//!
//! Fixed size, no allocation after `new`.

/// Exchanges kept: at the recommended 20 probes per second, about 205 s (a window of 1,024
/// measured p99 errors of 300 µs at 5 ms jitter; 4,096 gives 140 µs). About 160 KiB per peer.
pub const WINDOW: usize = 4096;
/// The lowest-RTT exchanges of the window that feed the fit.
pub const BEST: usize = 48;
/// Round trips above this multiple of the recent median are rejected.
pub const RTT_REJECT_FACTOR: f64 = 2.5;
/// Round trips (accepted or not) the outlier median is taken over.
pub const RECENT: usize = 64;

/// One exchange, reduced to what the fit needs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Point {
    /// Local time of the exchange's midpoint, µs.
    local: i64,
    /// Remote − local clock, µs.
    offset: f64,
    /// Round trip minus the responder's hold time, µs.
    rtt: i64,
}

/// Why an exchange was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// The timestamps give a negative round trip or hold time (forged, or a reply to a probe we
    /// never sent at that time).
    #[error("impossible timestamps")]
    Impossible,
    /// The round trip is above 2.5 × the recent median (a congested exchange).
    #[error("round trip far above the median")]
    Outlier,
}

/// The current estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Remote − local clock at local time `at`, µs.
    pub offset: f64,
    /// d(offset)/d(local time): the remote clock runs `1 + skew` times as fast as ours.
    pub skew: f64,
    /// Local time the offset refers to, µs.
    pub at: i64,
    /// Smallest round trip in the window, µs.
    pub min_rtt: i64,
}

impl Estimate {
    /// Remote − local at local time `local` (µs), following the skew.
    pub fn offset_at(&self, local: i64) -> f64 {
        self.offset + self.skew * (local - self.at) as f64
    }
}

/// Clock estimator for one peer.
#[derive(Clone, Debug)]
pub struct Estimator {
    points: Box<[Point; WINDOW]>,
    /// Next slot to write.
    head: usize,
    len: usize,
    scratch: Box<[(i64, u16); WINDOW]>,
    /// The last [`RECENT`] plausible round trips, accepted or not (a ring).
    recent: [i64; RECENT],
    recent_len: usize,
    recent_head: usize,
    estimate: Option<Estimate>,
    rejected: u64,
}

impl Default for Estimator {
    fn default() -> Self {
        Self::new()
    }
}

impl Estimator {
    /// An estimator with no exchanges yet.
    pub fn new() -> Self {
        Self {
            points: Box::new([Point::default(); WINDOW]),
            head: 0,
            len: 0,
            scratch: Box::new([(0, 0); WINDOW]),
            recent: [0; RECENT],
            recent_len: 0,
            recent_head: 0,
            estimate: None,
            rejected: 0,
        }
    }

    /// The estimate, once one exchange has been accepted.
    pub fn estimate(&self) -> Option<Estimate> {
        self.estimate
    }

    /// Exchanges rejected so far.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Exchanges in the window.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No exchange accepted yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds one exchange: `t1` probe sent and `t4` reply received on our clock, `t2` probe
    /// received and `t3` reply sent on the peer's, all µs.
    ///
    /// # Errors
    ///
    /// [`Rejected`] if the exchange is impossible or an outlier (counted, not used).
    pub fn add(&mut self, t1: i64, t2: i64, t3: i64, t4: i64) -> Result<Estimate, Rejected> {
        let hold = t3 - t2;
        let rtt = (t4 - t1) - hold;
        if hold < 0 || rtt < 0 {
            self.rejected += 1;
            return Err(Rejected::Impossible);
        }
        let outlier =
            self.recent_len >= 8 && rtt as f64 > RTT_REJECT_FACTOR * self.recent_median() as f64;
        self.recent[self.recent_head] = rtt;
        self.recent_head = (self.recent_head + 1) % RECENT;
        self.recent_len = (self.recent_len + 1).min(RECENT);
        if outlier {
            self.rejected += 1;
            return Err(Rejected::Outlier);
        }
        let offset = ((t2 - t1) as f64 + (t3 - t4) as f64) / 2.0;
        self.points[self.head] = Point {
            local: t1 + (t4 - t1) / 2,
            offset,
            rtt,
        };
        self.head = (self.head + 1) % WINDOW;
        self.len = (self.len + 1).min(WINDOW);
        let estimate = self.fit();
        self.estimate = Some(estimate);
        Ok(estimate)
    }

    /// The i-th exchange in time order (0 = oldest).
    fn point(&self, i: usize) -> Point {
        self.points[(self.head + WINDOW - self.len + i) % WINDOW]
    }

    fn recent_median(&self) -> i64 {
        let mut sorted = self.recent;
        let n = self.recent_len;
        *sorted[..n].select_nth_unstable(n / 2).1
    }

    /// Least squares over the lowest-RTT exchanges.
    fn fit(&mut self) -> Estimate {
        let n = self.len;
        for i in 0..n {
            self.scratch[i] = (self.point(i).rtt, i as u16);
        }
        let k = BEST.min(n);
        if k < n {
            self.scratch[..n].select_nth_unstable(k - 1);
        }
        // Accumulate in coordinates relative to the newest exchange, so large clock values do
        // not cost precision.
        let origin = self.point(n - 1).local;
        let mut min_rtt = i64::MAX;
        let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
        for j in 0..k {
            let p = self.point(usize::from(self.scratch[j].1));
            min_rtt = min_rtt.min(p.rtt);
            let x = (p.local - origin) as f64;
            sx += x;
            sy += p.offset;
            sxx += x * x;
            sxy += x * p.offset;
        }
        let kf = k as f64;
        let var = sxx - sx * sx / kf;
        // A fit needs spread in time (1 s² here); until then the offset is the mean and the
        // skew unknown (0).
        let skew = if k >= 4 && var > 1e12 / kf {
            (sxy - sx * sy / kf) / var
        } else {
            0.0
        };
        let offset = sy / kf - skew * (sx / kf);
        Estimate {
            offset,
            skew,
            at: origin,
            min_rtt,
        }
    }
}

#[cfg(test)]
mod tests;
