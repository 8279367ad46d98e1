//! The reverb (docs/effects.md §3 #32, §3.3): Freeverb (Jezar's public-domain design,
//! docs/effects.md §2.5) with the reference's controls: a type that sets the damping, a decay time,
//! a pre-delay, input low/high cuts and a dry/wet mix.
//!
//! Signal path: the mono sum `(L + R)·INPUT_GAIN` → high-pass(lowCut) → low-pass(highCut)
//! (RBJ, Q 0.707) → pre-delay → 8 parallel lowpass-feedback combs → 4 series all-passes, once
//! per channel. The right channel's delays are the left's plus Freeverb's stereo spread of 23
//! samples (at 44.1 kHz); every delay is the classic length scaled to the sample rate and
//! truncated, so at 48 kHz the combs are 1214…1760 (L) and 1239…1785 (R) samples, the
//! all-passes 605…244 and 630…269 (docs/effects.md §2.5). Comb and all-pass are Freeverb's own
//! forms (comb: `store = out·(1 − d) + store·d; buf = in + store·g`; all-pass: `buf = in + ½·b; out
//! = b − in`), kept for their sound. Width is Freeverb's 1: each channel's wet is its own network.
//!
//! Design choices:
//! - **`decay` is the reverberation time in seconds.** Each comb gets its own feedback
//!   `g_k = 10^(−3·D_k/(fs·decay))`, so every comb (and therefore the sum) falls 60 dB in
//!   `decay` seconds at low frequencies, where the damping filter passes unity. The reference's
//!   single feedback `min(0.28 + 0.65·(decay − 0.1)/9.9, 0.93)` makes the default 1.5 s ring
//!   for about 0.26 s and caps every setting below 2 s; Freeverb's own `0.7 + 0.28·room` spans
//!   0.7–12.5 s, which the 0.1–10 s range covers. Damping then shortens the highs: the decay
//!   per band is the sum of the 8 comb exponentials with `T60_k(f) = −3·D_k/(fs·log10(g_k·
//!   |Hd(f)|))`, `Hd(z) = (1 − d)/(1 − d·z⁻¹)` (checked by the T30 test below).
//! - Damping by type, `damp1 = d` as the reference maps it: room 0.5, hall 0.3, plate 0.2,
//!   spring 0.6, ambient 0.4.
//! - Input gain: Freeverb's fixed gain is 0.015 with a wet scale of 3; the reference divides
//!   the comb sum by 8. Here one constant sets the level so the default room's wet is about
//!   −6 dB re the dry on broadband material, and `mix` crossfades (`dry·(1 − mix) + wet·mix`).
//! - Everything that moves glides, per sample: comb feedbacks and damping ramp linearly over
//!   50 ms (a shared ramp, so the combs stay in step), the pre-delay glides (a fractional,
//!   linearly read delay), the cut filters glide in log frequency, the mix in 10 ms.
//! - Speed: each comb and all-pass runs over the whole block in contiguous runs between buffer
//!   wraps, so the inner loops have no wrap test and no bounds check; the mono input path runs
//!   once per frame, not per channel.

use crate::automation::Kind as HostKind;
use crate::blocks::biquad::{Design, Kind, Smoothed};
use crate::blocks::delay::DelayLine;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use serde::{Deserialize, Serialize};
use std::f64::consts::FRAC_1_SQRT_2;
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "reverb";

/// Declared range of [`Params::decay`] (s).
pub const DECAY_RANGE: RangeInclusive<f32> = 0.1..=10.0;
/// Declared range of [`Params::pre_delay`] (ms).
pub const PRE_DELAY_RANGE: RangeInclusive<f32> = 0.0..=100.0;
/// Range of [`Params::low_cut`] (Hz; the reference declares none).
pub const LOW_CUT_RANGE: RangeInclusive<f32> = 20.0..=2_000.0;
/// Range of [`Params::high_cut`] (Hz; the reference declares none; capped below Nyquist).
pub const HIGH_CUT_RANGE: RangeInclusive<f32> = 1_000.0..=20_000.0;
/// Declared range of [`Params::mix`].
pub const MIX_RANGE: RangeInclusive<f32> = 0.0..=1.0;

/// Freeverb's comb lengths at 44.1 kHz (left channel; `tuning.h`).
pub const COMB_TUNING: [usize; 8] = [1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617];
/// Freeverb's all-pass lengths at 44.1 kHz, in processing order (left channel).
pub const ALLPASS_TUNING: [usize; 4] = [556, 441, 341, 225];
/// Samples (at 44.1 kHz) the right channel adds to every delay.
pub const STEREO_SPREAD: usize = 23;
/// The rate the tunings are given at.
const TUNING_RATE: f64 = 44_100.0;
/// Freeverb's all-pass feedback.
const ALLPASS_FEEDBACK: f32 = 0.5;
/// Gain of the mono sum into the combs (see the module notes).
const INPUT_GAIN: f32 = 0.02;
/// Highest comb feedback (a 10 s decay asks at most 0.983 of the shortest comb at any rate).
const MAX_FEEDBACK: f64 = 0.99;
/// Feedback and damping ramps.
const GLIDE_S: f64 = 0.05;
/// Pre-delay glide time constant.
const PRE_DELAY_SMOOTHING_S: f64 = 0.05;
/// Mix glide time constant.
const MIX_SMOOTHING_S: f64 = 0.01;
/// The cut filters' glide.
const FILTER_GLIDE_S: f64 = 0.02;
/// The highest low-pass corner, as a share of the sample rate.
const MAX_CUT_RATIO: f64 = 0.45;

/// The character of the reverb: its damping (docs/effects.md §3.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReverbType {
    /// Damping 0.5.
    #[default]
    Room,
    /// Damping 0.3.
    Hall,
    /// Damping 0.2.
    Plate,
    /// Damping 0.6.
    Spring,
    /// Damping 0.4.
    Ambient,
}

crate::host_choice!(ReverbType {
    Room => "Room",
    Hall => "Hall",
    Plate => "Plate",
    Spring => "Spring",
    Ambient => "Ambient",
});

impl ReverbType {
    /// The comb damping `d` (Freeverb's `damp1`; `damp2 = 1 − d`).
    pub fn damping(self) -> f32 {
        match self {
            Self::Room => 0.5,
            Self::Hall => 0.3,
            Self::Plate => 0.2,
            Self::Spring => 0.6,
            Self::Ambient => 0.4,
        }
    }
}

/// The reverb's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Character (default room); the reference also writes it as `type`.
    #[serde(alias = "type")]
    pub reverb_type: ReverbType,
    /// Reverberation time (60 dB, low frequencies) in s, 0.1…10 (default 1.5).
    pub decay: f32,
    /// Pre-delay in ms, 0…100 (default 20).
    pub pre_delay: f32,
    /// High-pass corner of the reverb's input, Hz (default 100).
    pub low_cut: f32,
    /// Low-pass corner of the reverb's input, Hz (default 8000).
    pub high_cut: f32,
    /// Wet share 0…1 (default 0.3).
    pub mix: f32,
}

crate::automatable!(Params {
    [reverb_type] "reverbType", "Type", HostKind::choice::<ReverbType>();
    [decay] "decay", "Decay", HostKind::logarithmic(DECAY_RANGE, "s");
    [pre_delay] "preDelay", "Pre-Delay", HostKind::linear(PRE_DELAY_RANGE, "ms");
    [low_cut] "lowCut", "Low Cut", HostKind::logarithmic(LOW_CUT_RANGE, "Hz");
    [high_cut] "highCut", "High Cut", HostKind::logarithmic(HIGH_CUT_RANGE, "Hz");
    [mix] "mix", "Mix", HostKind::linear(MIX_RANGE, "");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            reverb_type: ReverbType::Room,
            decay: 1.5,
            pre_delay: 20.0,
            low_cut: 100.0,
            high_cut: 8_000.0,
            mix: 0.3,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            reverb_type: self.reverb_type,
            decay: clamp_param(self.decay, DECAY_RANGE, d.decay),
            pre_delay: clamp_param(self.pre_delay, PRE_DELAY_RANGE, d.pre_delay),
            low_cut: clamp_param(self.low_cut, LOW_CUT_RANGE, d.low_cut),
            high_cut: clamp_param(self.high_cut, HIGH_CUT_RANGE, d.high_cut),
            mix: clamp_param(self.mix, MIX_RANGE, d.mix),
        }
    }
}

/// `tuning` samples at 44.1 kHz, scaled to `sample_rate` and truncated (as Freeverb's ports
/// to other rates do; docs/effects.md §2.5 lists the 48 kHz lengths).
pub fn scaled_length(tuning: usize, sample_rate: f64) -> usize {
    ((tuning as f64 * sample_rate / TUNING_RATE) as usize).max(1)
}

/// The feedback that makes a comb of `delay` samples fall 60 dB in `decay` seconds.
pub fn comb_feedback(delay: usize, decay: f64, sample_rate: f64) -> f64 {
    10f64
        .powf(-3.0 * delay as f64 / (sample_rate * decay))
        .min(MAX_FEEDBACK)
}

/// Freeverb's lowpass-feedback comb.
#[derive(Clone, Debug, Default)]
struct Comb {
    buffer: Vec<f32>,
    index: usize,
    store: f32,
    /// Feedback at the start and end of the current ramp.
    feedback_from: f32,
    feedback_to: f32,
}

impl Comb {
    fn reset(&mut self) {
        self.buffer.fill(0.0);
        self.index = 0;
        self.store = 0.0;
    }

    /// Adds the comb's response to `input` onto `out`, with fixed feedback and damping.
    fn run(&mut self, input: &[f32], out: &mut [f32], damp: f32) {
        let (damp1, damp2, feedback) = (damp, 1.0 - damp, self.feedback_to);
        let mut store = self.store;
        let mut done = 0;
        while done < input.len() {
            let run = (input.len() - done).min(self.buffer.len() - self.index);
            let cells = &mut self.buffer[self.index..self.index + run];
            for ((cell, &x), y) in cells
                .iter_mut()
                .zip(&input[done..done + run])
                .zip(&mut out[done..done + run])
            {
                let delayed = *cell;
                store = delayed * damp2 + store * damp1;
                *cell = x + store * feedback;
                *y += delayed;
            }
            done += run;
            self.index += run;
            if self.index == self.buffer.len() {
                self.index = 0;
            }
        }
        self.store = store;
    }

    /// As [`Comb::run`], with feedback and damping ramping: at sample n the ramp is at
    /// `ramp[n]` (0 = from, 1 = to).
    fn run_gliding(&mut self, input: &[f32], out: &mut [f32], ramp: &[f32], damp: (f32, f32)) {
        let (from, span) = (self.feedback_from, self.feedback_to - self.feedback_from);
        let (damp_from, damp_span) = (damp.0, damp.1 - damp.0);
        let mut store = self.store;
        let mut done = 0;
        while done < input.len() {
            let run = (input.len() - done).min(self.buffer.len() - self.index);
            let cells = &mut self.buffer[self.index..self.index + run];
            for (((cell, &x), y), &u) in cells
                .iter_mut()
                .zip(&input[done..done + run])
                .zip(&mut out[done..done + run])
                .zip(&ramp[done..done + run])
            {
                let damp1 = damp_from + damp_span * u;
                let delayed = *cell;
                store = delayed * (1.0 - damp1) + store * damp1;
                *cell = x + store * (from + span * u);
                *y += delayed;
            }
            done += run;
            self.index += run;
            if self.index == self.buffer.len() {
                self.index = 0;
            }
        }
        self.store = store;
    }
}

/// Freeverb's all-pass (its own form: `out = b − in`).
#[derive(Clone, Debug, Default)]
struct Allpass {
    buffer: Vec<f32>,
    index: usize,
}

impl Allpass {
    fn reset(&mut self) {
        self.buffer.fill(0.0);
        self.index = 0;
    }

    fn run(&mut self, samples: &mut [f32]) {
        let mut done = 0;
        while done < samples.len() {
            let run = (samples.len() - done).min(self.buffer.len() - self.index);
            let cells = &mut self.buffer[self.index..self.index + run];
            for (cell, x) in cells.iter_mut().zip(&mut samples[done..done + run]) {
                let delayed = *cell;
                *cell = *x + delayed * ALLPASS_FEEDBACK;
                *x = delayed - *x;
            }
            done += run;
            self.index += run;
            if self.index == self.buffer.len() {
                self.index = 0;
            }
        }
    }
}

/// One channel's network.
#[derive(Clone, Debug, Default)]
struct Network {
    combs: [Comb; 8],
    allpasses: [Allpass; 4],
}

impl Network {
    fn prepare(&mut self, spread: usize, sample_rate: f64) {
        for (comb, tuning) in self.combs.iter_mut().zip(COMB_TUNING) {
            comb.buffer = vec![0.0; scaled_length(tuning + spread, sample_rate)];
        }
        for (allpass, tuning) in self.allpasses.iter_mut().zip(ALLPASS_TUNING) {
            allpass.buffer = vec![0.0; scaled_length(tuning + spread, sample_rate)];
        }
    }

    fn reset(&mut self) {
        self.combs.iter_mut().for_each(Comb::reset);
        self.allpasses.iter_mut().for_each(Allpass::reset);
    }
}

/// The reverb. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct Reverb {
    params: Params,
    sample_rate: f64,
    networks: [Network; 2],
    low_cut: Smoothed,
    high_cut: Smoothed,
    pre_delay_line: DelayLine,
    pre_delay: OnePole,
    mix: OnePole,
    /// Damping at the start and end of the current ramp.
    damp_from: f32,
    damp_to: f32,
    glide_len: usize,
    glide_left: usize,
    /// Per-block scratch: the reverb's mono input, each channel's wet, the ramp position.
    input: Vec<f32>,
    wet: [Vec<f32>; 2],
    ramp: Vec<f32>,
}

impl Reverb {
    /// A reverb with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let params = params.clamped();
        let sample_rate = 48_000.0;
        let mut reverb = Self {
            sample_rate,
            networks: Default::default(),
            low_cut: Smoothed::new(&Self::low_cut_design(&params), sample_rate, FILTER_GLIDE_S),
            high_cut: Smoothed::new(
                &Self::high_cut_design(&params, sample_rate),
                sample_rate,
                FILTER_GLIDE_S,
            ),
            pre_delay_line: DelayLine::new(),
            pre_delay: OnePole::new(0.0, PRE_DELAY_SMOOTHING_S, sample_rate),
            mix: OnePole::new(params.mix, MIX_SMOOTHING_S, sample_rate),
            damp_from: params.reverb_type.damping(),
            damp_to: params.reverb_type.damping(),
            glide_len: 1,
            glide_left: 0,
            input: Vec::new(),
            wet: [Vec::new(), Vec::new()],
            ramp: Vec::new(),
            params,
        };
        reverb.prepare(&ProcessSpec::stereo(sample_rate, 0));
        reverb
    }

    /// Applies new parameters (clamped). Decay and type ramp the combs' feedback and damping
    /// over 50 ms; pre-delay, cuts and mix glide. Switching on starts from silence.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        let previous = std::mem::replace(&mut self.params, params.clamped());
        if self.params.enabled && !previous.enabled {
            self.reset();
            return;
        }
        if self.params.decay != previous.decay || self.params.reverb_type != previous.reverb_type {
            // Restart the ramp from wherever the current one is.
            let u = self.ramp_position();
            for network in &mut self.networks {
                for comb in &mut network.combs {
                    comb.feedback_from += (comb.feedback_to - comb.feedback_from) * u;
                }
            }
            self.damp_from += (self.damp_to - self.damp_from) * u;
            self.set_targets();
            self.glide_left = self.glide_len;
        }
        self.low_cut.set_target(&Self::low_cut_design(&self.params));
        self.high_cut
            .set_target(&Self::high_cut_design(&self.params, self.sample_rate));
        self.pre_delay.set_target(self.pre_delay_samples());
        self.mix.set_target(self.params.mix);
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The comb delays in samples at the prepared rate, left then right.
    pub fn comb_delays(&self) -> [[usize; 8]; 2] {
        self.networks
            .each_ref()
            .map(|n| n.combs.each_ref().map(|c| c.buffer.len()))
    }

    /// The comb feedbacks the current decay asks for, left then right.
    pub fn comb_feedbacks(&self) -> [[f32; 8]; 2] {
        self.networks
            .each_ref()
            .map(|n| n.combs.each_ref().map(|c| c.feedback_to))
    }

    fn low_cut_design(params: &Params) -> Design {
        Design::new(Kind::Highpass, f64::from(params.low_cut), FRAC_1_SQRT_2)
    }

    fn high_cut_design(params: &Params, sample_rate: f64) -> Design {
        let corner = f64::from(params.high_cut).min(MAX_CUT_RATIO * sample_rate);
        Design::new(Kind::Lowpass, corner, FRAC_1_SQRT_2)
    }

    fn pre_delay_samples(&self) -> f32 {
        (f64::from(self.params.pre_delay) * 1e-3 * self.sample_rate) as f32
    }

    /// Where the feedback/damping ramp is, 0…1.
    fn ramp_position(&self) -> f32 {
        1.0 - self.glide_left as f32 / self.glide_len as f32
    }

    /// Points every comb's ramp end at the current decay and type.
    fn set_targets(&mut self) {
        let decay = f64::from(self.params.decay);
        for network in &mut self.networks {
            for comb in &mut network.combs {
                comb.feedback_to = comb_feedback(comb.buffer.len(), decay, self.sample_rate) as f32;
            }
        }
        self.damp_to = self.params.reverb_type.damping();
    }
}

impl Effect for Reverb {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        self.networks[0].prepare(0, spec.sample_rate);
        self.networks[1].prepare(STEREO_SPREAD, spec.sample_rate);
        self.low_cut = Smoothed::new(
            &Self::low_cut_design(&self.params),
            spec.sample_rate,
            FILTER_GLIDE_S,
        );
        self.high_cut = Smoothed::new(
            &Self::high_cut_design(&self.params, spec.sample_rate),
            spec.sample_rate,
            FILTER_GLIDE_S,
        );
        let longest = f64::from(*PRE_DELAY_RANGE.end()) * 1e-3 * spec.sample_rate;
        self.pre_delay_line.prepare(longest.ceil() as usize + 1);
        self.pre_delay
            .set_time(PRE_DELAY_SMOOTHING_S, spec.sample_rate);
        self.mix.set_time(MIX_SMOOTHING_S, spec.sample_rate);
        self.glide_len = ((GLIDE_S * spec.sample_rate).round() as usize).max(1);
        self.input = vec![0.0; spec.max_block];
        self.wet = [vec![0.0; spec.max_block], vec![0.0; spec.max_block]];
        self.ramp = vec![0.0; spec.max_block];
        self.reset();
    }

    fn reset(&mut self) {
        self.set_targets();
        for network in &mut self.networks {
            network.reset();
            for comb in &mut network.combs {
                comb.feedback_from = comb.feedback_to;
            }
        }
        self.damp_from = self.damp_to;
        self.glide_left = 0;
        self.low_cut.jump_to(&Self::low_cut_design(&self.params));
        self.low_cut.reset();
        self.high_cut
            .jump_to(&Self::high_cut_design(&self.params, self.sample_rate));
        self.high_cut.reset();
        self.pre_delay_line.reset();
        self.pre_delay.reset_to(self.pre_delay_samples());
        self.mix.reset_to(self.params.mix);
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let (left, right) = block.channels_mut();
        let len = left.len();
        let input = &mut self.input[..len];
        for ((x, &l), &r) in input.iter_mut().zip(left.iter()).zip(right.iter()) {
            let mono = (l + r) * INPUT_GAIN;
            let filtered = self
                .high_cut
                .process_f64(self.low_cut.process_f64(f64::from(mono)));
            self.pre_delay_line.push(filtered as f32);
            *x = self.pre_delay_line.read_linear(self.pre_delay.next_value());
        }

        let gliding = self.glide_left > 0;
        if gliding {
            for u in &mut self.ramp[..len] {
                self.glide_left = self.glide_left.saturating_sub(1);
                *u = 1.0 - self.glide_left as f32 / self.glide_len as f32;
            }
        }
        let damp = (self.damp_from, self.damp_to);
        for (network, wet) in self.networks.iter_mut().zip(&mut self.wet) {
            let wet = &mut wet[..len];
            wet.fill(0.0);
            for comb in &mut network.combs {
                if gliding {
                    comb.run_gliding(input, wet, &self.ramp[..len], damp);
                } else {
                    comb.run(input, wet, damp.1);
                }
                if self.glide_left == 0 {
                    comb.feedback_from = comb.feedback_to;
                }
            }
            for allpass in &mut network.allpasses {
                allpass.run(wet);
            }
        }
        if self.glide_left == 0 {
            self.damp_from = self.damp_to;
        }

        let [wet_left, wet_right] = &self.wet;
        for (((l, r), &wl), &wr) in left
            .iter_mut()
            .zip(right.iter_mut())
            .zip(&wet_left[..len])
            .zip(&wet_right[..len])
        {
            let mix = self.mix.next_value();
            *l = *l * (1.0 - mix) + wl * mix;
            *r = *r * (1.0 - mix) + wr * mix;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::conformance_tests;
    use crate::test_support::{FS, Noise, correlation, octave_band_t30, render_stereo, t30_of};

    conformance_tests!(Reverb {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] = &[(
            "/reverbType",
            &["room", "hall", "plate", "spring", "ambient"],
        )];
        /// A 10 s decay falls 400 dB (to 1e-20) in 67 s, after up to 0.1 s of pre-delay.
        const TAIL_LIMIT_SECONDS: f64 = 90.0;
        /// The combs' slowest modes (near 0 Hz and 1/D) decay alike and beat against each
        /// other, so a dip below the floor is not yet the end.
        const TAIL_QUIET_SECONDS: f64 = 2.0;
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    /// Wet only, no pre-delay, cuts wide open.
    fn wet(reverb_type: ReverbType, decay: f32) -> Params {
        Params {
            enabled: true,
            reverb_type,
            decay,
            pre_delay: 0.0,
            low_cut: 20.0,
            high_cut: 20_000.0,
            mix: 1.0,
        }
    }

    /// The response to a −6 dBFS impulse on both channels.
    fn impulse_response(params: &Params, seconds: f64) -> (Reverb, Vec<f32>, Vec<f32>) {
        let mut reverb = Reverb::new(params);
        reverb.prepare(&ProcessSpec::stereo(FS, 1024));
        let mut input = vec![0.0; (seconds * FS) as usize];
        input[0] = 0.5;
        let (left, right) = render_stereo(&mut reverb, &input, &input, 1024);
        (reverb, left, right)
    }

    /// The T30 the comb network predicts in the octave band around `centre`: the sum of the
    /// 8 comb exponentials (docs/effects.md §2.5), each decaying by `g_k·|Hd|` every `D_k` samples,
    /// run through the same Schroeder integral and −5…−35 dB fit as the measurement, over the
    /// same length.
    fn predicted_t30(delays: &[usize; 8], feedbacks: &[f32; 8], damp: f64, centre: f64) -> f64 {
        let w = std::f64::consts::TAU * centre / FS;
        let damping_gain = (1.0 - damp) / (1.0 + damp * damp - 2.0 * damp * w.cos()).sqrt();
        let len = (14.0 * FS) as usize;
        let envelope: Vec<f64> = (0..len)
            .map(|n| {
                delays
                    .iter()
                    .zip(feedbacks)
                    .map(|(&d, &g)| {
                        let per_pass = f64::from(g) * damping_gain;
                        per_pass.powf(2.0 * n as f64 / d as f64)
                    })
                    .sum()
            })
            .collect();
        t30_of(&envelope, FS)
    }

    /// docs/effects.md §1 test 5: octave-band T30 (3rd-order Butterworth band-passes, Schroeder
    /// integral, −5…−35 dB) within ±10 % of the sum-of-combs prediction for the bands up to
    /// 2 kHz; damping makes 4 kHz shorter than 500 Hz; T30 grows with the decay setting.
    #[test]
    fn octave_band_decay_matches_the_comb_prediction() {
        let mut low_band_t30 = Vec::new();
        for (reverb_type, decay) in [
            (ReverbType::Room, 1.5),
            (ReverbType::Hall, 3.0),
            (ReverbType::Spring, 0.8),
            (ReverbType::Plate, 2.0),
        ] {
            let (reverb, left, _) = impulse_response(&wet(reverb_type, decay), 14.0);
            let delays = reverb.comb_delays()[0];
            let feedbacks = reverb.comb_feedbacks()[0];
            let damp = f64::from(reverb_type.damping());
            let mut measured = Vec::new();
            for centre in [125.0, 250.0, 500.0, 1_000.0, 2_000.0, 4_000.0] {
                let t30 = octave_band_t30(&left, centre, FS);
                let predicted = predicted_t30(&delays, &feedbacks, damp, centre);
                let ratio = t30 / predicted;
                println!(
                    "{reverb_type:?} decay {decay} s, {centre} Hz: T30 {t30:.3} s, predicted \
                     {predicted:.3} s, ratio {ratio:.3}"
                );
                if centre <= 2_000.0 {
                    assert!(
                        (ratio - 1.0).abs() <= 0.10,
                        "{reverb_type:?} {centre}: {ratio}"
                    );
                }
                measured.push(t30);
            }
            assert!(measured[5] < measured[2], "4 kHz not shorter than 500 Hz");
            low_band_t30.push((decay, measured[1]));
        }
        low_band_t30.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            low_band_t30.windows(2).all(|w| w[1].1 > w[0].1),
            "T30 not monotonic in decay: {low_band_t30:?}"
        );
    }

    /// docs/effects.md §1 test 6: the left and right wet signals are decorrelated over 0.1–1 s.
    #[test]
    fn left_and_right_are_decorrelated() {
        for reverb_type in [ReverbType::Room, ReverbType::Hall, ReverbType::Plate] {
            let (_, left, right) = impulse_response(&wet(reverb_type, 2.0), 1.0);
            let window = (0.1 * FS) as usize..(FS as usize);
            let rho = correlation(&left[window.clone()], &right[window]);
            println!("{reverb_type:?}: L/R correlation over 0.1–1 s {rho:.4}");
            assert!(rho.abs() < 0.1, "{reverb_type:?}: {rho}");
        }
    }

    /// docs/effects.md §1 test 6 stability: at the longest decay the energy 30 s after the impulse
    /// is more than 100 dB below the peak, and it falls steadily on the way.
    #[test]
    fn the_longest_decay_dies_away() {
        let (_, left, right) = impulse_response(&wet(ReverbType::Plate, 10.0), 31.0);
        let peak = left
            .iter()
            .chain(&right)
            .fold(0.0f32, |m, &x| m.max(x.abs()));
        let second = FS as usize;
        let energy_db = |start: usize| {
            let e: f64 = left[start..start + second / 10]
                .iter()
                .chain(&right[start..start + second / 10])
                .map(|&x| f64::from(x).powi(2))
                .sum::<f64>()
                / (second / 5) as f64;
            10.0 * (e.max(1e-300) / f64::from(peak).powi(2)).log10()
        };
        let levels: Vec<f64> = (1..=30).map(|s| energy_db(s * second)).collect();
        println!(
            "decay 10 s: energy at 10/20/30 s {:.1} / {:.1} / {:.1} dB re peak",
            levels[9], levels[19], levels[29]
        );
        assert!(levels[29] < -100.0, "{}", levels[29]);
        assert!(levels.windows(2).all(|w| w[1] < w[0]), "{levels:?}");
    }

    /// The wet starts after the pre-delay plus the shortest comb, to the sample, on both
    /// channels (the right one 25 samples later at 48 kHz: Freeverb's spread).
    #[test]
    fn the_wet_starts_after_the_pre_delay_and_the_first_comb() {
        let params = Params {
            pre_delay: 50.0,
            ..wet(ReverbType::Room, 1.0)
        };
        let (reverb, left, right) = impulse_response(&params, 0.2);
        let onset = |x: &[f32]| x.iter().position(|&y| y != 0.0).unwrap();
        let delays = reverb.comb_delays();
        assert_eq!(delays[0][0], 1214);
        assert_eq!(delays[1][0], 1239);
        assert_eq!(onset(&left), 2_400 + 1214);
        assert_eq!(onset(&right), 2_400 + 1239);
    }

    /// The default room's wet level on noise, and mix 0 / disabled are the dry signal exactly.
    #[test]
    fn levels_and_bypass() {
        let mut rng = Noise::new(5);
        let noise: Vec<f32> = (0..4 * FS as usize)
            .map(|_| 0.5 * rng.next_f64() as f32)
            .collect();
        let rms = |x: &[f32]| {
            (x.iter().map(|&y| f64::from(y).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
        };
        let mut reverb = Reverb::new(&Params {
            mix: 1.0,
            enabled: true,
            ..Params::default()
        });
        reverb.prepare(&ProcessSpec::stereo(FS, 1024));
        let (left, _) = render_stereo(&mut reverb, &noise, &noise, 512);
        let level = 20.0 * (rms(&left[FS as usize..]) / rms(&noise)).log10();
        println!("default room, wet only: {level:.1} dB re the dry noise");
        assert!((-10.0..=-2.0).contains(&level), "{level}");

        for params in [
            Params {
                mix: 0.0,
                enabled: true,
                ..Params::default()
            },
            Params::default(),
        ] {
            let mut reverb = Reverb::new(&params);
            reverb.prepare(&ProcessSpec::stereo(FS, 1024));
            let (left, right) = render_stereo(&mut reverb, &noise, &noise, 256);
            assert_eq!(left, noise);
            assert_eq!(right, noise);
        }
    }

    /// A decay change while ringing glides: no sample-to-sample jump larger than the ringing
    /// itself produces.
    #[test]
    fn decay_changes_glide() {
        let mut reverb = Reverb::new(&wet(ReverbType::Hall, 0.5));
        reverb.prepare(&ProcessSpec::stereo(FS, 256));
        let mut rng = Noise::new(9);
        let noise: Vec<f32> = (0..FS as usize)
            .map(|_| 0.5 * rng.next_f64() as f32)
            .collect();
        let (before, _) = render_stereo(&mut reverb, &noise, &noise, 256);
        reverb.set_params(&wet(ReverbType::Spring, 8.0));
        let (after, _) = render_stereo(&mut reverb, &noise, &noise, 256);
        let step = |x: &[f32]| {
            x.windows(2)
                .map(|w| (w[1] - w[0]).abs())
                .fold(0.0, f32::max)
        };
        let largest_before = step(&before[FS as usize / 2..]);
        let largest_across = step(&after[..4_800]);
        assert!(
            largest_across < 2.0 * largest_before,
            "{largest_across} {largest_before}"
        );
        assert!(after.iter().all(|y| y.is_finite()));
    }
}
