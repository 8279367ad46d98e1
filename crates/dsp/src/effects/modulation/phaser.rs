//! The phaser (docs/effects.md §3 #23): a cascade of first-order all-passes whose break frequencies
//! an LFO sweeps over base·2^(u·depth·octaves) (u = ½ + ½·sin, so the sweep runs from
//! `baseFrequency` up `depth`·`octaves` octaves and back), with feedback around the cascade
//! and a dry/wet mix. N first-order stages turn the phase from 0 to −Nπ, so mixed with the dry
//! signal they cut N/2 notches where the cascade's phase is −(2k + 1)π (docs/effects.md §2.8).
//!
//! `q` sets how tightly the stages bunch: stage i of N sits 0.25/q·(i − (N − 1)/2) octaves from
//! the swept frequency (at most an octave apart). High q stacks the stages, which makes the
//! notches narrower and closer; low q fans them out into wide, shallow-sloped notches. (The
//! reference's "q" on first-order stages has no textbook meaning; this is ours.)
//!
//! Cost: coefficients (a = (t − 1)/(t + 1), t = tan(πf/fs)) are computed every
//! [`CONTROL_INTERVAL`] samples and reached by per-sample linear steps, so a stage costs two
//! multiply-adds per sample and channel and the `tan` calls are amortised. Feedback (within
//! ±0.95) returns the previous wet sample to the cascade's input. Both channels share the LFO.

use crate::automation::Kind;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::modulation::{Phasor, sine};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "phaser";

/// Range of [`Params::rate`] (Hz; undeclared).
pub const RATE_RANGE: RangeInclusive<f32> = 0.05..=10.0;
/// Declared range of [`Params::depth`] and [`Params::mix`].
pub const UNIT_RANGE: RangeInclusive<f32> = 0.0..=1.0;
/// Range of [`Params::base_frequency`] (Hz; undeclared).
pub const BASE_FREQUENCY_RANGE: RangeInclusive<f32> = 20.0..=10_000.0;
/// Range of [`Params::octaves`] (undeclared).
pub const OCTAVES_RANGE: RangeInclusive<f32> = 0.0..=6.0;
/// Declared range of [`Params::stages`] (even numbers).
pub const STAGES_RANGE: RangeInclusive<f32> = 2.0..=12.0;
/// Declared range of [`Params::feedback`].
pub const FEEDBACK_RANGE: RangeInclusive<f32> = -1.0..=1.0;
/// Range of [`Params::q`] (undeclared).
pub const Q_RANGE: RangeInclusive<f32> = 0.1..=10.0;

/// Samples between two coefficient computations.
pub const CONTROL_INTERVAL: usize = 16;
/// The most stages.
const MAX_STAGES: usize = 12;
/// The loop gain's bound.
const MAX_FEEDBACK: f32 = 0.95;
/// Octaves between neighbouring stages at q = 1, and the widest spacing.
const STAGE_SPACING_OCTAVES: f64 = 0.25;
const MAX_STAGE_SPACING_OCTAVES: f64 = 1.0;
/// Stage frequencies stay within these bounds (the top as a fraction of the sample rate).
const MIN_STAGE_HZ: f64 = 10.0;
const MAX_STAGE_RATIO: f64 = 0.45;
/// Parameters glide over this time constant (at the control rate).
const PARAMETER_SMOOTHING_S: f64 = 0.05;
/// Feedback and mix glide over this one.
const LEVEL_SMOOTHING_S: f64 = 0.02;

/// The phaser's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// LFO rate in Hz (default 0.5).
    pub rate: f32,
    /// Sweep depth 0…1 (default 0.5), a share of `octaves`.
    pub depth: f32,
    /// Bottom of the sweep in Hz (default 400).
    pub base_frequency: f32,
    /// Sweep range at depth 1, in octaves (default 2).
    pub octaves: f32,
    /// All-pass stages, 2…12, even (default 4): stages/2 notches.
    pub stages: f32,
    /// Feedback −1…1 (default 0.3), applied within ±0.95.
    pub feedback: f32,
    /// Stage bunching (default 1; see the module notes).
    pub q: f32,
    /// Wet share 0…1 (default 0.5).
    pub mix: f32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            rate: 0.5,
            depth: 0.5,
            base_frequency: 400.0,
            octaves: 2.0,
            stages: 4.0,
            feedback: 0.3,
            q: 1.0,
            mix: 0.5,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default; stages
    /// round to the nearest even count).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            rate: clamp_param(self.rate, RATE_RANGE, d.rate),
            depth: clamp_param(self.depth, UNIT_RANGE, d.depth),
            base_frequency: clamp_param(
                self.base_frequency,
                BASE_FREQUENCY_RANGE,
                d.base_frequency,
            ),
            octaves: clamp_param(self.octaves, OCTAVES_RANGE, d.octaves),
            stages: (clamp_param(self.stages, STAGES_RANGE, d.stages) / 2.0).round() * 2.0,
            feedback: clamp_param(self.feedback, FEEDBACK_RANGE, d.feedback),
            q: clamp_param(self.q, Q_RANGE, d.q),
            mix: clamp_param(self.mix, UNIT_RANGE, d.mix),
        }
    }

    fn stage_count(&self) -> usize {
        self.stages as usize
    }
}

crate::automatable!(Params {
    [rate] "rate", "Rate", Kind::logarithmic(RATE_RANGE, "Hz");
    [depth] "depth", "Depth", Kind::linear(UNIT_RANGE, "");
    [base_frequency] "baseFrequency", "Base Frequency", Kind::logarithmic(BASE_FREQUENCY_RANGE, "Hz");
    [octaves] "octaves", "Octaves", Kind::linear(OCTAVES_RANGE, "oct");
    [stages] "stages", "Stages", Kind::int(2, 12);
    [feedback] "feedback", "Feedback", Kind::linear(FEEDBACK_RANGE, "");
    [q] "q", "Q", Kind::logarithmic(Q_RANGE, "");
    [mix] "mix", "Mix", Kind::linear(UNIT_RANGE, "");
});

/// The stage coefficients of one control step: stage i at `centre`·2^(spacing·(i − (n−1)/2)).
fn coefficients(centre: f64, spacing: f64, stages: usize, sample_rate: f64) -> [f32; MAX_STAGES] {
    let mut coefs = [0.0; MAX_STAGES];
    let middle = (stages as f64 - 1.0) / 2.0;
    for (i, coef) in coefs.iter_mut().enumerate().take(stages) {
        let frequency = (centre * (spacing * (i as f64 - middle)).exp2())
            .clamp(MIN_STAGE_HZ, MAX_STAGE_RATIO * sample_rate);
        let t = (PI * frequency / sample_rate).tan();
        *coef = ((t - 1.0) / (t + 1.0)) as f32;
    }
    coefs
}

/// One channel's cascade: a state per stage and the last wet sample (fed back).
#[derive(Clone, Debug, Default)]
struct Cascade {
    states: [f32; MAX_STAGES],
    wet: f32,
}

impl Cascade {
    /// y = a·x + s, s' = x − a·y for each stage: (a + z⁻¹)/(1 + a·z⁻¹).
    #[inline]
    fn process(&mut self, x: f32, coefs: &[f32], feedback: f32) -> f32 {
        let mut signal = x + feedback * self.wet;
        for (state, &a) in self.states.iter_mut().zip(coefs) {
            let y = a * signal + *state;
            *state = signal - a * y;
            signal = y;
        }
        self.wet = signal;
        signal
    }
}

/// The phaser. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct Phaser {
    params: Params,
    sample_rate: f64,
    cascades: [Cascade; 2],
    /// Runs at the control rate.
    lfo: Phasor,
    /// log2 of the base frequency, sweep octaves (depth·octaves), stage spacing (octaves).
    controls: [OnePole; 3],
    feedback: OnePole,
    mix: OnePole,
    coefs: [f32; MAX_STAGES],
    steps: [f32; MAX_STAGES],
    until_control: usize,
    centre_hz: f64,
}

impl Phaser {
    /// A phaser with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut phaser = Self {
            params: params.clamped(),
            sample_rate,
            cascades: Default::default(),
            lfo: Phasor::default(),
            controls: std::array::from_fn(|_| OnePole::new(0.0, PARAMETER_SMOOTHING_S, 1.0)),
            feedback: OnePole::new(0.0, LEVEL_SMOOTHING_S, sample_rate),
            mix: OnePole::new(0.0, LEVEL_SMOOTHING_S, sample_rate),
            coefs: [0.0; MAX_STAGES],
            steps: [0.0; MAX_STAGES],
            until_control: 0,
            centre_hz: 0.0,
        };
        phaser.prepare(&ProcessSpec::stereo(sample_rate, 1));
        phaser
    }

    /// Applies new parameters (clamped): the LFO runs on, everything else glides (a change of
    /// stage count takes effect at once). Switching on starts from silence and phase 0.
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

    fn control_targets(&self) -> [f32; 3] {
        let p = &self.params;
        [
            p.base_frequency.log2(),
            p.depth * p.octaves,
            (STAGE_SPACING_OCTAVES / f64::from(p.q)).min(MAX_STAGE_SPACING_OCTAVES) as f32,
        ]
    }

    fn update(&mut self) {
        let control_rate = self.sample_rate / CONTROL_INTERVAL as f64;
        self.lfo.set_rate(f64::from(self.params.rate), control_rate);
        let targets = self.control_targets();
        for (control, target) in self.controls.iter_mut().zip(targets) {
            control.set_target(target);
        }
        self.feedback
            .set_target(self.params.feedback.clamp(-MAX_FEEDBACK, MAX_FEEDBACK));
        self.mix.set_target(self.params.mix);
    }

    /// Advances the control state one step and returns the coefficients it asks for.
    fn control_step(&mut self) -> [f32; MAX_STAGES] {
        let [base, sweep, spacing] = self.controls.each_mut().map(|c| f64::from(c.next_value()));
        let u = 0.5 + 0.5 * f64::from(sine(self.lfo.phase()));
        self.lfo.advance();
        self.centre_hz = (base + u * sweep).exp2();
        coefficients(
            self.centre_hz,
            spacing,
            self.params.stage_count(),
            self.sample_rate,
        )
    }

    /// The swept frequency of the last control step (tests follow the sweep).
    #[cfg(test)]
    fn centre_hz(&self) -> f64 {
        self.centre_hz
    }
}

impl Effect for Phaser {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        let control_rate = spec.sample_rate / CONTROL_INTERVAL as f64;
        for control in &mut self.controls {
            control.set_time(PARAMETER_SMOOTHING_S, control_rate);
        }
        self.feedback.set_time(LEVEL_SMOOTHING_S, spec.sample_rate);
        self.mix.set_time(LEVEL_SMOOTHING_S, spec.sample_rate);
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        for cascade in &mut self.cascades {
            *cascade = Cascade::default();
        }
        let targets = self.control_targets();
        for (control, target) in self.controls.iter_mut().zip(targets) {
            control.reset_to(target);
        }
        self.feedback
            .reset_to(self.params.feedback.clamp(-MAX_FEEDBACK, MAX_FEEDBACK));
        self.mix.reset_to(self.params.mix);
        // Start on the first control step's coefficients: the LFO restarts after computing them.
        self.lfo.set_phase(0.0);
        self.coefs = self.control_step();
        self.lfo.set_phase(0.0);
        self.steps = [0.0; MAX_STAGES];
        self.until_control = 0;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let stages = self.params.stage_count();
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            if self.until_control == 0 {
                let targets = self.control_step();
                for ((step, coef), target) in self.steps.iter_mut().zip(&self.coefs).zip(targets) {
                    *step = (target - coef) / CONTROL_INTERVAL as f32;
                }
                self.until_control = CONTROL_INTERVAL;
            }
            self.until_control -= 1;
            for (coef, step) in self.coefs.iter_mut().zip(&self.steps).take(stages) {
                *coef += step;
            }
            let feedback = self.feedback.next_value();
            let mix = self.mix.next_value();
            let coefs = &self.coefs[..stages];
            let wet_l = self.cascades[0].process(*l, coefs, feedback);
            let wet_r = self.cascades[1].process(*r, coefs, feedback);
            *l = mix * wet_l + (1.0 - mix) * *l;
            *r = mix * wet_r + (1.0 - mix) * *r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::effects::modulation::measure::{frame_peaks, notch_between, period};
    use crate::test_support::{FS, impulse, render_mono, response_db, sine as tone};

    conformance_tests!(Phaser {
        /// Feedback 0.95 around the all-pass cascade peaks 1/(1 − 0.95) = 20× (26 dB) where
        /// the loop's phase returns to 0.
        const OUTPUT_BOUND: f32 = 40.0;
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn frozen(base: f32, stages: f32, q: f32) -> Params {
        Params {
            enabled: true,
            depth: 0.0,
            base_frequency: base,
            stages,
            q,
            feedback: 0.0,
            mix: 0.5,
            ..Params::default()
        }
    }

    /// The cascade's phase at `frequency` for stages at `frequencies` (analytic, f64).
    fn cascade_phase(frequencies: &[f64], frequency: f64) -> f64 {
        let w = 2.0 * PI * frequency / FS;
        frequencies
            .iter()
            .map(|&f| {
                let t = (PI * f / FS).tan();
                let a = (t - 1.0) / (t + 1.0);
                -w + 2.0 * (a * w.sin()).atan2(1.0 + a * w.cos())
            })
            .sum()
    }

    /// docs/effects.md §1 #17, LFO frozen (depth 0), mix ½: the response has stages/2 notches
    /// (local minima below −12 dB from 10 Hz to 23 kHz), each where the analytic cascade phase is
    /// −(2k + 1)π, ±2 %.
    #[test]
    fn frozen_notches_sit_where_the_cascade_phase_is_an_odd_multiple_of_pi() {
        for (base, stages, q) in [
            (400.0, 4.0, 1.0),
            (1_000.0, 2.0, 1.0),
            (300.0, 12.0, 2.0),
            (700.0, 8.0, 0.3),
        ] {
            let params = frozen(base, stages, q);
            let mut phaser = Phaser::prepared(&params);
            let ir = render_mono(&mut phaser, &impulse(1 << 14), 1024);
            let n = stages as usize;
            let spacing = (STAGE_SPACING_OCTAVES / f64::from(q)).min(MAX_STAGE_SPACING_OCTAVES);
            let middle = (n as f64 - 1.0) / 2.0;
            let frequencies: Vec<f64> = (0..n)
                .map(|i| f64::from(base) * (spacing * (i as f64 - middle)).exp2())
                .collect();
            // Notches from the analytic phase, by bisection (the phase falls monotonically).
            let expected: Vec<f64> = (0..n / 2)
                .map(|k| {
                    let target = -((2 * k + 1) as f64) * PI;
                    let (mut low, mut high) = (1.0, FS / 2.0 - 1.0);
                    for _ in 0..60 {
                        let mid = (low * high).sqrt();
                        if cascade_phase(&frequencies, mid) > target {
                            low = mid;
                        } else {
                            high = mid;
                        }
                    }
                    (low * high).sqrt()
                })
                .collect();
            // Count the notches on a log grid.
            let grid: Vec<f64> = (0..1_500)
                .map(|i| 10.0 * (2_300.0f64).powf(f64::from(i) / 1_499.0))
                .collect();
            let levels: Vec<f64> = grid.iter().map(|&f| response_db(&ir, f, FS)).collect();
            let count = (1..levels.len() - 1)
                .filter(|&i| {
                    levels[i] < levels[i - 1] && levels[i] <= levels[i + 1] && levels[i] < -12.0
                })
                .count();
            let mut worst = 0.0f64;
            for (k, &f) in expected.iter().enumerate() {
                let below = if k == 0 {
                    f / 2.0
                } else {
                    (f * expected[k - 1]).sqrt()
                };
                let above = expected.get(k + 1).map_or(f * 1.5, |&g| (f * g).sqrt());
                let found = notch_between(
                    &ir,
                    below.max(0.9 * f),
                    above.min(1.1 * f).min(FS / 2.0 - 1.0),
                );
                worst = worst.max((found / f - 1.0).abs());
            }
            println!(
                "phaser frozen, {stages} stages at {base} Hz, q {q}: {count} notches at {:?} Hz, \
                 worst error {:.4} %",
                expected.iter().map(|f| f.round()).collect::<Vec<_>>(),
                100.0 * worst
            );
            assert_eq!(count, n / 2);
            assert!(worst < 0.02, "{worst}");
        }
    }

    /// The sweep spans base…base·2^(depth·octaves), and the modulation's rate is the set
    /// rate (±0.5 %, from the period of a 1 kHz tone's envelope).
    #[test]
    fn the_sweep_spans_its_octaves_at_the_rate() {
        let params = Params {
            enabled: true,
            rate: 2.0,
            depth: 0.75,
            base_frequency: 300.0,
            octaves: 4.0,
            ..Params::default()
        };
        let mut phaser = Phaser::prepared(&params);
        let (mut low, mut high) = (f64::MAX, 0.0f64);
        for _ in 0..(FS as usize / 16) {
            render_mono(&mut phaser, &[0.0; 16], 16);
            low = low.min(phaser.centre_hz());
            high = high.max(phaser.centre_hz());
        }
        println!("phaser sweep: {low:.2}…{high:.2} Hz (expected 300…2400)");
        assert!((low / 300.0 - 1.0).abs() < 1e-3 && (high / 2_400.0 - 1.0).abs() < 1e-3);

        for rate in [0.5, 2.0, 7.0] {
            let mut phaser = Phaser::prepared(&Params {
                rate,
                ..params.clone()
            });
            let input = tone(1_000.0, 0.5, 8 * FS as usize, FS);
            let envelope = frame_peaks(&render_mono(&mut phaser, &input, 256), 48);
            let frames = 1_000.0 / f64::from(rate);
            let measured =
                1_000.0 / period(&envelope, (frames * 0.8) as usize, (frames * 1.2) as usize);
            println!("phaser rate {rate} Hz: measured {measured:.4} Hz");
            assert!((measured / f64::from(rate) - 1.0).abs() < 0.005);
        }
    }

    #[test]
    fn mix_zero_and_disabled_are_bit_exact_and_stages_are_even() {
        let input = tone(440.0, 0.8, 4_800, FS);
        let mut disabled = Phaser::prepared(&Params::default());
        assert_eq!(render_mono(&mut disabled, &input, 64), input);
        let mut dry = Phaser::prepared(&Params {
            enabled: true,
            mix: 0.0,
            feedback: 0.9,
            ..Params::default()
        });
        assert_eq!(render_mono(&mut dry, &input, 64), input);
        let odd = Params {
            stages: 7.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!(odd.stages, 8.0);
        assert_eq!(
            Params {
                stages: 1.0,
                ..Params::default()
            }
            .clamped()
            .stages,
            2.0
        );
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
                "baseFrequency",
                "depth",
                "enabled",
                "feedback",
                "mix",
                "octaves",
                "q",
                "rate",
                "stages"
            ]
        );
        let parsed: Params =
            serde_json::from_str(r#"{"stages": 6, "baseFrequency": 250}"#).unwrap();
        assert_eq!((parsed.stages, parsed.base_frequency), (6.0, 250.0));
        let wild = Params {
            feedback: 2.0,
            q: f32::NAN,
            stages: 40.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!((wild.feedback, wild.q, wild.stages), (1.0, 1.0, 12.0));
    }
}
