//! The direct reader: the scheduled reader on the sample grid. While the host runs at the
//! wire's 48 kHz, the stream plays live (not placed on the beat grid) and the jitter buffer
//! follows no skew (the sender's clock and ours agree to within what its floor absorbs), there
//! is nothing to interpolate: each sample is copied out at its deadline. That saves the
//! interpolator's look-ahead ([`LOOKAHEAD`] samples), so on a clean link a packet that arrived
//! before a block starts plays in that block, and PCM passes bit-exact.
//!
//! The schedule still moves: the delay glides to a new target (at most 0.5 %: a step every 200
//! samples), or jumps a packet's worth when one came too late. The reader follows it by whole
//! samples, skipping or repeating with the 1 ms crossfade of `schedule.rs`; each step is
//! counted as a skip or a repeat. A rate that must really change (a host at 44.1 or 96 kHz, a
//! device off by more than the floor absorbs, a placed stream) goes to the interpolating
//! reader, which plays [`LAG_TICKS`] behind the schedule instead.

use super::{LAG_TICKS, LOOKAHEAD, MediaTime, Remote, Timing};

impl Remote {
    /// Picks the reader for this block and tells the jitter buffer how far behind its schedule
    /// that reader plays: the direct reader at it, the interpolating one [`LAG_TICKS`] behind.
    /// A switch is a jump of the reader to its new place, crossfaded (`keep_on_grid` or
    /// `keep_on_schedule` makes it).
    pub(super) fn choose_reader(&mut self, rate_factor: f64, timing: Timing) {
        let direct = rate_factor == 1.0 && timing.period.is_none() && self.buffer.skew() == 0.0;
        if direct != self.direct {
            self.direct = direct;
            self.buffer.set_lag(self.lag());
        }
    }

    /// How far behind the schedule the scheduled reader plays, in ticks.
    pub(super) fn lag(&self) -> u32 {
        if self.direct { 0 } else { LAG_TICKS }
    }

    /// Samples the scheduled reader needs past the position it plays.
    pub(super) fn lookahead(&self) -> usize {
        if self.direct { 0 } else { LOOKAHEAD }
    }

    /// Puts the direct reader on the sample its schedule plays now. Returns where the reader
    /// was, for the crossfade, if it moved (a whole-sample step of the schedule, or the switch
    /// from the interpolating reader, which also lands it on the grid).
    pub(super) fn keep_on_grid(&mut self, now: u64) -> Option<f64> {
        let at = self.read.max(0.0).floor();
        let deadline = self.buffer.deadline(MediaTime(at as u64))?;
        // Deadlines are whole ticks and the schedule's slope is 1 (no skew is followed here),
        // so the sample due now is exactly this far from `at`.
        let behind = now as f64 - deadline.ticks() as f64;
        if behind == 0.0 && self.read == at {
            return None;
        }
        let from = self.read;
        self.read = at + behind;
        if behind > 0.0 {
            self.stats.skips += 1;
            self.stats.skipped_ticks += behind;
        } else if behind < 0.0 {
            self.stats.repeats += 1;
            self.stats.repeated_ticks += -behind;
        }
        Some(from)
    }
}
