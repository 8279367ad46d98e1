//! The path's transit as the receiver sees it: the floor (the fastest arrival − media time lately,
//! moving along its measured rise when the sender's clock runs slow) and the spread above it. A
//! packet's earliest possible arrival, and so its deadline, comes from here.

use std::time::Duration;

use super::ticks_to_micros;
use crate::time::Instant;

/// Packets over which the transit excess statistics are smoothed (an exponential average).
const EXCESS_SMOOTHING: f64 = 64.0;
/// Transit minimum window half (two halves: the minimum follows drift and path changes).
const WINDOW: Duration = Duration::from_millis(250);
/// Buckets of [`WINDOW`] kept: the oldest and the newest give the floor's rise (4 s).
const BUCKETS: usize = 16;
/// Newest buckets the floor itself is the minimum of (0.25-0.5 s): a device paced by sleeps
/// runs slow by a varying amount and catches up now and then; an older minimum (a catch-up's
/// short transit) would make every later packet look late.
const FLOOR_BUCKETS: usize = 2;

/// Transit minima per window and the excess statistics.
#[derive(Clone, Debug)]
pub(super) struct Transit {
    /// Minimum of (arrival − media time) in µs over each of the last [`BUCKETS`]
    /// stretches of [`WINDOW`] (newest first), with the arrival (µs) it was seen at.
    buckets: [Option<(i64, i64)>; BUCKETS],
    window_start: Instant,
    /// How fast the transit floor rises (µs per µs, ≥ 0): a sender whose sample clock runs
    /// slower than our clock makes every packet's transit longer than the last (a 1 % slow
    /// device: 10 ms more each second). An old minimum would then call every packet overdue.
    slope: f64,
    /// The latest arrival, µs: where the floor is extrapolated to.
    last_arrival: i64,
    /// Smoothed transit beyond the minimum, and its mean deviation (µs).
    excess_mean: f64,
    excess_deviation: f64,
}

impl Default for Transit {
    fn default() -> Self {
        Self {
            buckets: [None; BUCKETS],
            window_start: Instant::ZERO,
            slope: 0.0,
            last_arrival: 0,
            excess_mean: 0.0,
            excess_deviation: 0.0,
        }
    }
}

impl Transit {
    pub(super) fn observe(&mut self, now: Instant, timestamp: u64) {
        let at = now.as_micros() as i64;
        if now.saturating_since(self.window_start) >= WINDOW {
            // The floor's rise: from the oldest bucket's minimum to the newest complete one's
            // (on a rising floor each minimum sits at its bucket's start), capped at 10 %,
            // which no working device drifts.
            let complete = self.buckets.iter().flatten();
            if let (Some(&(newer, newer_at)), Some(&(older, older_at))) =
                (complete.clone().next(), complete.last())
                && newer_at > older_at
            {
                self.slope =
                    ((newer - older) as f64 / (newer_at - older_at) as f64).clamp(0.0, 0.1);
            }
            self.buckets.rotate_right(1);
            self.buckets[0] = None;
            self.window_start = now;
        }
        self.last_arrival = self.last_arrival.max(at);
        let transit = at - ticks_to_micros(timestamp) as i64;
        let current = &mut self.buckets[0];
        *current = Some(match *current {
            Some((floor, floor_at)) if floor <= transit => (floor, floor_at),
            _ => (transit, at),
        });
        let fastest = self.fastest_transit().unwrap_or(transit);
        let excess = (transit - fastest) as f64;
        self.excess_mean += (excess - self.excess_mean) / EXCESS_SMOOTHING;
        self.excess_deviation +=
            ((excess - self.excess_mean).abs() - self.excess_deviation) / EXCESS_SMOOTHING;
    }

    /// The earliest local time (µs) the packet with media timestamp `timestamp` can arrive: on
    /// the floor, which keeps rising while the packet is on its way, so the time `a` with
    /// `a = media + floor(a)` for each bucket's line, the earliest of them.
    pub(super) fn earliest_arrival(&self, timestamp: u64) -> Option<i64> {
        let media = ticks_to_micros(timestamp) as f64;
        let slope = self.slope;
        self.buckets[..FLOOR_BUCKETS]
            .iter()
            .flatten()
            .map(|&(floor, at)| {
                let on_line = (media + floor as f64 - slope * at as f64) / (1.0 - slope);
                // A packet from before the bucket's minimum is held to that minimum.
                on_line.max(media + floor as f64).ceil() as i64
            })
            .min()
    }

    /// The transit floor (arrival − media time, µs) now: the minimum over the last 4 s, each
    /// window's minimum carried forward at the floor's measured rise to the latest arrival.
    fn fastest_transit(&self) -> Option<i64> {
        self.buckets[..FLOOR_BUCKETS]
            .iter()
            .flatten()
            .map(|&(floor, at)| {
                floor + (self.slope * (self.last_arrival - at).max(0) as f64) as i64
            })
            .min()
    }

    /// The spread of transits above the floor: the smoothed excess plus four mean deviations
    /// (about five standard deviations of a normal spread).
    pub(super) fn spread(&self) -> Duration {
        Duration::from_micros((self.excess_mean + 4.0 * self.excess_deviation).max(0.0) as u64)
    }
}
