//! The harmonizer (docs/effects.md §3 #2): up to four voices shifted from the input by a harmony's
//! intervals, TD-PSOLA over the YIN detector ([`crate::blocks::psola`]), each panned across
//! the stereo field and added to the (latency-aligned) input: out = in + mix·Σ voices, as the
//! reference sums them.
//!
//! Intervals: `harmonyType` names them (octave 12, fifth 7, fourth 5, third 4, sixth 9,
//! powerChord 7+12, thirdAndFifth 4+7, thirdBelow −4, fifthBelow −7, octaveBelow −12, custom =
//! `customIntervals`, at most four). Voice i takes interval i of the list, repeated an octave
//! further out when there are more voices than intervals. With `keyLock` these intervals are
//! diatonic: an interval of s semitones becomes round(s·n/12) steps of the n-note scale, taken
//! from the scale note nearest the sung pitch (a third above A in C major is C, in A major
//! C♯); the voice keeps the singer's own deviation from that note. minorThird (3), majorChord
//! (4+7) and minorChord (3+7) name a chord quality, so they stay chromatic. The room's key and
//! scale override the parameters when set. `shift` (±1200 cents) moves every voice. Without a
//! pitch (unvoiced, before the first estimate) the voices keep their last intervals.
//!
//! Legacy presets: `voice1…3Interval` (semitones, chromatic) and `voice1…3Level` are read
//! only when `harmonyType` is absent (docs/effects.md §3 #2: ours), giving up to three voices at
//! their own levels.
//!
//! The voices share one analysis of the mono sum (detector, marks, one input line); each is a
//! mono PSOLA voice panned at constant power (spread 0: all centred; 100: spread from hard
//! left to hard right). Latency: one longest period (60 Hz) + 2 samples, 802 at 48 kHz.

use crate::automation::{HostValue, Kind};
use crate::blocks::delay::DelayLine;
use crate::blocks::psola::{Analysis, Shift, Voice};
use crate::blocks::smoother::OnePole;
use crate::context::RoomContext;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::param::{Key, Scale};
use crate::effects::pitch::note_of;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::f64::consts::FRAC_PI_4;
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "harmonizer";

/// Declared range of [`Params::voices`] (rounded to a whole number).
pub const VOICES_RANGE: RangeInclusive<f32> = 1.0..=4.0;
/// Declared range of [`Params::spread`], [`Params::mix`] and the legacy levels (%).
pub const PERCENT_RANGE: RangeInclusive<f32> = 0.0..=100.0;
/// Declared range of [`Params::shift`] (cents).
pub const SHIFT_RANGE: RangeInclusive<f32> = -1_200.0..=1_200.0;
/// Range of custom and legacy intervals (semitones).
pub const INTERVAL_RANGE: RangeInclusive<f32> = -24.0..=24.0;

/// Most voices.
pub const MAX_VOICES: usize = 4;
/// Grains pair with marks one longest period back (see [`crate::blocks::psola`]).
const LATENCY_PERIODS: f64 = 1.0;
/// Gains and the mix glide over this time constant.
const SMOOTHING_S: f64 = 0.02;

/// The harmony (docs/effects.md §3 #2 names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HarmonyType {
    /// An octave up.
    Octave,
    /// A fifth up.
    Fifth,
    /// A fourth up.
    Fourth,
    /// A third up.
    #[default]
    Third,
    /// A minor third up (chromatic).
    MinorThird,
    /// A sixth up.
    Sixth,
    /// Fifth and octave.
    PowerChord,
    /// Major third and fifth (chromatic).
    MajorChord,
    /// Minor third and fifth (chromatic).
    MinorChord,
    /// Third and fifth.
    ThirdAndFifth,
    /// A third down.
    ThirdBelow,
    /// A fifth down.
    FifthBelow,
    /// An octave down.
    OctaveBelow,
    /// `customIntervals`.
    Custom,
}

crate::host_choice!(HarmonyType {
    Octave => "Octave",
    Fifth => "Fifth",
    Fourth => "Fourth",
    Third => "Third",
    MinorThird => "Minor Third",
    Sixth => "Sixth",
    PowerChord => "Power Chord",
    MajorChord => "Major Chord",
    MinorChord => "Minor Chord",
    ThirdAndFifth => "Third and Fifth",
    ThirdBelow => "Third Below",
    FifthBelow => "Fifth Below",
    OctaveBelow => "Octave Below",
    Custom => "Custom",
});

impl HarmonyType {
    /// The intervals in semitones (empty for custom: they come from the parameters), and
    /// whether key lock may make them diatonic.
    fn intervals(self) -> (&'static [f32], bool) {
        match self {
            Self::Octave => (&[12.0], true),
            Self::Fifth => (&[7.0], true),
            Self::Fourth => (&[5.0], true),
            Self::Third => (&[4.0], true),
            Self::MinorThird => (&[3.0], false),
            Self::Sixth => (&[9.0], true),
            Self::PowerChord => (&[7.0, 12.0], true),
            Self::MajorChord => (&[4.0, 7.0], false),
            Self::MinorChord => (&[3.0, 7.0], false),
            Self::ThirdAndFifth => (&[4.0, 7.0], true),
            Self::ThirdBelow => (&[-4.0], true),
            Self::FifthBelow => (&[-7.0], true),
            Self::OctaveBelow => (&[-12.0], true),
            Self::Custom => (&[], true),
        }
    }
}

/// `harmonyType` as a host choice: absent (legacy presets) shows as the default, third.
impl HostValue for Option<HarmonyType> {
    fn to_host(self) -> f32 {
        self.unwrap_or_default().to_host()
    }

    fn from_host(value: f32) -> Self {
        Some(HarmonyType::from_host(value))
    }
}

/// Up to four intervals in semitones, kept in place (no heap: host automation and
/// `set_params` run on the audio thread). JSON: a list; entries past the fourth are ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Intervals {
    values: [f32; MAX_VOICES],
    len: usize,
}

impl Intervals {
    /// The first four of `values`.
    pub fn new(values: &[f32]) -> Self {
        let mut intervals = Self::default();
        for &value in values.iter().take(MAX_VOICES) {
            intervals.values[intervals.len] = value;
            intervals.len += 1;
        }
        intervals
    }

    /// The intervals.
    pub fn as_slice(&self) -> &[f32] {
        &self.values[..self.len]
    }
}

impl Serialize for Intervals {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.as_slice())
    }
}

impl<'de> Deserialize<'de> for Intervals {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let values = Vec::<f32>::deserialize(deserializer)?;
        Ok(Self::new(&values))
    }
}

/// The harmonizer's parameters (reference JSON keys; missing fields take the defaults, except
/// `harmonyType`, whose absence selects the legacy voice fields when a preset has them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// The key (default C); the room's key overrides it when set.
    pub key: Key,
    /// The scale (default major); the room's scale overrides it when set.
    pub scale: Scale,
    /// The harmony (default third); absent in legacy presets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harmony_type: Option<HarmonyType>,
    /// Intervals of the custom harmony, semitones ±24 (default none).
    pub custom_intervals: Intervals,
    /// Voices 1…4 (default 1; a whole number, kept as a number so `2.0` parses too).
    pub voices: f32,
    /// Stereo spread of the voices, 0…100 (default 50).
    pub spread: f32,
    /// Extra shift of every voice in cents, ±1200 (default 0).
    pub shift: f32,
    /// Level of the voices in %, 0…100 (default 50); the input always passes.
    pub mix: f32,
    /// Diatonic intervals in the key and scale (default on).
    pub key_lock: bool,
    /// Keep the formants while shifting (default on).
    pub formant_preserve: bool,
    /// Legacy: voice 1's interval in semitones (default 4), read without `harmonyType`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice1_interval: Option<f32>,
    /// Legacy: voice 1's level in % (default 70).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice1_level: Option<f32>,
    /// Legacy: voice 2's interval (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice2_interval: Option<f32>,
    /// Legacy: voice 2's level (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice2_level: Option<f32>,
    /// Legacy: voice 3's interval (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice3_interval: Option<f32>,
    /// Legacy: voice 3's level (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice3_level: Option<f32>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            key: Key::C,
            scale: Scale::Major,
            harmony_type: Some(HarmonyType::Third),
            custom_intervals: Intervals::default(),
            voices: 1.0,
            spread: 50.0,
            shift: 0.0,
            mix: 50.0,
            key_lock: true,
            formant_preserve: true,
            voice1_interval: None,
            voice1_level: None,
            voice2_interval: None,
            voice2_level: None,
            voice3_interval: None,
            voice3_level: None,
        }
    }
}

crate::automatable!(Params {
    [key] "key", "Key", Kind::KEY;
    [scale] "scale", "Scale", Kind::SCALE;
    [harmony_type] "harmonyType", "Harmony", Kind::choice::<HarmonyType>();
    [voices] "voices", "Voices", Kind::int(1, 4);
    [spread] "spread", "Spread", Kind::linear(PERCENT_RANGE, "%");
    [shift] "shift", "Shift", Kind::linear(SHIFT_RANGE, "ct");
    [mix] "mix", "Mix", Kind::linear(PERCENT_RANGE, "%");
    [key_lock] "keyLock", "Key Lock", Kind::Toggle;
    [formant_preserve] "formantPreserve", "Formant Preserve", Kind::Toggle;
});

/// The legacy voices' defaults: (interval, level) of voices 1–3.
const LEGACY_DEFAULTS: [(f32, f32); 3] = [(4.0, 70.0), (0.0, 0.0), (0.0, 0.0)];

impl Params {
    /// Whether the legacy voice fields are in force: `harmonyType` absent and at least one
    /// of them present.
    pub fn is_legacy(&self) -> bool {
        self.harmony_type.is_none() && self.legacy_fields().iter().any(Option::is_some)
    }

    fn legacy_fields(&self) -> [Option<f32>; 6] {
        [
            self.voice1_interval,
            self.voice1_level,
            self.voice2_interval,
            self.voice2_level,
            self.voice3_interval,
            self.voice3_level,
        ]
    }

    /// The parameters with every value inside its range (NaN becomes the default), and
    /// `harmonyType` resolved: legacy presets keep it absent with every legacy field filled;
    /// otherwise it is set (default third) and the legacy fields are dropped.
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        let legacy = self.is_legacy();
        let legacy_field = |value: Option<f32>, default: f32, range: RangeInclusive<f32>| {
            legacy.then(|| clamp_param(value.unwrap_or(default), range, default))
        };
        let [(i1, l1), (i2, l2), (i3, l3)] = LEGACY_DEFAULTS;
        let mut custom = self.custom_intervals;
        for value in &mut custom.values[..custom.len] {
            *value = clamp_param(*value, INTERVAL_RANGE, 0.0);
        }
        Self {
            enabled: self.enabled,
            key: self.key,
            scale: self.scale,
            harmony_type: if legacy {
                None
            } else {
                Some(self.harmony_type.unwrap_or_default())
            },
            custom_intervals: custom,
            voices: clamp_param(self.voices, VOICES_RANGE, d.voices).round(),
            spread: clamp_param(self.spread, PERCENT_RANGE, d.spread),
            shift: clamp_param(self.shift, SHIFT_RANGE, d.shift),
            mix: clamp_param(self.mix, PERCENT_RANGE, d.mix),
            key_lock: self.key_lock,
            formant_preserve: self.formant_preserve,
            voice1_interval: legacy_field(self.voice1_interval, i1, INTERVAL_RANGE),
            voice1_level: legacy_field(self.voice1_level, l1, PERCENT_RANGE),
            voice2_interval: legacy_field(self.voice2_interval, i2, INTERVAL_RANGE),
            voice2_level: legacy_field(self.voice2_level, l2, PERCENT_RANGE),
            voice3_interval: legacy_field(self.voice3_interval, i3, INTERVAL_RANGE),
            voice3_level: legacy_field(self.voice3_level, l3, PERCENT_RANGE),
        }
    }

    /// Each voice's (interval in semitones, may key lock make it diatonic, level), for the
    /// clamped parameters; `None` = voice off.
    fn voice_plan(&self) -> [Option<(f32, bool, f32)>; MAX_VOICES] {
        let mut plan = [None; MAX_VOICES];
        if self.harmony_type.is_none() {
            let legacy = [
                (self.voice1_interval, self.voice1_level),
                (self.voice2_interval, self.voice2_level),
                (self.voice3_interval, self.voice3_level),
            ];
            for (slot, (interval, level)) in plan.iter_mut().zip(legacy) {
                let level = level.unwrap_or(0.0) / 100.0;
                if level > 0.0 {
                    *slot = Some((interval.unwrap_or(0.0), false, level));
                }
            }
            return plan;
        }
        let harmony = self.harmony_type.unwrap_or_default();
        let (list, diatonic) = match harmony {
            HarmonyType::Custom => (self.custom_intervals.as_slice(), true),
            other => other.intervals(),
        };
        if list.is_empty() {
            return plan;
        }
        for (index, slot) in plan.iter_mut().enumerate().take(self.voices as usize) {
            let base = list[index % list.len()];
            let octaves = (index / list.len()) as f32;
            let interval = base + 12.0 * octaves * if base < 0.0 { -1.0 } else { 1.0 };
            *slot = Some((interval, diatonic, 1.0));
        }
        plan
    }
}

/// The scale note `steps` scale degrees from the scale note `from` (an integer note number in
/// `scale` of `key`).
fn degrees_from(key: Key, scale: Scale, from: f64, steps: i32) -> f64 {
    let degrees = scale.intervals();
    let n = degrees.len() as i32;
    let tonic = f64::from(key.pitch_class());
    let octave = ((from - tonic) / 12.0).floor();
    let class = (from - tonic - 12.0 * octave).round() as i32;
    let degree = degrees
        .iter()
        .position(|&d| i32::from(d) == class)
        .unwrap_or(0) as i32;
    let target = degree + steps;
    let octaves = target.div_euclid(n);
    let index = target.rem_euclid(n) as usize;
    tonic + 12.0 * (octave + f64::from(octaves)) + f64::from(degrees[index])
}

/// The harmonizer. Disabled, it passes audio through untouched (and reports no latency).
#[derive(Clone, Debug)]
pub struct Harmonizer {
    params: Params,
    sample_rate: f64,
    room_key: Option<Key>,
    room_scale: Option<Scale>,
    analysis: Analysis,
    voices: [Voice; MAX_VOICES],
    /// Each voice's plan, and its current pitch ratio (kept through unvoiced input).
    plan: [Option<(f32, bool, f32)>; MAX_VOICES],
    ratios: [f64; MAX_VOICES],
    /// The scale-snapped input note of the last voiced estimate.
    input_note: Option<f64>,
    /// Left and right gain of each voice (level × pan × mix), gliding.
    gains: [[OnePole; 2]; MAX_VOICES],
    dry: [DelayLine; 2],
}

impl Harmonizer {
    /// A harmonizer with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut effect = Self {
            params: params.clamped(),
            sample_rate,
            room_key: None,
            room_scale: None,
            analysis: Analysis::new(false, LATENCY_PERIODS),
            voices: std::array::from_fn(|_| Voice::new()),
            plan: [None; MAX_VOICES],
            ratios: [1.0; MAX_VOICES],
            input_note: None,
            gains: std::array::from_fn(|_| {
                std::array::from_fn(|_| OnePole::new(0.0, SMOOTHING_S, sample_rate))
            }),
            dry: [DelayLine::new(), DelayLine::new()],
        };
        effect.update();
        effect.reset();
        effect
    }

    /// Applies new parameters (clamped). Gains glide; intervals change at the next grain;
    /// a voice switched on starts fresh. Switching the effect on starts from a fresh state.
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

    /// Each voice's (left, right) gain targets.
    fn gain_targets(&self) -> [[f32; 2]; MAX_VOICES] {
        let active = self.plan.iter().filter(|p| p.is_some()).count();
        let spread = f64::from(self.params.spread) / 100.0;
        let mix = f64::from(self.params.mix) / 100.0;
        let mut targets = [[0.0; 2]; MAX_VOICES];
        let mut position = 0;
        for (target, plan) in targets.iter_mut().zip(&self.plan) {
            let Some((_, _, level)) = plan else { continue };
            let pan = if active > 1 {
                spread * (2.0 * position as f64 / (active - 1) as f64 - 1.0)
            } else {
                0.0
            };
            position += 1;
            // Constant power, unity on both sides at the centre.
            let angle = (pan + 1.0) * FRAC_PI_4;
            let gain = mix * f64::from(*level) * std::f64::consts::SQRT_2;
            *target = [(gain * angle.cos()) as f32, (gain * angle.sin()) as f32];
        }
        targets
    }

    fn update(&mut self) {
        let plan = self.params.voice_plan();
        for (index, voice) in self.voices.iter_mut().enumerate() {
            if plan[index].is_some() && self.plan[index].is_none() {
                voice.reset();
            }
        }
        self.plan = plan;
        self.retune();
        let targets = self.gain_targets();
        for (gains, targets) in self.gains.iter_mut().zip(targets) {
            for (gain, target) in gains.iter_mut().zip(targets) {
                gain.set_target(target);
            }
        }
    }

    /// Recomputes every voice's ratio from the last input note.
    fn retune(&mut self) {
        let (key, scale) = self.key_and_scale();
        let shift = f64::from(self.params.shift) / 1200.0;
        for (ratio, plan) in self.ratios.iter_mut().zip(&self.plan) {
            let Some((interval, diatonic, _)) = *plan else {
                continue;
            };
            let semitones = match self.input_note {
                Some(note) if diatonic && self.params.key_lock => {
                    let from = scale.nearest(key, note);
                    let steps =
                        (f64::from(interval) * scale.intervals().len() as f64 / 12.0).round();
                    degrees_from(key, scale, from, steps as i32) - from
                }
                _ => f64::from(interval),
            };
            *ratio = (semitones / 12.0 + shift).exp2();
        }
    }
}

impl Effect for Harmonizer {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        self.analysis.prepare(spec.sample_rate);
        let latency = self.analysis.latency();
        for line in &mut self.dry {
            line.prepare(latency);
        }
        for gain in self.gains.iter_mut().flatten() {
            gain.set_time(SMOOTHING_S, spec.sample_rate);
        }
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        self.analysis.reset();
        for voice in &mut self.voices {
            voice.reset();
        }
        for line in &mut self.dry {
            line.reset();
        }
        self.input_note = None;
        self.retune();
        let targets = self.gain_targets();
        for (gains, targets) in self.gains.iter_mut().zip(targets) {
            for (gain, target) in gains.iter_mut().zip(targets) {
                gain.reset_to(target);
            }
        }
    }

    fn set_context(&mut self, context: &RoomContext) {
        if (context.key, context.scale) != (self.room_key, self.room_scale) {
            self.room_key = context.key;
            self.room_scale = context.scale;
            self.retune();
        }
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
        let preserve = self.params.formant_preserve;
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let mono = 0.5 * (*l + *r);
            if self.analysis.push(mono, mono) {
                let estimate = self.analysis.estimate();
                if estimate.voiced {
                    self.input_note = Some(note_of(estimate.frequency(self.sample_rate)));
                    self.retune();
                }
            }
            self.dry[0].push(*l);
            self.dry[1].push(*r);
            let mut out = [self.dry[0].read(latency), self.dry[1].read(latency)];
            for ((voice, plan), (gains, &ratio)) in self
                .voices
                .iter_mut()
                .zip(&self.plan)
                .zip(self.gains.iter_mut().zip(&self.ratios))
            {
                let [gain_l, gain_r] = [gains[0].next_value(), gains[1].next_value()];
                if plan.is_none() && gain_l == 0.0 && gain_r == 0.0 {
                    continue;
                }
                let [wet, _] = voice.render(&mut self.analysis, || Shift::pitch(ratio, preserve));
                out[0] += gain_l * wet;
                out[1] += gain_r * wet;
            }
            [*l, *r] = out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::psola::tests::peak_and_purity;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::test_support::{FS, render_stereo, sine};
    use std::f64::consts::TAU;

    conformance_tests!(Harmonizer {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] = &[
            ("/key", &["C", "A", "Eb"]),
            ("/scale", &["major", "minor", "pentatonicMajor", "chromatic"]),
            (
                "/harmonyType",
                &[
                    "octave", "fifth", "fourth", "third", "minorThird", "sixth", "powerChord",
                    "majorChord", "minorChord", "thirdAndFifth", "thirdBelow", "fifthBelow",
                    "octaveBelow", "custom",
                ],
            ),
        ];
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn harmony(harmony_type: HarmonyType, key_lock: bool, preserve: bool) -> Params {
        Params {
            enabled: true,
            harmony_type: Some(harmony_type),
            key_lock,
            formant_preserve: preserve,
            mix: 100.0,
            spread: 0.0,
            ..Params::default()
        }
    }

    /// The voices alone: the output minus the input delayed by the latency (left channel).
    fn voices_of(effect: &mut Harmonizer, input: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let latency = effect.latency();
        let (left, right) = render_stereo(effect, input, input, 64);
        let strip = |channel: Vec<f32>| -> Vec<f32> {
            channel
                .iter()
                .enumerate()
                .map(|(n, &y)| {
                    y - if n >= latency {
                        input[n - latency]
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        (strip(left), strip(right))
    }

    fn cents(measured: f64, truth: f64) -> f64 {
        1200.0 * (measured / truth).log2()
    }

    /// docs/effects.md §1 test 11: a 220 Hz sine through one voice; the voice's peak over 1–3 s
    /// within ±1 cent of the interval and ≥ 50 dB clean with formants moving (pure pitch shift).
    /// Key lock in C major turns the third above A into C, the fifth below into D and the sixth
    /// above into F; a major chord stays chromatic (C♯).
    #[test]
    fn one_voice_sits_exactly_on_its_interval() {
        let input = sine(220.0, 0.5, 4 * FS as usize, FS);
        let c4 = 261.625_565;
        let cases = [
            (HarmonyType::Fifth, false, 329.627_557),
            (HarmonyType::Octave, false, 440.0),
            (HarmonyType::OctaveBelow, false, 110.0),
            (HarmonyType::Third, false, 277.182_631),
            (HarmonyType::Third, true, c4),
            (HarmonyType::FifthBelow, true, 146.832_384),
            (HarmonyType::MajorChord, true, 277.182_631),
            (HarmonyType::Sixth, true, 349.228_231),
        ];
        // With formants kept, a sine's grains carry nothing at an octave's distance (PSOLA
        // keeps the spectral envelope): those runs use three harmonics, 1, ½, ⅓.
        let rich: Vec<f32> = (0..input.len())
            .map(|n| {
                let phase = TAU * 220.0 * n as f64 / FS;
                (0.3 * (phase.sin() + 0.5 * (2.0 * phase).sin() + (3.0 * phase).sin() / 3.0)) as f32
            })
            .collect();
        for (harmony_type, key_lock, expected) in cases {
            for preserve in [false, true] {
                let mut effect = Harmonizer::prepared(&harmony(harmony_type, key_lock, preserve));
                let stimulus = if preserve { &rich } else { &input };
                let (voice, _) = voices_of(&mut effect, stimulus);
                let (peak, purity) =
                    peak_and_purity(&voice[FS as usize..3 * FS as usize], expected);
                let error = cents(peak, expected);
                println!(
                    "{harmony_type:?} key lock {key_lock}, formants kept {preserve}: \
                     {peak:.3} Hz ({error:+.3} ct){}",
                    if preserve {
                        String::new()
                    } else {
                        format!(", purity {purity:.1} dB")
                    }
                );
                assert!(error.abs() <= 1.0, "{harmony_type:?} {key_lock}: {error}");
                if !preserve {
                    assert!(purity >= 50.0, "{harmony_type:?} {key_lock}: {purity}");
                }
            }
        }
    }

    /// The room's key and scale override the parameters: a third above A in A major (from
    /// the room) is C♯, in C major (the parameters) C. Shift moves the voice by cents.
    #[test]
    fn room_key_overrides_and_shift_moves_every_voice() {
        let input = sine(220.0, 0.5, 3 * FS as usize, FS);
        let mut effect = Harmonizer::prepared(&harmony(HarmonyType::Third, true, false));
        effect.set_context(&RoomContext {
            key: Key::parse("A"),
            scale: Some(Scale::Major),
            ..RoomContext::default()
        });
        let (voice, _) = voices_of(&mut effect, &input);
        let (peak, _) = peak_and_purity(&voice[FS as usize..], 277.18);
        println!("third above A in A major: {peak:.3} Hz");
        assert!(cents(peak, 277.182_631).abs() <= 1.0);

        let mut effect = Harmonizer::prepared(&Params {
            shift: -50.0,
            ..harmony(HarmonyType::Octave, false, false)
        });
        let (voice, _) = voices_of(&mut effect, &input);
        let expected = 440.0 * 2f64.powf(-50.0 / 1200.0);
        let (peak, _) = peak_and_purity(&voice[FS as usize..], expected);
        println!("octave − 50 ct: {peak:.3} Hz");
        assert!(cents(peak, expected).abs() <= 1.0);
    }

    /// Spread pans the voices: two voices at spread 100 sit hard left and hard right.
    #[test]
    fn spread_pans_the_voices() {
        let input = sine(220.0, 0.5, 2 * FS as usize, FS);
        let mut effect = Harmonizer::prepared(&Params {
            voices: 2.0,
            spread: 100.0,
            ..harmony(HarmonyType::PowerChord, false, false)
        });
        let (left, right) = voices_of(&mut effect, &input);
        let settled = FS as usize..2 * FS as usize;
        let fifth = 329.627_557;
        let (left_fifth, left_purity) = peak_and_purity(&left[settled.clone()], fifth);
        let (right_octave, right_purity) = peak_and_purity(&right[settled], 440.0);
        println!(
            "left {left_fifth:.3} Hz ({left_purity:.1} dB clean), right {right_octave:.3} Hz \
             ({right_purity:.1} dB clean)"
        );
        assert!(cents(left_fifth, fifth).abs() < 1.0);
        assert!(cents(right_octave, 440.0).abs() < 1.0);
        // Each side holds its own voice only.
        assert!(left_purity > 50.0 && right_purity > 50.0);
    }

    /// A voice joining while another plays, reading at another rate, before the analysis has
    /// placed many marks: its first target lies before the marks the first voice placed, which
    /// once paired it with an unwritten mark and hung the audio thread (found by pluginval).
    /// Two octaves down plays alone for 32 samples, then 10.58 semitones up joins (formants
    /// moving with the pitch, spread 100): the run finishes and each side sits on its interval.
    #[test]
    fn a_voice_joining_while_another_plays_sits_on_its_interval() {
        const JOIN: usize = 32;
        let input = sine(220.0, 0.5, 3 * FS as usize, FS);
        let one = Params {
            custom_intervals: Intervals::new(&[-24.0, 10.58]),
            spread: 100.0,
            ..harmony(HarmonyType::Custom, false, false)
        };
        let two = Params {
            voices: 2.0,
            ..one.clone()
        };
        let (left, right) = crate::test_support::finishes(move |progress| {
            let mut effect = Harmonizer::prepared(&one);
            let (mut left, mut right) =
                render_stereo(&mut effect, &input[..JOIN], &input[..JOIN], 64);
            progress.store(JOIN, std::sync::atomic::Ordering::Relaxed);
            effect.set_params(&two);
            for (n, block) in input[JOIN..].chunks(64).enumerate() {
                let (l, r) = render_stereo(&mut effect, block, block, 64);
                left.extend(l);
                right.extend(r);
                progress.store(JOIN + 64 * (n + 1), std::sync::atomic::Ordering::Relaxed);
            }
            // The voices alone: minus the input delayed by the latency.
            let latency = effect.latency();
            for channel in [&mut left, &mut right] {
                for (n, y) in channel.iter_mut().enumerate().skip(latency) {
                    *y -= input[n - latency];
                }
            }
            (left, right)
        });
        assert!(left.iter().chain(&right).all(|y| y.is_finite()));
        let settled = FS as usize..3 * FS as usize;
        let up = 220.0 * (10.58f64 / 12.0).exp2();
        let (low, _) = peak_and_purity(&left[settled.clone()], 55.0);
        let (high, high_purity) = peak_and_purity(&right[settled], up);
        println!(
            "left {low:.3} Hz ({:+.3} ct), right {high:.3} Hz ({:+.3} ct, {high_purity:.1} dB clean)",
            cents(low, 55.0),
            cents(high, up)
        );
        assert!(cents(low, 55.0).abs() <= 1.0);
        assert!(cents(high, up).abs() <= 1.0);
        assert!(high_purity >= 40.0);
    }

    /// Legacy presets: without `harmonyType` the voice fields give the voices (chromatic, at
    /// their levels); with it they are ignored. Custom intervals come from the list.
    #[test]
    fn legacy_voices_only_without_a_harmony_type() {
        let legacy: Params = serde_json::from_str(
            r#"{"voice1Interval": 7, "voice2Interval": -12, "voice2Level": 40}"#,
        )
        .unwrap();
        let legacy = legacy.clamped();
        assert!(legacy.is_legacy());
        assert_eq!(
            legacy.voice_plan(),
            [
                Some((7.0, false, 0.7)),
                Some((-12.0, false, 0.4)),
                None,
                None
            ]
        );
        let modern: Params =
            serde_json::from_str(r#"{"harmonyType": "fifth", "voice1Interval": 3}"#).unwrap();
        let modern = modern.clamped();
        assert!(!modern.is_legacy() && modern.voice1_interval.is_none());
        assert_eq!(modern.voice_plan()[0], Some((7.0, true, 1.0)));
        let empty = Params::default().clamped();
        assert_eq!(empty.harmony_type, Some(HarmonyType::Third));
        let custom: Params = serde_json::from_str(
            r#"{"harmonyType": "custom", "customIntervals": [2, -5, 30, 1, 9], "voices": 4}"#,
        )
        .unwrap();
        let custom = custom.clamped();
        assert_eq!(custom.custom_intervals.as_slice(), [2.0, -5.0, 24.0, 1.0]);
        assert_eq!(
            serde_json::to_value(&custom).unwrap()["customIntervals"],
            serde_json::json!([2.0, -5.0, 24.0, 1.0])
        );

        // The legacy fifth, rendered: its level is 70 % of the mix.
        let input = sine(220.0, 0.5, 2 * FS as usize, FS);
        let mut effect = Harmonizer::prepared(&Params {
            enabled: true,
            mix: 100.0,
            harmony_type: None,
            formant_preserve: false,
            voice1_interval: Some(7.0),
            ..Params::default()
        });
        let (voice, _) = voices_of(&mut effect, &input);
        let (peak, _) = peak_and_purity(&voice[FS as usize..], 329.63);
        assert!(
            cents(peak, 220.0 * 2f64.powf(7.0 / 12.0)).abs() < 1.0,
            "{peak}"
        );
    }

    #[test]
    fn diatonic_steps_walk_the_scale() {
        let c = Key::C;
        assert_eq!(degrees_from(c, Scale::Major, 57.0, 2), 60.0, "A → C");
        assert_eq!(degrees_from(c, Scale::Major, 64.0, 2), 67.0, "E → G");
        assert_eq!(
            degrees_from(c, Scale::Major, 71.0, 4),
            77.0,
            "B → F (diminished fifth)"
        );
        assert_eq!(degrees_from(c, Scale::Major, 60.0, -7), 48.0, "octave down");
        assert_eq!(
            degrees_from(c, Scale::Minor, 60.0, -2),
            56.0,
            "C → A♭ below"
        );
        assert_eq!(
            degrees_from(Key::parse("A").unwrap(), Scale::Major, 57.0, 2),
            61.0
        );
    }

    #[test]
    fn params_use_the_reference_json_keys_and_clamp() {
        let json = serde_json::to_value(Params::default().clamped()).unwrap();
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
                "customIntervals",
                "enabled",
                "formantPreserve",
                "harmonyType",
                "key",
                "keyLock",
                "mix",
                "scale",
                "shift",
                "spread",
                "voices"
            ]
        );
        let wild = Params {
            voices: 9.0,
            shift: f32::NAN,
            spread: -3.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!((wild.voices, wild.shift, wild.spread), (4.0, 0.0, 0.0));
    }
}
