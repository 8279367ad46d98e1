//! The track's signal path around the network: input gain, monitor balance, output gain, bypass.
//!
//! Per sample, for each channel:
//!
//! ```text
//! local = input_gain · x      (or the player's signal after the effect chain, when given)
//! wet   = output_gain · (own(m) · local + room(m) · room_x)
//! y     = x + bypass_fade · (wet − x)        bypass_fade: 1 active … 0 bypassed
//! ```
//!
//! The monitor balance `m` (0…1) uses a "full at centre" law, the one musicians know from
//! cue-mix knobs: at 0.5 both the player's own signal and the room play at unity; turning towards
//! one side fades the other out linearly, and only that one:
//! `own(m) = min(1, 2m)`, `room(m) = min(1, 2(1 − m))`.
//!
//! Gains arrive as per-sample curves (the parameter smoothers' output), so automation is
//! sample-accurate and the strip itself keeps no parameter state. Bypass is a boolean host
//! parameter, so the strip owns its crossfade: a linear ramp of [`BYPASS_FADE_SECONDS`] from
//! processed to dry, which cannot click.

use std::ops::Range;

/// Length of the bypass crossfade.
pub const BYPASS_FADE_SECONDS: f64 = 0.010;

/// Gain of the player's own signal at monitor balance `m` (clamped to 0…1).
#[inline]
pub fn own_level(m: f32) -> f32 {
    (2.0 * m.clamp(0.0, 1.0)).min(1.0)
}

/// Gain of the room (the other players' mix) at monitor balance `m` (clamped to 0…1).
#[inline]
pub fn room_level(m: f32) -> f32 {
    (2.0 * (1.0 - m.clamp(0.0, 1.0))).min(1.0)
}

/// Per-sample control curves for one range of a block, indexed from 0.
#[derive(Clone, Copy, Debug)]
pub struct Controls<'a> {
    /// Linear input gain per sample (unused when the strip is given the player's processed
    /// signal, which already carries it).
    pub input_gain: &'a [f32],
    /// Linear output gain per sample.
    pub output_gain: &'a [f32],
    /// Monitor balance per sample, 0 = room only, 0.5 = both at unity, 1 = own signal only.
    pub monitor: &'a [f32],
    /// The host's bypass switch.
    pub bypass: bool,
}

/// The strip's state: only the bypass crossfade position.
#[derive(Clone, Debug)]
pub struct Strip {
    /// 1.0 = fully active, 0.0 = fully bypassed.
    fade: f32,
    /// Crossfade change per sample.
    fade_step: f32,
}

impl Strip {
    /// A strip for `sample_rate`, starting fully active (or fully bypassed if `bypassed`).
    pub fn new(sample_rate: f64, bypassed: bool) -> Self {
        let fade_samples = (BYPASS_FADE_SECONDS * sample_rate).round().max(1.0);
        Self {
            fade: if bypassed { 0.0 } else { 1.0 },
            fade_step: (1.0 / fade_samples) as f32,
        }
    }

    /// Jumps the bypass crossfade to its end state, as a host does on reset.
    pub fn reset(&mut self, bypassed: bool) {
        self.fade = if bypassed { 0.0 } else { 1.0 };
    }

    /// Processes `range` of every channel in place. `own`, when present, is the player's signal
    /// after the effect chain (input gain applied) and replaces `input_gain · x`; `room`, when
    /// present, holds the room mix. Both have the channel layout of `channels` (a mono one feeds
    /// every channel) and, like the control curves, are indexed from the start of `range`.
    ///
    /// Audio thread: must not allocate, lock or block.
    ///
    /// # Panics
    ///
    /// If a control curve or a room channel is shorter than `range` (a bug in the caller).
    pub fn process(
        &mut self,
        channels: &mut [&mut [f32]],
        own: Option<&[&[f32]]>,
        room: Option<&[&[f32]]>,
        range: Range<usize>,
        controls: Controls<'_>,
    ) {
        let len = range.len();
        let input_gain = &controls.input_gain[..len];
        let output_gain = &controls.output_gain[..len];
        let monitor = &controls.monitor[..len];
        let target = if controls.bypass { 0.0 } else { 1.0 };
        let start_fade = self.fade;
        // Every channel walks the same ramp from the same start; the first walk's end (or the
        // ramp's end reached in closed form when there are no channels) is the new state.
        let mut end_fade = advance(start_fade, target, self.fade_step, len);
        for (ch, channel) in channels.iter_mut().enumerate() {
            let own_channel = own
                .filter(|o| !o.is_empty())
                .map(|o| &o[ch.min(o.len() - 1)][..len]);
            let room_channel = room
                .filter(|r| !r.is_empty())
                .map(|r| &r[ch.min(r.len() - 1)][..len]);
            let mut fade = start_fade;
            for (i, sample) in channel[range.clone()].iter_mut().enumerate() {
                fade = step_towards(fade, target, self.fade_step);
                let x = *sample;
                let m = monitor[i];
                let local = match own_channel {
                    Some(own_x) => own_x[i],
                    None => input_gain[i] * x,
                };
                let mut mix = own_level(m) * local;
                if let Some(room_x) = room_channel {
                    mix += room_level(m) * room_x[i];
                }
                let wet = output_gain[i] * mix;
                *sample = x + fade * (wet - x);
            }
            end_fade = fade;
        }
        self.fade = end_fade;
    }

    /// Crossfade position: 1.0 fully active, 0.0 fully bypassed.
    pub fn fade(&self) -> f32 {
        self.fade
    }
}

/// Where the ramp stands after `samples` steps, without walking it. Only used when no channel
/// walked it; it can differ from the walk by float rounding, which `min`/`max` clamp at the ends.
fn advance(value: f32, target: f32, step: f32, samples: usize) -> f32 {
    let travel = step * samples as f32;
    if value < target {
        (value + travel).min(target)
    } else {
        (value - travel).max(target)
    }
}

#[inline]
fn step_towards(value: f32, target: f32, step: f32) -> f32 {
    if value < target {
        (value + step).min(target)
    } else {
        (value - step).max(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f64 = 48_000.0;

    fn controls<'a>(gain_in: &'a [f32], gain_out: &'a [f32], monitor: &'a [f32]) -> Controls<'a> {
        Controls {
            input_gain: gain_in,
            output_gain: gain_out,
            monitor,
            bypass: false,
        }
    }

    #[test]
    fn monitor_law_is_full_at_centre() {
        assert_eq!((own_level(0.0), room_level(0.0)), (0.0, 1.0));
        assert_eq!((own_level(0.25), room_level(0.25)), (0.5, 1.0));
        assert_eq!((own_level(0.5), room_level(0.5)), (1.0, 1.0));
        assert_eq!((own_level(0.75), room_level(0.75)), (1.0, 0.5));
        assert_eq!((own_level(1.0), room_level(1.0)), (1.0, 0.0));
        assert_eq!((own_level(-3.0), room_level(7.0)), (0.0, 0.0));
    }

    #[test]
    fn gains_multiply_and_room_is_added() {
        let mut strip = Strip::new(SR, false);
        let mut l = [0.5f32; 8];
        let mut r = [-0.25f32; 8];
        let room_l = [0.1f32; 8];
        let gain_in = [2.0f32; 8];
        let gain_out = [0.5f32; 8];
        let monitor = [0.75f32; 8];
        strip.process(
            &mut [&mut l, &mut r],
            None,
            Some(&[&room_l]),
            0..8,
            controls(&gain_in, &gain_out, &monitor),
        );
        // own(0.75) = 1, room(0.75) = 0.5: y = 0.5 · (2x + 0.5 · room)
        for (y, x) in l.iter().zip([0.5f32; 8]) {
            assert!((y - 0.5 * (2.0 * x + 0.05)).abs() < 1e-7, "{y}");
        }
        for y in r {
            assert!((y - 0.5 * (2.0 * -0.25 + 0.05)).abs() < 1e-7, "{y}");
        }
    }

    #[test]
    fn bypass_crossfades_linearly_over_ten_ms_then_passes_dry() {
        let fade_len = (BYPASS_FADE_SECONDS * SR) as usize; // 480 samples
        let n = fade_len + 100;
        let mut strip = Strip::new(SR, false);
        let mut buf = vec![1.0f32; n];
        let zeros = vec![0.0f32; n];
        let ones = vec![1.0f32; n];
        let monitor = vec![1.0f32; n];
        // Output gain 0: wet is silence, so the output is exactly the fade-out of the dry signal.
        let c = Controls {
            bypass: true,
            ..controls(&ones, &zeros, &monitor)
        };
        strip.process(&mut [&mut buf], None, None, 0..n, c);
        for (i, y) in buf.iter().enumerate() {
            let expected = ((i + 1) as f32 / fade_len as f32).min(1.0);
            assert!((y - expected).abs() < 1e-4, "sample {i}: {y} vs {expected}");
        }
        assert_eq!(strip.fade(), 0.0);
        // Largest step between samples is one fade step: no click.
        let max_step = buf
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!(max_step <= 1.01 / fade_len as f32, "{max_step}");
    }

    #[test]
    fn fade_state_is_the_same_across_split_ranges() {
        let n = 300;
        let mut whole = Strip::new(SR, false);
        let mut split = Strip::new(SR, false);
        let sig: Vec<f32> = (0..n).map(|i| (i as f32 * 0.01).sin()).collect();
        let gain = vec![0.3f32; n];
        let monitor = vec![0.5f32; n];
        let c = Controls {
            bypass: true,
            ..controls(&gain, &gain, &monitor)
        };
        let mut a = sig.clone();
        whole.process(&mut [&mut a], None, None, 0..n, c);
        let mut b = sig.clone();
        for chunk in [0..1, 1..64, 64..200, 200..300] {
            let c = Controls {
                input_gain: &gain[chunk.clone()],
                output_gain: &gain[chunk.clone()],
                monitor: &monitor[chunk.clone()],
                bypass: true,
            };
            split.process(&mut [&mut b], None, None, chunk, c);
        }
        assert_eq!(a, b);
        assert_eq!(whole.fade(), split.fade());
    }

    /// The player's processed signal replaces `input_gain · x` in the mix; the dry input is
    /// still what bypass fades to.
    #[test]
    fn processed_own_signal_replaces_the_gained_input() {
        let mut strip = Strip::new(SR, false);
        let mut l = [0.5f32; 8];
        let own = [0.25f32; 8];
        let gain_in = [4.0f32; 8];
        let gain_out = [2.0f32; 8];
        let monitor = [0.5f32; 8];
        strip.process(
            &mut [&mut l],
            Some(&[&own]),
            None,
            0..8,
            controls(&gain_in, &gain_out, &monitor),
        );
        assert_eq!(l, [0.5f32; 8], "2 · 0.25, the input gain not applied again");
    }
}
