//! The frequency shifter (docs/effects.md §3 #19): every component of the input moved by the same
//! number of hertz (a Bode shifter, single-sideband modulation), up, down or both, with an LFO
//! on the shift, a 100 ms feedback loop and a dry/wet mix.
//!
//! The input is split into an analytic pair (I, Q) by Niemitalo's allpass network
//! ([`crate::blocks::hilbert`], 90° ± 0.7° from 30 Hz to 23.5 kHz at 48 kHz: ≥ 44 dB of image
//! rejection there) and multiplied by a quadrature carrier at the shift Δ:
//! `up = I·cos φ + Q·sin φ`, `down = I·cos φ − Q·sin φ` (the signs follow from Q leading I by
//! 90°; the shift test pins them). "Both" sends up to the left and down to the right. A
//! negative `shift` turns "up" down and vice versa.
//!
//! Design choices:
//! - The carrier is a recurrence oscillator in `f64` ([`Quadrature`]): no per-sample
//!   transcendental call, a phase that never jumps when Δ moves, and a frequency exact to
//!   ~1e-14 Hz. Δ (smoothed, and swept by the LFO as `shift·(1 + depth·lfo)`, as the ring
//!   modulator sweeps its carrier) is recomputed every 16 samples on a sample-count schedule,
//!   so the output does not depend on block size.
//! - Feedback: the wet output returns 100 ms later, scaled by up to 0.9·feedback/100 and
//!   passed through a soft saturator, so each pass is shifted again (the classic spiralling
//!   "barber-pole" sound) and no setting, not even Δ = 0 where the loop is a comb, can grow
//!   without bound.
//! - The allpass network's phase lag is frequency dependent, so the dry and wet paths are not
//!   time aligned; there is no latency to report (no pure delay).

use crate::automation::Kind;
use crate::blocks::delay::DelayLine;
use crate::blocks::hilbert::Hilbert;
use crate::blocks::lfo::Lfo;
use crate::blocks::quadrature::Quadrature;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::delay::delay::saturate;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "frequencyShifter";

/// Declared range of [`Params::shift`] (Hz).
pub const SHIFT_RANGE: RangeInclusive<f32> = -2_000.0..=2_000.0;
/// Range of [`Params::lfo_rate`] (Hz): the declared 0.1…10, and 0 (the default: no LFO).
pub const LFO_RATE_RANGE: RangeInclusive<f32> = 0.0..=10.0;
/// Declared range of the percentages (LFO depth, feedback, mix).
pub const PERCENT_RANGE: RangeInclusive<f32> = 0.0..=100.0;

/// The feedback loop's delay (docs/effects.md §3 #19).
const FEEDBACK_DELAY_S: f64 = 0.1;
/// Loop gain at feedback 100 %.
const MAX_FEEDBACK: f32 = 0.9;
/// Samples between carrier-frequency updates.
const CONTROL_INTERVAL: usize = 16;
/// Smoothing of the shift (at the control rate), feedback and mix.
const SHIFT_SMOOTHING_S: f64 = 0.02;
const SMOOTHING_S: f64 = 0.01;

/// Which way the spectrum moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Up by `shift` Hz.
    #[default]
    Up,
    /// Down by `shift` Hz.
    Down,
    /// Up on the left, down on the right.
    Both,
}

crate::host_choice!(Direction {
    Up => "Up",
    Down => "Down",
    Both => "Both",
});

/// The frequency shifter's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Shift in Hz, −2000…2000 (default 0).
    pub shift: f32,
    /// Rate of the sine LFO on the shift, Hz (default 0: none).
    pub lfo_rate: f32,
    /// LFO depth 0…100 % (default 0): the shift swings by ±depth % of itself.
    pub lfo_depth: f32,
    /// Feedback 0…100 % (default 0) through the 100 ms loop.
    pub feedback: f32,
    /// Wet share 0…100 % (default 100).
    pub mix: f32,
    /// Up, down or both (default up).
    pub direction: Direction,
}

crate::automatable!(Params {
    [shift] "shift", "Shift", Kind::linear(SHIFT_RANGE, "Hz");
    [lfo_rate] "lfoRate", "LFO Rate", Kind::linear(LFO_RATE_RANGE, "Hz");
    [lfo_depth] "lfoDepth", "LFO Depth", Kind::linear(PERCENT_RANGE, "%");
    [feedback] "feedback", "Feedback", Kind::linear(PERCENT_RANGE, "%");
    [mix] "mix", "Mix", Kind::linear(PERCENT_RANGE, "%");
    [direction] "direction", "Direction", Kind::choice::<Direction>();
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            shift: 0.0,
            lfo_rate: 0.0,
            lfo_depth: 0.0,
            feedback: 0.0,
            mix: 100.0,
            direction: Direction::Up,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            shift: clamp_param(self.shift, SHIFT_RANGE, d.shift),
            lfo_rate: clamp_param(self.lfo_rate, LFO_RATE_RANGE, d.lfo_rate),
            lfo_depth: clamp_param(self.lfo_depth, PERCENT_RANGE, d.lfo_depth),
            feedback: clamp_param(self.feedback, PERCENT_RANGE, d.feedback),
            mix: clamp_param(self.mix, PERCENT_RANGE, d.mix),
            direction: self.direction,
        }
    }
}

/// The frequency shifter. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct FrequencyShifter {
    params: Params,
    sample_rate: f64,
    hilbert: [Hilbert; 2],
    carrier: Quadrature,
    lfo: Lfo,
    /// The shift in Hz, smoothed at the control rate.
    shift: OnePole,
    until_control: usize,
    loops: [DelayLine; 2],
    loop_delay: f32,
    feedback: OnePole,
    mix: OnePole,
}

impl FrequencyShifter {
    /// A frequency shifter with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut shifter = Self {
            params: params.clamped(),
            sample_rate,
            hilbert: [Hilbert::new(), Hilbert::new()],
            carrier: Quadrature::new(),
            lfo: Lfo::new(sample_rate / CONTROL_INTERVAL as f64),
            shift: OnePole::new(0.0, SHIFT_SMOOTHING_S, sample_rate),
            until_control: 0,
            loops: [DelayLine::new(), DelayLine::new()],
            loop_delay: 1.0,
            feedback: OnePole::new(0.0, SMOOTHING_S, sample_rate),
            mix: OnePole::new(0.0, SMOOTHING_S, sample_rate),
        };
        shifter.prepare(&ProcessSpec::stereo(sample_rate, 0));
        shifter
    }

    /// Applies new parameters (clamped): the shift glides (the carrier phase runs on), the
    /// rest is smoothed. Switching on starts from silence.
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

    fn feedback_gain(&self) -> f32 {
        MAX_FEEDBACK * self.params.feedback / 100.0
    }

    fn update(&mut self) {
        self.lfo.set_rate_hz(f64::from(self.params.lfo_rate));
        self.shift.set_target(self.params.shift);
        self.feedback.set_target(self.feedback_gain());
        self.mix.set_target(self.params.mix / 100.0);
    }

    /// Moves the carrier to the current (smoothed, swept) shift.
    fn control_step(&mut self) {
        let depth = f64::from(self.params.lfo_depth) / 100.0;
        let lfo = f64::from(self.lfo.next_value());
        let shift = f64::from(self.shift.next_value()) * (1.0 + depth * lfo);
        self.carrier.set_frequency(shift, self.sample_rate);
    }
}

impl Effect for FrequencyShifter {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        let control_rate = spec.sample_rate / CONTROL_INTERVAL as f64;
        self.lfo.set_sample_rate(control_rate);
        self.shift.set_time(SHIFT_SMOOTHING_S, control_rate);
        self.feedback.set_time(SMOOTHING_S, spec.sample_rate);
        self.mix.set_time(SMOOTHING_S, spec.sample_rate);
        let loop_samples = (FEEDBACK_DELAY_S * spec.sample_rate).round().max(2.0);
        for line in &mut self.loops {
            line.prepare(loop_samples as usize + 1);
        }
        // Read before the write: `loop_samples − 1` back is `loop_samples` ago.
        self.loop_delay = (loop_samples - 1.0) as f32;
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        self.hilbert.iter_mut().for_each(Hilbert::reset);
        self.loops.iter_mut().for_each(DelayLine::reset);
        self.carrier.reset();
        self.lfo.reset();
        self.shift.reset_to(self.params.shift);
        self.feedback.reset_to(self.feedback_gain());
        self.mix.reset_to(self.params.mix / 100.0);
        self.until_control = 0;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let direction = self.params.direction;
        let delay = self.loop_delay;
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            if self.until_control == 0 {
                self.control_step();
                self.until_control = CONTROL_INTERVAL;
            }
            self.until_control -= 1;
            let (cos, sin) = self.carrier.next_pair();
            let feedback = self.feedback.next_value();
            let mix = self.mix.next_value();
            let signs = match direction {
                Direction::Up => [1.0, 1.0],
                Direction::Down => [-1.0, -1.0],
                Direction::Both => [1.0, -1.0],
            };
            for (((x, hilbert), line), sign) in [&mut *l, &mut *r]
                .into_iter()
                .zip(&mut self.hilbert)
                .zip(&mut self.loops)
                .zip(signs)
            {
                let returned = saturate(feedback * line.read(delay as usize));
                let (i, q) = hilbert.process(f64::from(*x + returned));
                let wet = (i * cos + sign * q * sin) as f32;
                line.push(wet);
                *x = *x * (1.0 - mix) + wet * mix;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::conformance_tests;
    use crate::test_support::{FS, dtft, render_stereo, sine};

    conformance_tests!(FrequencyShifter {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] =
            &[("/direction", &["up", "down", "both"])];
        /// Feedback 0.9 every 100 ms: 400 dB (to 1e-20) in 44 s.
        const TAIL_LIMIT_SECONDS: f64 = 60.0;
        /// The loop's repeats of a short burst are 100 ms apart.
        const TAIL_QUIET_SECONDS: f64 = 0.2;
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn shifting(shift: f32, direction: Direction) -> Params {
        Params {
            enabled: true,
            shift,
            direction,
            ..Params::default()
        }
    }

    /// |DTFT| of the Hann-windowed `signal` at `frequency`.
    fn magnitude(windowed: &[f32], frequency: f64) -> f64 {
        let (re, im) = dtft(windowed, frequency, FS);
        (re * re + im * im).sqrt()
    }

    fn hann(signal: &[f32]) -> Vec<f32> {
        let n = signal.len() as f64;
        signal
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n).cos();
                (f64::from(x) * w) as f32
            })
            .collect()
    }

    /// The frequency of the spectral peak within ±`span` Hz of `near`: golden-section search
    /// on the DTFT magnitude of the windowed signal (a long FFT with exact interpolation).
    fn peak_frequency(windowed: &[f32], near: f64, span: f64) -> f64 {
        let ratio = (5f64.sqrt() - 1.0) / 2.0;
        let (mut a, mut b) = (near - span, near + span);
        while b - a > 1e-4 {
            let c = b - ratio * (b - a);
            let d = a + ratio * (b - a);
            if magnitude(windowed, c) > magnitude(windowed, d) {
                b = d;
            } else {
                a = c;
            }
        }
        (a + b) / 2.0
    }

    /// Renders 3 s of a sine through the shifter and returns the last 2 s, Hann windowed.
    fn shifted(params: &Params, frequency: f64) -> (Vec<f32>, Vec<f32>) {
        let mut shifter = FrequencyShifter::new(params);
        shifter.prepare(&ProcessSpec::stereo(FS, 1024));
        let input = sine(frequency, 0.5, 3 * FS as usize, FS);
        let (left, right) = render_stereo(&mut shifter, &input, &input, 512);
        (hann(&left[FS as usize..]), hann(&right[FS as usize..]))
    }

    /// docs/effects.md §1 test 15: sines at 50, 200, 1k, 5k, 15k and 20k Hz shifted +100 Hz: the
    /// peak at f + 100 Hz ± 0.05 Hz, the image (f − 100 Hz) at least 40 dB down, the carrier
    /// (100 Hz) at least 60 dB down.
    #[test]
    fn sines_move_by_the_shift_with_the_image_and_carrier_suppressed() {
        for frequency in [50.0, 200.0, 1_000.0, 5_000.0, 15_000.0, 20_000.0] {
            let (out, _) = shifted(&shifting(100.0, Direction::Up), frequency);
            let peak = peak_frequency(&out, frequency + 100.0, 2.0);
            let level = magnitude(&out, frequency + 100.0);
            let image_db = 20.0 * (magnitude(&out, (frequency - 100.0).abs()) / level).log10();
            let carrier_db = 20.0 * (magnitude(&out, 100.0) / level).log10();
            println!(
                "{frequency} Hz +100: peak {peak:.4} Hz, image {image_db:.1} dB, carrier \
                 {carrier_db:.1} dB"
            );
            assert!(
                (peak - (frequency + 100.0)).abs() <= 0.05,
                "{frequency}: {peak}"
            );
            assert!(image_db <= -40.0, "{frequency}: image {image_db}");
            // At 200 Hz the image falls on the carrier's 100 Hz: the image bound applies.
            if frequency != 200.0 {
                assert!(carrier_db <= -60.0, "{frequency}: carrier {carrier_db}");
            }
        }
    }

    /// Image rejection across 40 Hz–20 kHz, and the same numbers shifting down (the image is
    /// then f + Δ).
    #[test]
    fn image_rejection_holds_from_40_hz_to_20_khz() {
        let mut worst = (0.0, f64::MIN);
        for frequency in [
            40.0, 63.0, 125.0, 300.0, 700.0, 2_000.0, 8_000.0, 12_500.0, 18_000.0, 20_000.0,
        ] {
            for direction in [Direction::Up, Direction::Down] {
                let (out, _) = shifted(&shifting(100.0, direction), frequency);
                let (wanted, image) = match direction {
                    Direction::Up => (frequency + 100.0, (frequency - 100.0).abs()),
                    _ => ((frequency - 100.0).abs(), frequency + 100.0),
                };
                let rejection = 20.0 * (magnitude(&out, image) / magnitude(&out, wanted)).log10();
                if rejection > worst.1 {
                    worst = (frequency, rejection);
                }
                assert!(rejection <= -40.0, "{frequency} {direction:?}: {rejection}");
            }
        }
        println!(
            "worst image 40 Hz–20 kHz: {:.1} dB at {} Hz",
            worst.1, worst.0
        );
    }

    /// "Both" moves the left up and the right down; a negative shift turns up into down.
    #[test]
    fn both_directions_and_negative_shifts() {
        let (left, right) = shifted(&shifting(250.0, Direction::Both), 1_000.0);
        assert!((peak_frequency(&left, 1_250.0, 2.0) - 1_250.0).abs() < 0.05);
        assert!((peak_frequency(&right, 750.0, 2.0) - 750.0).abs() < 0.05);
        let (down, _) = shifted(&shifting(-250.0, Direction::Up), 1_000.0);
        assert!((peak_frequency(&down, 750.0, 2.0) - 750.0).abs() < 0.05);
    }

    /// Feedback: 100 ms after a burst, it returns shifted a second time.
    #[test]
    fn feedback_shifts_again_on_every_pass() {
        let mut shifter = FrequencyShifter::new(&Params {
            feedback: 60.0,
            ..shifting(300.0, Direction::Up)
        });
        shifter.prepare(&ProcessSpec::stereo(FS, 1024));
        let mut input = sine(1_000.0, 0.3, 2_400, FS);
        input.resize(FS as usize, 0.0);
        let (left, _) = render_stereo(&mut shifter, &input, &input, 256);
        // The first return (100–150 ms) is at 1600 Hz, 0.54 of the first pass's level.
        let first = hann(&left[..2_400]);
        let second = hann(&left[4_800..7_200]);
        let level = |x: &[f32], f: f64| magnitude(x, f);
        assert!(level(&first, 1_300.0) > 10.0 * level(&first, 1_600.0));
        let ratio = level(&second, 1_600.0) / level(&first, 1_300.0);
        println!("second pass at 1600 Hz: {ratio:.3} of the first pass");
        assert!((ratio - 0.54).abs() < 0.05, "{ratio}");
    }

    /// The LFO sweeps the shift by ±depth: at its crest the output of a 1 kHz sine sits at
    /// 1000 + 100·1.5 Hz, at its trough at 1000 + 100·0.5 Hz (zero-crossing rate, ±1 %).
    #[test]
    fn the_lfo_sweeps_the_shift() {
        let mut shifter = FrequencyShifter::new(&Params {
            lfo_rate: 1.0,
            lfo_depth: 50.0,
            ..shifting(100.0, Direction::Up)
        });
        shifter.prepare(&ProcessSpec::stereo(FS, 1024));
        let input = sine(1_000.0, 0.5, 2 * FS as usize, FS);
        let (out, _) = render_stereo(&mut shifter, &input, &input, 64);
        let local = |centre: usize| {
            let crossings: Vec<f64> = (centre - 960..centre + 960)
                .filter(|&n| out[n] < 0.0 && out[n + 1] >= 0.0)
                .map(|n| n as f64 + f64::from(out[n] / (out[n] - out[n + 1])))
                .collect();
            (crossings.len() - 1) as f64 / (crossings[crossings.len() - 1] - crossings[0]) * FS
        };
        let (crest, trough) = (local(48_000 + 12_000), local(48_000 + 36_000));
        println!("LFO crest {crest:.1} Hz, trough {trough:.1} Hz");
        assert!((crest / 1_150.0 - 1.0).abs() < 0.01, "{crest}");
        assert!((trough / 1_050.0 - 1.0).abs() < 0.01, "{trough}");
    }

    /// Mix 0 and disabled are the dry signal exactly.
    #[test]
    fn bypass_is_exact() {
        let input = sine(440.0, 0.8, 4_800, FS);
        for params in [
            Params {
                mix: 0.0,
                ..shifting(100.0, Direction::Both)
            },
            Params::default(),
        ] {
            let mut shifter = FrequencyShifter::new(&params);
            shifter.prepare(&ProcessSpec::stereo(FS, 1024));
            let (left, right) = render_stereo(&mut shifter, &input, &input, 100);
            assert_eq!(left, input);
            assert_eq!(right, input);
        }
    }
}
