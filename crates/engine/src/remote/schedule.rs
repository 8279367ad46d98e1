//! Keeping the scheduled reader on its place: a device off the sender's rate by more than the
//! resampler's ±0.5 % glide drifts the reader off the jitter buffer's schedule, and this skips
//! ahead or repeats audio, crossfaded, to bring it back.

use super::{Kernel, LAG_TICKS, LOOKAHEAD, MediaTime, Remote};

/// How far the reader may fall behind its place on the schedule (its lag included) before it
/// skips ahead to it (1.33 ms). A device slower than the sender by more than the resampler's
/// ±0.5 % glide falls behind steadily; this bounds the extra delay that costs.
const MAX_BEHIND_TICKS: f64 = 64.0;
/// How far the reader may run ahead of its place before it repeats audio to fall back: short
/// of where it would starve (the buffer hands out a packet only at its deadline, [`LAG_TICKS`]
/// after the reader's place), so a device faster than the sender repeats instead of starving.
const MAX_AHEAD_TICKS: f64 = 4.0;
/// Where a repeat lands the reader: a little short of the skip bound, so a steady fast
/// device repeats as seldom as the bound allows.
const REPEAT_TO_BEHIND_TICKS: f64 = MAX_BEHIND_TICKS - 16.0;
/// Crossfade of a skip or a repeat (1 ms): long enough not to click, short enough to stay
/// inside one block of any usual size.
pub(super) const JUMP_FADE_FRAMES: usize = 48;

impl Remote {
    /// Keeps the scheduled reader within [`MAX_AHEAD_TICKS`]..=[`MAX_BEHIND_TICKS`] of its place
    /// on the schedule ([`LAG_TICKS`] behind it): the resampler's glide follows a device up to
    /// ±0.5 % off the sender's rate; beyond that the reader drifts, and here it skips ahead or
    /// repeats what it played. Returns where the reader was, for the crossfade, if it moved.
    pub(super) fn keep_on_schedule(&mut self, now: u64) -> Option<f64> {
        let deadline = self
            .buffer
            .deadline(MediaTime(self.read.max(0.0).floor() as u64))?;
        let place = deadline.ticks() as f64 + self.read.fract() + f64::from(LAG_TICKS);
        let behind = now as f64 - place;
        let from = self.read;
        if behind > MAX_BEHIND_TICKS {
            self.read += behind;
            self.stats.skips += 1;
            self.stats.skipped_ticks += behind;
        } else if behind < -MAX_AHEAD_TICKS {
            let back = REPEAT_TO_BEHIND_TICKS - behind;
            self.read -= back;
            self.stats.repeats += 1;
            self.stats.repeated_ticks += back;
        } else {
            return None;
        }
        // A placed reader is steered by capture stamps, not by this one, and keeps its place.
        Some(from)
    }

    /// Crossfades the block's first frames from the reader's old position `from` (its
    /// continuation) into what was rendered from the new one.
    pub(super) fn crossfade_from(&mut self, kernel: &Kernel, from: f64, step: f64, frames: usize) {
        let fade = JUMP_FADE_FRAMES.min(frames);
        // Only what the FIFO holds: past its end the old reader would read stale ring data. A
        // continuation on the grid at ratio 1 is a plain copy and needs no look-ahead.
        let lookahead = if step == 1.0 && from.fract() == 0.0 {
            0.0
        } else {
            LOOKAHEAD as f64
        };
        let covered = self.fifo.end() as f64 - lookahead - 1.0 - from;
        let held = ((covered / step).floor() + 1.0).clamp(0.0, fade as f64) as usize;
        self.fifo.render(
            kernel,
            from,
            step,
            &mut self.fade_left[..held],
            &mut self.fade_right[..held],
        );
        // A continuation cut short (the audio after it is not due yet) fades over what there
        // is rather than into silence.
        let fade = held;
        for i in 0..fade {
            let new = (i + 1) as f32 / (fade + 1) as f32;
            let old = 1.0 - new;
            self.left[i] = self.left[i] * new + self.fade_left[i] * old;
            self.right[i] = self.right[i] * new + self.fade_right[i] * old;
        }
    }
}
