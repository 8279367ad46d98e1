//! The latency the host is told, held constant between activations.
//!
//! CLAP lets a plugin change its latency only inside `activate` (the host then calls
//! `latency.get` again); VST3 asks the same through a restart. The chain's latency moves while
//! it runs (a look-ahead limiter or a pitch shifter switched on or off), so the audio thread
//! never reports it: the latency reported at activation stays the plugin's latency until the
//! next one. While the chain is shorter than that, its output is delayed by the difference, so
//! the host's delay compensation stays exact; whenever the two differ the audio thread asks
//! the host for a restart (once per activation), and the next `activate` reports the chain's
//! latency as it is then. A chain longer than the reported latency plays late by the
//! difference until the host restarts the plugin.

use dsp::blocks::delay::DelayLine;

/// The reported latency and the padding that keeps the audio on it.
pub(crate) struct LatencyPad {
    reported: usize,
    lines: [DelayLine; 2],
    restart_requested: bool,
}

impl Default for LatencyPad {
    fn default() -> Self {
        Self::new(0)
    }
}

impl LatencyPad {
    /// Pads up to `reported` samples, the latency the host is told at activation
    /// (allocates: call off the audio thread).
    pub(crate) fn new(reported: usize) -> Self {
        let line = || {
            let mut line = DelayLine::new();
            line.prepare(reported);
            line
        };
        Self {
            reported,
            lines: [line(), line()],
            restart_requested: false,
        }
    }

    /// The latency the host was told (samples).
    pub(crate) fn reported(&self) -> usize {
        self.reported
    }

    /// Whether the plugin should ask the host for a restart: the chain's `latency` is not the
    /// reported one and the host was not asked yet. Returns true once per activation.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub(crate) fn needs_restart(&mut self, latency: usize) -> bool {
        if latency == self.reported || self.restart_requested {
            return false;
        }
        self.restart_requested = true;
        true
    }

    /// Delays the chain's output (`left`, `right`, one chunk) by what the chain's `latency`
    /// lacks of the reported latency. The lines run on every chunk so that their history is
    /// the signal's when the padding changes.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub(crate) fn process(&mut self, latency: usize, left: &mut [f32], right: &mut [f32]) {
        if self.reported == 0 {
            return;
        }
        let padding = self.reported.saturating_sub(latency);
        let [line_left, line_right] = &mut self.lines;
        line_left.delay_block(left, padding);
        line_right.delay_block(right, padding);
    }

    /// Clears the padding's history.
    pub(crate) fn reset(&mut self) {
        for line in &mut self.lines {
            line.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shorter_chain_is_padded_to_the_reported_latency() {
        let mut pad = LatencyPad::new(96);
        let mut left = [0.0f32; 256];
        let mut right = [0.0f32; 256];
        left[10] = 1.0;
        right[20] = 1.0;
        // The chain itself delays by 32: the pad adds 64.
        pad.process(32, &mut left, &mut right);
        assert_eq!(left.iter().position(|&x| x == 1.0), Some(74));
        assert_eq!(right.iter().position(|&x| x == 1.0), Some(84));
    }

    #[test]
    fn a_chain_at_or_past_the_reported_latency_passes_unpadded() {
        let mut pad = LatencyPad::new(96);
        for latency in [96, 200] {
            let mut left = [0.0f32; 128];
            let mut right = [0.0f32; 128];
            left[3] = 1.0;
            pad.process(latency, &mut left, &mut right);
            assert_eq!(left.iter().position(|&x| x == 1.0), Some(3));
        }
    }

    #[test]
    fn a_restart_is_asked_once_and_only_when_the_latency_moved() {
        let mut pad = LatencyPad::new(96);
        assert!(!pad.needs_restart(96));
        assert!(pad.needs_restart(0));
        assert!(!pad.needs_restart(0));
        assert!(!pad.needs_restart(500));
    }
}
