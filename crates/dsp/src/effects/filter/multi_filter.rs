//! The multi-mode filter (docs/effects.md §3 #14): low-pass, high-pass, band-pass, notch, all-pass
//! or a three-formant vowel filter (RBJ biquads, Q = 0.5 + 9.5·resonance/100), with input drive and
//! a cutoff moved by an LFO (free or tempo-synced), an envelope follower and key tracking, and
//! a dry/wet mix.
//!
//! Modulation adds octaves to the cutoff: LFO ±2·depth/100, envelope amount/100·4·min(1,
//! env·G) (G = 10^(48·sensitivity/100/20), as in the wah), key tracking keyTrack/100·log2(pitch
//! / 261.63 Hz). The pitch comes from the spacing of rising crossings of a Schmitt trigger on
//! the low-passed input: no MIDI reaches an effect, so "key" is the note being played. The
//! modulation is computed every [`CONTROL_INTERVAL`] samples and the filters glide there with
//! per-sample coefficient steps; the octave sum passes a 1 ms smoother so a square LFO sweeps
//! instead of stepping. A change of filter type crossfades the old and new filters over 10 ms.
//!
//! Tempo sync follows the room context (default 120 BPM) and, while a transport runs, locks the
//! LFO's phase to the beat grid; `"1/16"` is a sixteenth note (a quarter beat; the reference
//! makes it 4 beats).
//!
//! The drive (x → (1 − d)·x + d·tanh((1 + 15d)·x)) runs at the base rate: a filter colour, not
//! a distortion, so it is not oversampled.

use crate::automation::Kind as HostKind;
use crate::blocks::biquad::{Biquad, Design, Kind, Smoothed};
use crate::blocks::envelope::{Detector, Follower};
use crate::blocks::lfo::{Lfo, Waveform, tempo_hz};
use crate::blocks::smoother::OnePole;
use crate::context::RoomContext;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::drive::shaper;
use crate::effects::param::Subdivision;
use serde::{Deserialize, Serialize};
use std::f64::consts::{FRAC_1_SQRT_2, LN_2};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "multiFilter";

/// Declared range of [`Params::frequency`] (Hz).
pub const FREQUENCY_RANGE: RangeInclusive<f32> = 20.0..=20_000.0;
/// Declared range of the 0…100 parameters (%).
pub const PERCENT_RANGE: RangeInclusive<f32> = 0.0..=100.0;
/// Declared range of the ±100 parameters (%).
pub const BIPOLAR_RANGE: RangeInclusive<f32> = -100.0..=100.0;
/// Range of [`Params::lfo_rate`] (Hz): the declared 0.1…10 and 0 (the default: no LFO).
pub const LFO_RATE_RANGE: RangeInclusive<f32> = 0.0..=10.0;
/// Range of [`Params::envelope_attack`] (ms; undeclared).
pub const ATTACK_RANGE: RangeInclusive<f32> = 0.1..=2_000.0;
/// Range of [`Params::envelope_release`] (ms; undeclared).
pub const RELEASE_RANGE: RangeInclusive<f32> = 1.0..=5_000.0;

/// Samples between two computations of the cutoff.
pub const CONTROL_INTERVAL: usize = 16;
/// Cutoff octaves at full LFO depth (each way).
const LFO_OCTAVES: f64 = 2.0;
/// Cutoff octaves at full envelope amount.
const ENVELOPE_OCTAVES: f64 = 4.0;
/// Envelope gain span of the sensitivity in dB.
const SENSITIVITY_SPAN_DB: f64 = 48.0;
/// Key tracking's reference pitch: at C4 the cutoff is `frequency`.
const KEY_REFERENCE_HZ: f64 = 261.63;
/// Pitches the key tracker believes.
const PITCH_RANGE_HZ: RangeInclusive<f64> = 30.0..=2_000.0;
/// Corner of the low-pass in front of the pitch tracker (keeps harmonics from adding crossings).
const PITCH_LOWPASS_HZ: f64 = 1_000.0;
/// Schmitt trigger half width, relative to the tracked peak.
const PITCH_HYSTERESIS: f32 = 0.3;
/// Input below this peak level leaves the pitch where it was.
const PITCH_GATE: f32 = 1e-4;
/// Parameters glide over this time constant.
const PARAMETER_SMOOTHING_S: f64 = 0.02;
/// The octave sum glides over this one.
const MODULATION_SMOOTHING_S: f64 = 0.001;
/// Length of the crossfade when the filter type changes.
const TYPE_FADE_S: f64 = 0.01;
/// Highest cutoff, as a fraction of the sample rate.
const MAX_CUTOFF_RATIO: f64 = 0.45;
/// Formants of an open "a", relative to the first, and their gains.
const FORMANT_RATIOS: [f64; 3] = [1.0, 1090.0 / 730.0, 2440.0 / 730.0];
const FORMANT_GAINS: [f32; 3] = [1.0, 0.5, 0.25];
/// Formant bands are this many times narrower than the resonance's Q, up to a Q of
/// [`MAX_FORMANT_Q`]: narrower bands swept by a fast LFO ring up well above full scale.
const FORMANT_Q_FACTOR: f64 = 4.0;
const MAX_FORMANT_Q: f64 = 12.0;

/// The filter shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterType {
    /// Low-pass.
    #[default]
    Lowpass,
    /// High-pass.
    Highpass,
    /// Band-pass, 0 dB at the centre.
    Bandpass,
    /// Notch.
    Notch,
    /// All-pass (audible with mix < 100).
    Allpass,
    /// Three band-passes at the formants of "a", the first at the cutoff.
    Formant,
}

impl FilterType {
    fn kind(self) -> Kind {
        match self {
            Self::Lowpass => Kind::Lowpass,
            Self::Highpass => Kind::Highpass,
            Self::Bandpass | Self::Formant => Kind::Bandpass,
            Self::Notch => Kind::Notch,
            Self::Allpass => Kind::Allpass,
        }
    }
}

/// The LFO's shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LfoWaveform {
    /// Sine.
    #[default]
    Sine,
    /// Triangle.
    Triangle,
    /// Square.
    Square,
    /// Sawtooth.
    Sawtooth,
}

impl LfoWaveform {
    fn waveform(self) -> Waveform {
        match self {
            Self::Sine => Waveform::Sine,
            Self::Triangle => Waveform::Triangle,
            Self::Square => Waveform::Square,
            Self::Sawtooth => Waveform::Saw,
        }
    }
}

/// The multi-filter's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Shape (default low-pass); the reference also writes it as `type`.
    #[serde(alias = "type")]
    pub filter_type: FilterType,
    /// Cutoff or centre in Hz, 20…20000 (default 1000).
    pub frequency: f32,
    /// Resonance 0…100 (default 1): Q = 0.5 + 9.5·resonance/100.
    pub resonance: f32,
    /// Input drive 0…100 (default 0).
    pub drive: f32,
    /// LFO rate in Hz (default 0: no LFO unless tempo-synced).
    pub lfo_rate: f32,
    /// LFO depth 0…100 (default 0): ±2 octaves at 100.
    pub lfo_depth: f32,
    /// LFO shape (default sine).
    pub lfo_waveform: LfoWaveform,
    /// Envelope amount ±100 (default 0): ±4 octaves at full envelope.
    pub envelope_amount: f32,
    /// Envelope sensitivity 0…100 (default 50).
    pub envelope_sensitivity: f32,
    /// Envelope attack τ in ms (default 10).
    pub envelope_attack: f32,
    /// Envelope release τ in ms (default 100).
    pub envelope_release: f32,
    /// Key tracking ±100 (default 0): at 100 the cutoff follows the played pitch one to one.
    pub key_track: f32,
    /// LFO rate from the tempo and `subdivision` instead of `lfoRate` (default off).
    pub tempo_sync: bool,
    /// One LFO cycle per this note value when synced (default "1/4").
    pub subdivision: Subdivision,
    /// Wet share in %, 0…100 (default 100).
    pub mix: f32,
}

crate::host_choice!(FilterType {
    Lowpass => "Low-pass",
    Highpass => "High-pass",
    Bandpass => "Band-pass",
    Notch => "Notch",
    Allpass => "All-pass",
    Formant => "Formant",
});

crate::host_choice!(LfoWaveform {
    Sine => "Sine",
    Triangle => "Triangle",
    Square => "Square",
    Sawtooth => "Sawtooth",
});

// The LFO rate starts at 0 (no LFO), so its control is linear.
crate::automatable!(Params {
    [filter_type] "filterType", "Filter Type", HostKind::choice::<FilterType>();
    [frequency] "frequency", "Frequency", HostKind::logarithmic(FREQUENCY_RANGE, "Hz");
    [resonance] "resonance", "Resonance", HostKind::linear(PERCENT_RANGE, "%");
    [drive] "drive", "Drive", HostKind::linear(PERCENT_RANGE, "%");
    [lfo_rate] "lfoRate", "LFO Rate", HostKind::linear(LFO_RATE_RANGE, "Hz");
    [lfo_depth] "lfoDepth", "LFO Depth", HostKind::linear(PERCENT_RANGE, "%");
    [lfo_waveform] "lfoWaveform", "LFO Waveform", HostKind::choice::<LfoWaveform>();
    [envelope_amount] "envelopeAmount", "Envelope Amount", HostKind::linear(BIPOLAR_RANGE, "%");
    [envelope_sensitivity] "envelopeSensitivity", "Envelope Sensitivity", HostKind::linear(PERCENT_RANGE, "%");
    [envelope_attack] "envelopeAttack", "Envelope Attack", HostKind::logarithmic(ATTACK_RANGE, "ms");
    [envelope_release] "envelopeRelease", "Envelope Release", HostKind::logarithmic(RELEASE_RANGE, "ms");
    [key_track] "keyTrack", "Key Track", HostKind::linear(BIPOLAR_RANGE, "%");
    [tempo_sync] "tempoSync", "Tempo Sync", HostKind::Toggle;
    [subdivision] "subdivision", "Note Value", HostKind::NOTE;
    [mix] "mix", "Mix", HostKind::linear(PERCENT_RANGE, "%");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            filter_type: FilterType::Lowpass,
            frequency: 1_000.0,
            resonance: 1.0,
            drive: 0.0,
            lfo_rate: 0.0,
            lfo_depth: 0.0,
            lfo_waveform: LfoWaveform::Sine,
            envelope_amount: 0.0,
            envelope_sensitivity: 50.0,
            envelope_attack: 10.0,
            envelope_release: 100.0,
            key_track: 0.0,
            tempo_sync: false,
            subdivision: Subdivision::QUARTER,
            mix: 100.0,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            filter_type: self.filter_type,
            frequency: clamp_param(self.frequency, FREQUENCY_RANGE, d.frequency),
            resonance: clamp_param(self.resonance, PERCENT_RANGE, d.resonance),
            drive: clamp_param(self.drive, PERCENT_RANGE, d.drive),
            lfo_rate: clamp_param(self.lfo_rate, LFO_RATE_RANGE, d.lfo_rate),
            lfo_depth: clamp_param(self.lfo_depth, PERCENT_RANGE, d.lfo_depth),
            lfo_waveform: self.lfo_waveform,
            envelope_amount: clamp_param(self.envelope_amount, BIPOLAR_RANGE, d.envelope_amount),
            envelope_sensitivity: clamp_param(
                self.envelope_sensitivity,
                PERCENT_RANGE,
                d.envelope_sensitivity,
            ),
            envelope_attack: clamp_param(self.envelope_attack, ATTACK_RANGE, d.envelope_attack),
            envelope_release: clamp_param(self.envelope_release, RELEASE_RANGE, d.envelope_release),
            key_track: clamp_param(self.key_track, BIPOLAR_RANGE, d.key_track),
            tempo_sync: self.tempo_sync,
            subdivision: self.subdivision,
            mix: clamp_param(self.mix, PERCENT_RANGE, d.mix),
        }
    }

    /// The filter Q for this resonance.
    pub fn q(&self) -> f64 {
        0.5 + 9.5 * f64::from(self.resonance) / 100.0
    }

    /// The smoothed control targets: ln cutoff, ln Q, LFO octaves, envelope octaves, key
    /// tracking ratio, envelope gain.
    fn control_targets(&self) -> [f32; 6] {
        [
            self.frequency.ln(),
            self.q().ln() as f32,
            (LFO_OCTAVES * f64::from(self.lfo_depth) / 100.0) as f32,
            (ENVELOPE_OCTAVES * f64::from(self.envelope_amount) / 100.0) as f32,
            self.key_track / 100.0,
            10f64.powf(SENSITIVITY_SPAN_DB * f64::from(self.envelope_sensitivity) / 2_000.0) as f32,
        ]
    }
}

/// A follower of the played pitch (see the module notes).
#[derive(Clone, Debug)]
struct PitchTracker {
    lowpass: Biquad,
    peak: Follower,
    armed: bool,
    samples_since_crossing: f64,
    /// log2 of the last believed pitch / the key reference.
    octaves: f64,
}

impl PitchTracker {
    fn new(sample_rate: f64) -> Self {
        Self {
            lowpass: Biquad::from_design(
                &Design::new(Kind::Lowpass, PITCH_LOWPASS_HZ, FRAC_1_SQRT_2),
                sample_rate,
            ),
            peak: Follower::new(Detector::Peak, 0.000_1, 0.05, sample_rate),
            armed: false,
            samples_since_crossing: 0.0,
            octaves: 0.0,
        }
    }

    fn reset(&mut self) {
        self.lowpass.reset();
        self.peak.reset();
        self.armed = false;
        self.samples_since_crossing = 0.0;
        self.octaves = 0.0;
    }

    #[inline]
    fn push(&mut self, x: f32, sample_rate: f64) {
        let y = self.lowpass.process_sample(x);
        let peak = self.peak.process_sample(y);
        self.samples_since_crossing += 1.0;
        let threshold = PITCH_HYSTERESIS * peak;
        if y < -threshold {
            self.armed = true;
        } else if self.armed && y > threshold && peak > PITCH_GATE {
            self.armed = false;
            let pitch = sample_rate / self.samples_since_crossing;
            if PITCH_RANGE_HZ.contains(&pitch) {
                self.octaves = (pitch / KEY_REFERENCE_HZ).log2();
            }
            self.samples_since_crossing = 0.0;
        }
    }
}

/// One channel's filters: the main one, and two more formants.
#[derive(Clone, Debug)]
struct Bank {
    filters: [Smoothed; 3],
}

impl Bank {
    fn new(sample_rate: f64) -> Self {
        let design = Design::new(Kind::Lowpass, 1_000.0, 1.0);
        let ramp = CONTROL_INTERVAL as f64 / sample_rate;
        let filter = Smoothed::new(&design, sample_rate, ramp);
        Self {
            filters: [filter.clone(), filter.clone(), filter],
        }
    }

    /// The designs for a cutoff; formants above `max_hz` stay there (a band-pass swept near
    /// Nyquist has poles on the unit circle's edge and rings up).
    fn designs(filter_type: FilterType, cutoff: f64, q: f64, max_hz: f64) -> [Design; 3] {
        let kind = filter_type.kind();
        if filter_type == FilterType::Formant {
            let q = (q * FORMANT_Q_FACTOR).min(MAX_FORMANT_Q);
            FORMANT_RATIOS.map(|ratio| Design::new(kind, (cutoff * ratio).min(max_hz), q))
        } else {
            [Design::new(kind, cutoff, q); 3]
        }
    }

    fn set_target(&mut self, designs: &[Design; 3], formant: bool) {
        let used = if formant { 3 } else { 1 };
        for (filter, design) in self.filters.iter_mut().zip(designs).take(used) {
            filter.set_target(design);
        }
    }

    fn jump_to(&mut self, designs: &[Design; 3]) {
        for (filter, design) in self.filters.iter_mut().zip(designs) {
            filter.jump_to(design);
        }
    }

    fn reset(&mut self) {
        for filter in &mut self.filters {
            filter.reset();
        }
    }

    #[inline]
    fn process(&mut self, x: f32, formant: bool) -> f32 {
        if formant {
            self.filters
                .iter_mut()
                .zip(FORMANT_GAINS)
                .map(|(filter, gain)| gain * filter.process_sample(x))
                .sum()
        } else {
            self.filters[0].process_sample(x)
        }
    }
}

/// The multi-mode filter. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct MultiFilter {
    params: Params,
    sample_rate: f64,
    tempo_bpm: f64,
    banks: [Bank; 2],
    /// The banks of the type being faded out, and the samples left in the fade.
    fading_banks: [Bank; 2],
    fading_type: FilterType,
    fade_left: usize,
    fade_len: usize,
    /// Runs at the control rate.
    lfo: Lfo,
    envelope: Follower,
    pitch: PitchTracker,
    /// ln cutoff, ln Q, LFO octaves, envelope octaves, key tracking, envelope gain.
    controls: [OnePole; 6],
    modulation: OnePole,
    drive: OnePole,
    mix: OnePole,
    until_control: usize,
    cutoff_hz: f64,
}

impl MultiFilter {
    /// A multi-filter with `params` at 120 BPM; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let control_rate = sample_rate / CONTROL_INTERVAL as f64;
        let bank = Bank::new(sample_rate);
        let mut filter = Self {
            params: params.clamped(),
            sample_rate,
            tempo_bpm: 120.0,
            banks: [bank.clone(), bank.clone()],
            fading_banks: [bank.clone(), bank],
            fading_type: FilterType::Lowpass,
            fade_left: 0,
            fade_len: 1,
            lfo: Lfo::new(control_rate),
            envelope: Follower::new(Detector::Peak, 0.01, 0.1, sample_rate),
            pitch: PitchTracker::new(sample_rate),
            controls: std::array::from_fn(|_| {
                OnePole::new(0.0, PARAMETER_SMOOTHING_S, control_rate)
            }),
            modulation: OnePole::new(0.0, MODULATION_SMOOTHING_S, control_rate),
            drive: OnePole::new(0.0, PARAMETER_SMOOTHING_S, sample_rate),
            mix: OnePole::new(1.0, PARAMETER_SMOOTHING_S, sample_rate),
            until_control: 0,
            cutoff_hz: 1_000.0,
        };
        filter.update();
        filter.reset();
        filter
    }

    /// Applies new parameters (clamped). Cutoff, Q, depths and mix glide; a new type crossfades.
    /// Switching on starts from silent state.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        let previous = std::mem::replace(&mut self.params, params.clamped());
        self.update();
        if self.params.enabled && !previous.enabled {
            self.reset();
        } else if self.params.filter_type != previous.filter_type {
            self.fading_banks = self.banks.clone();
            self.fading_type = previous.filter_type;
            self.fade_left = self.fade_len;
            // The new shape starts from the current cutoff without a glide.
            let designs = Bank::designs(
                self.params.filter_type,
                self.cutoff_hz,
                f64::from(self.controls[1].value()).exp(),
                MAX_CUTOFF_RATIO * self.sample_rate,
            );
            for bank in &mut self.banks {
                bank.jump_to(&designs);
            }
        }
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The cutoff in Hz at the last control update (for a UI, and for tests).
    pub fn cutoff_hz(&self) -> f64 {
        self.cutoff_hz
    }

    /// The LFO's rate in Hz (after tempo sync).
    pub fn lfo_rate_hz(&self) -> f64 {
        self.lfo.rate_hz()
    }

    fn update(&mut self) {
        let p = &self.params;
        let rate = if p.tempo_sync {
            tempo_hz(p.subdivision.beats(), self.tempo_bpm)
        } else {
            f64::from(p.lfo_rate)
        };
        self.lfo.set_rate_hz(rate);
        self.lfo.set_waveform(p.lfo_waveform.waveform());
        self.envelope.set_times(
            f64::from(p.envelope_attack) * 1e-3,
            f64::from(p.envelope_release) * 1e-3,
            self.sample_rate,
        );
        for (control, target) in self.controls.iter_mut().zip(p.control_targets()) {
            control.set_target(target);
        }
        self.drive.set_target(p.drive / 100.0);
        self.mix.set_target(p.mix / 100.0);
    }

    /// Advances the control state by one interval and returns the filter designs for it.
    fn control_step(&mut self) -> [Design; 3] {
        let [
            log_cutoff,
            log_q,
            lfo_octaves,
            envelope_octaves,
            key_track,
            envelope_gain,
        ] = self.controls.each_mut().map(|c| f64::from(c.next_value()));
        let lfo = f64::from(self.lfo.next_value());
        let envelope = (f64::from(self.envelope.value()) * envelope_gain).min(1.0);
        let octaves =
            lfo_octaves * lfo + envelope_octaves * envelope + key_track * self.pitch.octaves;
        self.modulation.set_target(octaves as f32);
        let octaves = f64::from(self.modulation.next_value());
        self.cutoff_hz = (log_cutoff + octaves * LN_2).exp().clamp(
            *FREQUENCY_RANGE.start() as f64,
            MAX_CUTOFF_RATIO * self.sample_rate,
        );
        Bank::designs(
            self.params.filter_type,
            self.cutoff_hz,
            log_q.exp(),
            MAX_CUTOFF_RATIO * self.sample_rate,
        )
    }
}

impl Effect for MultiFilter {
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
        self.sample_rate = spec.sample_rate;
        let control_rate = spec.sample_rate / CONTROL_INTERVAL as f64;
        self.lfo.set_sample_rate(control_rate);
        for control in &mut self.controls {
            control.set_time(PARAMETER_SMOOTHING_S, control_rate);
        }
        self.modulation
            .set_time(MODULATION_SMOOTHING_S, control_rate);
        self.drive.set_time(PARAMETER_SMOOTHING_S, spec.sample_rate);
        self.mix.set_time(PARAMETER_SMOOTHING_S, spec.sample_rate);
        let bank = Bank::new(spec.sample_rate);
        self.banks = [bank.clone(), bank.clone()];
        self.fading_banks = [bank.clone(), bank];
        self.pitch = PitchTracker::new(spec.sample_rate);
        self.fade_len = ((TYPE_FADE_S * spec.sample_rate).round() as usize).max(1);
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        self.lfo.reset();
        self.envelope.reset();
        self.pitch.reset();
        for (control, target) in self.controls.iter_mut().zip(self.params.control_targets()) {
            control.reset_to(target);
        }
        self.modulation.reset_to(0.0);
        self.drive.reset_to(self.params.drive / 100.0);
        self.mix.reset_to(self.params.mix / 100.0);
        self.fade_left = 0;
        // Start on the design of the first control step: everything is settled, so with the
        // LFO and the modulation smoother restarted the first sample computes it again.
        let designs = self.control_step();
        self.lfo.reset();
        self.modulation.reset_to(0.0);
        for bank in &mut self.banks {
            bank.jump_to(&designs);
            bank.reset();
        }
        self.until_control = 0;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let formant = self.params.filter_type == FilterType::Formant;
        let fading_formant = self.fading_type == FilterType::Formant;
        let sample_rate = self.sample_rate;
        // The pitch follower costs a biquad per sample; it only runs while its result is used
        // (the key-tracking control glides to and from 0, so it runs until that has settled).
        let tracking_keys = self.params.key_track != 0.0 || self.controls[4].value() != 0.0;
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let mono = 0.5 * (*l + *r);
            self.envelope.process_sample(mono);
            if tracking_keys {
                self.pitch.push(mono, sample_rate);
            }
            if self.until_control == 0 {
                let designs = self.control_step();
                for bank in &mut self.banks {
                    bank.set_target(&designs, formant);
                }
                self.until_control = CONTROL_INTERVAL;
            }
            self.until_control -= 1;

            let drive = self.drive.next_value();
            let gain = 1.0 + 15.0 * drive;
            // At drive 0 (the default) the blend is the identity: skip the two tanh.
            let driven = |x: f32| {
                if drive == 0.0 {
                    x
                } else {
                    (1.0 - drive) * x + drive * shaper::tanh(gain * x)
                }
            };
            let (in_l, in_r) = (driven(*l), driven(*r));
            let mut wet_l = self.banks[0].process(in_l, formant);
            let mut wet_r = self.banks[1].process(in_r, formant);
            if self.fade_left > 0 {
                let old_weight = self.fade_left as f32 / self.fade_len as f32;
                let old_l = self.fading_banks[0].process(in_l, fading_formant);
                let old_r = self.fading_banks[1].process(in_r, fading_formant);
                wet_l += old_weight * (old_l - wet_l);
                wet_r += old_weight * (old_r - wet_r);
                self.fade_left -= 1;
            }
            let mix = self.mix.next_value();
            *l = mix * wet_l + (1.0 - mix) * *l;
            *r = mix * wet_r + (1.0 - mix) * *r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::biquad::Coefs;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::test_support::{FS, impulse, render_mono, response_db, sine};

    conformance_tests!(MultiFilter {
        /// Resonance 100 is Q 10: low- and high-pass are +20 dB at the cutoff, so a full-scale
        /// tone there comes out at 10, and a sweep rings a little above that.
        const OUTPUT_BOUND: f32 = 4.0 * 10.0;
        const CHOICES: &'static [(&'static str, &'static [&'static str])] = &[
            (
                "/filterType",
                &[
                    "lowpass", "highpass", "bandpass", "notch", "allpass", "formant",
                ],
            ),
            ("/lfoWaveform", &["sine", "triangle", "square", "sawtooth"]),
            ("/subdivision", &["1/4", "1/16", "1/8T", "1/2D", "4/1"]),
        ];
    });

    fn enabled(filter_type: FilterType, frequency: f32, resonance: f32) -> Params {
        Params {
            enabled: true,
            filter_type,
            frequency,
            resonance,
            ..Params::default()
        }
    }

    /// With no modulation the impulse response is the RBJ design at Q = 0.5 + 9.5·res/100,
    /// within 0.01 dB wherever the design is above −60 dB.
    #[test]
    fn static_response_is_the_rbj_design_with_the_reference_q() {
        let mut worst = 0.0f64;
        for filter_type in [
            FilterType::Lowpass,
            FilterType::Highpass,
            FilterType::Bandpass,
            FilterType::Notch,
            FilterType::Allpass,
        ] {
            for (frequency, resonance) in [(1_000.0, 50.0), (200.0, 0.0), (8_000.0, 100.0)] {
                let params = enabled(filter_type, frequency, resonance);
                let mut filter = MultiFilter::prepared(&params);
                let ir = render_mono(&mut filter, &impulse(1 << 16), 1024);
                let design = Design::new(filter_type.kind(), f64::from(frequency), params.q());
                let coefs = Coefs::new(&design, FS);
                for f in [
                    50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 8_000.0, 15_000.0,
                ] {
                    let expected = coefs.magnitude_db(f, FS);
                    if expected > -60.0 {
                        worst = worst.max((response_db(&ir, f, FS) - expected).abs());
                    }
                }
            }
        }
        println!("multiFilter static response: worst error {worst:.2e} dB");
        assert!(worst < 0.01, "{worst}");
    }

    /// The formant type peaks near each formant (730/1090/2440 scaled to the cutoff).
    #[test]
    fn formant_type_has_three_peaks_at_the_vowel_ratios() {
        let params = enabled(FilterType::Formant, 730.0, 50.0);
        let mut filter = MultiFilter::prepared(&params);
        let ir = render_mono(&mut filter, &impulse(1 << 15), 1024);
        for formant in [730.0, 1_090.0, 2_440.0] {
            let at = |f: f64| response_db(&ir, f, FS);
            assert!(at(formant) > at(formant * 0.85) && at(formant) > at(formant * 1.15));
        }
    }

    /// Locked to the beat grid, blocks of any size keep the LFO where a free-running one that
    /// started on beat 0 is: the lock lands on the next control point, not the block start.
    #[test]
    fn beat_lock_matches_the_free_running_lfo_at_any_block_size() {
        let params = Params {
            tempo_sync: true,
            lfo_depth: 100.0,
            ..enabled(FilterType::Lowpass, 1_000.0, 10.0)
        };
        let beats_per_sample = 120.0 / 60.0 / FS;
        let input = sine(220.0, 0.5, 37, FS);
        let mut free = MultiFilter::prepared(&params);
        let mut locked = MultiFilter::prepared(&params);
        let mut position = 0usize;
        for _ in 0..400 {
            locked.set_context(&RoomContext {
                beat_position: Some(position as f64 * beats_per_sample),
                ..RoomContext::default()
            });
            render_mono(&mut free, &input, 37);
            render_mono(&mut locked, &input, 37);
            position += 37;
            let (a, b) = (free.cutoff_hz(), locked.cutoff_hz());
            assert!((a / b - 1.0).abs() < 1e-6, "at {position}: {a} vs {b} Hz");
        }
    }

    /// Tempo sync: one cycle per note value at the room tempo; "1/16" is a quarter beat.
    #[test]
    fn tempo_sync_follows_the_note_value_and_the_tempo() {
        for (subdivision, bpm, hz) in [
            ("1/4", 120.0, 2.0),
            ("1/16", 120.0, 8.0),
            ("1/4D", 120.0, 4.0 / 3.0),
            ("1/8T", 120.0, 6.0),
            ("1/4", 90.0, 1.5),
        ] {
            let mut filter = MultiFilter::prepared(&Params {
                tempo_sync: true,
                subdivision: Subdivision::parse(subdivision).unwrap(),
                lfo_rate: 5.0,
                ..enabled(FilterType::Lowpass, 1_000.0, 10.0)
            });
            filter.set_context(&RoomContext {
                tempo_bpm: bpm,
                ..RoomContext::default()
            });
            assert!(
                (filter.lfo_rate_hz() - hz).abs() < 1e-9,
                "{subdivision} at {bpm}"
            );
        }
        let free = MultiFilter::prepared(&Params {
            lfo_rate: 5.0,
            ..enabled(FilterType::Lowpass, 1_000.0, 10.0)
        });
        assert!((free.lfo_rate_hz() - 5.0).abs() < 1e-9);
    }

    /// Track the cutoff over `seconds` of `input` (repeated), returning its extremes.
    fn cutoff_extremes(filter: &mut MultiFilter, input: &[f32], blocks: usize) -> (f64, f64) {
        let (mut low, mut high) = (f64::MAX, 0.0f64);
        for _ in 0..blocks {
            render_mono(filter, input, input.len());
            low = low.min(filter.cutoff_hz());
            high = high.max(filter.cutoff_hz());
        }
        (low, high)
    }

    /// The LFO moves the cutoff ±2·depth/100 octaves.
    #[test]
    fn the_lfo_moves_the_cutoff_by_its_depth_in_octaves() {
        let mut filter = MultiFilter::prepared(&Params {
            lfo_rate: 2.0,
            lfo_depth: 50.0,
            ..enabled(FilterType::Bandpass, 1_000.0, 20.0)
        });
        let (low, high) = cutoff_extremes(&mut filter, &[0.0; 64], 1_500);
        println!("multiFilter LFO ±1 octave: {low:.1}…{high:.1} Hz");
        assert!((low / 500.0 - 1.0).abs() < 0.005, "{low}");
        assert!((high / 2_000.0 - 1.0).abs() < 0.005, "{high}");
    }

    /// A loud envelope moves the cutoff by amount·4 octaves, up or down.
    #[test]
    fn the_envelope_moves_the_cutoff_by_its_amount() {
        for (amount, expected) in [(50.0, 4_000.0), (-25.0, 500.0)] {
            let mut filter = MultiFilter::prepared(&Params {
                envelope_amount: amount,
                ..enabled(FilterType::Lowpass, 1_000.0, 20.0)
            });
            render_mono(&mut filter, &sine(150.0, 0.9, 24_000, FS), 256);
            let cutoff = filter.cutoff_hz();
            println!("multiFilter envelope {amount}: cutoff {cutoff:.1} Hz");
            assert!((cutoff / expected - 1.0).abs() < 0.01, "{amount}: {cutoff}");
        }
    }

    /// Key tracking 100 makes the cutoff follow the played pitch: an octave above C4 doubles
    /// it, −100 halves it; 0 ignores the pitch.
    #[test]
    fn key_tracking_follows_the_played_pitch() {
        for (key_track, pitch, expected) in [
            (100.0, 523.25, 2_000.0),
            (100.0, 130.81, 500.0),
            (-100.0, 523.25, 500.0),
            (50.0, 1_046.5, 2_000.0),
            (0.0, 523.25, 1_000.0),
        ] {
            let mut filter = MultiFilter::prepared(&Params {
                key_track,
                ..enabled(FilterType::Lowpass, 1_000.0, 20.0)
            });
            render_mono(&mut filter, &sine(pitch, 0.5, 24_000, FS), 256);
            let cutoff = filter.cutoff_hz();
            println!("multiFilter key track {key_track} at {pitch} Hz: cutoff {cutoff:.1} Hz");
            assert!(
                (cutoff / expected - 1.0).abs() < 0.01,
                "{key_track} {pitch}: {cutoff}"
            );
        }
    }

    /// A type change crossfades: low-pass to high-pass on a 1 kHz tone (both pass it at Q 0.5…)
    /// leaves no step larger than the tone's own.
    #[test]
    fn a_type_change_does_not_step_the_output() {
        let input = sine(1_000.0, 0.5, 9_600, FS);
        let mut filter = MultiFilter::prepared(&enabled(FilterType::Lowpass, 1_000.0, 10.0));
        let mut output = render_mono(&mut filter, &input[..4_800], 64);
        filter.set_params(&enabled(FilterType::Notch, 1_000.0, 10.0));
        output.extend(render_mono(&mut filter, &input[4_800..], 64));
        let step = |s: &[f32]| {
            s.windows(2)
                .map(|w| (w[1] - w[0]).abs())
                .fold(0.0, f32::max)
        };
        let (before, after) = (step(&output[2_400..4_800]), step(&output[4_800..]));
        println!("multiFilter type change: largest step {after:.4}, before {before:.4}");
        assert!(after <= 1.05 * before, "{after} vs {before}");
    }

    #[test]
    fn mix_zero_and_disabled_are_bit_exact() {
        let input = sine(440.0, 0.8, 4_800, FS);
        let mut disabled = MultiFilter::prepared(&Params::default());
        assert_eq!(render_mono(&mut disabled, &input, 64), input);
        let mut dry = MultiFilter::prepared(&Params {
            mix: 0.0,
            ..enabled(FilterType::Highpass, 3_000.0, 60.0)
        });
        assert_eq!(render_mono(&mut dry, &input, 64), input);
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
                "drive",
                "enabled",
                "envelopeAmount",
                "envelopeAttack",
                "envelopeRelease",
                "envelopeSensitivity",
                "filterType",
                "frequency",
                "keyTrack",
                "lfoDepth",
                "lfoRate",
                "lfoWaveform",
                "mix",
                "resonance",
                "subdivision",
                "tempoSync"
            ]
        );
        assert_eq!(json["subdivision"], "1/4");
        let parsed: Params = serde_json::from_str(
            r#"{"type": "formant", "subdivision": "1/8D", "lfoWaveform": "square"}"#,
        )
        .unwrap();
        assert_eq!(parsed.filter_type, FilterType::Formant);
        assert_eq!(parsed.subdivision.beats(), 0.75);
        assert_eq!(parsed.lfo_waveform, LfoWaveform::Square);
        let wild = Params {
            frequency: 1e9,
            resonance: f32::NAN,
            envelope_amount: -500.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!(
            (wild.frequency, wild.resonance, wild.envelope_amount),
            (20_000.0, 1.0, -100.0)
        );
    }
}
