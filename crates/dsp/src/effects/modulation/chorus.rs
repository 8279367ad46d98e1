//! The chorus (docs/effects.md §3 #21): three delayed copies of each channel whose delays swing on
//! one sine LFO at phases 0, ⅓ and ⅔ of a cycle, averaged, fed back and mixed with the dry
//! signal. `spread` is the right channel's LFO phase offset (0…180°), so the two sides move
//! apart and the image widens.
//!
//! Voice v's delay is `delay`·(1 + ½·depth·sin 2π(φ + v/3)): depth 1 swings it between ½ and
//! 1½ times the centre delay (at the defaults 7 ms ± 1.75 ms at 1 Hz, a pitch wobble of
//! 2π·1 Hz·1.75 ms = 1.1 % ≈ 19 cents). The three voices' sines come from one sine/cosine pair
//! by rotation (sin(θ + 2π/3) = −½·sin θ + √3/2·cos θ), evaluated every 16 samples; the six
//! delays step linearly in between (see `CONTROL_INTERVAL` in the category module). Reads are
//! cubic Hermite (the fraction moves every sample).
//!
//! Feedback: the voices' average returns into the line with a loop gain of 0.9·feedback. The
//! average of three taps passes DC at unity, so a loop gain of 1 would hold a DC offset for
//! ever; 0.9 keeps the longest tail (30 ms loop) under 10 s to −400 dB. Delay and depth glide
//! over 50 ms (at the control rate) (a delay change bends the pitch briefly, as on hardware),
//! feedback and mix over 20 ms.

use crate::automation::Kind;
use crate::blocks::delay::DelayLine;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::modulation::{CONTROL_INTERVAL, Phasor, Ramp, sine, wrap};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "chorus";

/// Declared range of [`Params::rate`] (Hz).
pub const RATE_RANGE: RangeInclusive<f32> = 0.1..=10.0;
/// Declared range of [`Params::depth`], [`Params::feedback`] and [`Params::mix`].
pub const UNIT_RANGE: RangeInclusive<f32> = 0.0..=1.0;
/// Declared range of [`Params::delay`] (ms).
pub const DELAY_RANGE: RangeInclusive<f32> = 2.0..=20.0;
/// Declared range of [`Params::spread`] (degrees).
pub const SPREAD_RANGE: RangeInclusive<f32> = 0.0..=180.0;

/// Voices per channel.
pub const VOICES: usize = 3;
/// The swing at depth 1, as a fraction of the centre delay.
const SWING: f32 = 0.5;
/// Loop gain at feedback 1.
const MAX_LOOP_GAIN: f32 = 0.9;
/// Delay and depth glide over this time constant.
const DELAY_SMOOTHING_S: f64 = 0.05;
/// Feedback and mix glide over this one.
const LEVEL_SMOOTHING_S: f64 = 0.02;
/// sin(2π/3).
const SIN_THIRD: f32 = 0.866_025_4;

/// The chorus's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// LFO rate in Hz, 0.1…10 (default 1).
    pub rate: f32,
    /// Depth 0…1 (default 0.5): the delays swing by ±depth·½ of the centre delay.
    pub depth: f32,
    /// Centre delay in ms, 2…20 (default 7).
    pub delay: f32,
    /// Feedback 0…1 (default 0.2): loop gain 0.9·feedback.
    pub feedback: f32,
    /// Right LFO phase offset in degrees, 0…180 (default 90).
    pub spread: f32,
    /// Wet share 0…1 (default 0.5).
    pub mix: f32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            rate: 1.0,
            depth: 0.5,
            delay: 7.0,
            feedback: 0.2,
            spread: 90.0,
            mix: 0.5,
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
            feedback: clamp_param(self.feedback, UNIT_RANGE, d.feedback),
            spread: clamp_param(self.spread, SPREAD_RANGE, d.spread),
            mix: clamp_param(self.mix, UNIT_RANGE, d.mix),
        }
    }
}

crate::automatable!(Params {
    [rate] "rate", "Rate", Kind::logarithmic(RATE_RANGE, "Hz");
    [depth] "depth", "Depth", Kind::linear(UNIT_RANGE, "");
    [delay] "delay", "Delay", Kind::logarithmic(DELAY_RANGE, "ms");
    [feedback] "feedback", "Feedback", Kind::linear(UNIT_RANGE, "");
    [spread] "spread", "Spread", Kind::linear(SPREAD_RANGE, "°");
    [mix] "mix", "Mix", Kind::linear(UNIT_RANGE, "");
});

/// One channel's line.
#[derive(Clone, Debug, Default)]
struct Channel {
    line: DelayLine,
}

impl Channel {
    /// One sample, the voices' taps at `delays` (one sample short: they are read before the
    /// new sample goes in, from the previous newest, so the fed-back wet sample re-enters with
    /// exactly the voices' delay: a loop of τ, not τ + 1).
    #[inline]
    fn process(
        &mut self,
        x: f32,
        delays: [f32; VOICES],
        weights: &[f32; VOICES],
        feedback: f32,
    ) -> f32 {
        let mut wet = 0.0;
        for (delay, weight) in delays.into_iter().zip(weights) {
            wet += weight * self.line.read_hermite(delay);
        }
        self.line.push(x + feedback * wet);
        wet
    }
}

/// The voices' tap delays (samples, less the one of the read-ahead) at an LFO `phase`.
#[inline]
fn tap_delays(phase: f64, centre: f32, swing: f32) -> [f32; VOICES] {
    let (sin, cos) = (sine(phase), sine(wrap(phase + 0.25)));
    [
        sin,
        -0.5 * sin + SIN_THIRD * cos,
        -0.5 * sin - SIN_THIRD * cos,
    ]
    .map(|lfo| centre + swing * lfo - 1.0)
}

/// The chorus. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct Chorus {
    params: Params,
    sample_rate: f64,
    channels: [Channel; 2],
    /// Runs at the control rate; its phase is that of the next control point.
    lfo: Phasor,
    /// Centre delay in samples, and depth (at the control rate).
    delay: OnePole,
    depth: OnePole,
    /// Each channel's voice delays, stepping between control points.
    taps: [[Ramp; VOICES]; 2],
    until_control: usize,
    feedback: OnePole,
    mix: OnePole,
    /// Each voice's share of the wet signal (⅓; a test solos one).
    weights: [f32; VOICES],
}

impl Chorus {
    /// A chorus with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut chorus = Self {
            params: params.clamped(),
            sample_rate,
            channels: Default::default(),
            lfo: Phasor::default(),
            delay: OnePole::new(0.0, DELAY_SMOOTHING_S, sample_rate),
            depth: OnePole::new(0.0, DELAY_SMOOTHING_S, sample_rate),
            feedback: OnePole::new(0.0, LEVEL_SMOOTHING_S, sample_rate),
            mix: OnePole::new(0.0, LEVEL_SMOOTHING_S, sample_rate),
            weights: [1.0 / VOICES as f32; VOICES],
            taps: Default::default(),
            until_control: 0,
        };
        chorus.prepare(&ProcessSpec::stereo(sample_rate, 1));
        chorus
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
            MAX_LOOP_GAIN * self.params.feedback,
            self.params.mix,
        ]
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

    /// Both channels' tap delays at the LFO's current phase.
    fn taps_now(&self, centre: f32, depth: f32) -> [[f32; VOICES]; 2] {
        let phase = self.lfo.phase();
        let spread = f64::from(self.params.spread) / 360.0;
        let swing = SWING * depth * centre;
        [
            tap_delays(phase, centre, swing),
            tap_delays(wrap(phase + spread), centre, swing),
        ]
    }

    /// Makes the wet signal voice `voice` alone (tests measure one voice's modulation).
    #[cfg(test)]
    fn solo(&mut self, voice: usize) {
        self.weights = [0.0; VOICES];
        self.weights[voice] = 1.0;
    }
}

impl Effect for Chorus {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        let longest = f64::from(*DELAY_RANGE.end()) * 1e-3 * spec.sample_rate;
        for channel in &mut self.channels {
            channel
                .line
                .prepare((longest * f64::from(1.0 + SWING)).ceil() as usize + 4);
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
        for channel in &mut self.channels {
            channel.line.reset();
        }
        self.lfo.set_phase(0.0);
        let [delay, depth, feedback, mix] = self.targets();
        self.delay.reset_to(delay);
        self.depth.reset_to(depth);
        self.feedback.reset_to(feedback);
        self.mix.reset_to(mix);
        let taps = self.taps_now(delay, depth);
        for (ramps, delays) in self.taps.iter_mut().zip(taps) {
            for (ramp, delay) in ramps.iter_mut().zip(delays) {
                ramp.jump(delay);
            }
        }
        self.until_control = 0;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let weights = self.weights;
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            if self.until_control == 0 {
                let centre = self.delay.next_value();
                let depth = self.depth.next_value();
                self.lfo.advance();
                let targets = self.taps_now(centre, depth);
                for (ramps, delays) in self.taps.iter_mut().zip(targets) {
                    for (ramp, delay) in ramps.iter_mut().zip(delays) {
                        ramp.aim(delay);
                    }
                }
                self.until_control = CONTROL_INTERVAL;
            }
            self.until_control -= 1;
            let feedback = self.feedback.next_value();
            let mix = self.mix.next_value();
            let [taps_l, taps_r] = &mut self.taps;
            let delays_l = [0, 1, 2].map(|v| taps_l[v].next_value());
            let delays_r = [0, 1, 2].map(|v| taps_r[v].next_value());
            let [channel_l, channel_r] = &mut self.channels;
            let wet_l = channel_l.process(*l, delays_l, &weights, feedback);
            let wet_r = channel_r.process(*r, delays_r, &weights, feedback);
            *l = mix * wet_l + (1.0 - mix) * *l;
            *r = mix * wet_r + (1.0 - mix) * *r;
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
    use crate::test_support::{FS, impulse, render_mono, render_stereo, sine as tone};
    use std::f64::consts::TAU;

    conformance_tests!(Chorus);

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

    /// docs/effects.md §1 #16 on a 1 kHz sine, wet only, one voice solo: its instantaneous
    /// frequency swings at the set rate (±0.5 %) by f₀·2π·f_lfo·A (±5 %), A = ½·depth·delay; the
    /// other voices run ⅓ and ⅔ of a cycle ahead.
    #[test]
    fn each_voice_swings_at_the_rate_by_the_delay_swing() {
        for (rate, depth, delay) in [(1.0, 0.5, 7.0), (3.0, 0.3, 12.0), (0.3, 1.0, 20.0)] {
            let mut phases = Vec::new();
            for voice in 0..VOICES {
                let mut chorus = Chorus::prepared(&enabled(rate, depth, delay, 0.0, 1.0));
                chorus.solo(voice);
                let input = tone(1_000.0, 0.5, 12 * FS as usize, FS);
                let output = render_mono(&mut chorus, &input, 256);
                let series = instantaneous_frequency(&output[FS as usize..], FS);
                let measured_rate = swing_rate(&series);
                let (_, amplitude) = sinusoid_fit(&series, measured_rate);
                let swing_s = f64::from(SWING * depth * delay) * 1e-3;
                let expected = 1_000.0 * TAU * f64::from(rate) * swing_s;
                println!(
                    "chorus voice {voice} {rate} Hz depth {depth} delay {delay} ms: rate \
                     {measured_rate:.4} Hz, deviation {amplitude:.3} Hz (expected {expected:.3})"
                );
                assert!((measured_rate / f64::from(rate) - 1.0).abs() < 0.005);
                assert!((amplitude / expected - 1.0).abs() < 0.05);
                // The pitch crest's time within the cycle.
                let crest = series.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
                phases.push((crest * f64::from(rate)).fract());
            }
            for voice in 1..VOICES {
                let lead = (phases[0] - phases[voice]).rem_euclid(1.0);
                assert!(
                    (lead - voice as f64 / 3.0).abs() < 0.01,
                    "voice {voice}: {lead}"
                );
            }
        }
    }

    /// `spread` 90°: the right channel's voice runs a quarter cycle ahead of the left's.
    #[test]
    fn spread_offsets_the_right_channel() {
        let mut chorus = Chorus::prepared(&enabled(2.0, 0.5, 7.0, 0.0, 1.0));
        chorus.solo(0);
        let input = tone(1_000.0, 0.5, 2 * FS as usize, FS);
        let (left, right) = render_stereo(&mut chorus, &input, &input, 256);
        let crest = |signal: &[f32]| {
            let series = instantaneous_frequency(&signal[FS as usize..], FS);
            series.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0
        };
        let lead = (crest(&left) - crest(&right)).rem_euclid(0.5);
        println!("chorus spread 90° at 2 Hz: right leads by {lead:.4} s");
        assert!((lead - 0.125).abs() < 0.005);
    }

    /// docs/effects.md §1 #16, frozen LFO (depth 0: every voice at the centre delay τ), mix ½:
    /// notches at (k + ½)/τ, ±1 %, with and without feedback, at a fractional τ.
    #[test]
    fn the_frozen_comb_has_its_notches_at_odd_half_multiples() {
        for (delay, feedback) in [(7.01, 0.0), (3.3, 0.6), (15.0, 1.0)] {
            let mut chorus = Chorus::prepared(&enabled(1.0, 0.0, delay, feedback, 0.5));
            let ir = render_mono(&mut chorus, &impulse(1 << 16), 1024);
            let tau = f64::from(delay) * 1e-3;
            let worst = comb_notches(&ir, tau, 0.5, 10);
            println!("chorus frozen τ {delay} ms, feedback {feedback}: notch error {worst:.4} %");
            assert!(worst < 1.0, "{delay}: {worst} %");
        }
    }

    #[test]
    fn mix_zero_and_disabled_are_bit_exact() {
        let input = tone(440.0, 0.8, 4_800, FS);
        let mut disabled = Chorus::prepared(&Params::default());
        assert_eq!(render_mono(&mut disabled, &input, 64), input);
        let mut dry = Chorus::prepared(&enabled(3.0, 1.0, 5.0, 0.5, 0.0));
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
                "delay", "depth", "enabled", "feedback", "mix", "rate", "spread"
            ]
        );
        let wild = Params {
            delay: 0.0,
            feedback: f32::NAN,
            spread: 400.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!((wild.delay, wild.feedback, wild.spread), (2.0, 0.2, 180.0));
    }
}
