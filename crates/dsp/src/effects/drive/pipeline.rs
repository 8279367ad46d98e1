//! The signal path the drive effects share: a fixed high-pass, a smoothed drive gain, a
//! waveshaper at 4× the sample rate, a DC blocker, a gliding tone low-pass and a smoothed
//! output level, with separate filter state for the left and right channels; and the
//! crossfade between two curves that the effects with a choice of shaper run after a change.

use crate::blocks::biquad::{Biquad, Design, Kind, Smoothed};
use crate::blocks::dc::Blocker;
use crate::blocks::oversample::{Factor, Oversampler};
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, ProcessSpec};
use std::f64::consts::FRAC_1_SQRT_2;

/// Gains glide over this time constant, so turning drive or level does not zip.
const GAIN_SMOOTHING_S: f64 = 0.01;
/// Tone changes glide over this time.
const TONE_GLIDE_S: f64 = 0.02;
/// Corner of the DC blocker that removes the offset of asymmetric shapers.
const DC_CORNER_HZ: f64 = 5.0;
/// The rate the shaper runs at, relative to the host's.
const OVERSAMPLING: Factor = Factor::X4;
/// Length of the crossfade between two curves (a switch would step the output).
const CURVE_FADE_S: f64 = 0.01;

/// Drive gain → shaper → tone → level, stereo.
#[derive(Clone, Debug)]
pub(crate) struct Pipeline {
    sample_rate: f64,
    pre_hz: f64,
    tone_hz: f64,
    pre: [Biquad; 2],
    tone: [Smoothed; 2],
    dc: [Blocker; 2],
    oversamplers: [Oversampler; 2],
    drive: OnePole,
    level: OnePole,
    drive_target: f32,
    level_target: f32,
    /// Test hook: skips the high-pass, DC blocker and tone filter so the static curve and the
    /// aliases of the shaper itself can be measured.
    filters_bypassed: bool,
}

impl Pipeline {
    /// A path with a high-pass at `pre_hz`, the tone low-pass at `tone_hz`, and linear gains.
    pub(crate) fn new(pre_hz: f64, tone_hz: f64, drive: f32, level: f32) -> Self {
        let sample_rate = 48_000.0;
        let pre = Biquad::from_design(&Self::pre_design(pre_hz), sample_rate);
        let tone = Smoothed::new(&Self::tone_design(tone_hz), sample_rate, TONE_GLIDE_S);
        Self {
            sample_rate,
            pre_hz,
            tone_hz,
            pre: [pre.clone(), pre],
            tone: [tone.clone(), tone],
            dc: [
                Blocker::new(DC_CORNER_HZ, sample_rate),
                Blocker::new(DC_CORNER_HZ, sample_rate),
            ],
            oversamplers: [
                Oversampler::new(OVERSAMPLING),
                Oversampler::new(OVERSAMPLING),
            ],
            drive: OnePole::new(drive, GAIN_SMOOTHING_S, sample_rate),
            level: OnePole::new(level, GAIN_SMOOTHING_S, sample_rate),
            drive_target: drive,
            level_target: level,
            filters_bypassed: false,
        }
    }

    fn pre_design(pre_hz: f64) -> Design {
        Design::new(Kind::Highpass, pre_hz, FRAC_1_SQRT_2)
    }

    fn tone_design(tone_hz: f64) -> Design {
        Design::new(Kind::Lowpass, tone_hz, FRAC_1_SQRT_2)
    }

    /// Rebuilds the rate-dependent parts for `spec` (allocates the oversampling buffers), then
    /// resets.
    pub(crate) fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        let pre = Biquad::from_design(&Self::pre_design(self.pre_hz), self.sample_rate);
        self.pre = [pre.clone(), pre];
        let tone = Smoothed::new(
            &Self::tone_design(self.tone_hz),
            self.sample_rate,
            TONE_GLIDE_S,
        );
        self.tone = [tone.clone(), tone];
        let blocker = Blocker::new(DC_CORNER_HZ, self.sample_rate);
        self.dc = [blocker.clone(), blocker];
        for oversampler in &mut self.oversamplers {
            oversampler.prepare(spec.max_block);
        }
        self.drive.set_time(GAIN_SMOOTHING_S, self.sample_rate);
        self.level.set_time(GAIN_SMOOTHING_S, self.sample_rate);
        self.reset();
    }

    /// Glides to a new tone corner, drive and level.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub(crate) fn set_targets(&mut self, tone_hz: f64, drive: f32, level: f32) {
        self.tone_hz = tone_hz;
        for tone in &mut self.tone {
            tone.set_target(&Self::tone_design(tone_hz));
        }
        self.drive_target = drive;
        self.level_target = level;
        self.drive.set_target(drive);
        self.level.set_target(level);
    }

    /// Clears the audio state and lands every glide on its target (a fresh instance).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub(crate) fn reset(&mut self) {
        let tone_design = Self::tone_design(self.tone_hz);
        for channel in 0..2 {
            self.pre[channel].reset();
            self.tone[channel].jump_to(&tone_design);
            self.tone[channel].reset();
            self.dc[channel].reset();
            self.oversamplers[channel].reset();
        }
        self.drive.reset_to(self.drive_target);
        self.level.reset_to(self.level_target);
    }

    /// Runs the path over `block`; `shape(channel, samples)` is the waveshaper, called once per
    /// channel (0 left, 1 right) with that channel's block at 4× the rate.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub(crate) fn process(
        &mut self,
        block: &mut Block<'_>,
        mut shape: impl FnMut(usize, &mut [f32]),
    ) {
        let bypassed = self.filters_bypassed;
        let (left, right) = block.channels_mut();
        // Per frame, so both channels see the same gain at the same sample.
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let drive = self.drive.next_value();
            if !bypassed {
                *l = self.pre[0].process_sample(*l);
                *r = self.pre[1].process_sample(*r);
            }
            *l *= drive;
            *r *= drive;
        }
        let [left_os, right_os] = &mut self.oversamplers;
        left_os.process(left, |inner| shape(0, inner));
        right_os.process(right, |inner| shape(1, inner));
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let level = self.level.next_value();
            if !bypassed {
                *l = self.tone[0].process_sample(self.dc[0].process_sample(*l));
                *r = self.tone[1].process_sample(self.dc[1].process_sample(*r));
            }
            *l *= level;
            *r *= level;
        }
    }

    /// The oversampling round trip's latency in samples.
    pub(crate) fn latency(&self) -> usize {
        self.oversamplers[0].latency()
    }

    /// Test hook: bypass the filters (see the field).
    #[cfg(test)]
    pub(crate) fn bypass_filters(&mut self) {
        self.filters_bypassed = true;
    }
}

/// The shaper choice of an effect (`T`, a type enum) and the crossfade from the previous
/// choice after a change, counted per channel in oversampled samples.
#[derive(Clone, Debug)]
pub(crate) struct CurveFade<T> {
    current: T,
    previous: T,
    /// Oversampled samples left in each channel's crossfade, and the fade's length.
    left: [usize; 2],
    len: usize,
}

impl<T: Copy + PartialEq> CurveFade<T> {
    /// `current` in use, no fade running.
    pub(crate) fn new(current: T) -> Self {
        Self {
            current,
            previous: current,
            left: [0; 2],
            len: 1,
        }
    }

    /// Sizes the fade for `spec`'s rate (at the shaper's oversampled rate).
    pub(crate) fn prepare(&mut self, spec: &ProcessSpec) {
        self.len =
            ((CURVE_FADE_S * spec.sample_rate).round() as usize).max(1) * OVERSAMPLING.ratio();
    }

    /// Switches to `next`, fading from the curve in use if it differs.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub(crate) fn select(&mut self, next: T) {
        if next != self.current {
            self.previous = self.current;
            self.current = next;
            self.left = [self.len; 2];
        }
    }

    /// Switches to `current` at once, ending any fade (a fresh instance).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub(crate) fn jump_to(&mut self, current: T) {
        self.current = current;
        self.previous = current;
        self.left = [0; 2];
    }

    /// Shapes one channel's oversampled block: `shape_all(current, samples)` outside a fade,
    /// else `shape(curve, x)` of both curves, mixed sample by sample.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub(crate) fn process(
        &mut self,
        channel: usize,
        samples: &mut [f32],
        shape: impl Fn(T, f32) -> f32,
        shape_all: impl FnOnce(T, &mut [f32]),
    ) {
        let left = &mut self.left[channel];
        if *left == 0 {
            shape_all(self.current, samples);
            return;
        }
        let len = self.len as f32;
        for x in samples {
            let old_weight = *left as f32 / len;
            let (new, old) = (shape(self.current, *x), shape(self.previous, *x));
            *x = new + old_weight * (old - new);
            *left = left.saturating_sub(1);
        }
    }
}
