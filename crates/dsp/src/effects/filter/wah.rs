//! The wah (docs/effects.md §3 #4): a band-pass (RBJ, 0 dB peak) whose centre sweeps from
//! `baseFrequency` to `maxFrequency` on a logarithmic scale, set by hand (manual), by a sine LFO
//! (auto) or by the input's envelope (envelope), with a real dry/wet mix.
//!
//! Position p ∈ 0…1 maps to the centre base·(max/base)^p (the reference's fixed 350–2500 Hz
//! ignores the parameters). Manual: p = frequency. Auto: p = frequency + depth·lfo/2. Envelope:
//! p = frequency + depth·min(1, env·G), where G = 10^(48·sensitivity/20) (sensitivity 0 needs a
//! full-scale envelope to sweep the whole span, 1 sweeps it at −48 dBFS). p is clamped to 0…1.
//!
//! `resonance` (alias `q`) is the band-pass Q itself: the reference's Q = 1 + 9·resonance would
//! make its own default of 2 a Q of 19, a whistle rather than a wah.
//!
//! The centre moves every sample in auto and envelope modes. It is computed every
//! [`CONTROL_INTERVAL`] samples and the filter glides there in per-sample coefficient steps
//! (`blocks::biquad::Smoothed`), so the sweep is smooth and costs one design per interval.
//! Parameters (frequency, depth, range, Q, sensitivity) glide at the control rate, and the mix
//! at the audio rate, so no change clicks.

use crate::automation::Kind as HostKind;
use crate::blocks::biquad::{Design, Kind, Smoothed};
use crate::blocks::envelope::{Detector, Follower};
use crate::blocks::lfo::Lfo;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "wah";

/// Declared range of [`Params::frequency`], [`Params::depth`], [`Params::sensitivity`] and
/// [`Params::mix`].
pub const UNIT_RANGE: RangeInclusive<f32> = 0.0..=1.0;
/// Range of [`Params::rate`] (Hz; undeclared in the reference).
pub const RATE_RANGE: RangeInclusive<f32> = 0.01..=20.0;
/// Range of [`Params::base_frequency`] and [`Params::max_frequency`] (Hz; undeclared).
pub const SWEEP_RANGE: RangeInclusive<f32> = 20.0..=20_000.0;
/// Range of [`Params::resonance`] (the Q; undeclared).
pub const RESONANCE_RANGE: RangeInclusive<f32> = 0.1..=30.0;
/// Range of [`Params::attack`] (s; undeclared).
pub const ATTACK_RANGE: RangeInclusive<f32> = 0.000_1..=2.0;
/// Range of [`Params::release`] (s; undeclared).
pub const RELEASE_RANGE: RangeInclusive<f32> = 0.001..=5.0;

/// Samples between two computations of the centre frequency.
pub const CONTROL_INTERVAL: usize = 16;
/// Parameters glide over this time constant.
const PARAMETER_SMOOTHING_S: f64 = 0.02;
/// Envelope gain span of `sensitivity` in dB.
const SENSITIVITY_SPAN_DB: f32 = 48.0;

/// What moves the filter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `frequency` alone (a pedal).
    #[default]
    Manual,
    /// A sine LFO at `rate`, `depth` wide, centred on `frequency`.
    Auto,
    /// The input's envelope, from `frequency` up by as much as `depth`.
    Envelope,
}

/// The wah's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// What moves the filter (default manual).
    pub mode: Mode,
    /// Pedal position 0…1 (default 0.5).
    pub frequency: f32,
    /// LFO rate in Hz (default 1).
    pub rate: f32,
    /// Sweep width 0…1 for the LFO and the envelope (default 0.7).
    pub depth: f32,
    /// Centre at position 0, Hz (default 400).
    pub base_frequency: f32,
    /// Centre at position 1, Hz (default 2000).
    pub max_frequency: f32,
    /// The band-pass Q (default 2); the reference also writes it as `q`.
    #[serde(alias = "q")]
    pub resonance: f32,
    /// Envelope sensitivity 0…1 (default 0.7).
    pub sensitivity: f32,
    /// Envelope attack τ in seconds (default 0.01).
    pub attack: f32,
    /// Envelope release τ in seconds (default 0.05).
    pub release: f32,
    /// Wet share 0…1 (default 1).
    pub mix: f32,
}

crate::host_choice!(Mode {
    Manual => "Manual",
    Auto => "Auto",
    Envelope => "Envelope",
});

crate::automatable!(Params {
    [mode] "mode", "Mode", HostKind::choice::<Mode>();
    [frequency] "frequency", "Pedal", HostKind::linear(UNIT_RANGE, "");
    [rate] "rate", "Rate", HostKind::logarithmic(RATE_RANGE, "Hz");
    [depth] "depth", "Depth", HostKind::linear(UNIT_RANGE, "");
    [base_frequency] "baseFrequency", "Base Frequency", HostKind::logarithmic(SWEEP_RANGE, "Hz");
    [max_frequency] "maxFrequency", "Max Frequency", HostKind::logarithmic(SWEEP_RANGE, "Hz");
    [resonance] "resonance", "Resonance", HostKind::logarithmic(RESONANCE_RANGE, "");
    [sensitivity] "sensitivity", "Sensitivity", HostKind::linear(UNIT_RANGE, "");
    [attack] "attack", "Attack", HostKind::logarithmic(ATTACK_RANGE, "s");
    [release] "release", "Release", HostKind::logarithmic(RELEASE_RANGE, "s");
    [mix] "mix", "Mix", HostKind::linear(UNIT_RANGE, "");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: Mode::Manual,
            frequency: 0.5,
            rate: 1.0,
            depth: 0.7,
            base_frequency: 400.0,
            max_frequency: 2_000.0,
            resonance: 2.0,
            sensitivity: 0.7,
            attack: 0.01,
            release: 0.05,
            mix: 1.0,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            mode: self.mode,
            frequency: clamp_param(self.frequency, UNIT_RANGE, d.frequency),
            rate: clamp_param(self.rate, RATE_RANGE, d.rate),
            depth: clamp_param(self.depth, UNIT_RANGE, d.depth),
            base_frequency: clamp_param(self.base_frequency, SWEEP_RANGE, d.base_frequency),
            max_frequency: clamp_param(self.max_frequency, SWEEP_RANGE, d.max_frequency),
            resonance: clamp_param(self.resonance, RESONANCE_RANGE, d.resonance),
            sensitivity: clamp_param(self.sensitivity, UNIT_RANGE, d.sensitivity),
            attack: clamp_param(self.attack, ATTACK_RANGE, d.attack),
            release: clamp_param(self.release, RELEASE_RANGE, d.release),
            mix: clamp_param(self.mix, UNIT_RANGE, d.mix),
        }
    }

    /// The centre frequency in Hz at sweep position `position` (0…1).
    pub fn centre_at(&self, position: f64) -> f64 {
        let base = f64::from(self.base_frequency);
        base * (f64::from(self.max_frequency) / base).powf(position.clamp(0.0, 1.0))
    }
}

/// The parameters that glide at the control rate.
#[derive(Clone, Debug)]
struct Glides {
    frequency: OnePole,
    depth: OnePole,
    log_base: OnePole,
    log_max: OnePole,
    log_q: OnePole,
    sensitivity_gain: OnePole,
}

impl Glides {
    fn new(control_rate: f64) -> Self {
        let glide = || OnePole::new(0.0, PARAMETER_SMOOTHING_S, control_rate);
        Self {
            frequency: glide(),
            depth: glide(),
            log_base: glide(),
            log_max: glide(),
            log_q: glide(),
            sensitivity_gain: glide(),
        }
    }

    fn targets(params: &Params) -> [f32; 6] {
        [
            params.frequency,
            params.depth,
            params.base_frequency.ln(),
            params.max_frequency.ln(),
            params.resonance.ln(),
            10f32.powf(SENSITIVITY_SPAN_DB * params.sensitivity / 20.0),
        ]
    }

    fn all(&mut self) -> [&mut OnePole; 6] {
        [
            &mut self.frequency,
            &mut self.depth,
            &mut self.log_base,
            &mut self.log_max,
            &mut self.log_q,
            &mut self.sensitivity_gain,
        ]
    }

    fn set_targets(&mut self, params: &Params) {
        for (glide, target) in self.all().into_iter().zip(Self::targets(params)) {
            glide.set_target(target);
        }
    }

    fn jump_to(&mut self, params: &Params) {
        for (glide, target) in self.all().into_iter().zip(Self::targets(params)) {
            glide.reset_to(target);
        }
    }

    fn set_rate(&mut self, control_rate: f64) {
        for glide in self.all() {
            glide.set_time(PARAMETER_SMOOTHING_S, control_rate);
        }
    }
}

/// The wah. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct Wah {
    params: Params,
    sample_rate: f64,
    filters: [Smoothed; 2],
    /// Runs at the control rate.
    lfo: Lfo,
    envelope: Follower,
    glides: Glides,
    mix: OnePole,
    /// Samples until the next control update.
    until_control: usize,
    centre_hz: f64,
}

impl Wah {
    /// A wah with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let control_rate = sample_rate / CONTROL_INTERVAL as f64;
        let design = Design::new(Kind::Bandpass, 1_000.0, 1.0);
        let filter = Smoothed::new(&design, sample_rate, CONTROL_INTERVAL as f64 / sample_rate);
        let mut wah = Self {
            params: params.clamped(),
            sample_rate,
            filters: [filter.clone(), filter],
            lfo: Lfo::new(control_rate),
            envelope: Follower::new(Detector::Peak, 0.01, 0.05, sample_rate),
            glides: Glides::new(control_rate),
            mix: OnePole::new(1.0, PARAMETER_SMOOTHING_S, sample_rate),
            until_control: 0,
            centre_hz: 1_000.0,
        };
        wah.update();
        wah.reset();
        wah
    }

    /// Applies new parameters (clamped); everything glides. Switching on starts from silent
    /// state.
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

    /// The band-pass centre in Hz at the last control update (for a UI, and for tests).
    pub fn centre_hz(&self) -> f64 {
        self.centre_hz
    }

    fn update(&mut self) {
        let p = &self.params;
        self.lfo.set_rate_hz(f64::from(p.rate));
        self.envelope
            .set_times(f64::from(p.attack), f64::from(p.release), self.sample_rate);
        self.glides.set_targets(p);
        self.mix.set_target(p.mix);
    }

    /// Advances the control state by one interval and returns the filter design for it.
    fn control_step(&mut self) -> Design {
        let g = &mut self.glides;
        let frequency = f64::from(g.frequency.next_value());
        let depth = f64::from(g.depth.next_value());
        let log_base = f64::from(g.log_base.next_value());
        let log_max = f64::from(g.log_max.next_value());
        let q = f64::from(g.log_q.next_value()).exp();
        let sensitivity_gain = f64::from(g.sensitivity_gain.next_value());
        let lfo = f64::from(self.lfo.next_value());
        let position = match self.params.mode {
            Mode::Manual => frequency,
            Mode::Auto => frequency + 0.5 * depth * lfo,
            Mode::Envelope => {
                let envelope = f64::from(self.envelope.value()) * sensitivity_gain;
                frequency + depth * envelope.min(1.0)
            }
        }
        .clamp(0.0, 1.0);
        self.centre_hz = (log_base + position * (log_max - log_base)).exp();
        Design::new(Kind::Bandpass, self.centre_hz, q)
    }
}

impl Effect for Wah {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        let control_rate = spec.sample_rate / CONTROL_INTERVAL as f64;
        self.lfo.set_sample_rate(control_rate);
        self.glides.set_rate(control_rate);
        self.mix.set_time(PARAMETER_SMOOTHING_S, spec.sample_rate);
        let design = Design::new(Kind::Bandpass, 1_000.0, 1.0);
        let ramp = CONTROL_INTERVAL as f64 / spec.sample_rate;
        let filter = Smoothed::new(&design, spec.sample_rate, ramp);
        self.filters = [filter.clone(), filter];
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        self.lfo.reset();
        self.envelope.reset();
        self.glides.jump_to(&self.params);
        self.mix.reset_to(self.params.mix);
        // The filters start on the design of the first control step: the glides are settled,
        // so with the LFO restarted the first sample computes the same design again.
        let design = self.control_step();
        self.lfo.reset();
        for filter in &mut self.filters {
            filter.jump_to(&design);
            filter.reset();
        }
        self.until_control = 0;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            self.envelope.process_sample(0.5 * (l.abs() + r.abs()));
            if self.until_control == 0 {
                let design = self.control_step();
                for filter in &mut self.filters {
                    filter.set_target(&design);
                }
                self.until_control = CONTROL_INTERVAL;
            }
            self.until_control -= 1;
            let mix = self.mix.next_value();
            let (wet_l, wet_r) = (
                self.filters[0].process_sample(*l),
                self.filters[1].process_sample(*r),
            );
            *l = mix * wet_l + (1.0 - mix) * *l;
            *r = mix * wet_r + (1.0 - mix) * *r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::test_support::{FS, impulse, render_mono, response_db, sine};

    conformance_tests!(Wah {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] =
            &[("/mode", &["manual", "auto", "envelope"])];
    });

    /// The frequency of the largest |H| of `ir`: a log scan, then golden-section refinement.
    pub(crate) fn peak_frequency(ir: &[f32], low: f64, high: f64) -> f64 {
        let at = |f: f64| response_db(ir, f, FS);
        let steps = 200;
        let ratio = (high / low).powf(1.0 / f64::from(steps));
        let best = (0..=steps)
            .map(|i| low * ratio.powi(i))
            .max_by(|a, b| at(*a).total_cmp(&at(*b)))
            .unwrap();
        let (mut a, mut b) = ((best / ratio).ln(), (best * ratio).ln());
        let golden = (5f64.sqrt() - 1.0) / 2.0;
        for _ in 0..40 {
            let (c, d) = (b - golden * (b - a), a + golden * (b - a));
            if at(c.exp()) > at(d.exp()) {
                b = d;
            } else {
                a = c;
            }
        }
        ((a + b) / 2.0).exp()
    }

    /// The brief's test: in manual mode the band-pass response peaks at the mapped frequency
    /// (within 1 %), for several positions, ranges and Qs, and the peak is 0 dB (mix 1).
    #[test]
    fn manual_mode_peaks_at_the_mapped_frequency() {
        let mut worst = 0.0f64;
        for (base, max) in [(400.0, 2_000.0), (300.0, 3_000.0), (1_500.0, 500.0)] {
            for frequency in [0.0, 0.3, 0.5, 1.0] {
                for resonance in [2.0, 8.0] {
                    let params = Params {
                        enabled: true,
                        frequency,
                        base_frequency: base,
                        max_frequency: max,
                        resonance,
                        ..Params::default()
                    };
                    let mut wah = Wah::prepared(&params);
                    let ir = render_mono(&mut wah, &impulse(1 << 15), 1024);
                    let expected = params.centre_at(f64::from(frequency));
                    let peak = peak_frequency(&ir, 100.0, 5_000.0);
                    let error = (peak / expected - 1.0).abs();
                    worst = worst.max(error);
                    assert!(
                        error < 0.01,
                        "{base}-{max} at {frequency}: {peak} vs {expected}"
                    );
                    assert!(response_db(&ir, expected, FS).abs() < 0.01);
                }
            }
        }
        println!(
            "wah manual: worst peak-frequency error {:.2e} %",
            worst * 100.0
        );
    }

    /// Auto mode: the centre swings between the positions frequency ± depth/2, at the LFO rate.
    #[test]
    fn auto_mode_sweeps_the_lfo_span() {
        let params = Params {
            enabled: true,
            mode: Mode::Auto,
            rate: 2.0,
            ..Params::default()
        };
        let mut wah = Wah::prepared(&params);
        let input = sine(700.0, 0.3, 64, FS);
        let (mut low, mut high) = (f64::MAX, 0.0f64);
        for _ in 0..(FS as usize / 64) {
            render_mono(&mut wah, &input, 64);
            low = low.min(wah.centre_hz());
            high = high.max(wah.centre_hz());
        }
        let (expected_low, expected_high) = (params.centre_at(0.15), params.centre_at(0.85));
        println!("wah auto: {low:.1}…{high:.1} Hz, expected {expected_low:.1}…{expected_high:.1}");
        assert!((low / expected_low - 1.0).abs() < 0.005, "{low}");
        assert!((high / expected_high - 1.0).abs() < 0.005, "{high}");
    }

    /// Envelope mode: silence leaves the centre at `frequency`; a loud tone opens it by the
    /// full depth; after the tone it falls back.
    #[test]
    fn envelope_mode_follows_the_level() {
        let params = Params {
            enabled: true,
            mode: Mode::Envelope,
            frequency: 0.1,
            depth: 0.8,
            ..Params::default()
        };
        let mut wah = Wah::prepared(&params);
        render_mono(&mut wah, &[0.0; 4_800], 256);
        assert!((wah.centre_hz() / params.centre_at(0.1) - 1.0).abs() < 1e-6);
        render_mono(&mut wah, &sine(300.0, 0.5, 9_600, FS), 256);
        let open = wah.centre_hz();
        assert!((open / params.centre_at(0.9) - 1.0).abs() < 0.01, "{open}");
        render_mono(&mut wah, &[0.0; 24_000], 256);
        let closed = wah.centre_hz();
        assert!(
            (closed / params.centre_at(0.1) - 1.0).abs() < 0.01,
            "{closed}"
        );
        println!("wah envelope: closed → open {open:.1} Hz → closed {closed:.1} Hz");
    }

    #[test]
    fn mix_blends_and_disabled_or_dry_is_bit_exact() {
        let input = sine(440.0, 0.8, 4_800, FS);
        let mut disabled = Wah::prepared(&Params::default());
        assert_eq!(render_mono(&mut disabled, &input, 64), input);
        let mut dry = Wah::prepared(&Params {
            enabled: true,
            mix: 0.0,
            ..Params::default()
        });
        assert_eq!(render_mono(&mut dry, &input, 64), input);
        // Mix ½ at the centre frequency (0 dB, phase 0 there): the tone passes at unity.
        let params = Params {
            enabled: true,
            mix: 0.5,
            ..Params::default()
        };
        let centre = params.centre_at(0.5);
        let mut half = Wah::prepared(&params);
        let output = render_mono(&mut half, &sine(centre, 0.5, 48_000, FS), 256);
        let peak = output[24_000..].iter().fold(0.0f32, |m, y| m.max(y.abs()));
        assert!((peak - 0.5).abs() < 0.005, "{peak}");
    }

    #[test]
    fn params_use_the_reference_json_keys_aliases_and_clamp() {
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
                "attack",
                "baseFrequency",
                "depth",
                "enabled",
                "frequency",
                "maxFrequency",
                "mix",
                "mode",
                "rate",
                "release",
                "resonance",
                "sensitivity"
            ]
        );
        let aliased: Params = serde_json::from_str(r#"{"q": 5, "mode": "envelope"}"#).unwrap();
        assert_eq!((aliased.resonance, aliased.mode), (5.0, Mode::Envelope));
        let wild = Params {
            frequency: f32::NAN,
            base_frequency: 0.0,
            resonance: 1e9,
            ..Params::default()
        }
        .clamped();
        assert_eq!(
            (wild.frequency, wild.base_frequency, wild.resonance),
            (0.5, 20.0, 30.0)
        );
    }
}
