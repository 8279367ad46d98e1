//! Grid placement: a second reader that plays a stream a whole number of beats or bars after
//! it was played, trailing the scheduled reader through the FIFO and steered to its target by
//! the capture stamps.

use super::{FIFO_FRAMES, Kernel, LOOKAHEAD, Remote};

/// The placing reader jumps instead of gliding when it is this far from its target (5 ms).
const PLACE_JUMP_TICKS: f64 = 240.0;
/// Time constant of the placing reader's correction (0.25 s) and its largest rate deviation
/// (±0.5 %, as the scheduled reader's).
const PLACE_FEEDBACK_TICKS: f64 = 12_000.0;
const PLACE_MAX_DEVIATION: f64 = 0.005;
/// Room kept between the placed and the scheduled reader: the jitter buffer's target may rise
/// this much (2 ms) before the placement has to move a whole period later.
const PLACE_MARGIN_TICKS: f64 = 96.0;
/// A placement is moved a period earlier only when it is this much more than needed (10 ms).
const PLACE_HYSTERESIS_TICKS: f64 = 480.0;

/// The placing reader, while it places the stream.
#[derive(Clone, Copy, Debug)]
pub(super) struct Placed {
    /// Its FIFO position.
    pub(super) read: f64,
    /// The period it places on (a beat or a bar, 48 kHz ticks).
    pub(super) period: f64,
    /// The whole number of periods it plays behind the capture, in ticks.
    pub(super) lag: f64,
}

impl Remote {
    /// Where the placing reader starts this block (FIFO position) and how far behind its
    /// target it is, or `None` to play live: no placement asked for, the capture or session
    /// clock not known yet, or more delay needed than the FIFO holds. Chooses the smallest
    /// whole number of periods that keeps the placed reader behind the scheduled one, and
    /// re-chooses when the jitter buffer's delay outgrows it or shrinks a period below it.
    pub(super) fn place(
        &mut self,
        session_now: Option<f64>,
        period: Option<f64>,
        frames: usize,
        step: f64,
    ) -> Option<(f64, f64)> {
        let (Some(session_now), Some(period), Some(capture_offset)) = (
            session_now,
            period.filter(|p| *p >= 1.0),
            self.capture_offset,
        ) else {
            self.placed = None;
            return None;
        };
        // The lag at which the scheduled reader plays: the least a placement can have.
        let natural = session_now - (self.read + capture_offset);
        let needed = natural + PLACE_MARGIN_TICKS;
        let lag = match self.placed {
            Some(p)
                if p.period == period
                    && p.lag >= needed
                    && p.lag < needed + period + PLACE_HYSTERESIS_TICKS =>
            {
                p.lag
            }
            _ => (needed / period).ceil().max(1.0) * period,
        };
        // The FIFO must still hold the placed reader's window once the scheduled one has
        // filled it for this block.
        let held = lag - natural + frames as f64 * step + (2 * LOOKAHEAD) as f64;
        if held >= (self.fifo.capacity() - FIFO_FRAMES / 2) as f64 {
            self.stats.unplaceable += 1;
            self.placed = None;
            return None;
        }
        let target = session_now - lag - capture_offset;
        let read = match self.placed {
            Some(p) if p.lag == lag && (p.read - target).abs() <= PLACE_JUMP_TICKS => p.read,
            _ => {
                self.stats.place_jumps += 1;
                // Fade in from silence rather than start mid-waveform.
                self.gain = 0.0;
                target
            }
        };
        self.placed = Some(Placed { read, period, lag });
        Some((read, target - read))
    }

    /// Renders the block from the placing reader at `start`, `behind` ticks short of its
    /// target. The target moves one media tick per local tick (the clocks' drift shows up as a
    /// slowly growing error), so the rate is 1 plus a bounded correction of the error: a
    /// 100 ppm drift settles about one tick off, and a jitter-buffer glide on the scheduled
    /// reader never reaches the placed one.
    pub(super) fn render_placed(
        &mut self,
        kernel: &Kernel,
        start: f64,
        behind: f64,
        frames: usize,
        rate_factor: f64,
    ) {
        let correction =
            (behind / PLACE_FEEDBACK_TICKS).clamp(-PLACE_MAX_DEVIATION, PLACE_MAX_DEVIATION);
        let step = (1.0 + correction) * rate_factor;
        let last = start + frames.saturating_sub(1) as f64 * step;
        let playable = if (last.floor() as u64).saturating_add(LOOKAHEAD as u64) < self.fifo.end() {
            frames
        } else {
            self.stats.starved += 1;
            let covered = self.fifo.end() as f64 - LOOKAHEAD as f64 - 1.0 - start;
            ((covered / step).floor() + 1.0).clamp(0.0, frames as f64) as usize
        };
        self.fifo.render(
            kernel,
            start,
            step,
            &mut self.left[..playable],
            &mut self.right[..playable],
        );
        self.left[playable..frames].fill(0.0);
        self.right[playable..frames].fill(0.0);
        if let Some(placed) = &mut self.placed {
            placed.read = start + frames as f64 * step;
        }
    }
}
