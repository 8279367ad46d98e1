//! The exciter (docs/effects.md §3 #13): the treble above `frequency` is driven into a harmonic
//! generator at 2× the sample rate, and the harmonics, high-passed and coloured by a high
//! shelf, are added to the dry signal.
//!
//! Path: band = HP(frequency) → ×g → generator → ÷g → HP(frequency/2) → high shelf at
//! `frequency`, (color − 50)·0.24 dB → ×mix, added to the dry signal delayed by the
//! oversampler's latency (so the two stay aligned; the latency is reported).
//!
//! - Generator: with u = s/√(1 + s²) (an algebraic soft clip: smooth, cheap, odd), `odd` is u,
//!   `even` is u² (an even function: 2nd, 4th… harmonics and no fundamental), `both` is u + u².
//!   Dividing by g again leaves a quiet band at unity through `odd`, so `amount` sets how hard
//!   the band saturates, not how loud it is. The HP at frequency/2 removes the DC and the
//!   low-frequency envelope that squaring leaves.
//! - Drive g = (1 + 19·amount/100)·d, where d is the "dynamics" (a legacy parameter given a
//!   meaning here): d = (0.1/envelope)^(dynamics/100), limited to ¼…4, so with dynamics 100 the
//!   band is driven as hard at −30 dBFS as at −10 dBFS (the harmonic ratio no longer depends on
//!   the level) and with 0 the drive is fixed (quiet passages get fewer harmonics).
//! - 2× oversampling: the generator is near-polynomial over the band's usual range, and its
//!   low harmonics of a band at up to 20 kHz stay below the decimator's stopband at 28 kHz.

use crate::automation::Kind as HostKind;
use crate::blocks::biquad::{Design, Kind, SmoothedPair};
use crate::blocks::delay::DelayLine;
use crate::blocks::envelope::{Detector, Follower};
use crate::blocks::oversample::{Factor, Oversampler};
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use serde::{Deserialize, Serialize};
use std::f64::consts::FRAC_1_SQRT_2;
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "exciter";

/// Range of [`Params::frequency`] (Hz; undeclared in the reference).
pub const FREQUENCY_RANGE: RangeInclusive<f32> = 500.0..=16_000.0;
/// Declared range of the 0…100 parameters.
pub const PERCENT_RANGE: RangeInclusive<f32> = 0.0..=100.0;

/// Drive at amount 100 is 1 + this.
const DRIVE_SPAN: f32 = 19.0;
/// Band level the dynamics normalise to (−20 dBFS), and the limits of their correction.
const DYNAMICS_REFERENCE: f32 = 0.1;
const DYNAMICS_MIN: f32 = 0.25;
const DYNAMICS_MAX: f32 = 4.0;
/// Colour shelf span per colour step (dB): ±12 dB over 0…100.
const COLOR_DB_PER_STEP: f64 = 0.24;
/// Samples between two computations of the dynamics.
const CONTROL_INTERVAL: usize = 16;
/// Parameters glide over this time constant.
const SMOOTHING_S: f64 = 0.02;
/// Envelope of the band: attack and release τ (s).
const ENVELOPE_ATTACK_S: f64 = 0.001;
const ENVELOPE_RELEASE_S: f64 = 0.05;

/// Which harmonics the generator makes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Harmonics {
    /// 3rd, 5th… (bright, edgy).
    Odd,
    /// 2nd, 4th… (warm).
    Even,
    /// Both.
    #[default]
    Both,
}

impl Harmonics {
    /// The generator for a driven sample `s`.
    #[inline]
    pub fn generate(self, s: f32) -> f32 {
        let u = s / (1.0 + s * s).sqrt();
        match self {
            Self::Odd => u,
            Self::Even => u * u,
            Self::Both => u + u * u,
        }
    }

    /// [`Harmonics::generate`] over a block, the choice made once (the loop is then SIMD).
    fn generate_all(self, samples: &mut [f32]) {
        match self {
            Self::Odd => samples.iter_mut().for_each(|s| *s = Self::Odd.generate(*s)),
            Self::Even => samples
                .iter_mut()
                .for_each(|s| *s = Self::Even.generate(*s)),
            Self::Both => samples
                .iter_mut()
                .for_each(|s| *s = Self::Both.generate(*s)),
        }
    }
}

/// The exciter's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Lowest frequency excited, Hz (default 3000).
    pub frequency: f32,
    /// Drive into the generator 0…100 (default 50).
    pub amount: f32,
    /// Harmonics made (default both).
    pub harmonics: Harmonics,
    /// Colour 0…100 (default 50 = flat): high shelf on the harmonics, ±12 dB.
    pub color: f32,
    /// Level-dependence of the drive 0…100 (default 50; legacy in the reference, see the
    /// module notes).
    pub dynamics: f32,
    /// Level of the added harmonics in %, 0…100 (default 50).
    pub mix: f32,
}

crate::host_choice!(Harmonics {
    Odd => "Odd",
    Even => "Even",
    Both => "Both",
});

// `dynamics` is a legacy field (docs/effects.md §3 #13): presets set it, hosts do not automate it.
crate::automatable!(Params {
    [frequency] "frequency", "Frequency", HostKind::logarithmic(FREQUENCY_RANGE, "Hz");
    [amount] "amount", "Amount", HostKind::linear(PERCENT_RANGE, "%");
    [harmonics] "harmonics", "Harmonics", HostKind::choice::<Harmonics>();
    [color] "color", "Color", HostKind::linear(PERCENT_RANGE, "%");
    [mix] "mix", "Mix", HostKind::linear(PERCENT_RANGE, "%");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            frequency: 3_000.0,
            amount: 50.0,
            harmonics: Harmonics::Both,
            color: 50.0,
            dynamics: 50.0,
            mix: 50.0,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            frequency: clamp_param(self.frequency, FREQUENCY_RANGE, d.frequency),
            amount: clamp_param(self.amount, PERCENT_RANGE, d.amount),
            harmonics: self.harmonics,
            color: clamp_param(self.color, PERCENT_RANGE, d.color),
            dynamics: clamp_param(self.dynamics, PERCENT_RANGE, d.dynamics),
            mix: clamp_param(self.mix, PERCENT_RANGE, d.mix),
        }
    }

    /// Band high-pass, post high-pass, colour shelf.
    fn designs(&self) -> [Design; 3] {
        let f = f64::from(self.frequency);
        [
            Design::new(Kind::Highpass, f, FRAC_1_SQRT_2),
            Design::new(Kind::Highpass, f / 2.0, FRAC_1_SQRT_2),
            Design::with_gain(
                Kind::HighShelf,
                f,
                FRAC_1_SQRT_2,
                (f64::from(self.color) - 50.0) * COLOR_DB_PER_STEP,
            ),
        ]
    }

    fn drive(&self) -> f32 {
        1.0 + DRIVE_SPAN * self.amount / 100.0
    }
}

/// One channel's oversampler, dry delay and scratch.
#[derive(Clone, Debug)]
struct Channel {
    oversampler: Oversampler,
    dry: DelayLine,
    driven: Vec<f32>,
}

/// The exciter. Disabled, it passes audio through untouched and reports no latency.
#[derive(Clone, Debug)]
pub struct Exciter {
    params: Params,
    sample_rate: f64,
    /// Band high-pass, post high-pass and colour shelf, left and right side by side.
    filters: [SmoothedPair; 3],
    channels: [Channel; 2],
    envelope: Follower,
    /// The drive of each sample, delayed by the oversampler's latency for the ÷g.
    drive_history: DelayLine,
    inverse_drive: Vec<f32>,
    amount: OnePole,
    dynamics: OnePole,
    mix: OnePole,
    dynamics_exponent: f32,
    until_control: usize,
}

impl Exciter {
    /// An exciter with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let params = params.clamped();
        let channel = Self::channel();
        let mut exciter = Self {
            sample_rate: 48_000.0,
            filters: Self::filters(&params, 48_000.0),
            channels: [channel.clone(), channel],
            envelope: Follower::new(
                Detector::Peak,
                ENVELOPE_ATTACK_S,
                ENVELOPE_RELEASE_S,
                48_000.0,
            ),
            drive_history: DelayLine::new(),
            inverse_drive: Vec::new(),
            amount: OnePole::new(params.drive(), SMOOTHING_S, 48_000.0),
            dynamics: OnePole::new(1.0, SMOOTHING_S, 48_000.0),
            mix: OnePole::new(params.mix / 100.0, SMOOTHING_S, 48_000.0),
            dynamics_exponent: params.dynamics / 100.0,
            until_control: 0,
            params,
        };
        exciter.reset();
        exciter
    }

    fn filters(params: &Params, sample_rate: f64) -> [SmoothedPair; 3] {
        params
            .designs()
            .map(|design| SmoothedPair::new(&design, sample_rate, SMOOTHING_S))
    }

    fn channel() -> Channel {
        Channel {
            oversampler: Oversampler::new(Factor::X2),
            dry: DelayLine::new(),
            driven: Vec::new(),
        }
    }

    /// Applies new parameters (clamped); everything glides. Switching on starts from silent
    /// state.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        let was_enabled = self.params.enabled;
        self.params = params.clamped();
        SmoothedPair::set_targets(&mut self.filters, &self.params.designs());
        self.amount.set_target(self.params.drive());
        self.mix.set_target(self.params.mix / 100.0);
        self.dynamics_exponent = self.params.dynamics / 100.0;
        if self.params.enabled && !was_enabled {
            self.reset();
        }
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }
}

/// The dynamics correction for a band envelope `level` (see the module notes).
fn dynamics_correction(level: f32, exponent: f32) -> f32 {
    (DYNAMICS_REFERENCE / level.max(1e-6))
        .powf(exponent)
        .clamp(DYNAMICS_MIN, DYNAMICS_MAX)
}

impl Effect for Exciter {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        self.filters = Self::filters(&self.params, spec.sample_rate);
        for channel in &mut self.channels {
            *channel = Self::channel();
            channel.oversampler.prepare(spec.max_block);
            channel.dry.prepare(channel.oversampler.latency());
            channel.driven = vec![0.0; spec.max_block];
        }
        let latency = self.channels[0].oversampler.latency();
        self.drive_history.prepare(latency);
        self.inverse_drive = vec![0.0; spec.max_block];
        self.envelope
            .set_times(ENVELOPE_ATTACK_S, ENVELOPE_RELEASE_S, spec.sample_rate);
        for smoother in [&mut self.amount, &mut self.dynamics, &mut self.mix] {
            smoother.set_time(SMOOTHING_S, spec.sample_rate);
        }
        self.reset();
    }

    fn reset(&mut self) {
        SmoothedPair::reset_to(&mut self.filters, &self.params.designs());
        for channel in &mut self.channels {
            channel.oversampler.reset();
            channel.dry.reset();
        }
        self.envelope.reset();
        self.amount.reset_to(self.params.drive());
        self.dynamics
            .reset_to(dynamics_correction(0.0, self.dynamics_exponent));
        self.mix.reset_to(self.params.mix / 100.0);
        self.drive_history.reset();
        self.until_control = 0;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let len = block.len();
        let latency = self.channels[0].oversampler.latency();
        let (left, right) = block.channels_mut();
        let [channel_l, channel_r] = &mut self.channels;
        // Band, drive and its delayed inverse, per frame.
        for (i, (&l, &r)) in left.iter().zip(right.iter()).enumerate() {
            let [band_l, band_r] = self.filters[0].process_sample([l, r]);
            self.envelope.process_sample(band_l.abs().max(band_r.abs()));
            if self.until_control == 0 {
                self.dynamics.set_target(dynamics_correction(
                    self.envelope.value(),
                    self.dynamics_exponent,
                ));
                self.until_control = CONTROL_INTERVAL;
            }
            self.until_control -= 1;
            let drive = self.amount.next_value() * self.dynamics.next_value();
            channel_l.driven[i] = drive * band_l;
            channel_r.driven[i] = drive * band_r;
            self.drive_history.push(drive);
            // Zero before the first sample: nothing has come through the oversampler yet.
            let delayed = self.drive_history.read(latency);
            self.inverse_drive[i] = if delayed > 0.0 { 1.0 / delayed } else { 0.0 };
        }
        let harmonics = self.params.harmonics;
        for channel in [&mut *channel_l, &mut *channel_r] {
            let driven = &mut channel.driven[..len];
            channel
                .oversampler
                .process(driven, |inner| harmonics.generate_all(inner));
        }
        let [_, post, color] = &mut self.filters;
        for (i, (l, r)) in left.iter_mut().zip(right.iter_mut()).enumerate() {
            let mix = self.mix.next_value();
            let inverse = self.inverse_drive[i];
            let harmonics = [channel_l.driven[i] * inverse, channel_r.driven[i] * inverse];
            let wet = color.process_sample(post.process_sample(harmonics));
            for ((x, channel), wet) in [l, r]
                .into_iter()
                .zip([&mut *channel_l, &mut *channel_r])
                .zip(wet)
            {
                channel.dry.push(*x);
                *x = channel.dry.read(latency) + mix * wet;
            }
        }
    }

    fn latency(&self) -> usize {
        if self.params.enabled {
            self.channels[0].oversampler.latency()
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::test_support::{FS, harmonic_db, render_mono, sine};

    conformance_tests!(Exciter {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] =
            &[("/harmonics", &["odd", "even", "both"])];
    });

    fn enabled(harmonics: Harmonics) -> Params {
        Params {
            enabled: true,
            harmonics,
            mix: 100.0,
            ..Params::default()
        }
    }

    /// The added signal (output minus the delayed dry) of a 1 s, 4 kHz sine at `amplitude`.
    fn added(params: &Params, amplitude: f64) -> Vec<f32> {
        let mut exciter = Exciter::prepared(params);
        let input = sine(4_000.0, amplitude, 2 * FS as usize, FS);
        let output = render_mono(&mut exciter, &input, 1024);
        let latency = exciter.latency();
        (FS as usize..2 * FS as usize)
            .map(|n| output[n] - input[n - latency])
            .collect()
    }

    /// Odd makes the 3rd harmonic and no 2nd, even the 2nd and no 3rd, both makes both.
    #[test]
    fn harmonics_choose_odd_even_or_both() {
        for harmonics in [Harmonics::Odd, Harmonics::Even, Harmonics::Both] {
            let wet = added(&enabled(harmonics), 0.3);
            let level = |h: u32| {
                let (re, im) = crate::test_support::dtft(&wet, 4_000.0 * f64::from(h), FS);
                20.0 * ((re * re + im * im).sqrt() * 2.0 / wet.len() as f64).log10()
            };
            let (h2, h3) = (level(2), level(3));
            println!("exciter {harmonics:?}: H2 {h2:.1} dBFS, H3 {h3:.1} dBFS");
            match harmonics {
                Harmonics::Odd => assert!(h3 > -40.0 && h2 < -100.0, "{h2} {h3}"),
                Harmonics::Even => assert!(h2 > -40.0 && h3 < -100.0, "{h2} {h3}"),
                Harmonics::Both => assert!(h2 > -40.0 && h3 > -40.0, "{h2} {h3}"),
            }
        }
    }

    /// Below the band the exciter adds next to nothing: a 100 Hz tone comes out as itself
    /// (delayed) within −60 dB.
    #[test]
    fn lows_pass_untouched() {
        let params = enabled(Harmonics::Both);
        let mut exciter = Exciter::prepared(&params);
        let input = sine(100.0, 0.5, 2 * FS as usize, FS);
        let output = render_mono(&mut exciter, &input, 1024);
        let latency = exciter.latency();
        let worst = (FS as usize..2 * FS as usize)
            .map(|n| (output[n] - input[n - latency]).abs())
            .fold(0.0f32, f32::max);
        println!("exciter at 100 Hz: largest addition {worst:.2e}");
        assert!(worst < 0.5e-3, "{worst}");
    }

    /// Dynamics 100 drives a quiet band as hard as a loud one: the 3rd harmonic's level
    /// relative to the tone moves far less between −30 and −10 dBFS than with dynamics 0.
    #[test]
    fn dynamics_make_the_harmonic_ratio_level_independent() {
        let spread = |dynamics: f32| {
            let params = Params {
                dynamics,
                amount: 30.0,
                ..enabled(Harmonics::Odd)
            };
            let ratio = |amplitude: f64| {
                let wet = added(&params, amplitude);
                harmonic_db(&wet, 4_000.0, 3, FS)
            };
            ratio(10f64.powf(-10.0 / 20.0)) - ratio(10f64.powf(-30.0 / 20.0))
        };
        let (fixed, normalised) = (spread(0.0), spread(100.0));
        println!(
            "exciter H3/H1 change from -30 to -10 dBFS: dynamics 0 {fixed:.1} dB, \
             dynamics 100 {normalised:.1} dB"
        );
        assert!(
            normalised.abs() < 0.25 * fixed.abs(),
            "{fixed} {normalised}"
        );
    }

    /// Colour tilts the added signal: +12 dB shelf at 100, −12 dB at 0, measured on the
    /// harmonics far above the corner.
    #[test]
    fn color_shelves_the_harmonics() {
        let h3 = |color: f32| {
            let wet = added(
                &Params {
                    color,
                    ..enabled(Harmonics::Odd)
                },
                0.3,
            );
            let (re, im) = crate::test_support::dtft(&wet, 12_000.0, FS);
            20.0 * (re * re + im * im).sqrt().log10()
        };
        let (dark, flat, bright) = (h3(0.0), h3(50.0), h3(100.0));
        println!(
            "exciter colour at 12 kHz: {:.2} / 0 / {:+.2} dB",
            dark - flat,
            bright - flat
        );
        assert!((bright - flat - 12.0).abs() < 1.5 && (dark - flat + 12.0).abs() < 1.5);
    }

    #[test]
    fn mix_zero_is_the_delayed_dry_and_disabled_is_bit_exact() {
        let input = sine(5_000.0, 0.8, 4_800, FS);
        assert_eq!(
            render_mono(&mut Exciter::prepared(&Params::default()), &input, 64),
            input
        );
        let mut dry = Exciter::prepared(&Params {
            mix: 0.0,
            ..enabled(Harmonics::Both)
        });
        let output = render_mono(&mut dry, &input, 64);
        let latency = dry.latency();
        assert_eq!(latency, 39);
        assert!(output[..latency].iter().all(|&y| y == 0.0));
        assert_eq!(output[latency..], input[..input.len() - latency]);
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
                "amount",
                "color",
                "dynamics",
                "enabled",
                "frequency",
                "harmonics",
                "mix"
            ]
        );
        let parsed: Params = serde_json::from_str(r#"{"harmonics": "odd"}"#).unwrap();
        assert_eq!(parsed.harmonics, Harmonics::Odd);
        let wild = Params {
            frequency: 1.0,
            amount: f32::NAN,
            mix: 1e6,
            ..Params::default()
        }
        .clamped();
        assert_eq!(
            (wild.frequency, wild.amount, wild.mix),
            (500.0, 50.0, 100.0)
        );
    }
}
