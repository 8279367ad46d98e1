//! Per-peer link health and the adaptive send policies built on it.
//!
//! This module owns:
//! - [`Monitor`]: one peer's receive-side statistics: RTT (last, EMA, windowed minimum), RFC 3550
//!   §6.4.1 interarrival jitter, RFC 3550 A.3 expected/received/lost counts with a per-interval
//!   fraction lost (as an RTCP receiver report carries), duplicates, and the late / recovered /
//!   concealed counters the jitter buffer and FEC report. [`Monitor::snapshot`] copies them into
//!   a plain [`Health`], which also rates the link ([`Quality`], docs/protocol.md §11).
//! - [`BitratePolicy`]: Opus bitrate by AIMD on loss and RTT inflation.
//! - [`fec_group_for_loss`] and [`FecPolicy`]: the XOR parity group size from loss
//!   (the table in docs/protocol.md §11), changed at most once per 10 s.
//!
//! Sans-IO: `now` is an argument, nothing here reads a clock; fixed size, no allocation.

use std::time::Duration;

use crate::seq::SeqNo;
use crate::time::{Instant, MediaTime};

/// The RTT minimum is taken over the last 30–60 s (two 30 s buckets): long enough to span a
/// congestion episode, short enough to follow a route change.
pub const MIN_RTT_WINDOW: Duration = Duration::from_secs(60);

/// Sequence numbers behind the highest for which duplicates are recognised.
const DUP_WINDOW: u64 = 1024;

/// One peer's link statistics.
///
/// Call [`Monitor::end_interval`] once per report period (the 1 s stats loop, docs/protocol.md §11), then
/// [`Monitor::snapshot`]: the interval loss is the fraction lost between the last two
/// `end_interval` calls, like an RTCP receiver report's "fraction lost".
#[derive(Clone, Debug, Default)]
pub struct Monitor {
    rtt_last: Option<Duration>,
    /// µs, 0.8·old + 0.2·new (docs/protocol.md §11), first sample taken directly.
    rtt_ema: Option<f64>,
    /// Minimum of the current and the previous half-window bucket: (bucket index, µs).
    rtt_min_current: Option<(u64, u64)>,
    rtt_min_previous: Option<u64>,
    /// Transit time (arrival in ticks − RTP timestamp) of the previous packet.
    last_transit: Option<f64>,
    /// RFC 3550 J, in timestamp units (48 kHz ticks).
    jitter: f64,
    base: Option<u64>,
    highest: u64,
    received: u64,
    duplicates: u64,
    /// Which of the last `DUP_WINDOW` sequence numbers arrived, indexed by `seq % DUP_WINDOW`.
    seen: [u64; (DUP_WINDOW / 64) as usize],
    expected_prior: u64,
    received_prior: u64,
    loss_interval: f64,
    late: u64,
    recovered: u64,
    concealed: u64,
}

impl Monitor {
    /// A monitor with no samples.
    pub fn new() -> Self {
        Self::default()
    }

    /// One RTT sample (Pong, clock exchange, RTCP). `now` places it for the windowed minimum.
    pub fn record_rtt(&mut self, now: Instant, rtt: Duration) {
        let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        self.rtt_last = Some(rtt);
        self.rtt_ema = Some(match self.rtt_ema {
            Some(old) => 0.8 * old + 0.2 * us as f64,
            None => us as f64,
        });
        let half = (MIN_RTT_WINDOW / 2).as_micros() as u64;
        let bucket = now.as_micros() / half;
        match self.rtt_min_current {
            Some((b, min)) if b == bucket => self.rtt_min_current = Some((b, min.min(us))),
            current => {
                // The previous bucket survives only if it is the adjacent one.
                self.rtt_min_previous = current
                    .filter(|&(b, _)| b + 1 == bucket)
                    .map(|(_, min)| min);
                self.rtt_min_current = Some((bucket, us));
            }
        }
    }

    /// One media packet arrived at `now`, with RTP timestamp `rtp_ts` (48 kHz, extended) and
    /// extended sequence number `seq`.
    ///
    /// Duplicates (within the last 1,024 sequence numbers) are counted and otherwise ignored:
    /// they would add a spurious transit difference to the jitter and inflate `received`.
    /// Reordered packets count as received and feed the jitter in arrival order, as RFC 3550
    /// A.8 does.
    pub fn record_arrival(&mut self, now: Instant, rtp_ts: MediaTime, seq: SeqNo) {
        if !self.count_arrival(seq) {
            return;
        }
        // RFC 3550 §6.4.1: D(i−1, i) = (R_i − R_{i−1}) − (S_i − S_{i−1}) = transit difference,
        // in timestamp units; J += (|D| − J) / 16. Arrival is kept fractional (1 µs = 0.048
        // ticks) so the estimate is not quantised to whole ticks.
        let arrival = now.as_micros() as f64 * (MediaTime::RATE as f64 / 1e6);
        let transit = arrival - rtp_ts.ticks() as f64;
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// Counts an original that arrived after its resend (or parity repair) already took its
    /// place: the network delivered it, so it is not lost; too late to be a jitter sample.
    pub fn record_late_original(&mut self, seq: SeqNo) {
        self.count_arrival(seq);
    }

    /// Counts `seq` as received unless it is a duplicate or far out of range; whether it was.
    fn count_arrival(&mut self, seq: SeqNo) -> bool {
        let s = seq.0;
        match self.base {
            None => {
                self.base = Some(s);
                self.highest = s;
            }
            Some(base) => {
                if s > self.highest {
                    // Forget the slots the window moves past.
                    let advance = s - self.highest;
                    if advance >= DUP_WINDOW {
                        self.seen = [0; (DUP_WINDOW / 64) as usize];
                    } else {
                        for n in self.highest + 1..=s {
                            self.clear_seen(n);
                        }
                    }
                    self.highest = s;
                } else if self.highest - s < DUP_WINDOW && self.is_seen(s) {
                    self.duplicates += 1;
                    return false;
                }
                if s < base {
                    if self.highest - s >= DUP_WINDOW {
                        // Far older than anything seen: a stale or bogus number that would
                        // inflate `expected`; not counted.
                        return false;
                    }
                    // The stream started earlier than its first arrival said.
                    self.base = Some(s);
                }
            }
        }
        if self.highest - s < DUP_WINDOW {
            self.set_seen(s);
        }
        self.received += 1;
        true
    }

    /// A packet arrived after its playout deadline (reported by the jitter buffer).
    pub fn record_late(&mut self) {
        self.late += 1;
    }

    /// A lost packet was rebuilt (FEC parity or NACK retransmission in time).
    pub fn record_recovered(&mut self) {
        self.recovered += 1;
    }

    /// A missing packet was concealed (Opus PLC or silence).
    pub fn record_concealed(&mut self) {
        self.concealed += 1;
    }

    /// Closes the current report interval: [`Health::loss_interval`] becomes the fraction lost
    /// since the previous call (RFC 3550 A.3; 0 when packets arrived that were counted lost
    /// earlier, or when none were expected).
    pub fn end_interval(&mut self) {
        let expected = self.expected();
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        self.loss_interval = if expected_interval > received_interval {
            (expected_interval - received_interval) as f64 / expected_interval as f64
        } else {
            0.0
        };
    }

    /// Packets expected: highest − base + 1 (0 before the first).
    pub fn expected(&self) -> u64 {
        self.base.map_or(0, |base| self.highest - base + 1)
    }

    /// Packets received, duplicates excluded.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packets lost: expected − received, never below 0.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    /// RFC 3550 interarrival jitter in 48 kHz ticks.
    pub fn jitter_ticks(&self) -> f64 {
        self.jitter
    }

    /// RFC 3550 interarrival jitter as a duration.
    pub fn jitter(&self) -> Duration {
        Duration::from_secs_f64(self.jitter / MediaTime::RATE as f64)
    }

    /// The statistics as a plain value.
    pub fn snapshot(&self) -> Health {
        let expected = self.expected();
        Health {
            rtt: self
                .rtt_ema
                .map(|us| Duration::from_nanos((us * 1e3) as u64)),
            rtt_last: self.rtt_last,
            rtt_min: self
                .rtt_min_current
                .map(|(_, min)| self.rtt_min_previous.map_or(min, |p| p.min(min)))
                .map(Duration::from_micros),
            jitter: self.jitter(),
            jitter_ticks: self.jitter,
            expected,
            received: self.received,
            lost: self.lost(),
            duplicates: self.duplicates,
            loss_interval: self.loss_interval,
            loss_cumulative: if expected == 0 {
                0.0
            } else {
                self.lost() as f64 / expected as f64
            },
            late: self.late,
            recovered: self.recovered,
            concealed: self.concealed,
        }
    }

    /// The link's tier (see [`Health::quality`]).
    pub fn quality(&self) -> Option<Quality> {
        self.snapshot().quality()
    }

    fn slot(n: u64) -> (usize, u64) {
        let i = n % DUP_WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    fn is_seen(&self, n: u64) -> bool {
        let (w, bit) = Self::slot(n);
        self.seen[w] & bit != 0
    }

    fn set_seen(&mut self, n: u64) {
        let (w, bit) = Self::slot(n);
        self.seen[w] |= bit;
    }

    fn clear_seen(&mut self, n: u64) {
        let (w, bit) = Self::slot(n);
        self.seen[w] &= !bit;
    }
}

/// A copy of one peer's link statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Health {
    /// Smoothed RTT (EMA 0.8·old + 0.2·new), `None` before the first sample.
    pub rtt: Option<Duration>,
    /// The latest RTT sample.
    pub rtt_last: Option<Duration>,
    /// The smallest RTT of the last 30–60 s ([`MIN_RTT_WINDOW`]): the path without queues.
    pub rtt_min: Option<Duration>,
    /// RFC 3550 interarrival jitter.
    pub jitter: Duration,
    /// The same in 48 kHz ticks (the RTCP report's unit).
    pub jitter_ticks: f64,
    /// Packets expected (highest − base + 1).
    pub expected: u64,
    /// Packets received, duplicates excluded.
    pub received: u64,
    /// expected − received, never below 0.
    pub lost: u64,
    /// Duplicates recognised and dropped from the counts.
    pub duplicates: u64,
    /// Fraction lost in the last closed interval, 0..=1.
    pub loss_interval: f64,
    /// Fraction lost since the first packet, 0..=1.
    pub loss_cumulative: f64,
    /// Packets that missed their playout deadline.
    pub late: u64,
    /// Losses repaired by FEC or retransmission.
    pub recovered: u64,
    /// Losses concealed.
    pub concealed: u64,
}

/// Link tier (docs/protocol.md §11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quality {
    /// Smoothed RTT ≥ 100 ms, or more than 10 % lost in the last interval.
    Poor,
    /// RTT < 100 ms.
    Fair,
    /// RTT < 50 ms.
    Good,
    /// RTT < 20 ms.
    Excellent,
}

impl Health {
    /// The tier by the reference thresholds on the smoothed RTT (< 20 ms Excellent, < 50 Good,
    /// < 100 Fair, else Poor). The reference rates RTT alone; we also rate a link losing more
    /// than 10 % (its warning threshold) Poor, since no RTT makes such a link playable. `None`
    /// before the first RTT sample.
    pub fn quality(&self) -> Option<Quality> {
        let ms = self.rtt?.as_secs_f64() * 1e3;
        if self.loss_interval > 0.10 {
            return Some(Quality::Poor);
        }
        Some(if ms < 20.0 {
            Quality::Excellent
        } else if ms < 50.0 {
            Quality::Good
        } else if ms < 100.0 {
            Quality::Fair
        } else {
            Quality::Poor
        })
    }

    /// The reference score for OSP `PerformanceInfo.quality_score`:
    /// clamp(100 − RTT ms − 2·jitter ms − 5·loss %, 0, 100), on the smoothed RTT and the last
    /// interval's loss. `None` before the first RTT sample.
    pub fn score(&self) -> Option<u8> {
        let rtt = self.rtt?.as_secs_f64() * 1e3;
        let jitter = self.jitter.as_secs_f64() * 1e3;
        let loss = self.loss_interval * 100.0;
        Some((100.0 - rtt - 2.0 * jitter - 5.0 * loss).clamp(0.0, 100.0) as u8)
    }
}

/// Opus's bitrate range, b/s.
pub const OPUS_MIN_BITRATE: u32 = 16_000;
/// Opus's bitrate range, b/s.
pub const OPUS_MAX_BITRATE: u32 = 510_000;

/// [`BitratePolicy`] parameters; [`BitrateConfig::default`] documents the choices.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BitrateConfig {
    /// Floor, b/s (clamped into 16–510 kb/s).
    pub min: u32,
    /// Ceiling, b/s (clamped into `min`–510 kb/s).
    pub max: u32,
    /// Initial bitrate, b/s (clamped into `min`–`max`).
    pub start: u32,
    /// At most one change per interval (1 s: the stats loop, so each decision sees a new
    /// interval's loss).
    pub interval: Duration,
    /// Loss in the last interval above this is congestion (2 %).
    pub loss_threshold: f64,
    /// Loss at or below this counts as clean (1 %: Wi-Fi's background loss is not congestion,
    /// and between the two thresholds the rate holds).
    pub clean_loss: f64,
    /// Smoothed RTT above the windowed minimum by more than this is a standing queue, i.e.
    /// congestion before loss (25 ms).
    pub rtt_threshold: Duration,
    /// Multiplicative decrease (× 0.75).
    pub decrease_factor: f64,
    /// Additive increase per interval once clean for `hold` (16 kb/s).
    pub increase_step: u32,
    /// Clean time before the first increase after congestion (5 s).
    pub hold: Duration,
}

impl Default for BitrateConfig {
    fn default() -> Self {
        Self {
            min: OPUS_MIN_BITRATE,
            max: OPUS_MAX_BITRATE,
            // Transparent stereo music for Opus; the policy finds its way up or down from here.
            start: 128_000,
            interval: Duration::from_secs(1),
            loss_threshold: 0.02,
            clean_loss: 0.01,
            rtt_threshold: Duration::from_millis(25),
            decrease_factor: 0.75,
            increase_step: 16_000,
            hold: Duration::from_secs(5),
        }
    }
}

/// Why the bitrate changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Loss in the last interval above the threshold.
    Loss,
    /// Smoothed RTT above the minimum by more than the threshold.
    RttInflation,
    /// Clean for the hold time: additive increase.
    Clean,
}

/// A new bitrate to configure the encoder with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// b/s.
    pub bitrate: u32,
    /// Why.
    pub reason: Reason,
}

/// Adaptive Opus bitrate: multiplicative decrease on congestion (loss or RTT inflation),
/// additive increase after a clean hold, at most one change per interval.
///
/// From a clean link at rate `r`, the maximum is reached after
/// `hold + (⌈(max − r) / step⌉ − 1) × interval` of clean updates (defaults, from 96 kb/s:
/// 5 s + 25 s = 30 s).
#[derive(Clone, Debug)]
pub struct BitratePolicy {
    config: BitrateConfig,
    bitrate: u32,
    last_change: Option<Instant>,
    clean_since: Option<Instant>,
}

impl BitratePolicy {
    /// A policy at `config.start` (limits clamped to Opus's range).
    pub fn new(config: BitrateConfig) -> Self {
        let min = config.min.clamp(OPUS_MIN_BITRATE, OPUS_MAX_BITRATE);
        let max = config.max.clamp(min, OPUS_MAX_BITRATE);
        let config = BitrateConfig {
            min,
            max,
            start: config.start.clamp(min, max),
            ..config
        };
        Self {
            config,
            bitrate: config.start,
            last_change: None,
            clean_since: None,
        }
    }

    /// Feeds the latest statistics (call once per [`Monitor::end_interval`]); returns the new
    /// bitrate when it changes.
    pub fn update(&mut self, now: Instant, health: &Health) -> Option<Decision> {
        let c = &self.config;
        let inflated = match (health.rtt, health.rtt_min) {
            (Some(rtt), Some(min)) => rtt > min + c.rtt_threshold,
            _ => false,
        };
        let may_change = self
            .last_change
            .is_none_or(|last| now.saturating_since(last) >= c.interval);
        if health.loss_interval > c.loss_threshold || inflated {
            self.clean_since = None;
            if !may_change || self.bitrate <= c.min {
                return None;
            }
            let reason = if health.loss_interval > c.loss_threshold {
                Reason::Loss
            } else {
                Reason::RttInflation
            };
            let lowered = (f64::from(self.bitrate) * c.decrease_factor) as u32;
            return Some(self.change(now, lowered.max(c.min), reason));
        }
        if health.loss_interval > c.clean_loss {
            self.clean_since = None;
            return None;
        }
        let since = *self.clean_since.get_or_insert(now);
        if now.saturating_since(since) < c.hold || !may_change || self.bitrate >= c.max {
            return None;
        }
        let raised = self.bitrate.saturating_add(c.increase_step).min(c.max);
        Some(self.change(now, raised, Reason::Clean))
    }

    /// The current bitrate, b/s.
    pub fn bitrate(&self) -> u32 {
        self.bitrate
    }

    /// The effective configuration (after clamping).
    pub fn config(&self) -> &BitrateConfig {
        &self.config
    }

    fn change(&mut self, now: Instant, bitrate: u32, reason: Reason) -> Decision {
        self.bitrate = bitrate;
        self.last_change = Some(now);
        Decision { bitrate, reason }
    }
}

/// The XOR parity group size for a loss fraction (the table in docs/protocol.md §11): 0 → off (`None`),
/// (0, 2 %] → 10, (2 %, 5 %] → 5, (5 %, 10 %] → 3, above 10 % → 2. Each bound belongs to the
/// lower band (2 % exactly → 10). Negative or NaN loss → off.
pub fn fec_group_for_loss(loss: f64) -> Option<u8> {
    if loss.is_nan() || loss <= 0.0 {
        None
    } else if loss <= 0.02 {
        Some(10)
    } else if loss <= 0.05 {
        Some(5)
    } else if loss <= 0.10 {
        Some(3)
    } else {
        Some(2)
    }
}

/// A change of FEC group size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FecDecision {
    /// Parity group size, `None` = FEC off.
    pub group: Option<u8>,
    /// The loss fraction over the period that decided it.
    pub loss: f64,
}

/// Adaptive FEC group size, changed at most once per [`FecPolicy::PERIOD`].
///
/// Loss is measured over consecutive 10 s periods from the cumulative counters (Δlost /
/// Δexpected), so each decision rests on ~500 packets at 50 packets/s rather than one noisy
/// second, and decisions are 10 s apart by construction.
#[derive(Clone, Debug)]
pub struct FecPolicy {
    group: Option<u8>,
    /// Start of the current period: (time, expected, lost).
    period_start: Option<(Instant, u64, u64)>,
}

impl Default for FecPolicy {
    /// Group 5 (the project default, docs/protocol.md §11) until the first period ends.
    fn default() -> Self {
        Self::new(Some(5))
    }
}

impl FecPolicy {
    /// Decision period and minimum time between changes.
    pub const PERIOD: Duration = Duration::from_secs(10);

    /// A policy starting at `group` (`None` = off).
    pub fn new(group: Option<u8>) -> Self {
        Self {
            group,
            period_start: None,
        }
    }

    /// Feeds the latest statistics; returns a decision when a period ends with a different
    /// group. Periods without expected packets change nothing.
    pub fn update(&mut self, now: Instant, health: &Health) -> Option<FecDecision> {
        let Some((start, expected, lost)) = self.period_start else {
            self.period_start = Some((now, health.expected, health.lost));
            return None;
        };
        if now.saturating_since(start) < Self::PERIOD {
            return None;
        }
        self.period_start = Some((now, health.expected, health.lost));
        let expected = health.expected.saturating_sub(expected);
        if expected == 0 {
            return None;
        }
        let loss = health.lost.saturating_sub(lost) as f64 / expected as f64;
        let group = fec_group_for_loss(loss);
        if group == self.group {
            return None;
        }
        self.group = group;
        Some(FecDecision { group, loss })
    }

    /// The current group size (`None` = off).
    pub fn group(&self) -> Option<u8> {
        self.group
    }
}

#[cfg(test)]
mod tests;
