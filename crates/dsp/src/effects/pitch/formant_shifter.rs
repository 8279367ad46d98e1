//! The formant shifter (docs/effects.md §3 #3): the spectral envelope moved by the factor
//! 2^(shift/12)·(1 + 0.3·gender/100) (the reference's band factor) while the pitch stays.
//!
//! Where the reference moves 16 band-pass filters (which changes the sound's colour but not
//! where its formants are), this uses the TD-PSOLA analysis ([`crate::blocks::psola`]):
//! pitch-synchronous grains of two periods are read `factor` times faster, which scales their
//! spectral envelope (the formants) by the factor, and are placed one original period apart,
//! which keeps the pitch. With `preservePitch` off the grains are placed one resampled period
//! apart instead, so pitch and formants move together (plain resampling). Unvoiced input
//! (consonants, noise) gets grains every 5 ms, so its envelope moves too.
//!
//! Grains are centred on the pitch pulses ([`Analysis::with_pulse_marks`]). Latency: 1.5
//! longest periods (60 Hz) + 2 samples, 1202 at 48 kHz, reported while enabled;
//! the dry share of `mix` is delayed to match. The largest factors on the lowest voices would
//! read ahead of the input; those grains fall back to an older pitch mark (a period later).

use crate::automation::Kind;
use crate::blocks::delay::DelayLine;
use crate::blocks::psola::{Analysis, Shift, Voice};
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "formantShifter";

/// Declared range of [`Params::shift`] (semitones).
pub const SHIFT_RANGE: RangeInclusive<f32> = -12.0..=12.0;
/// Declared range of [`Params::gender`].
pub const GENDER_RANGE: RangeInclusive<f32> = -100.0..=100.0;
/// Declared range of [`Params::mix`] (%).
pub const PERCENT_RANGE: RangeInclusive<f32> = 0.0..=100.0;

/// The envelope factor per unit of gender at 100 (docs/effects.md §3 #3: 1 + 0.3·gender/100).
const GENDER_SPAN: f64 = 0.3;
/// Grains pair with marks 1.5 longest periods back (see [`crate::blocks::psola`]): enough
/// that marks of voices down to 90 Hz are placed on input already heard, so they can sit on
/// the pitch pulses (resampled grains holding two half pulses would comb the envelope).
const LATENCY_PERIODS: f64 = 1.5;
/// The factor and the mix glide over this time constant.
const SMOOTHING_S: f64 = 0.02;

/// The formant shifter's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Envelope shift in semitones, ±12 (default 0).
    pub shift: f32,
    /// Gender, ±100 (default 0): the envelope factor is multiplied by 1 + 0.3·gender/100.
    pub gender: f32,
    /// Keep the pitch (default on); off, the pitch moves with the formants.
    pub preserve_pitch: bool,
    /// Wet share in %, 0…100 (default 100).
    pub mix: f32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            shift: 0.0,
            gender: 0.0,
            preserve_pitch: true,
            mix: 100.0,
        }
    }
}

crate::automatable!(Params {
    [shift] "shift", "Formant Shift", Kind::linear(SHIFT_RANGE, "st");
    [gender] "gender", "Gender", Kind::linear(GENDER_RANGE, "");
    [preserve_pitch] "preservePitch", "Preserve Pitch", Kind::Toggle;
    [mix] "mix", "Mix", Kind::linear(PERCENT_RANGE, "%");
});

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            shift: clamp_param(self.shift, SHIFT_RANGE, d.shift),
            gender: clamp_param(self.gender, GENDER_RANGE, d.gender),
            preserve_pitch: self.preserve_pitch,
            mix: clamp_param(self.mix, PERCENT_RANGE, d.mix),
        }
    }

    /// The spectral envelope factor, 2^(shift/12)·(1 + 0.3·gender/100).
    pub fn factor(&self) -> f64 {
        (f64::from(self.shift) / 12.0).exp2() * (1.0 + GENDER_SPAN * f64::from(self.gender) / 100.0)
    }
}

/// The formant shifter. Disabled, it passes audio through untouched (and reports no latency).
#[derive(Clone, Debug)]
pub struct FormantShifter {
    params: Params,
    analysis: Analysis,
    voice: Voice,
    dry: [DelayLine; 2],
    /// ln of the factor, gliding (grains take it as they start).
    log_factor: OnePole,
    mix: OnePole,
}

impl FormantShifter {
    /// A formant shifter with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut effect = Self {
            params: params.clamped(),
            analysis: Analysis::new(true, LATENCY_PERIODS).with_pulse_marks(),
            voice: Voice::new(),
            dry: [DelayLine::new(), DelayLine::new()],
            log_factor: OnePole::new(0.0, SMOOTHING_S, sample_rate),
            mix: OnePole::new(1.0, SMOOTHING_S, sample_rate),
        };
        effect.update();
        effect.reset();
        effect
    }

    /// Applies new parameters (clamped). The factor and the mix glide; switching on starts
    /// from a fresh state.
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

    fn update(&mut self) {
        self.log_factor.set_target(self.params.factor().ln() as f32);
        self.mix.set_target(self.params.mix / 100.0);
    }
}

impl Effect for FormantShifter {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.analysis.prepare(spec.sample_rate);
        let latency = self.analysis.latency();
        for line in &mut self.dry {
            line.prepare(latency);
        }
        self.log_factor.set_time(SMOOTHING_S, spec.sample_rate);
        self.mix.set_time(SMOOTHING_S, spec.sample_rate);
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        self.analysis.reset();
        self.voice.reset();
        for line in &mut self.dry {
            line.reset();
        }
        self.log_factor.reset_to(self.params.factor().ln() as f32);
        self.mix.reset_to(self.params.mix / 100.0);
    }

    fn latency(&self) -> usize {
        if self.params.enabled {
            self.analysis.latency()
        } else {
            0
        }
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let latency = self.analysis.latency();
        let preserve = self.params.preserve_pitch;
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            self.analysis.push(*l, *r);
            let log_factor = f64::from(self.log_factor.next_value());
            let [wet_l, wet_r] = self.voice.render(&mut self.analysis, || {
                let factor = log_factor.exp();
                Shift {
                    pitch: if preserve { 1.0 } else { factor },
                    formant: factor,
                }
            });
            self.dry[0].push(*l);
            self.dry[1].push(*r);
            let dry_l = self.dry[0].read(latency);
            let dry_r = self.dry[1].read(latency);
            let mix = self.mix.next_value();
            *l = dry_l + mix * (wet_l - dry_l);
            *r = dry_r + mix * (wet_r - dry_r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::biquad::{Biquad, Design, Kind as FilterKind};
    use crate::blocks::yin::Yin;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::test_support::{FS, dtft, render_mono};

    conformance_tests!(FormantShifter);

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    /// Formants of the test vowel and their bandwidths, Hz.
    const FORMANTS: [(f64, f64); 3] = [(700.0, 130.0), (1_200.0, 150.0), (2_600.0, 200.0)];

    /// A 120 Hz impulse train through three parallel band-pass resonators.
    fn vowel(len: usize) -> Vec<f32> {
        vowel_scaled(len, 1.0)
    }

    /// [`vowel`] with every formant (centre and bandwidth) scaled by `factor`: the ideal
    /// formant shift.
    fn vowel_scaled(len: usize, factor: f64) -> Vec<f32> {
        let mut filters: Vec<Biquad> = FORMANTS
            .iter()
            .map(|&(f, bandwidth)| {
                Biquad::from_design(
                    &Design::new(FilterKind::Bandpass, f * factor, f / bandwidth),
                    FS,
                )
            })
            .collect();
        (0..len)
            .map(|n| {
                let x = if n % 400 == 0 { 1.0 } else { 0.0 };
                let y: f32 = filters.iter_mut().map(|f| f.process_sample(x)).sum();
                0.5 * y
            })
            .collect()
    }

    /// The spectral envelope's peak near each of `expected`: the harmonics of `f0` carry the
    /// envelope, so take the strongest harmonic within 1.5 harmonics of the expected peak and
    /// fit a resonance through it and its neighbours (1/power of a resonance is a parabola in
    /// frequency, so its vertex is the resonance's centre, between the harmonics). `signal`
    /// must hold whole periods.
    fn envelope_peaks(signal: &[f32], f0: f64, expected: &[f64]) -> Vec<f64> {
        let power = |n: usize| {
            let (re, im) = dtft(signal, n as f64 * f0, FS);
            re * re + im * im
        };
        expected
            .iter()
            .map(|&e| {
                let low = ((e / f0 - 1.5).ceil() as usize).max(2);
                let high = (e / f0 + 1.5).floor() as usize;
                let n = (low..=high)
                    .max_by(|&a, &b| power(a).total_cmp(&power(b)))
                    .unwrap();
                let (a, b, c) = (1.0 / power(n - 1), 1.0 / power(n), 1.0 / power(n + 1));
                (n as f64 + 0.5 * (a - c) / (a - 2.0 * b + c)) * f0
            })
            .collect()
    }

    fn median_pitch(signal: &[f32]) -> f64 {
        let mut yin = Yin::new(60.0, 1_000.0);
        yin.prepare(FS);
        let mut pitches: Vec<f64> = signal
            .windows(2_048)
            .step_by(1_024)
            .map(|frame| yin.analyse(frame).frequency(FS))
            .collect();
        pitches.sort_by(f64::total_cmp);
        pitches[pitches.len() / 2]
    }

    /// docs/effects.md §1 test 14: a 120 Hz impulse train through formants at 700/1200/2600 Hz;
    /// with the pitch kept, f0 stays within ±1 cent and each envelope peak moves by the factor
    /// within ±3 % (peaks by a resonance fit on the harmonics, read alike from the output and
    /// from the vowel synthesised with its formants moved by the factor).
    #[test]
    fn formants_move_by_the_factor_and_the_pitch_stays() {
        let input = vowel(3 * FS as usize);
        let steady = FS as usize..3 * FS as usize;
        let formants: Vec<f64> = FORMANTS.iter().map(|&(f, _)| f).collect();
        let reference = envelope_peaks(&input[steady.clone()], 120.0, &formants);
        println!("input envelope peaks {reference:.1?}");
        for (f, measured) in formants.iter().zip(&reference) {
            // The three responses add with their phases, which pulls the summed envelope's
            // peaks a little off the resonators' centres.
            assert!(
                (measured / f - 1.0).abs() < 0.05,
                "the estimator: {measured} for {f}"
            );
        }
        for (shift, gender) in [
            (3.0, 0.0),
            (-3.0, 0.0),
            (0.0, 50.0),
            (-2.0, -40.0),
            (4.0, 20.0),
        ] {
            let params = Params {
                enabled: true,
                shift,
                gender,
                ..Params::default()
            };
            let factor = params.factor();
            let mut effect = FormantShifter::prepared(&params);
            let output = render_mono(&mut effect, &input, 64);
            let pitch = median_pitch(&output[steady.clone()]);
            let cents = 1200.0 * (pitch / 120.0).log2();
            // The estimator reads the ideal shifted vowel the same way: its own bias (the
            // harmonics sample the envelope every 120 Hz) is then common to both.
            let ideal = vowel_scaled(3 * FS as usize, factor);
            let expected: Vec<f64> = reference.iter().map(|f| f * factor).collect();
            let moved = envelope_peaks(&ideal[steady.clone()], 120.0, &expected);
            let peaks = envelope_peaks(&output[steady.clone()], 120.0, &moved);
            let errors: Vec<f64> = peaks
                .iter()
                .zip(&moved)
                .map(|(p, m)| 100.0 * (p / m - 1.0))
                .collect();
            println!(
                "shift {shift:+} gender {gender:+} (factor {factor:.3}): f0 {pitch:.3} Hz \
                 ({cents:+.3} ct); peaks {peaks:.1?}; ratio errors {errors:+.2?} %"
            );
            assert!(cents.abs() <= 1.0, "{shift} {gender}: {cents} ct");
            for error in errors {
                assert!(error.abs() <= 3.0, "{shift} {gender}: {error} %");
            }
        }
    }

    /// Without preservePitch the pitch moves with the formants (by the factor).
    #[test]
    fn without_preserve_pitch_the_pitch_moves_too() {
        let input = vowel(2 * FS as usize);
        let params = Params {
            enabled: true,
            shift: 5.0,
            preserve_pitch: false,
            ..Params::default()
        };
        let mut effect = FormantShifter::prepared(&params);
        let output = render_mono(&mut effect, &input, 256);
        let pitch = median_pitch(&output[FS as usize..]);
        let expected = 120.0 * params.factor();
        println!("preservePitch off, +5 st: f0 {pitch:.3} Hz (expected {expected:.3})");
        assert!((1200.0 * (pitch / expected).log2()).abs() <= 1.0);
    }

    /// Factor 1 is a pure delay of the reported latency on a steady periodic input; mix 0 is
    /// the delayed input exactly; disabled is untouched.
    #[test]
    fn neutral_settings_are_a_delay_of_the_latency() {
        let input = vowel(FS as usize);
        let mut neutral = FormantShifter::prepared(&Params {
            enabled: true,
            ..Params::default()
        });
        let latency = neutral.latency();
        assert_eq!(latency, 1_202);
        let output = render_mono(&mut neutral, &input, 64);
        let worst = (FS as usize / 2..input.len())
            .map(|n| (output[n] - input[n - latency]).abs())
            .fold(0.0f32, f32::max);
        println!("factor 1: worst difference from the delayed input {worst:.2e}");
        assert!(worst < 1e-4, "{worst}");
        let mut dry = FormantShifter::prepared(&Params {
            enabled: true,
            shift: 7.0,
            mix: 0.0,
            ..Params::default()
        });
        let output = render_mono(&mut dry, &input, 64);
        assert_eq!(&output[latency..], &input[..input.len() - latency]);
        let mut off = FormantShifter::prepared(&Params::default());
        assert_eq!(off.latency(), 0);
        assert_eq!(render_mono(&mut off, &input, 64), input);
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
        assert_eq!(keys, ["enabled", "gender", "mix", "preservePitch", "shift"]);
        let wild = Params {
            shift: 40.0,
            gender: f32::NAN,
            mix: -1.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!((wild.shift, wild.gender, wild.mix), (12.0, 0.0, 0.0));
        assert!((wild.factor() - 2.0).abs() < 1e-12);
        let gendered = Params {
            shift: 0.0,
            gender: 100.0,
            ..Params::default()
        };
        assert!((gendered.factor() - 1.3).abs() < 1e-12);
    }
}
