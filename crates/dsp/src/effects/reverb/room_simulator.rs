//! The room simulator (docs/effects.md §3 #31): early reflections from six taps and a late reverb
//! from a four-line feedback delay network, with size, decay time, damping, diffusion, modulation,
//! pre-delay, early/late levels and a dry/wet mix.
//!
//! Signal path: the mono sum → pre-delay line. **Early**: six taps per channel read the line at
//! the size's reflection times (medium 8, 15, 23, 35, 48, 62 ms, the reference's; small ×0.6,
//! large ×1.5, hall ×2.2; the right channel's taps 7 % later so the two sides differ), with
//! gains falling 1.6 dB per tap and alternating left/right emphasis, then the damping low-pass.
//! **Late**: the pre-delayed input passes two Schroeder all-pass diffusers (coefficient
//! 0.7·diffusion) into four delay lines of 37, 49, 61, 73 ms (the reference's, scaled by the
//! size) mixed by a 4×4 Hadamard matrix (orthogonal: it neither adds nor removes energy), each
//! line with a one-pole damping low-pass and its own gain; the left output is line 1 + line 3,
//! the right line 2 − line 4. (The matrix is symmetric, so a path i → j and its reverse j → i
//! arrive together; with that sign, the pairs shared by the two outputs cancel in the L/R
//! correlation instead of adding up.)
//!
//! Design choices:
//! - **`decay` is the reverberation time in seconds**: each line's gain is
//!   `g_i = 10^(−3·D_i/(fs·decay))`, so every line loses 60 dB in `decay` seconds and, the
//!   mixing matrix being orthogonal, so does the network (at low frequencies, where the damping
//!   filter passes unity). The reference's `min(0.5 + 0.1·decay, 0.95)` gives every line the
//!   same gain, so its decay time depends on the line and is about 0.2 s at the default 1.5 s.
//! - Damping: the one-pole coefficient is 0.7·damping/100 in the loop (highs decay faster) and
//!   on the early sum (air absorption).
//! - Modulation: the late lines' read points wander by up to ±0.5 ms·modulation/100 at 0.5 Hz,
//!   90° apart from line to line (one recurrence oscillator gives all four phases), which
//!   breaks up the metallic ringing of fixed modes; read with linear interpolation (the
//!   damping filter follows anyway).
//! - Every parameter glides per sample: line gains and damping over a 50 ms linear ramp, the
//!   pre-delay, levels, diffusion and mix one-pole smoothed; a new size ducks the wet over
//!   10 ms, switches at silence (clearing the lines) and comes back.

use crate::automation::Kind;
use crate::blocks::delay::DelayLine;
use crate::blocks::quadrature::Quadrature;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "roomSimulator";

/// Declared range of the percentages.
pub const PERCENT_RANGE: RangeInclusive<f32> = 0.0..=100.0;
/// Declared range of [`Params::decay`] (s).
pub const DECAY_RANGE: RangeInclusive<f32> = 0.1..=5.0;
/// Declared range of [`Params::pre_delay`] (ms).
pub const PRE_DELAY_RANGE: RangeInclusive<f32> = 0.0..=100.0;

/// Early reflection times of the medium room (ms; docs/effects.md §3 #31).
pub const EARLY_TAPS_MS: [f64; 6] = [8.0, 15.0, 23.0, 35.0, 48.0, 62.0];
/// The late lines of the medium room (ms; docs/effects.md §3 #31).
pub const LATE_LINES_MS: [f64; 4] = [37.0, 49.0, 61.0, 73.0];
/// The right channel's early taps are this much later than the left's.
const RIGHT_TAP_STRETCH: f64 = 1.07;
/// Each early tap is this much quieter than the one before (dB).
const EARLY_TAP_FALL_DB: f64 = 1.6;
/// Diffuser lengths (ms, at medium size) and the largest diffusion coefficient.
const DIFFUSER_MS: [f64; 2] = [4.77, 3.59];
const MAX_DIFFUSION: f32 = 0.7;
/// The largest damping coefficient.
const MAX_DAMPING: f32 = 0.7;
/// Modulation: peak excursion at 100 % (s) and rate (Hz).
const MODULATION_DEPTH_S: f64 = 0.0005;
const MODULATION_HZ: f64 = 0.5;
/// Gain of the input into the late network (sets the late level; see the tests).
const LATE_INPUT_GAIN: f32 = 0.35;
/// Gain of the early sum.
const EARLY_GAIN: f32 = 0.5;
/// Line gain and damping ramp; other smoothing; the size-change duck.
const GLIDE_S: f64 = 0.05;
const SMOOTHING_S: f64 = 0.02;
const SIZE_FADE_S: f64 = 0.01;

/// The room's size: it scales reflection times and late lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// ×0.6.
    Small,
    /// The reference times.
    #[default]
    Medium,
    /// ×1.5.
    Large,
    /// ×2.2.
    Hall,
}

crate::host_choice!(Size {
    Small => "Small",
    Medium => "Medium",
    Large => "Large",
    Hall => "Hall",
});

impl Size {
    /// The factor applied to the medium room's times.
    pub fn scale(self) -> f64 {
        match self {
            Self::Small => 0.6,
            Self::Medium => 1.0,
            Self::Large => 1.5,
            Self::Hall => 2.2,
        }
    }
}

/// The room simulator's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Room size (default medium).
    pub size: Size,
    /// High-frequency damping 0…100 (default 50).
    pub damping: f32,
    /// Early reflections level 0…100 (default 70).
    pub early_level: f32,
    /// Late reverb level 0…100 (default 60).
    pub late_level: f32,
    /// Reverberation time (60 dB) in s, 0.1…5 (default 1.5).
    pub decay: f32,
    /// Pre-delay in ms, 0…100 (default 20).
    pub pre_delay: f32,
    /// Input diffusion 0…100 (default 70).
    pub diffusion: f32,
    /// Late-line modulation 0…100 (default 20).
    pub modulation: f32,
    /// Wet share 0…100 (default 30).
    pub mix: f32,
}

crate::automatable!(Params {
    [size] "size", "Size", Kind::choice::<Size>();
    [damping] "damping", "Damping", Kind::linear(PERCENT_RANGE, "%");
    [early_level] "earlyLevel", "Early Level", Kind::linear(PERCENT_RANGE, "%");
    [late_level] "lateLevel", "Late Level", Kind::linear(PERCENT_RANGE, "%");
    [decay] "decay", "Decay", Kind::logarithmic(DECAY_RANGE, "s");
    [pre_delay] "preDelay", "Pre-Delay", Kind::linear(PRE_DELAY_RANGE, "ms");
    [diffusion] "diffusion", "Diffusion", Kind::linear(PERCENT_RANGE, "%");
    [modulation] "modulation", "Modulation", Kind::linear(PERCENT_RANGE, "%");
    [mix] "mix", "Mix", Kind::linear(PERCENT_RANGE, "%");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            size: Size::Medium,
            damping: 50.0,
            early_level: 70.0,
            late_level: 60.0,
            decay: 1.5,
            pre_delay: 20.0,
            diffusion: 70.0,
            modulation: 20.0,
            mix: 30.0,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        let percent = |value: f32, default: f32| clamp_param(value, PERCENT_RANGE, default);
        Self {
            enabled: self.enabled,
            size: self.size,
            damping: percent(self.damping, d.damping),
            early_level: percent(self.early_level, d.early_level),
            late_level: percent(self.late_level, d.late_level),
            decay: clamp_param(self.decay, DECAY_RANGE, d.decay),
            pre_delay: clamp_param(self.pre_delay, PRE_DELAY_RANGE, d.pre_delay),
            diffusion: percent(self.diffusion, d.diffusion),
            modulation: percent(self.modulation, d.modulation),
            mix: percent(self.mix, d.mix),
        }
    }
}

/// A Schroeder all-pass: `v = x + g·buf; out = buf − g·v; buf ← v`.
#[derive(Clone, Debug, Default)]
struct Diffuser {
    line: DelayLine,
    delay: usize,
}

impl Diffuser {
    #[inline]
    fn process(&mut self, x: f32, g: f32) -> f32 {
        let delayed = self.line.read(self.delay - 1);
        let v = x + g * delayed;
        self.line.push(v);
        delayed - g * v
    }
}

/// The room simulator. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct RoomSimulator {
    params: Params,
    sample_rate: f64,
    /// The size whose times are in use (a new one waits for the duck).
    active_size: Size,
    input_line: DelayLine,
    /// Early tap offsets after the pre-delay (samples), left and right, and their gains.
    taps: [[usize; 6]; 2],
    tap_gains: [[f32; 6]; 2],
    early_damping_state: [f32; 2],
    diffusers: [Diffuser; 2],
    lines: [DelayLine; 4],
    line_delays: [f32; 4],
    line_damping_state: [f32; 4],
    /// Line gains and damping at the start and end of the current ramp.
    gain_from: [f32; 4],
    gain_to: [f32; 4],
    damping_from: f32,
    damping_to: f32,
    glide_len: usize,
    glide_left: usize,
    modulator: Quadrature,
    pre_delay: OnePole,
    early_level: OnePole,
    late_level: OnePole,
    diffusion: OnePole,
    modulation: OnePole,
    mix: OnePole,
    fade: f32,
    fade_step: f32,
}

impl RoomSimulator {
    /// A room simulator with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let params = params.clamped();
        let sample_rate = 48_000.0;
        let smoother = || OnePole::new(0.0, SMOOTHING_S, sample_rate);
        let mut room = Self {
            sample_rate,
            active_size: params.size,
            input_line: DelayLine::new(),
            taps: [[1; 6]; 2],
            tap_gains: [[0.0; 6]; 2],
            early_damping_state: [0.0; 2],
            diffusers: Default::default(),
            lines: Default::default(),
            line_delays: [1.0; 4],
            line_damping_state: [0.0; 4],
            gain_from: [0.0; 4],
            gain_to: [0.0; 4],
            damping_from: 0.0,
            damping_to: 0.0,
            glide_len: 1,
            glide_left: 0,
            modulator: Quadrature::new(),
            pre_delay: smoother(),
            early_level: smoother(),
            late_level: smoother(),
            diffusion: smoother(),
            modulation: smoother(),
            mix: smoother(),
            fade: 1.0,
            fade_step: 1.0,
            params,
        };
        room.prepare(&ProcessSpec::stereo(sample_rate, 0));
        room
    }

    /// Applies new parameters (clamped). Decay and damping ramp over 50 ms, a new size ducks
    /// and switches, the rest glides. Switching on starts from silence.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        let previous = std::mem::replace(&mut self.params, params.clamped());
        if self.params.enabled && !previous.enabled {
            self.reset();
            return;
        }
        if self.params.decay != previous.decay || self.params.damping != previous.damping {
            let u = self.ramp_position();
            for (from, to) in self.gain_from.iter_mut().zip(self.gain_to) {
                *from += (to - *from) * u;
            }
            self.damping_from += (self.damping_to - self.damping_from) * u;
            self.set_loop_targets();
            self.glide_left = self.glide_len;
        }
        self.set_smoother_targets();
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The early tap times after the pre-delay (samples), left then right.
    pub fn early_taps(&self) -> [[usize; 6]; 2] {
        self.taps
    }

    /// The late lines' lengths in samples.
    pub fn late_lines(&self) -> [f32; 4] {
        self.line_delays
    }

    fn ramp_position(&self) -> f32 {
        1.0 - self.glide_left as f32 / self.glide_len as f32
    }

    /// Tap times, gains and line lengths for the active size.
    fn set_geometry(&mut self) {
        let scale = self.active_size.scale() * 1e-3 * self.sample_rate;
        for (channel, stretch) in [1.0, RIGHT_TAP_STRETCH].into_iter().enumerate() {
            for (i, ms) in EARLY_TAPS_MS.into_iter().enumerate() {
                self.taps[channel][i] = ((ms * stretch * scale).round() as usize).max(1);
                let level = 10f64.powf(-EARLY_TAP_FALL_DB * i as f64 / 20.0) as f32;
                // Alternate which side a reflection favours.
                let near = if (i + channel) % 2 == 0 { 1.0 } else { 0.6 };
                self.tap_gains[channel][i] = level * near * EARLY_GAIN;
            }
        }
        for (delay, ms) in self.line_delays.iter_mut().zip(LATE_LINES_MS) {
            *delay = (ms * scale).round() as f32;
        }
        for (diffuser, ms) in self.diffusers.iter_mut().zip(DIFFUSER_MS) {
            diffuser.delay = ((ms * scale).round() as usize).max(2);
        }
    }

    fn set_loop_targets(&mut self) {
        let decay = f64::from(self.params.decay);
        for (gain, delay) in self.gain_to.iter_mut().zip(self.line_delays) {
            *gain = 10f64.powf(-3.0 * f64::from(delay) / (self.sample_rate * decay)) as f32;
        }
        self.damping_to = MAX_DAMPING * self.params.damping / 100.0;
    }

    fn smoother_targets(&self) -> [f32; 6] {
        let p = &self.params;
        [
            // Whole samples, so a settled pre-delay reads the taps without interpolating.
            (f64::from(p.pre_delay) * 1e-3 * self.sample_rate).round() as f32,
            p.early_level / 100.0,
            p.late_level / 100.0,
            MAX_DIFFUSION * p.diffusion / 100.0,
            (f64::from(p.modulation) / 100.0 * MODULATION_DEPTH_S * self.sample_rate) as f32,
            p.mix / 100.0,
        ]
    }

    fn smoothers(&mut self) -> [&mut OnePole; 6] {
        [
            &mut self.pre_delay,
            &mut self.early_level,
            &mut self.late_level,
            &mut self.diffusion,
            &mut self.modulation,
            &mut self.mix,
        ]
    }

    fn set_smoother_targets(&mut self) {
        let targets = self.smoother_targets();
        for (smoother, target) in self.smoothers().into_iter().zip(targets) {
            smoother.set_target(target);
        }
    }

    /// Clears every line and filter state.
    fn clear(&mut self) {
        self.input_line.reset();
        for diffuser in &mut self.diffusers {
            diffuser.line.reset();
        }
        for line in &mut self.lines {
            line.reset();
        }
        self.early_damping_state = [0.0; 2];
        self.line_damping_state = [0.0; 4];
    }

    /// Advances the size duck one sample and returns the wet gain.
    #[inline]
    fn next_fade(&mut self) -> f32 {
        if self.active_size != self.params.size {
            self.fade -= self.fade_step;
            if self.fade <= 0.0 {
                self.fade = 0.0;
                self.active_size = self.params.size;
                self.set_geometry();
                self.set_loop_targets();
                self.gain_from = self.gain_to;
                self.clear();
            }
        } else if self.fade < 1.0 {
            self.fade = (self.fade + self.fade_step).min(1.0);
        }
        self.fade
    }
}

impl Effect for RoomSimulator {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        let hall = Size::Hall.scale() * 1e-3 * spec.sample_rate;
        let longest_input = f64::from(*PRE_DELAY_RANGE.end()) * 1e-3 * spec.sample_rate
            + EARLY_TAPS_MS[5] * RIGHT_TAP_STRETCH * hall;
        self.input_line.prepare(longest_input.ceil() as usize + 2);
        for (diffuser, ms) in self.diffusers.iter_mut().zip(DIFFUSER_MS) {
            diffuser.line.prepare((ms * hall).ceil() as usize + 2);
        }
        let excursion = MODULATION_DEPTH_S * spec.sample_rate;
        for (line, ms) in self.lines.iter_mut().zip(LATE_LINES_MS) {
            line.prepare((ms * hall + excursion).ceil() as usize + 2);
        }
        for smoother in self.smoothers() {
            smoother.set_time(SMOOTHING_S, spec.sample_rate);
        }
        self.modulator
            .set_frequency(MODULATION_HZ, spec.sample_rate);
        self.glide_len = ((GLIDE_S * spec.sample_rate).round() as usize).max(1);
        self.fade_step = (1.0 / (SIZE_FADE_S * spec.sample_rate)) as f32;
        self.reset();
    }

    fn reset(&mut self) {
        self.active_size = self.params.size;
        self.set_geometry();
        self.set_loop_targets();
        self.gain_from = self.gain_to;
        self.damping_from = self.damping_to;
        self.glide_left = 0;
        self.clear();
        self.modulator.reset();
        let targets = self.smoother_targets();
        for (smoother, target) in self.smoothers().into_iter().zip(targets) {
            smoother.reset_to(target);
        }
        self.fade = 1.0;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let fade = self.next_fade();
            let pre_delay = self.pre_delay.next_value();
            let early_level = self.early_level.next_value();
            let late_level = self.late_level.next_value();
            let diffusion = self.diffusion.next_value();
            let depth = self.modulation.next_value();
            let mix = self.mix.next_value();
            let u = if self.glide_left > 0 {
                self.glide_left -= 1;
                1.0 - self.glide_left as f32 / self.glide_len as f32
            } else {
                1.0
            };
            let damping = self.damping_from + (self.damping_to - self.damping_from) * u;

            // Pre-delay and early reflections.
            self.input_line.push(0.5 * (*l + *r));
            let whole = pre_delay as u32;
            let settled = whole as f32 == pre_delay;
            let whole = whole as usize;
            let delayed = if settled {
                self.input_line.read(whole)
            } else {
                self.input_line.read_linear(pre_delay)
            };
            let mut early = [0.0f32; 2];
            for (((sum, taps), gains), state) in early
                .iter_mut()
                .zip(&self.taps)
                .zip(&self.tap_gains)
                .zip(&mut self.early_damping_state)
            {
                let mut reflections = 0.0;
                if settled {
                    for (&tap, &gain) in taps.iter().zip(gains) {
                        reflections += gain * self.input_line.read(whole + tap);
                    }
                } else {
                    // Fractional while the pre-delay glides, so the taps move smoothly.
                    for (&tap, &gain) in taps.iter().zip(gains) {
                        reflections += gain * self.input_line.read_linear(pre_delay + tap as f32);
                    }
                }
                *state = reflections + damping * (*state - reflections);
                *sum = *state;
            }

            // Late: diffusers, then the network.
            let mut input = delayed * LATE_INPUT_GAIN;
            for diffuser in &mut self.diffusers {
                input = diffuser.process(input, diffusion);
            }
            let (cos, sin) = self.modulator.next_pair();
            let wander = [sin, cos, -sin, -cos].map(|m| depth * m as f32);
            let mut outs = [0.0f32; 4];
            for ((((out, line), &delay), state), (&m, (&from, &to))) in outs
                .iter_mut()
                .zip(&self.lines)
                .zip(&self.line_delays)
                .zip(&mut self.line_damping_state)
                .zip(wander.iter().zip(self.gain_from.iter().zip(&self.gain_to)))
            {
                // Read before the write: `delay − 1` back is `delay` ago.
                let y = if m == 0.0 {
                    line.read(delay as usize - 1)
                } else {
                    line.read_linear(delay - 1.0 + m)
                };
                *state = y + damping * (*state - y);
                *out = *state * (from + (to - from) * u);
            }
            let [a, b, c, d] = outs;
            let mixed = [
                0.5 * (a + b + c + d),
                0.5 * (a - b + c - d),
                0.5 * (a + b - c - d),
                0.5 * (a - b - c + d),
            ];
            for (line, v) in self.lines.iter_mut().zip(mixed) {
                line.push(input + v);
            }
            if self.glide_left == 0 {
                self.gain_from = self.gain_to;
                self.damping_from = self.damping_to;
            }

            let wet_l = early[0] * early_level + (outs[0] + outs[2]) * late_level;
            let wet_r = early[1] * early_level + (outs[1] - outs[3]) * late_level;
            let wet = mix * fade;
            *l = *l * (1.0 - mix) + wet_l * wet;
            *r = *r * (1.0 - mix) + wet_r * wet;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::conformance_tests;
    use crate::test_support::{FS, Noise, correlation, octave_band_t30, render_stereo};

    conformance_tests!(RoomSimulator {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] =
            &[("/size", &["small", "medium", "large", "hall"])];
        /// A 5 s decay falls 400 dB (to 1e-20) in 33 s, after up to 0.1 s of pre-delay.
        const TAIL_LIMIT_SECONDS: f64 = 45.0;
        /// The network's modes beat, so a dip below the floor is not yet the end.
        const TAIL_QUIET_SECONDS: f64 = 2.0;
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn wet(size: Size, decay: f32) -> Params {
        Params {
            enabled: true,
            size,
            decay,
            damping: 0.0,
            pre_delay: 0.0,
            modulation: 0.0,
            mix: 100.0,
            ..Params::default()
        }
    }

    fn impulse_response(params: &Params, seconds: f64) -> (RoomSimulator, Vec<f32>, Vec<f32>) {
        let mut room = RoomSimulator::new(params);
        room.prepare(&ProcessSpec::stereo(FS, 1024));
        let mut input = vec![0.0; (seconds * FS) as usize];
        input[0] = 0.5;
        let (left, right) = render_stereo(&mut room, &input, &input, 1024);
        (room, left, right)
    }

    /// Early reflections only: the six taps arrive at the size's times after the pre-delay,
    /// to the sample (medium: 8, 15, 23, 35, 48, 62 ms; large ×1.5), each quieter than the
    /// one before on the side it favours.
    #[test]
    fn early_reflections_arrive_at_the_room_times() {
        for (size, scale) in [(Size::Medium, 1.0), (Size::Large, 1.5), (Size::Small, 0.6)] {
            let params = Params {
                late_level: 0.0,
                early_level: 100.0,
                pre_delay: 10.0,
                ..wet(size, 1.0)
            };
            let (_, left, right) = impulse_response(&params, 0.3);
            let arrivals = |x: &[f32]| {
                x.iter()
                    .enumerate()
                    .filter(|(_, y)| y.abs() > 1e-6)
                    .map(|(n, _)| n)
                    .collect::<Vec<_>>()
            };
            let expected: Vec<usize> = EARLY_TAPS_MS
                .iter()
                .map(|ms| 480 + (ms * scale * 48.0).round() as usize)
                .collect();
            println!("{size:?}: left reflections at {:?}", arrivals(&left));
            assert_eq!(arrivals(&left), expected);
            let right_expected: Vec<usize> = EARLY_TAPS_MS
                .iter()
                .map(|ms| 480 + (ms * RIGHT_TAP_STRETCH * scale * 48.0).round() as usize)
                .collect();
            assert_eq!(arrivals(&right), right_expected);
            let favoured: Vec<f32> = expected.iter().step_by(2).map(|&n| left[n]).collect();
            assert!(favoured.windows(2).all(|w| w[1] < w[0]), "{favoured:?}");
        }
    }

    /// The late reverb decays in `decay` seconds: octave-band T30 (docs/effects.md §1 test 5
    /// method) at 250 Hz–2 kHz within ±10 % of the setting, without damping, at every size; with
    /// modulation too; damping shortens 4 kHz against 500 Hz.
    #[test]
    fn the_late_decay_time_is_the_decay_setting() {
        for (size, decay, modulation) in [
            (Size::Medium, 1.5, 0.0),
            (Size::Small, 0.6, 0.0),
            (Size::Hall, 3.0, 0.0),
            (Size::Large, 2.0, 50.0),
        ] {
            let params = Params {
                early_level: 0.0,
                modulation,
                ..wet(size, decay)
            };
            let (_, left, _) = impulse_response(&params, 3.0 * f64::from(decay) + 1.0);
            for centre in [250.0, 500.0, 1_000.0, 2_000.0] {
                let t30 = octave_band_t30(&left, centre, FS);
                let ratio = t30 / f64::from(decay);
                println!(
                    "{size:?} decay {decay} s, modulation {modulation}, {centre} Hz: T30 {t30:.3} s ({ratio:.3})"
                );
                assert!((ratio - 1.0).abs() <= 0.10, "{size:?} {centre}: {ratio}");
            }
        }
        let (_, left, _) = impulse_response(
            &Params {
                damping: 60.0,
                early_level: 0.0,
                ..wet(Size::Medium, 2.0)
            },
            7.0,
        );
        let (mid, high) = (
            octave_band_t30(&left, 500.0, FS),
            octave_band_t30(&left, 4_000.0, FS),
        );
        println!("damping 60: T30 500 Hz {mid:.3} s, 4 kHz {high:.3} s");
        assert!(high < 0.7 * mid, "{high} {mid}");
    }

    /// Left and right late reverb are decorrelated; the longest decay dies away steadily.
    #[test]
    fn stereo_and_stability() {
        let (_, left, right) = impulse_response(&wet(Size::Medium, 2.0), 1.0);
        let window = (0.1 * FS) as usize..FS as usize;
        let rho = correlation(&left[window.clone()], &right[window]);
        println!("L/R correlation over 0.1–1 s: {rho:.3}");
        assert!(rho.abs() < 0.1, "{rho}");

        let params = Params {
            modulation: 100.0,
            diffusion: 100.0,
            ..wet(Size::Hall, 5.0)
        };
        let (_, left, right) = impulse_response(&params, 31.0);
        let second = FS as usize;
        let energy: Vec<f64> = (1..31)
            .map(|s| {
                left[s * second..(s + 1) * second]
                    .iter()
                    .chain(&right[s * second..(s + 1) * second])
                    .map(|&y| f64::from(y).powi(2))
                    .sum()
            })
            .collect();
        let peak = left.iter().fold(0.0f32, |m, &y| m.max(y.abs()));
        let last_db = 10.0 * (energy[29] / second as f64 / f64::from(peak).powi(2)).log10();
        println!("hall, 5 s, full modulation: energy at 30 s {last_db:.1} dB re peak");
        assert!(energy.windows(2).all(|w| w[1] < w[0]));
        assert!(last_db < -100.0, "{last_db}");
    }

    /// The default room's wet level on noise, and mix 0 / disabled are the dry signal exactly.
    #[test]
    fn levels_and_bypass() {
        let mut rng = Noise::new(5);
        let noise: Vec<f32> = (0..3 * FS as usize)
            .map(|_| 0.5 * rng.next_f64() as f32)
            .collect();
        let rms = |x: &[f32]| {
            (x.iter().map(|&y| f64::from(y).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
        };
        for (early, late) in [(70.0, 60.0), (100.0, 0.0), (0.0, 100.0)] {
            let mut room = RoomSimulator::new(&Params {
                enabled: true,
                mix: 100.0,
                early_level: early,
                late_level: late,
                ..Params::default()
            });
            room.prepare(&ProcessSpec::stereo(FS, 1024));
            let (left, _) = render_stereo(&mut room, &noise, &noise, 512);
            let level = 20.0 * (rms(&left[FS as usize..]) / rms(&noise)).log10();
            println!("early {early} late {late}, wet only: {level:.1} dB re the dry noise");
            assert!((-12.0..=0.0).contains(&level), "{level}");
        }
        for params in [
            Params {
                mix: 0.0,
                enabled: true,
                ..Params::default()
            },
            Params::default(),
        ] {
            let mut room = RoomSimulator::new(&params);
            room.prepare(&ProcessSpec::stereo(FS, 1024));
            let (left, right) = render_stereo(&mut room, &noise, &noise, 256);
            assert_eq!(left, noise);
            assert_eq!(right, noise);
        }
    }
}
