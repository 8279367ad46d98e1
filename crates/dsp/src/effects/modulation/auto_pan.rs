//! The auto-pan (docs/effects.md §3 #26): the mono sum panned by an LFO with a constant-power law
//! (L = cos θ, R = sin θ, docs/effects.md §2.8), mixed with the untouched input: out =
//! depth·pan(mono) + (1 − depth)·dry. `width` scales the swing (100: hard left to hard right),
//! `phase` offsets the LFO, and with `tempoSync` one cycle lasts `subdivision` at the room tempo,
//! its phase locked to the beat grid while a transport runs.
//!
//! The mono sum is (L + R)/√2, so a centred mono source keeps its level (each channel gets
//! back exactly its input at the centre) and the panned power L² + R² equals the input's
//! whatever the position (docs/effects.md §1 #18). The position and its gains are computed every 16
//! samples and the gains step linearly in between (`CONTROL_INTERVAL`); the position is
//! slew-limited to a full left-to-right swing in 4 ms: the square and sawtooth shapes jump, a
//! phase change jumps, and a jump is a click. Slower motion (≤ 2π·10 Hz /s for a sine, the
//! limit is 500 /s) passes exactly, and a 16-sample chord of the gain circle dips the power by
//! at most 1 − cos(Δθ/2) < 0.01 dB.

use crate::automation::Kind;
use crate::blocks::lfo::tempo_hz;
use crate::blocks::smoother::OnePole;
use crate::context::RoomContext;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::modulation::{CONTROL_INTERVAL, LfoWaveform, Phasor, Ramp, shape, sine, wrap};
use crate::effects::param::Subdivision;
use serde::{Deserialize, Serialize};
use std::f32::consts::FRAC_1_SQRT_2;
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "autoPan";

/// Declared range of [`Params::rate`] (Hz).
pub const RATE_RANGE: RangeInclusive<f32> = 0.1..=10.0;
/// Declared range of [`Params::depth`] and [`Params::width`] (%).
pub const PERCENT_RANGE: RangeInclusive<f32> = 0.0..=100.0;
/// Declared range of [`Params::phase`] (degrees).
pub const PHASE_RANGE: RangeInclusive<f32> = 0.0..=360.0;

/// Depth and width glide over this time constant.
const PARAMETER_SMOOTHING_S: f64 = 0.02;
/// The pan position's slew limit: the time a full left-to-right swing takes.
const FULL_SWING_S: f64 = 0.004;

/// The auto-pan's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// LFO rate in Hz, 0.1…10 (default 1), unless tempo-synced.
    pub rate: f32,
    /// Share of the panned signal in %, 0…100 (default 50); the rest is the dry input.
    pub depth: f32,
    /// LFO shape (default sine).
    pub waveform: LfoWaveform,
    /// LFO start phase in degrees, 0…360 (default 0).
    pub phase: f32,
    /// One cycle per `subdivision` at the room tempo instead of `rate` (default off).
    pub tempo_sync: bool,
    /// The cycle length when synced (default "1/4").
    pub subdivision: Subdivision,
    /// Swing in %, 0…100 (default 100: hard left to hard right).
    pub width: f32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            rate: 1.0,
            depth: 50.0,
            waveform: LfoWaveform::Sine,
            phase: 0.0,
            tempo_sync: false,
            subdivision: Subdivision::QUARTER,
            width: 100.0,
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
            depth: clamp_param(self.depth, PERCENT_RANGE, d.depth),
            waveform: self.waveform,
            phase: clamp_param(self.phase, PHASE_RANGE, d.phase),
            tempo_sync: self.tempo_sync,
            subdivision: self.subdivision,
            width: clamp_param(self.width, PERCENT_RANGE, d.width),
        }
    }
}

crate::automatable!(Params {
    [rate] "rate", "Rate", Kind::logarithmic(RATE_RANGE, "Hz");
    [depth] "depth", "Depth", Kind::linear(PERCENT_RANGE, "%");
    [waveform] "waveform", "Waveform", Kind::choice::<LfoWaveform>();
    [phase] "phase", "Phase", Kind::linear(PHASE_RANGE, "°");
    [tempo_sync] "tempoSync", "Tempo Sync", Kind::Toggle;
    [subdivision] "subdivision", "Subdivision", Kind::NOTE;
    [width] "width", "Width", Kind::linear(PERCENT_RANGE, "%");
});

/// The auto-pan. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct AutoPan {
    params: Params,
    sample_rate: f64,
    tempo_bpm: f64,
    lfo: Phasor,
    depth: OnePole,
    width: OnePole,
    /// Pan position −1 (left) … 1 (right) at the next control point, and its largest step
    /// per control step.
    position: f32,
    max_step: f32,
    /// The channel gains, stepping between control points.
    gains: [Ramp; 2],
    until_control: usize,
}

/// The constant-power gains (cos θ, sin θ) of a position, θ = (1 + position)·π/4.
fn gains(position: f32) -> (f32, f32) {
    // θ in cycles for the polynomial sine: 0 … ¼.
    let angle = f64::from((1.0 + position) * 0.125);
    (sine(angle + 0.25), sine(angle))
}

impl AutoPan {
    /// An auto-pan with `params` at 120 BPM; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut pan = Self {
            params: params.clamped(),
            sample_rate,
            tempo_bpm: 120.0,
            lfo: Phasor::default(),
            depth: OnePole::new(0.0, PARAMETER_SMOOTHING_S, sample_rate),
            width: OnePole::new(0.0, PARAMETER_SMOOTHING_S, sample_rate),
            position: 0.0,
            max_step: 1.0,
            gains: [Ramp::default(); 2],
            until_control: 0,
        };
        pan.prepare_rate(sample_rate);
        pan.reset();
        pan
    }

    /// Applies new parameters (clamped): the LFO runs on, depth and width glide, the pan
    /// position slews. Switching on starts from phase 0.
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

    /// The LFO rate in Hz (the tempo's when synced).
    pub fn rate_hz(&self) -> f64 {
        if self.params.tempo_sync {
            tempo_hz(self.params.subdivision.beats(), self.tempo_bpm)
        } else {
            f64::from(self.params.rate)
        }
    }

    fn prepare_rate(&mut self, sample_rate: f64) {
        self.sample_rate = sample_rate;
        let control_rate = sample_rate / CONTROL_INTERVAL as f64;
        self.depth.set_time(PARAMETER_SMOOTHING_S, sample_rate);
        self.width.set_time(PARAMETER_SMOOTHING_S, control_rate);
        self.max_step = (2.0 / (FULL_SWING_S * control_rate)) as f32;
        self.update();
    }

    fn update(&mut self) {
        let control_rate = self.sample_rate / CONTROL_INTERVAL as f64;
        self.lfo.set_rate(self.rate_hz(), control_rate);
        self.depth.set_target(self.params.depth / 100.0);
        self.width.set_target(self.params.width / 100.0);
    }

    /// The position the LFO asks for at its current phase.
    #[inline]
    fn target(&self, width: f32) -> f32 {
        let offset = f64::from(self.params.phase) / 360.0;
        width
            * shape(
                self.params.waveform.waveform(),
                wrap(self.lfo.phase() + offset),
            )
    }
}

impl Effect for AutoPan {
    fn set_context(&mut self, context: &RoomContext) {
        let tempo = context.tempo();
        if tempo != self.tempo_bpm {
            self.tempo_bpm = tempo;
            self.update();
        }
        if self.params.tempo_sync
            && let Some(phase) = context.synced_phase_after(
                self.params.subdivision.beats(),
                self.until_control,
                self.sample_rate,
            )
        {
            // The LFO holds the phase of its next control point, `until_control` samples on.
            self.lfo.set_phase(phase);
        }
    }

    fn prepare(&mut self, spec: &ProcessSpec) {
        self.prepare_rate(spec.sample_rate);
        self.reset();
    }

    fn reset(&mut self) {
        self.lfo.set_phase(0.0);
        self.depth.reset_to(self.params.depth / 100.0);
        self.width.reset_to(self.params.width / 100.0);
        self.position = self.target(self.width.value());
        let (gain_l, gain_r) = gains(self.position);
        self.gains[0].jump(gain_l);
        self.gains[1].jump(gain_r);
        self.until_control = 0;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let step = self.max_step;
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            if self.until_control == 0 {
                let width = self.width.next_value();
                self.lfo.advance();
                let target = self.target(width);
                self.position += (target - self.position).clamp(-step, step);
                let (gain_l, gain_r) = gains(self.position);
                self.gains[0].aim(gain_l);
                self.gains[1].aim(gain_r);
                self.until_control = CONTROL_INTERVAL;
            }
            self.until_control -= 1;
            let depth = self.depth.next_value();
            let (gain_l, gain_r) = (self.gains[0].next_value(), self.gains[1].next_value());
            let mono = FRAC_1_SQRT_2 * (*l + *r);
            *l = depth * gain_l * mono + (1.0 - depth) * *l;
            *r = depth * gain_r * mono + (1.0 - depth) * *r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::effects::modulation::measure::{frame_peaks, period};
    use crate::test_support::{FS, render_mono, render_stereo, sine as tone};

    conformance_tests!(AutoPan {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] = &[
            ("/waveform", &["sine", "triangle", "square", "sawtooth"]),
            ("/subdivision", &["1/4", "1/16", "1/8T", "1/2D", "4/1"]),
        ];
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn full(rate: f32, waveform: LfoWaveform) -> Params {
        Params {
            enabled: true,
            rate,
            depth: 100.0,
            waveform,
            ..Params::default()
        }
    }

    /// L² + R² over each 1 kHz period, in dB.
    fn frame_power_db(left: &[f32], right: &[f32]) -> Vec<f64> {
        left.chunks_exact(48)
            .zip(right.chunks_exact(48))
            .map(|(l, r)| {
                let power: f64 = l
                    .iter()
                    .zip(r)
                    .map(|(&a, &b)| f64::from(a).powi(2) + f64::from(b).powi(2))
                    .sum();
                10.0 * power.log10()
            })
            .collect()
    }

    /// docs/effects.md §1 #18: at full depth the total power L² + R² of a panned 1 kHz sine stays
    /// constant within ±0.1 dB, for every shape, while the pan really swings hard left to
    /// hard right (each side's level spans more than 40 dB).
    #[test]
    fn panned_power_is_constant_while_the_image_swings() {
        let input = tone(1_000.0, 0.5, 2 * FS as usize, FS);
        for waveform in [
            LfoWaveform::Sine,
            LfoWaveform::Triangle,
            LfoWaveform::Square,
            LfoWaveform::Sawtooth,
        ] {
            let mut pan = AutoPan::prepared(&full(3.0, waveform));
            let (left, right) = render_stereo(&mut pan, &input, &input, 64);
            let power = frame_power_db(&left, &right);
            let reference = frame_power_db(&input, &input)[0];
            let spread = power
                .iter()
                .map(|p| (p - reference).abs())
                .fold(0.0, f64::max);
            let left_peaks = frame_peaks(&left, 48);
            let max = left_peaks.iter().cloned().fold(0.0, f64::max);
            let min = left_peaks.iter().cloned().fold(1.0, f64::min);
            let swing_db = 20.0 * (max / min.max(1e-9)).log10();
            println!(
                "autoPan {waveform:?}: L²+R² within ±{spread:.4} dB of the input; left level \
                 swings {swing_db:.1} dB"
            );
            assert!(spread <= 0.1, "{waveform:?}: {spread}");
            assert!(swing_db > 40.0, "{waveform:?}: {swing_db}");
        }
    }

    /// The LFO rate and, with depth below 100, the dry share: depth 0 is the input itself.
    #[test]
    fn rate_is_exact_and_depth_zero_is_identity() {
        let input = tone(1_000.0, 0.5, 4 * FS as usize, FS);
        let mut pan = AutoPan::prepared(&full(2.5, LfoWaveform::Sine));
        let left = render_mono(&mut pan, &input, 256);
        let envelope = frame_peaks(&left, 48);
        let measured = 1_000.0 / period(&envelope, 300, 500);
        println!("autoPan 2.5 Hz: measured {measured:.4} Hz");
        assert!((measured / 2.5 - 1.0).abs() < 0.005);
        let mut dry = AutoPan::prepared(&Params {
            depth: 0.0,
            ..full(2.5, LfoWaveform::Square)
        });
        let (left, right) = render_stereo(&mut dry, &input[..4_800], &input[7..4_807], 64);
        assert_eq!(left, input[..4_800]);
        assert_eq!(right, input[7..4_807]);
        let mut disabled = AutoPan::prepared(&Params::default());
        assert_eq!(render_mono(&mut disabled, &input, 64), input);
    }

    /// Tempo sync: one cycle per note value at the room tempo; with a transport the phase
    /// follows the beat grid: at beat 2.25 of "1/4" cycles the sine is at its crest (hard
    /// right), at beat 2.75 at its trough (hard left).
    #[test]
    fn tempo_sync_follows_the_note_value_and_locks_to_the_beat() {
        let synced = |subdivision: &str| Params {
            tempo_sync: true,
            subdivision: Subdivision::parse(subdivision).unwrap(),
            ..full(5.0, LfoWaveform::Sine)
        };
        for (subdivision, bpm, hz) in [
            ("1/4", 120.0, 2.0),
            ("1/16", 120.0, 8.0),
            ("1/4D", 90.0, 1.0),
            ("1/8T", 100.0, 5.0),
        ] {
            let mut pan = AutoPan::prepared(&synced(subdivision));
            pan.set_context(&RoomContext {
                tempo_bpm: bpm,
                ..RoomContext::default()
            });
            assert!((pan.rate_hz() - hz).abs() < 1e-9, "{subdivision} at {bpm}");
            // Measured on the audio, free-running.
            let input = tone(1_000.0, 0.5, 3 * FS as usize, FS);
            let left = render_mono(&mut pan, &input, 256);
            let frames = 1_000.0 / hz;
            let measured = 1_000.0
                / period(
                    &frame_peaks(&left, 48),
                    (frames * 0.8) as usize,
                    (frames * 1.2) as usize,
                );
            println!("autoPan synced {subdivision} at {bpm} BPM: {measured:.4} Hz (expected {hz})");
            assert!((measured / hz - 1.0).abs() < 0.005);
        }
        let input = vec![0.5f32; 240];
        for (beat, expect_left) in [(2.25, false), (2.75, true)] {
            let mut pan = AutoPan::prepared(&synced("1/4"));
            pan.set_context(&RoomContext {
                beat_position: Some(beat),
                ..RoomContext::default()
            });
            // The reset position is phase 0 (centre); the slew needs 2 ms to reach a side.
            let (left, right) = render_stereo(&mut pan, &input, &input, 64);
            let (l, r) = (left[239].abs(), right[239].abs());
            println!("autoPan at beat {beat}: L {l:.4}, R {r:.4}");
            if expect_left {
                assert!(l > 0.99 * 0.5 * std::f32::consts::SQRT_2 && r < 0.01);
            } else {
                assert!(r > 0.99 * 0.5 * std::f32::consts::SQRT_2 && l < 0.01);
            }
        }
        let free = AutoPan::prepared(&full(5.0, LfoWaveform::Sine));
        assert!((free.rate_hz() - 5.0).abs() < 1e-12);
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
                "depth",
                "enabled",
                "phase",
                "rate",
                "subdivision",
                "tempoSync",
                "waveform",
                "width"
            ]
        );
        let parsed: Params =
            serde_json::from_str(r#"{"tempoSync": true, "subdivision": "1/8D"}"#).unwrap();
        assert!(parsed.tempo_sync);
        assert_eq!(parsed.subdivision.beats(), 0.75);
        let wild = Params {
            rate: 0.0,
            phase: 720.0,
            width: f32::NAN,
            ..Params::default()
        }
        .clamped();
        assert_eq!((wild.rate, wild.phase, wild.width), (0.1, 360.0, 100.0));
    }
}
