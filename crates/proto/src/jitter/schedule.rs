//! The jitter buffer's playout schedule: how each packet's transit moves the floor, the jitter
//! histogram and the target delay, how the delay glides toward the target, and the rate a
//! resampling consumer is asked to play at (the model is in `jitter.rs`).

use super::{Buffer, Event, RECENT_TARGETS, floor};

/// A change of the fitted skew larger than this means the jitter measured since the rate
/// changed was measured against a floor that ran the wrong way: it is forgotten.
const SKEW_CHANGE: f64 = 0.002;

/// A base transit step up this large is a route change, not drift: the jitter history,
/// measured against the old base, is discarded.
const ROUTE_STEP_TICKS: i64 = 48;

/// Smallest interval between two [`Event::Rate`] (10 ms).
const RATE_INTERVAL_TICKS: u64 = 480;

impl Buffer {
    /// Feeds one packet's transit into the floor, the jitter histogram and the target.
    pub(super) fn observe(&mut self, arrival: u64, media: u64, late: bool) {
        let relative = transit(arrival, media).saturating_sub(self.anchor);
        let old_base = self.base_line(arrival);
        let refit = self.floor.add(arrival, relative, self.frame);
        self.base = self.floor.at(arrival).unwrap_or(relative as f64);
        self.base_at = arrival;
        if let Some(refit) = refit {
            self.note_refit(refit, arrival);
        }
        if self.settling {
            if late {
                self.delay = self.delay.max(self.target);
            }
            return;
        }
        if self.base - old_base >= ROUTE_STEP_TICKS as f64 {
            // The path got longer and the window has only now forgotten the shorter one: the
            // jitter measured meanwhile was against the old base and overstates the spread.
            self.histogram.clear();
            self.set_target(self.target - (self.base - old_base), arrival);
        }
        let jitter = (relative as f64 - self.base).max(0.0).round() as u64;
        self.histogram.add(jitter);
        let quantile = self.histogram.quantile(self.config.glitch_budget) as f64;
        let margin = f64::from(self.config.margin_ticks);
        // The margin covers what the quantile may get wrong about the jitter's tail; with no
        // jitter measured at all (a clean link, arrivals on the block grid) there is none.
        let floor = if quantile > 0.0 {
            quantile + margin
        } else {
            0.0
        };
        let spike = if jitter > 0 {
            jitter as f64 + margin
        } else {
            0.0
        };
        if spike > self.target || floor > self.target {
            self.set_target(spike.max(floor), arrival);
            self.last_rise = arrival;
        } else if arrival.saturating_sub(self.last_rise) >= u64::from(self.config.hold_ticks) {
            let dt = arrival.saturating_sub(self.last_target_update) as f64;
            let step = (dt / f64::from(self.config.decrease_ticks)).min(1.0);
            self.set_target(self.target - (self.target - floor) * step, arrival);
        }
        self.last_target_update = arrival;
        if late {
            // The glitch has happened: jump rather than glide, or the next packets are late
            // too. A packet merely past its deadline but not yet played is no glitch (the
            // consumer plays behind the schedule), so it only raises the target.
            self.delay = self.delay.max(self.target);
        }
    }

    /// Judges a refit of the floor. A changed skew means the device's rate (or the sender's)
    /// changed: since then the floor ran the old way and packets looked late by the
    /// difference. That was no jitter: it is forgotten, the target and the delay return to
    /// where they were before, and jitter is not learnt again until the new skew is measured.
    pub(super) fn note_refit(&mut self, refit: floor::Refit, now: u64) {
        if (refit.after - refit.before).abs() > SKEW_CHANGE {
            if !self.settling {
                let before = self
                    .recent_targets
                    .iter()
                    .copied()
                    .fold(self.target, f64::min);
                self.set_target(before, now);
                self.delay = self.delay.min(self.target);
                self.settling = true;
            }
            self.histogram.clear();
            return;
        }
        if self.settling && !refit.fits {
            return;
        }
        self.settling = false;
        self.recent_target_at = (self.recent_target_at + 1) % RECENT_TARGETS;
        self.recent_targets[self.recent_target_at] = self.target;
    }

    /// The floor (− anchor) at local time `at`, along the skew.
    pub(super) fn base_line(&self, at: u64) -> f64 {
        self.base + self.floor.skew() * (at as f64 - self.base_at as f64)
    }

    pub(super) fn set_target(&mut self, target: f64, now: u64) {
        let min = f64::from(self.config.min_delay_ticks);
        let max = f64::from(self.config.max_delay_ticks);
        self.target = target.clamp(min, max);
        self.last_target_update = now;
        let ticks = self.target.round() as u32;
        // Report rises at once, falls in 1/6 ms steps so a decay is not an event per packet.
        if ticks > self.reported_target || ticks + 8 <= self.reported_target {
            self.reported_target = ticks;
            self.emit(Event::TargetChanged { ticks });
        }
    }

    /// Moves the delay along its glide to local time `now` and updates the rate suggestion.
    pub(super) fn advance(&mut self, now: u64) {
        let dt = now.saturating_sub(self.clock) as f64;
        self.clock = self.clock.max(now);
        let max = self.config.max_rate_deviation;
        let skew = self.floor.skew();
        // The schedule moves with the floor (the skew) plus the glide; while the skew leaves
        // room, the glide keeps the sum within what a consumer may play at.
        let (low, high) = if skew.abs() < max {
            (-max - skew, max - skew)
        } else {
            (-max, max)
        };
        let gap = self.target - self.delay;
        self.velocity =
            (gap / f64::from(self.config.slew_ticks)).clamp(low.max(-max), high.min(max));
        let step = self.velocity * dt;
        self.delay += if step.abs() > gap.abs() { gap } else { step };
        // The consumer follows the schedule (1 − skew − glide) and removes its own error. A
        // skew beyond the rate bound is more than a resampler may follow without being heard:
        // the consumer then skips or repeats audio instead (see `engine::remote`).
        let lag = f64::from(self.config.lag_ticks);
        let correction = (self.error - lag) / f64::from(self.config.rate_feedback_ticks);
        let ratio = (1.0 - skew - self.velocity + correction).clamp(1.0 - max, 1.0 + max);
        self.ratio = ratio;
        if (ratio - self.reported_ratio).abs() >= self.config.rate_step
            && now.saturating_sub(self.last_rate_event) >= RATE_INTERVAL_TICKS
        {
            self.reported_ratio = ratio;
            self.last_rate_event = now;
            self.emit(Event::Rate { ratio });
        }
    }

    /// The local time `t` at which `media` plays: `t = media + anchor + floor(t) + delay`,
    /// with the floor moving along the skew, solved for `t`.
    pub(super) fn deadline_ticks(&self, media: u64) -> u64 {
        let skew = self.floor.skew();
        let from_base = (media as i128 + self.anchor as i128 - self.base_at as i128) as f64
            + self.base
            + self.delay;
        let t = self.base_at as f64 + from_base / (1.0 - skew);
        t.round().clamp(0.0, u64::MAX as f64) as u64
    }
}

/// `arrival − media`, saturated to `i64`.
pub(super) fn transit(arrival: u64, media: u64) -> i64 {
    (arrival as i128 - media as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
}
