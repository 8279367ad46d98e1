//! The flanger (docs/effects.md §3 #22): one short delay per channel swept by a sine LFO, fed back
//! and mixed with the dry signal, so a comb of notches sweeps the spectrum. Feedback is limited
//! to ±0.95 (the reference's bound); `negative` inverts the wet path, which moves the notches
//! from the odd multiples of 1/(2τ) to the multiples of 1/τ (DC included): the hollow
//! "negative flange".
//!
//! The delay is `delay`·(1 + depth·sin 2πφ): depth 1 sweeps it from 0 to twice the base delay
//! (kept at least 2 samples, the Hermite reader's floor plus the feedback read-ahead); at the
//! defaults 2 ms ± 1 ms at 0.5 Hz. Both channels share the LFO (the reference has no stereo
//! parameter; a shared sweep keeps the effect mono-compatible). The tap is read before the new
//! sample is pushed, so the feedback loop is exactly the delay (see the chorus). The delay is
//! computed every 16 samples and steps linearly in between (`CONTROL_INTERVAL`).
//!
//! Delay and depth glide over 50 ms; feedback and mix over 20 ms. At feedback ±0.95 the comb's
//! peaks stand 26 dB above the input and a 20 ms loop takes 18 s to fall 400 dB: the conformance
//! bounds below are raised for that.

use crate::automation::Kind;
use crate::blocks::delay::DelayLine;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::modulation::{CONTROL_INTERVAL, Phasor, Ramp, sine};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "flanger";

/// Declared range of [`Params::rate`] (Hz).
pub const RATE_RANGE: RangeInclusive<f32> = 0.05..=5.0;
/// Declared range of [`Params::depth`] and [`Params::mix`].
pub const UNIT_RANGE: RangeInclusive<f32> = 0.0..=1.0;
/// Declared range of [`Params::delay`] (ms).
pub const DELAY_RANGE: RangeInclusive<f32> = 0.5..=10.0;
/// Declared range of [`Params::feedback`].
pub const FEEDBACK_RANGE: RangeInclusive<f32> = -1.0..=1.0;

/// The loop gain's bound.
pub const MAX_FEEDBACK: f32 = 0.95;
/// The shortest delay in samples.
const MIN_DELAY_SAMPLES: f32 = 2.0;
/// Delay and depth glide over this time constant.
const DELAY_SMOOTHING_S: f64 = 0.05;
/// Feedback and mix glide over this one.
const LEVEL_SMOOTHING_S: f64 = 0.02;

/// The flanger's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// LFO rate in Hz, 0.05…5 (default 0.5).
    pub rate: f32,
    /// Depth 0…1 (default 0.5): the delay swings by ±depth times the base delay.
    pub depth: f32,
    /// Base delay in ms, 0.5…10 (default 2).
    pub delay: f32,
    /// Feedback −1…1 (default 0.5), applied within ±0.95.
    pub feedback: f32,
    /// Wet share 0…1 (default 0.5).
    pub mix: f32,
    /// Invert the wet path (default off).
    pub negative: bool,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            rate: 0.5,
            depth: 0.5,
            delay: 2.0,
            feedback: 0.5,
            mix: 0.5,
            negative: false,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            rate: clamp_param(self.rate, RATE_RANGE, d.rate),
            depth: clamp_param(self.depth, UNIT_RANGE, d.depth),
            delay: clamp_param(self.delay, DELAY_RANGE, d.delay),
            feedback: clamp_param(self.feedback, FEEDBACK_RANGE, d.feedback),
            mix: clamp_param(self.mix, UNIT_RANGE, d.mix),
            negative: self.negative,
        }
    }
}

crate::automatable!(Params {
    [rate] "rate", "Rate", Kind::logarithmic(RATE_RANGE, "Hz");
    [depth] "depth", "Depth", Kind::linear(UNIT_RANGE, "");
    [delay] "delay", "Delay", Kind::logarithmic(DELAY_RANGE, "ms");
    [feedback] "feedback", "Feedback", Kind::linear(FEEDBACK_RANGE, "");
    [mix] "mix", "Mix", Kind::linear(UNIT_RANGE, "");
    [negative] "negative", "Negative", Kind::Toggle;
});

/// The flanger. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct Flanger {
    params: Params,
    sample_rate: f64,
    lines: [DelayLine; 2],
    /// Runs at the control rate; its phase is that of the next control point.
    lfo: Phasor,
    /// Base delay in samples, and depth (at the control rate).
    delay: OnePole,
    depth: OnePole,
    /// The tap delay, stepping between control points.
    tap: Ramp,
    until_control: usize,
    feedback: OnePole,
    mix: OnePole,
}

impl Flanger {
    /// A flanger with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut flanger = Self {
            params: params.clamped(),
            sample_rate,
            lines: Default::default(),
            lfo: Phasor::default(),
            delay: OnePole::new(0.0, DELAY_SMOOTHING_S, sample_rate),
            depth: OnePole::new(0.0, DELAY_SMOOTHING_S, sample_rate),
            feedback: OnePole::new(0.0, LEVEL_SMOOTHING_S, sample_rate),
            mix: OnePole::new(0.0, LEVEL_SMOOTHING_S, sample_rate),
            tap: Ramp::default(),
            until_control: 0,
        };
        flanger.prepare(&ProcessSpec::stereo(sample_rate, 1));
        flanger
    }

    /// Applies new parameters (clamped): the LFO runs on, everything else glides. Switching
    /// on starts from silence and phase 0.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        let was_enabled = self.params.enabled;
        self.params = params.clamped();
        self.update();
        if self.params.enabled && !was_enabled {
            self.reset();
        }
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }

    fn targets(&self) -> [f32; 4] {
        [
            (f64::from(self.params.delay) * 1e-3 * self.sample_rate) as f32,
            self.params.depth,
            self.params.feedback.clamp(-MAX_FEEDBACK, MAX_FEEDBACK),
            self.params.mix,
        ]
    }

    /// The tap delay (less the read-ahead sample) at the LFO's current phase.
    fn tap_now(&self, base: f32, depth: f32) -> f32 {
        let lfo = sine(self.lfo.phase());
        (base * (1.0 + depth * lfo)).max(MIN_DELAY_SAMPLES) - 1.0
    }

    fn update(&mut self) {
        let control_rate = self.sample_rate / CONTROL_INTERVAL as f64;
        self.lfo.set_rate(f64::from(self.params.rate), control_rate);
        let [delay, depth, feedback, mix] = self.targets();
        self.delay.set_target(delay);
        self.depth.set_target(depth);
        self.feedback.set_target(feedback);
        self.mix.set_target(mix);
    }
}

impl Effect for Flanger {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        let longest = 2.0 * f64::from(*DELAY_RANGE.end()) * 1e-3 * spec.sample_rate;
        for line in &mut self.lines {
            line.prepare(longest.ceil() as usize + 4);
        }
        let control_rate = spec.sample_rate / CONTROL_INTERVAL as f64;
        self.delay.set_time(DELAY_SMOOTHING_S, control_rate);
        self.depth.set_time(DELAY_SMOOTHING_S, control_rate);
        self.feedback.set_time(LEVEL_SMOOTHING_S, spec.sample_rate);
        self.mix.set_time(LEVEL_SMOOTHING_S, spec.sample_rate);
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        for line in &mut self.lines {
            line.reset();
        }
        self.lfo.set_phase(0.0);
        let [delay, depth, feedback, mix] = self.targets();
        self.delay.reset_to(delay);
        self.depth.reset_to(depth);
        self.feedback.reset_to(feedback);
        self.mix.reset_to(mix);
        let tap = self.tap_now(delay, depth);
        self.tap.jump(tap);
        self.until_control = 0;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let polarity = if self.params.negative { -1.0 } else { 1.0 };
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            if self.until_control == 0 {
                let base = self.delay.next_value();
                let depth = self.depth.next_value();
                self.lfo.advance();
                let target = self.tap_now(base, depth);
                self.tap.aim(target);
                self.until_control = CONTROL_INTERVAL;
            }
            self.until_control -= 1;
            let feedback = self.feedback.next_value();
            let mix = self.mix.next_value();
            let delay = self.tap.next_value();
            let [line_l, line_r] = &mut self.lines;
            let tap_l = line_l.read_hermite(delay);
            let tap_r = line_r.read_hermite(delay);
            line_l.push(*l + feedback * tap_l);
            line_r.push(*r + feedback * tap_r);
            *l = mix * polarity * tap_l + (1.0 - mix) * *l;
            *r = mix * polarity * tap_r + (1.0 - mix) * *r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::effects::modulation::measure::{
        comb_notches, instantaneous_frequency, sinusoid_fit, swing_rate,
    };
    use crate::test_support::{FS, impulse, render_mono, sine as tone};
    use std::f64::consts::TAU;

    conformance_tests!(Flanger {
        /// Feedback 0.95 puts the comb's peaks 1/(1 − 0.95) = 20× (26 dB) above the input.
        const OUTPUT_BOUND: f32 = 40.0;
        /// A 20 ms loop at 0.95 falls 0.45 dB per pass: 400 dB take 18 s.
        const TAIL_LIMIT_SECONDS: f64 = 20.0;
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn enabled(rate: f32, depth: f32, delay: f32, feedback: f32, mix: f32) -> Params {
        Params {
            enabled: true,
            rate,
            depth,
            delay,
            feedback,
            mix,
            ..Params::default()
        }
    }

    /// docs/effects.md §1 #16 on a 1 kHz sine, wet only: the instantaneous frequency swings at the
    /// set rate (±0.5 %) by f₀·2π·f_lfo·A (±5 %), A = depth·delay.
    #[test]
    fn the_sweep_runs_at_the_rate_with_the_delay_swing() {
        for (rate, depth, delay) in [(0.5, 0.5, 2.0), (2.0, 0.8, 5.0), (5.0, 0.3, 10.0)] {
            let mut flanger = Flanger::prepared(&enabled(rate, depth, delay, 0.0, 1.0));
            let seconds = (6.0 / rate).ceil().max(4.0) as usize;
            let input = tone(1_000.0, 0.5, (seconds + 1) * FS as usize, FS);
            let output = render_mono(&mut flanger, &input, 256);
            let series = instantaneous_frequency(&output[FS as usize..], FS);
            let measured_rate = swing_rate(&series);
            let (_, amplitude) = sinusoid_fit(&series, measured_rate);
            let expected = 1_000.0 * TAU * f64::from(rate) * f64::from(depth * delay) * 1e-3;
            println!(
                "flanger {rate} Hz depth {depth} delay {delay} ms: rate {measured_rate:.4} Hz, \
                 deviation {amplitude:.3} Hz (expected {expected:.3})"
            );
            assert!((measured_rate / f64::from(rate) - 1.0).abs() < 0.005);
            assert!((amplitude / expected - 1.0).abs() < 0.05);
        }
    }

    /// docs/effects.md §1 #16, frozen LFO (depth 0), mix ½: notches at (k + ½)/τ ±1 %, with
    /// feedback too; `negative` moves them to k/τ (without feedback, DC is one of them).
    #[test]
    fn the_frozen_comb_notches_and_negative_moves_them() {
        for (delay, feedback, negative) in [
            (2.0, 0.0, false),
            (1.37, 0.7, false),
            (4.2, -0.5, false),
            (2.0, 0.0, true),
            (3.1, 0.5, true),
        ] {
            let mut flanger = Flanger::prepared(&Params {
                negative,
                ..enabled(0.5, 0.0, delay, feedback, 0.5)
            });
            let ir = render_mono(&mut flanger, &impulse(1 << 15), 1024);
            let tau = f64::from(delay) * 1e-3;
            let (offset, first) = if negative { (1.0, 0.0) } else { (0.5, 0.5) };
            let worst = comb_notches(&ir, tau, offset, 10);
            println!(
                "flanger frozen τ {delay} ms, feedback {feedback}, negative {negative}: notches \
                 at (k + {first})/τ, worst error {worst:.4} %"
            );
            assert!(worst < 1.0, "{delay} {feedback} {negative}: {worst} %");
            if negative && feedback == 0.0 {
                let dc: f32 = ir.iter().sum();
                assert!(dc.abs() < 1e-3, "negative flange nulls DC: {dc}");
            }
        }
    }

    /// Feedback beyond ±0.95 acts as ±0.95.
    #[test]
    fn feedback_is_limited_to_095() {
        let input = tone(300.0, 0.5, 9_600, FS);
        for sign in [1.0, -1.0] {
            let mut full = Flanger::prepared(&enabled(1.0, 0.5, 3.0, sign, 0.7));
            let mut limit = Flanger::prepared(&enabled(1.0, 0.5, 3.0, sign * 0.95, 0.7));
            assert_eq!(
                render_mono(&mut full, &input, 64),
                render_mono(&mut limit, &input, 64)
            );
        }
    }

    #[test]
    fn mix_zero_and_disabled_are_bit_exact() {
        let input = tone(440.0, 0.8, 4_800, FS);
        let mut disabled = Flanger::prepared(&Params::default());
        assert_eq!(render_mono(&mut disabled, &input, 64), input);
        let mut dry = Flanger::prepared(&Params {
            negative: true,
            ..enabled(3.0, 1.0, 5.0, 0.9, 0.0)
        });
        assert_eq!(render_mono(&mut dry, &input, 64), input);
    }

    #[test]
    fn params_use_the_reference_json_keys_and_clamp() {
        let json = serde_json::to_value(Params::default()).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "delay", "depth", "enabled", "feedback", "mix", "negative", "rate"
            ]
        );
        let wild = Params {
            rate: 50.0,
            feedback: -3.0,
            delay: f32::NAN,
            ..Params::default()
        }
        .clamped();
        assert_eq!((wild.rate, wild.feedback, wild.delay), (5.0, -1.0, 2.0));
    }
}
