//! The tremolo (docs/effects.md §3 #25): the level moved by an LFO, gain = 1 − depth·½·(1 − lfo),
//! so the gain swings between 1 (LFO crest) and 1 − depth (trough); the right channel's LFO runs
//! `spread`·¼ cycle ahead (spread 1: a quarter-cycle stereo chase).
//!
//! Design: one `Phasor` (`f64` phase, advanced per sample) read at two offsets. Depth and
//! spread glide over 20 ms. The gain itself is slew-limited to a full 0 ↔ 1 swing in 0.5 ms,
//! which turns the square's and sawtooth's jumps (a 0 → 1 gain step is a click) and waveform or
//! rate changes into short ramps. Unlike a smoothing filter it leaves every slower motion
//! exact (a sine or triangle at the 20 Hz limit moves at most 80 /s, the limit is 2000 /s), so
//! the extremes stay on 1 and 1 − depth (docs/effects.md §1 #18, ±0.01).

use crate::automation::Kind;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::modulation::{LfoWaveform, Phasor, shape, wrap};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "tremolo";

/// Declared range of [`Params::rate`] (Hz).
pub const RATE_RANGE: RangeInclusive<f32> = 0.1..=20.0;
/// Declared range of [`Params::depth`] and [`Params::spread`].
pub const UNIT_RANGE: RangeInclusive<f32> = 0.0..=1.0;

/// Depth and spread glide over this time constant.
const PARAMETER_SMOOTHING_S: f64 = 0.02;
/// The gain's slew limit: the time a full 0 ↔ 1 swing takes (see the module notes).
const FULL_SWING_S: f64 = 0.000_5;
/// The right channel's lead at spread 1, in cycles.
const SPREAD_CYCLES: f64 = 0.25;

/// The tremolo's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// LFO rate in Hz, 0.1…20 (default 5).
    pub rate: f32,
    /// Depth 0…1 (default 0.5): the gain's trough is 1 − depth.
    pub depth: f32,
    /// LFO shape (default sine).
    pub waveform: LfoWaveform,
    /// Stereo spread 0…1 (default 0): the right LFO leads by spread·¼ cycle.
    pub spread: f32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            rate: 5.0,
            depth: 0.5,
            waveform: LfoWaveform::Sine,
            spread: 0.0,
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
            waveform: self.waveform,
            spread: clamp_param(self.spread, UNIT_RANGE, d.spread),
        }
    }
}

crate::automatable!(Params {
    [rate] "rate", "Rate", Kind::logarithmic(RATE_RANGE, "Hz");
    [depth] "depth", "Depth", Kind::linear(UNIT_RANGE, "");
    [waveform] "waveform", "Waveform", Kind::choice::<LfoWaveform>();
    [spread] "spread", "Spread", Kind::linear(UNIT_RANGE, "");
});

/// The tremolo. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct Tremolo {
    params: Params,
    sample_rate: f64,
    lfo: Phasor,
    depth: OnePole,
    spread: OnePole,
    /// The largest gain change per sample, and the two gains.
    max_step: f32,
    gains: [f32; 2],
}

impl Tremolo {
    /// A tremolo with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut tremolo = Self {
            params: params.clamped(),
            sample_rate,
            lfo: Phasor::default(),
            depth: OnePole::new(0.0, PARAMETER_SMOOTHING_S, sample_rate),
            spread: OnePole::new(0.0, PARAMETER_SMOOTHING_S, sample_rate),
            max_step: 1.0,
            gains: [1.0; 2],
        };
        tremolo.prepare_rate(sample_rate);
        tremolo.reset();
        tremolo
    }

    /// Applies new parameters (clamped): the LFO runs on at the new rate, depth and spread
    /// glide. Switching on starts from phase 0.
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

    fn prepare_rate(&mut self, sample_rate: f64) {
        self.sample_rate = sample_rate;
        self.depth.set_time(PARAMETER_SMOOTHING_S, sample_rate);
        self.spread.set_time(PARAMETER_SMOOTHING_S, sample_rate);
        self.max_step = (1.0 / (FULL_SWING_S * sample_rate)) as f32;
        self.update();
    }

    fn update(&mut self) {
        self.lfo
            .set_rate(f64::from(self.params.rate), self.sample_rate);
        self.depth.set_target(self.params.depth);
        self.spread
            .set_target((SPREAD_CYCLES * f64::from(self.params.spread)) as f32);
    }

    /// The gains the LFO asks for at its current phase.
    #[inline]
    fn targets(&self, depth: f32, lead: f32) -> [f32; 2] {
        let waveform = self.params.waveform.waveform();
        let phase = self.lfo.phase();
        let left = shape(waveform, phase);
        let right = shape(waveform, wrap(phase + f64::from(lead)));
        [
            1.0 - depth * 0.5 * (1.0 - left),
            1.0 - depth * 0.5 * (1.0 - right),
        ]
    }
}

impl Effect for Tremolo {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.prepare_rate(spec.sample_rate);
        self.reset();
    }

    fn reset(&mut self) {
        self.lfo.set_phase(0.0);
        self.depth.reset_to(self.params.depth);
        self.spread
            .reset_to((SPREAD_CYCLES * f64::from(self.params.spread)) as f32);
        self.gains = self.targets(self.depth.value(), self.spread.value());
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let step = self.max_step;
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let depth = self.depth.next_value();
            let lead = self.spread.next_value();
            let [target_l, target_r] = self.targets(depth, lead);
            self.lfo.advance();
            self.gains[0] += (target_l - self.gains[0]).clamp(-step, step);
            self.gains[1] += (target_r - self.gains[1]).clamp(-step, step);
            *l *= self.gains[0];
            *r *= self.gains[1];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::effects::modulation::measure::{frame_peaks, period};
    use crate::test_support::{FS, render_mono, render_stereo, sine};

    conformance_tests!(Tremolo {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] =
            &[("/waveform", &["sine", "triangle", "square", "sawtooth"])];
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn enabled(rate: f32, depth: f32, waveform: LfoWaveform, spread: f32) -> Params {
        Params {
            enabled: true,
            rate,
            depth,
            waveform,
            spread,
        }
    }

    /// docs/effects.md §1 #18: on a 12 kHz sine (samples 0, 1, 0, −1: each 4-sample frame's peak is
    /// the gain there), the envelope's maximum is 1 and its minimum 1 − depth, ±0.01, for every
    /// shape and across the rate range; its period is the rate's, ±0.5 %.
    #[test]
    fn the_envelope_spans_one_minus_depth_to_one_at_the_rate() {
        let input = sine(12_000.0, 1.0, 4 * FS as usize, FS);
        for waveform in [
            LfoWaveform::Sine,
            LfoWaveform::Triangle,
            LfoWaveform::Square,
            LfoWaveform::Sawtooth,
        ] {
            for (rate, depth) in [(5.0, 0.5), (2.0, 1.0), (20.0, 0.8), (0.5, 0.3)] {
                let mut tremolo = Tremolo::prepared(&enabled(rate, depth, waveform, 0.0));
                let output = render_mono(&mut tremolo, &input, 256);
                let envelope = frame_peaks(&output, 4);
                let max = envelope.iter().cloned().fold(0.0, f64::max);
                let min = envelope.iter().cloned().fold(2.0, f64::min);
                println!(
                    "tremolo {waveform:?} {rate} Hz depth {depth}: envelope {min:.4}…{max:.4}"
                );
                assert!((max - 1.0).abs() <= 0.01, "{waveform:?} {rate}: max {max}");
                assert!(
                    (min - (1.0 - f64::from(depth))).abs() <= 0.01,
                    "{waveform:?} {rate}: min {min}"
                );
                if rate >= 2.0 && waveform == LfoWaveform::Sine {
                    let frames_per_cycle = 12_000.0 / f64::from(rate);
                    let measured = period(
                        &envelope,
                        (frames_per_cycle * 0.7) as usize,
                        (frames_per_cycle * 1.3) as usize,
                    );
                    let measured_rate = 12_000.0 / measured;
                    println!("tremolo rate {rate} Hz: measured {measured_rate:.4} Hz");
                    assert!((measured_rate / f64::from(rate) - 1.0).abs() < 0.005);
                }
            }
        }
    }

    /// Spread 1 puts the right channel's LFO a quarter cycle ahead: at 2 Hz its trough comes
    /// 125 ms before the left's.
    #[test]
    fn spread_leads_the_right_channel_by_a_quarter_cycle() {
        let input = sine(1_000.0, 1.0, FS as usize, FS);
        let mut tremolo = Tremolo::prepared(&enabled(2.0, 1.0, LfoWaveform::Sine, 1.0));
        let (left, right) = render_stereo(&mut tremolo, &input, &input, 128);
        let trough = |signal: &[f32]| {
            let envelope = frame_peaks(signal, 48);
            (0..envelope.len())
                .min_by(|&a, &b| envelope[a].total_cmp(&envelope[b]))
                .unwrap() as f64
        };
        // The left trough is at ¾ cycle = 375 ms, the right one at ½ cycle = 250 ms.
        let (trough_l, trough_r) = (trough(&left), trough(&right));
        println!("tremolo spread 1: troughs at {trough_l} ms (L), {trough_r} ms (R)");
        assert!((trough_l - 375.0).abs() <= 2.0 && (trough_r - 250.0).abs() <= 2.0);
    }

    #[test]
    fn disabled_is_bit_exact_and_depth_zero_is_identity() {
        let input = sine(440.0, 0.8, 4_800, FS);
        let mut disabled = Tremolo::prepared(&Params::default());
        assert_eq!(render_mono(&mut disabled, &input, 64), input);
        let mut flat = Tremolo::prepared(&enabled(7.0, 0.0, LfoWaveform::Square, 1.0));
        assert_eq!(render_mono(&mut flat, &input, 64), input);
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
        assert_eq!(keys, ["depth", "enabled", "rate", "spread", "waveform"]);
        let parsed: Params = serde_json::from_str(r#"{"waveform": "square"}"#).unwrap();
        assert_eq!(parsed.waveform, LfoWaveform::Square);
        let wild = Params {
            rate: 1e6,
            depth: f32::NAN,
            spread: -3.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!((wild.rate, wild.depth, wild.spread), (20.0, 0.5, 0.0));
    }
}
