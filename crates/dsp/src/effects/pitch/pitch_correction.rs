//! Pitch correction (docs/effects.md §3 #1): the sung pitch pulled to the nearest note of a key and
//! scale, by a TD-PSOLA voice over the YIN detector ([`crate::blocks::psola`]).
//!
//! The room's key and scale ([`RoomContext`]), when set, override the parameters: a jam
//! corrects to the song's key. Each detector estimate (every 512 samples at 48 kHz) gives the
//! input note m; the target is `scale.nearest(key, m)` + detune, and the correction, target −
//! m in cents, glides there with a time constant of `speed` × 2 ms (0 = instant: the next
//! grain is exactly on the note). Smoothing the correction rather than the output note lets
//! vibrato faster than the retune time through, as a retune-speed control does. Unvoiced
//! input glides the correction back to 0. Humanize adds a seeded random drift of ±15·h/100
//! cents moving at 0.5 Hz (docs/effects.md §3 #1); detune adds ±100 cents to the target.
//!
//! With `formantPreserve` the grains keep their spectral envelope (PSOLA's own behaviour);
//! off, grains are resampled and formants move with the correction. The detector runs on the
//! mono sum; both channels are shifted by the same grains. Latency: 0.75 of the longest period
//! (60 Hz) + 2 samples, 602 samples at 48 kHz, reported while enabled; the dry share of `mix`
//! is delayed by the same amount, so any mix is phase-aligned.

use crate::blocks::delay::DelayLine;
use crate::blocks::psola::{Analysis, Shift, Voice};
use crate::blocks::smoother::OnePole;
use crate::context::RoomContext;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::param::{Key, Scale};
use crate::effects::pitch::{RandomDrift, note_of};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "pitchCorrection";

/// Declared range of [`Params::speed`], [`Params::humanize`] and [`Params::mix`] (%).
pub const PERCENT_RANGE: RangeInclusive<f32> = 0.0..=100.0;
/// Declared range of [`Params::detune`] (cents).
pub const DETUNE_RANGE: RangeInclusive<f32> = -100.0..=100.0;

/// Retune time constant per unit of `speed`, seconds (speed 100 → 200 ms).
const RETUNE_SECONDS_PER_SPEED: f64 = 0.002;
/// Humanize depth at 100 %, cents each way (docs/effects.md §3 #1: ±15·h).
const HUMANIZE_CENTS: f64 = 15.0;
/// Humanize drift rate, Hz (docs/effects.md §3 #1).
const HUMANIZE_RATE_HZ: f64 = 0.5;
/// The humanize drift's seed.
const HUMANIZE_SEED: u64 = 0x5EED_0001;
/// Longest correction applied, cents (a pentatonic gap plus detune).
const MAX_CORRECTION_CENTS: f64 = 300.0;
/// Grains pair with marks this many longest periods back (see [`crate::blocks::psola`]):
/// corrections stay within ±3 semitones, whose resampled grains need 0.69 periods.
const LATENCY_PERIODS: f64 = 0.75;
/// The mix glides over this time constant.
const MIX_SMOOTHING_S: f64 = 0.01;

/// Pitch correction's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// The key (default C); the room's key overrides it when set.
    pub key: Key,
    /// The scale (default chromatic); the room's scale overrides it when set.
    pub scale: Scale,
    /// Retune speed 0…100 (default 50): the correction's time constant is speed × 2 ms;
    /// 0 is instant.
    pub speed: f32,
    /// Random pitch drift 0…100 (default 30): ±15·h/100 cents at 0.5 Hz.
    pub humanize: f32,
    /// Keep the formants while shifting (default on).
    pub formant_preserve: bool,
    /// Offset of the target in cents, ±100 (default 0).
    pub detune: f32,
    /// Wet share in %, 0…100 (default 100).
    pub mix: f32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            key: Key::C,
            scale: Scale::Chromatic,
            speed: 50.0,
            humanize: 30.0,
            formant_preserve: true,
            detune: 0.0,
            mix: 100.0,
        }
    }
}

crate::automatable!(Params {
    [key] "key", "Key", Kind::KEY;
    [scale] "scale", "Scale", Kind::SCALE;
    [speed] "speed", "Retune Speed", Kind::linear(PERCENT_RANGE, "%");
    [humanize] "humanize", "Humanize", Kind::linear(PERCENT_RANGE, "%");
    [formant_preserve] "formantPreserve", "Formant Preserve", Kind::Toggle;
    [detune] "detune", "Detune", Kind::linear(DETUNE_RANGE, "ct");
    [mix] "mix", "Mix", Kind::linear(PERCENT_RANGE, "%");
});

use crate::automation::Kind;

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            key: self.key,
            scale: self.scale,
            speed: clamp_param(self.speed, PERCENT_RANGE, d.speed),
            humanize: clamp_param(self.humanize, PERCENT_RANGE, d.humanize),
            formant_preserve: self.formant_preserve,
            detune: clamp_param(self.detune, DETUNE_RANGE, d.detune),
            mix: clamp_param(self.mix, PERCENT_RANGE, d.mix),
        }
    }
}

/// Pitch correction. Disabled, it passes audio through untouched (and reports no latency).
#[derive(Clone, Debug)]
pub struct PitchCorrection {
    params: Params,
    sample_rate: f64,
    room_key: Option<Key>,
    room_scale: Option<Scale>,
    analysis: Analysis,
    voice: Voice,
    dry: [DelayLine; 2],
    /// The correction in cents, gliding at the retune speed.
    correction: OnePole,
    humanize: RandomDrift,
    mix: OnePole,
}

impl PitchCorrection {
    /// Pitch correction with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut effect = Self {
            params: params.clamped(),
            sample_rate,
            room_key: None,
            room_scale: None,
            analysis: Analysis::new(true, LATENCY_PERIODS),
            voice: Voice::new(),
            dry: [DelayLine::new(), DelayLine::new()],
            correction: OnePole::new(0.0, 0.1, sample_rate),
            humanize: RandomDrift::new(HUMANIZE_SEED, HUMANIZE_RATE_HZ, sample_rate),
            mix: OnePole::new(1.0, MIX_SMOOTHING_S, sample_rate),
        };
        effect.update();
        effect.reset();
        effect
    }

    /// Applies new parameters (clamped). The correction and the mix glide; switching on
    /// starts from a fresh state.
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

    /// The key and scale in force: the room's where set, else the parameters'.
    pub fn key_and_scale(&self) -> (Key, Scale) {
        (
            self.room_key.unwrap_or(self.params.key),
            self.room_scale.unwrap_or(self.params.scale),
        )
    }

    fn update(&mut self) {
        self.correction.set_time(
            f64::from(self.params.speed) * RETUNE_SECONDS_PER_SPEED,
            self.sample_rate,
        );
        self.mix.set_target(self.params.mix / 100.0);
    }

    /// A new estimate: the correction's new target.
    fn retarget(&mut self) {
        let estimate = self.analysis.estimate();
        let cents = if estimate.voiced {
            let note = note_of(estimate.frequency(self.sample_rate));
            let (key, scale) = self.key_and_scale();
            let target = scale.nearest(key, note) + f64::from(self.params.detune) / 100.0;
            (100.0 * (target - note)).clamp(-MAX_CORRECTION_CENTS, MAX_CORRECTION_CENTS)
        } else {
            0.0
        };
        self.correction.set_target(cents as f32);
    }
}

impl Effect for PitchCorrection {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        self.analysis.prepare(spec.sample_rate);
        let latency = self.analysis.latency();
        for line in &mut self.dry {
            line.prepare(latency);
        }
        self.humanize.set_rate(HUMANIZE_RATE_HZ, spec.sample_rate);
        self.mix.set_time(MIX_SMOOTHING_S, spec.sample_rate);
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        self.analysis.reset();
        self.voice.reset();
        for line in &mut self.dry {
            line.reset();
        }
        self.correction.reset_to(0.0);
        self.humanize.reset();
        self.mix.reset_to(self.params.mix / 100.0);
    }

    fn set_context(&mut self, context: &RoomContext) {
        self.room_key = context.key;
        self.room_scale = context.scale;
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
        let depth = HUMANIZE_CENTS * f64::from(self.params.humanize) / 100.0;
        let preserve = self.params.formant_preserve;
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            if self.analysis.push(*l, *r) {
                self.retarget();
            }
            let drift = self.humanize.next_value();
            let cents = f64::from(self.correction.next_value()) + depth * drift;
            let [wet_l, wet_r] = self.voice.render(&mut self.analysis, || {
                Shift::pitch((cents / 1200.0).exp2(), preserve)
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
    use crate::blocks::psola::tests::peak_and_purity;
    use crate::blocks::yin::Yin;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::test_support::{FS, render_mono, sine};

    conformance_tests!(PitchCorrection {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] = &[
            ("/key", &["C", "F#", "Bb"]),
            ("/scale", &["chromatic", "major", "minor", "pentatonicMinor", "blues"]),
        ];
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn corrector(key: &str, scale: Scale) -> Params {
        Params {
            enabled: true,
            key: Key::parse(key).unwrap(),
            scale,
            speed: 0.0,
            humanize: 0.0,
            ..Params::default()
        }
    }

    fn cents(measured: f64, truth: f64) -> f64 {
        1200.0 * (measured / truth).log2()
    }

    /// The output's pitch frame by frame (YIN, 2048 every 1024) from `from` on.
    fn pitch_track(output: &[f32], from: usize) -> Vec<f64> {
        let mut yin = Yin::new(60.0, 1_400.0);
        yin.prepare(FS);
        output[from..]
            .windows(2_048)
            .step_by(1_024)
            .map(|frame| yin.analyse(frame).frequency(FS))
            .collect()
    }

    /// docs/effects.md §1 test 13: 440·2^(30/1200) Hz, chromatic, speed 0 → 440 Hz ± 2 cents after
    /// the retune, and no octave jumps (every frame from 85 ms on within 2 cents). With formants
    /// resampled the spectrum is as clean as the pitch shifter's (≥ 50 dB, test 11); with
    /// formants kept a sine's grains are 2-period Hann bursts whose spectrum leaks into the
    /// second harmonic (≈ −40 dB), which is PSOLA's nature, not an error of pitch.
    #[test]
    fn a_sharp_a_is_pulled_to_440_hz() {
        let input = sine(440.0 * 2f64.powf(30.0 / 1200.0), 0.5, 4 * FS as usize, FS);
        for preserve in [true, false] {
            let mut effect = PitchCorrection::prepared(&Params {
                formant_preserve: preserve,
                ..corrector("C", Scale::Chromatic)
            });
            let output = render_mono(&mut effect, &input, 64);
            let (peak, purity) = peak_and_purity(&output[FS as usize..3 * FS as usize], 440.0);
            let track = pitch_track(&output, 4_096);
            let worst = track
                .iter()
                .map(|&f| cents(f, 440.0).abs())
                .fold(0.0, f64::max);
            println!(
                "formants kept {preserve}: 440 Hz + 30 ct → {peak:.3} Hz ({:+.3} ct), purity \
                 {purity:.1} dB; frames from 85 ms: worst {worst:.3} ct over {} frames",
                cents(peak, 440.0),
                track.len()
            );
            assert!(cents(peak, 440.0).abs() <= 2.0);
            assert!(worst <= 2.0, "{worst}");
            assert!(purity >= if preserve { 35.0 } else { 50.0 }, "{purity}");
        }
    }

    /// A sine 30 cents above D♯4 snaps to E in C major, to E♭ in C minor; the room's key and
    /// scale override the parameters (E♭ major from the room: E♭ again).
    #[test]
    fn a_detuned_note_snaps_to_the_scale_and_the_room_overrides_the_key() {
        let input = sine(311.127 * 2f64.powf(30.0 / 1200.0), 0.5, 3 * FS as usize, FS);
        let e4 = 329.627_6;
        let e_flat4 = 311.127_0;
        let cases = [
            ("C", Scale::Major, None, e4),
            ("C", Scale::Minor, None, e_flat4),
            (
                "C",
                Scale::Major,
                Some((Key::parse("Eb").unwrap(), Scale::Major)),
                e_flat4,
            ),
            ("A", Scale::Minor, Some((Key::C, Scale::Major)), e4),
        ];
        for (key, scale, room, expected) in cases {
            let mut effect = PitchCorrection::prepared(&corrector(key, scale));
            let context = RoomContext {
                key: room.map(|r| r.0),
                scale: room.map(|r| r.1),
                ..RoomContext::default()
            };
            effect.set_context(&context);
            let output = render_mono(&mut effect, &input, 256);
            let (peak, _) = peak_and_purity(&output[FS as usize..3 * FS as usize], expected);
            let error = cents(peak, expected);
            println!("{key} {scale:?} room {room:?}: {peak:.3} Hz ({error:+.3} ct)");
            assert!(error.abs() <= 2.0, "{key} {scale:?} {room:?}: {error}");
        }
    }

    /// The retune speed: at speed 50 (τ = 100 ms) the correction has done 63 % of its work
    /// one time constant after the first estimate, within a grain's timing.
    #[test]
    fn speed_sets_the_retune_time() {
        let input = sine(440.0 * 2f64.powf(40.0 / 1200.0), 0.5, FS as usize, FS);
        let mut effect = PitchCorrection::prepared(&Params {
            speed: 50.0,
            ..corrector("C", Scale::Chromatic)
        });
        let output = render_mono(&mut effect, &input, 64);
        // The first voiced estimate (a frame whose first half holds signal) is published at
        // sample 1919 and heard 602 samples later; τ = 4800 samples after that, 63 % of the
        // 40 cents are corrected (frames are 2048 long: read the one centred there).
        let track = pitch_track(&output, 0);
        let centred_at = |sample: usize| cents(track[(sample - 1_024) / 1_024], 440.0);
        let start = 1_919 + 602;
        let early = centred_at(start + 4_800);
        let late = centred_at(start + 5 * 4_800);
        let expected = 40.0 * (-1.0f64).exp();
        println!(
            "40 ct sharp at speed 50: {early:+.1} ct one τ in (expected {expected:.1}), \
             {late:+.2} ct after 5τ"
        );
        assert!((early - expected).abs() < 3.0, "{early}");
        assert!(late.abs() < 1.0, "{late}");
    }

    /// Mix 0 is the input delayed by the reported latency, bit for bit; an in-tune input is
    /// (nearly) the same with the wet path; disabled is untouched with no latency.
    #[test]
    fn latency_is_exact_and_mix_zero_is_the_delayed_input() {
        let input = sine(440.0, 0.5, FS as usize, FS);
        let mut dry = PitchCorrection::prepared(&Params {
            mix: 0.0,
            ..corrector("C", Scale::Chromatic)
        });
        let latency = dry.latency();
        assert_eq!(latency, 602);
        let output = render_mono(&mut dry, &input, 100);
        assert_eq!(&output[latency..], &input[..input.len() - latency]);

        let mut wet = PitchCorrection::prepared(&corrector("C", Scale::Chromatic));
        let output = render_mono(&mut wet, &input, 100);
        let worst = (FS as usize / 2..input.len())
            .map(|n| (output[n] - input[n - latency]).abs())
            .fold(0.0f32, f32::max);
        println!("in tune, wet: worst difference from the delayed input {worst:.2e}");
        assert!(worst < 1e-3, "{worst}");

        let mut off = PitchCorrection::prepared(&Params::default());
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
        assert_eq!(
            keys,
            [
                "detune",
                "enabled",
                "formantPreserve",
                "humanize",
                "key",
                "mix",
                "scale",
                "speed"
            ]
        );
        let parsed: Params =
            serde_json::from_str(r#"{"key": "F#", "scale": "harmonicMinor", "speed": 10}"#)
                .unwrap();
        assert_eq!(parsed.key, Key::new(6));
        assert_eq!(parsed.scale, Scale::HarmonicMinor);
        let wild = Params {
            speed: f32::NAN,
            detune: -500.0,
            mix: 1e9,
            ..Params::default()
        }
        .clamped();
        assert_eq!((wild.speed, wild.detune, wild.mix), (50.0, -100.0, 100.0));
    }
}
