//! The delay (docs/effects.md §3 #28): an echo with five characters, free time or a tempo-synced
//! note value, feedback, tone, modulation and a dry/wet mix.
//!
//! - **digital**: a clean feedback delay per channel.
//! - **analog**: the feedback passes a one-pole low-pass at `500 + 15000·tone` Hz (the
//!   reference's constants) and every write a soft saturator (`x − 4x³/27`, flat to ±1 at
//!   |x| ≥ 1.5), so repeats darken and loud ones round off.
//! - **tape**: as analog, and the read head wanders: wow (0.7 Hz, ±1.5 ms·modulation) plus
//!   flutter (6.5 Hz, ±0.2 ms·modulation).
//! - **pingpong**: the mono sum enters the left line; the left line's output feeds the right
//!   line and the right's feeds back into the left, each pass scaled by the feedback, so echoes
//!   alternate L, R, L … `pingPongSpread` narrows the image (1 = hard left/right, 0 = centre).
//! - **reverse**: each channel plays the last `time` of audio backwards: two read heads move
//!   away from the write head at twice the speed of time, half a period apart, each faded by a
//!   smoothstep window that is 0 where the head jumps back (the two windows sum to exactly 1).
//!   An input sample `x` before a head's segment end returns `2x` later.
//!
//! Digital, analog and pingpong take a gentle 0.7 Hz ±1 ms·modulation chorus when
//! `modulation` > 0; reverse takes none.
//!
//! Design choices:
//! - The feedback is capped at 0.95 whatever the setting (the reference's cap), and nothing in
//!   the loop has gain above 1 (the low-pass, the saturator, the cubic Hermite read of a delay
//!   line are all ≤ 1), so no setting can run away.
//! - Delay times are whole samples when settled (the target is `round(seconds·fs)`), so a
//!   synced echo lands exactly on the grid and the read is exact. A new time glides: the read
//!   head approaches it exponentially (τ 80 ms) with its speed limited to 0.5…1.5 (at most a
//!   fifth up or down while it travels), so time changes bend pitch like tape instead of
//!   clicking.
//! - Tempo sync: `time = beats(subdivision)·60/bpm` from the room context, clamped to the 2 s
//!   range.
//! - A change of type ducks the wet for 5 ms, switches at silence, and brings it back.
//! - Feedback, mix, tone, spread and modulation glide per sample (10 ms), so output does not
//!   depend on block size.

use crate::automation::Kind;
use crate::blocks::delay::DelayLine;
use crate::blocks::envelope::time_constant_coef;
use crate::blocks::quadrature::Quadrature;
use crate::blocks::smoother::OnePole;
use crate::context::RoomContext;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::param::Subdivision;
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "delay";

/// Declared range of [`Params::time`] (s).
pub const TIME_RANGE: RangeInclusive<f32> = 0.01..=2.0;
/// Declared range of the 0…1 parameters (feedback, mix, tone, modulation, spread).
pub const UNIT_RANGE: RangeInclusive<f32> = 0.0..=1.0;
/// The highest feedback any setting reaches (docs/effects.md §3 #28).
pub const MAX_FEEDBACK: f32 = 0.95;

/// Glide time constant of a new delay time.
const TIME_GLIDE_S: f64 = 0.08;
/// Fastest change of the delay while it glides, samples per sample (read speed 0.5…1.5).
const TIME_GLIDE_MAX_SPEED: f64 = 0.5;
/// Smoothing of feedback, mix, tone, spread and modulation.
const SMOOTHING_S: f64 = 0.01;
/// The wet ducks for this long around a change of type.
const TYPE_FADE_S: f64 = 0.005;
/// Wow: rate (Hz) and depth at full modulation (s). Also the chorus of the other types.
const WOW_HZ: f64 = 0.7;
const WOW_DEPTH_S: f64 = 0.0015;
/// The chorus depth of digital, analog and pingpong at full modulation (s).
const CHORUS_DEPTH_S: f64 = 0.001;
/// Flutter: rate (Hz) and depth at full modulation (s).
const FLUTTER_HZ: f64 = 6.5;
const FLUTTER_DEPTH_S: f64 = 0.0002;
/// The feedback low-pass: `TONE_BASE_HZ + TONE_SPAN_HZ·tone` (docs/effects.md §3 #28).
const TONE_BASE_HZ: f64 = 500.0;
const TONE_SPAN_HZ: f64 = 15_000.0;

/// The delay's character.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DelayType {
    /// Clean repeats.
    #[default]
    Digital,
    /// Darkening, softly saturating repeats.
    Analog,
    /// Analog plus wow and flutter.
    Tape,
    /// Repeats alternating left and right.
    Pingpong,
    /// Repeats played backwards.
    Reverse,
}

crate::host_choice!(DelayType {
    Digital => "Digital",
    Analog => "Analog",
    Tape => "Tape",
    Pingpong => "Ping-Pong",
    Reverse => "Reverse",
});

/// The delay's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Character (default digital); the reference also writes it as `type`.
    #[serde(alias = "type")]
    pub delay_type: DelayType,
    /// Delay time in s, 0.01…2 (default 0.25); replaced by the note value when synced.
    pub time: f32,
    /// Feedback 0…1 (default 0.3), capped at 0.95.
    pub feedback: f32,
    /// Wet share 0…1 (default 0.3).
    pub mix: f32,
    /// Brightness of analog and tape repeats 0…1 (default 0.5).
    pub tone: f32,
    /// Wow/flutter (tape) or chorus (others) depth 0…1 (default 0).
    pub modulation: f32,
    /// Stereo width of the ping-pong 0…1 (default 1).
    pub ping_pong_spread: f32,
    /// Time from the room tempo and `subdivision` (default off).
    pub tempo_sync: bool,
    /// The note value of a synced time (default "1/4").
    pub subdivision: Subdivision,
}

crate::automatable!(Params {
    [delay_type] "delayType", "Type", Kind::choice::<DelayType>();
    [time] "time", "Time", Kind::logarithmic(TIME_RANGE, "s");
    [feedback] "feedback", "Feedback", Kind::linear(UNIT_RANGE, "");
    [mix] "mix", "Mix", Kind::linear(UNIT_RANGE, "");
    [tone] "tone", "Tone", Kind::linear(UNIT_RANGE, "");
    [modulation] "modulation", "Modulation", Kind::linear(UNIT_RANGE, "");
    [ping_pong_spread] "pingPongSpread", "Ping-Pong Spread", Kind::linear(UNIT_RANGE, "");
    [tempo_sync] "tempoSync", "Tempo Sync", Kind::Toggle;
    [subdivision] "subdivision", "Subdivision", Kind::NOTE;
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            delay_type: DelayType::Digital,
            time: 0.25,
            feedback: 0.3,
            mix: 0.3,
            tone: 0.5,
            modulation: 0.0,
            ping_pong_spread: 1.0,
            tempo_sync: false,
            subdivision: Subdivision::QUARTER,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            delay_type: self.delay_type,
            time: clamp_param(self.time, TIME_RANGE, d.time),
            feedback: clamp_param(self.feedback, UNIT_RANGE, d.feedback),
            mix: clamp_param(self.mix, UNIT_RANGE, d.mix),
            tone: clamp_param(self.tone, UNIT_RANGE, d.tone),
            modulation: clamp_param(self.modulation, UNIT_RANGE, d.modulation),
            ping_pong_spread: clamp_param(self.ping_pong_spread, UNIT_RANGE, d.ping_pong_spread),
            tempo_sync: self.tempo_sync,
            subdivision: self.subdivision,
        }
    }
}

/// The soft saturator of analog and tape writes: `x − 4x³/27`, reaching ±1 with zero slope at
/// ±1.5 and flat beyond. Unity gain for small signals, never above 1 in magnitude.
#[inline]
pub(crate) fn saturate(x: f32) -> f32 {
    let x = x.clamp(-1.5, 1.5);
    x - (4.0 / 27.0) * x * x * x
}

/// The smoothstep crossfade window of the reverse heads: 0 at phase 0 and 1, 1 at ½, and
/// `w(p) + w(p + ½) = 1`.
#[inline]
fn reverse_window(phase: f32) -> f32 {
    let x = if phase < 0.5 {
        2.0 * phase
    } else {
        2.0 - 2.0 * phase
    };
    x * x * (3.0 - 2.0 * x)
}

/// `line` read `delay` samples back: a plain read on whole samples (what a settled, unmodulated
/// time is), cubic Hermite between them. Both give the same value on whole samples.
#[inline(always)]
pub(crate) fn read_at(line: &DelayLine, delay: f64) -> f32 {
    // Delays here are at most a few seconds of samples: u32 holds them, and its conversion is
    // cheaper than usize's.
    let whole = delay as u32;
    if f64::from(whole) == delay && whole >= 1 {
        line.read(whole as usize)
    } else {
        line.read_hermite(delay as f32)
    }
}

/// A delay time gliding to its target with a bounded speed (see the module notes).
#[derive(Clone, Debug)]
pub(crate) struct TimeGlide {
    current: f64,
    target: f64,
    coef: f64,
}

impl TimeGlide {
    pub(crate) fn new(samples: f64) -> Self {
        Self {
            current: samples,
            target: samples,
            coef: 0.0,
        }
    }

    pub(crate) fn set_rate(&mut self, sample_rate: f64) {
        self.coef = 1.0 - time_constant_coef(TIME_GLIDE_S, sample_rate);
    }

    pub(crate) fn set_target(&mut self, samples: f64) {
        self.target = samples;
    }

    pub(crate) fn reset(&mut self) {
        self.current = self.target;
    }

    #[inline]
    pub(crate) fn next_value(&mut self) -> f64 {
        if self.current != self.target {
            let distance = self.target - self.current;
            if distance.abs() < 1e-6 {
                self.current = self.target;
            } else {
                self.current +=
                    (distance * self.coef).clamp(-TIME_GLIDE_MAX_SPEED, TIME_GLIDE_MAX_SPEED);
            }
        }
        self.current
    }

    pub(crate) fn target(&self) -> f64 {
        self.target
    }
}

/// The delay. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct Delay {
    params: Params,
    sample_rate: f64,
    tempo_bpm: f64,
    lines: [DelayLine; 2],
    /// The feedback low-pass state per channel.
    tone_state: [f32; 2],
    time: TimeGlide,
    feedback: OnePole,
    mix: OnePole,
    /// The feedback low-pass coefficient `exp(−2π·fc/fs)`.
    tone: OnePole,
    spread: OnePole,
    modulation: OnePole,
    wow: Quadrature,
    flutter: Quadrature,
    /// Phase of the reverse heads' cycle, 0…1.
    reverse_phase: f64,
    /// The type being heard, and the wet duck around a change of type.
    active_type: DelayType,
    fade: f32,
    fade_step: f32,
}

impl Delay {
    /// A delay with `params` at 120 BPM; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let params = params.clamped();
        let sample_rate = 48_000.0;
        let mut delay = Self {
            sample_rate,
            tempo_bpm: 120.0,
            lines: [DelayLine::new(), DelayLine::new()],
            tone_state: [0.0; 2],
            time: TimeGlide::new(0.0),
            feedback: OnePole::new(0.0, SMOOTHING_S, sample_rate),
            mix: OnePole::new(0.0, SMOOTHING_S, sample_rate),
            tone: OnePole::new(0.0, SMOOTHING_S, sample_rate),
            spread: OnePole::new(0.0, SMOOTHING_S, sample_rate),
            modulation: OnePole::new(0.0, SMOOTHING_S, sample_rate),
            wow: Quadrature::new(),
            flutter: Quadrature::new(),
            reverse_phase: 0.0,
            active_type: params.delay_type,
            fade: 1.0,
            fade_step: 1.0,
            params,
        };
        delay.prepare(&ProcessSpec::stereo(sample_rate, 0));
        delay
    }

    /// Applies new parameters (clamped). Time glides, a new type ducks and switches, the rest
    /// glides. Switching on starts from silence.
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

    /// The delay time the effect is heading for, in samples (whole when settled).
    pub fn target_samples(&self) -> f64 {
        self.time.target()
    }

    /// The delay time in seconds from the parameters and the tempo.
    fn seconds(&self) -> f64 {
        let seconds = if self.params.tempo_sync {
            self.params.subdivision.beats() * 60.0 / self.tempo_bpm
        } else {
            f64::from(self.params.time)
        };
        seconds.clamp(f64::from(*TIME_RANGE.start()), f64::from(*TIME_RANGE.end()))
    }

    fn tone_coef(&self) -> f32 {
        let corner = TONE_BASE_HZ + TONE_SPAN_HZ * f64::from(self.params.tone);
        (-TAU * corner.min(0.45 * self.sample_rate) / self.sample_rate).exp() as f32
    }

    fn update(&mut self) {
        self.time
            .set_target((self.seconds() * self.sample_rate).round());
        self.feedback
            .set_target(self.params.feedback.min(MAX_FEEDBACK));
        self.mix.set_target(self.params.mix);
        self.tone.set_target(self.tone_coef());
        self.spread.set_target(self.params.ping_pong_spread);
        self.modulation.set_target(self.params.modulation);
    }

    /// Advances the type duck one sample and returns the wet gain.
    #[inline]
    fn next_fade(&mut self) -> f32 {
        if self.active_type != self.params.delay_type {
            self.fade -= self.fade_step;
            if self.fade <= 0.0 {
                self.fade = 0.0;
                self.active_type = self.params.delay_type;
                self.tone_state = [0.0; 2];
            }
        } else if self.fade < 1.0 {
            self.fade = (self.fade + self.fade_step).min(1.0);
        }
        self.fade
    }

    /// The modulation offset of the delay in samples for this sample.
    #[inline]
    fn next_wander(&mut self, depth: f32) -> f64 {
        // Unmodulated, the oscillators pause (a per-sample decision: block size cannot change
        // it) and the reads stay on whole samples.
        if depth == 0.0 {
            return 0.0;
        }
        let wow = self.wow.next_sin();
        let flutter = self.flutter.next_sin();
        let depth = f64::from(depth) * self.sample_rate;
        match self.active_type {
            DelayType::Tape => {
                depth * (WOW_DEPTH_S * (1.0 + wow) + FLUTTER_DEPTH_S * (1.0 + flutter))
            }
            DelayType::Reverse => 0.0,
            _ => depth * CHORUS_DEPTH_S * (1.0 + wow),
        }
    }
}

impl Effect for Delay {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        // Reverse heads reach twice the longest time back; modulation adds a little.
        let longest =
            2.0 * f64::from(*TIME_RANGE.end()) + WOW_DEPTH_S * 2.0 + FLUTTER_DEPTH_S * 2.0 + 0.001;
        for line in &mut self.lines {
            line.prepare((longest * spec.sample_rate).ceil() as usize + 4);
        }
        self.time.set_rate(spec.sample_rate);
        for smoother in [
            &mut self.feedback,
            &mut self.mix,
            &mut self.tone,
            &mut self.spread,
            &mut self.modulation,
        ] {
            smoother.set_time(SMOOTHING_S, spec.sample_rate);
        }
        self.wow.set_frequency(WOW_HZ, spec.sample_rate);
        self.flutter.set_frequency(FLUTTER_HZ, spec.sample_rate);
        self.fade_step = (1.0 / (TYPE_FADE_S * spec.sample_rate)) as f32;
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        for line in &mut self.lines {
            line.reset();
        }
        self.tone_state = [0.0; 2];
        self.update();
        self.time.reset();
        self.feedback
            .reset_to(self.params.feedback.min(MAX_FEEDBACK));
        self.mix.reset_to(self.params.mix);
        self.tone.reset_to(self.tone_coef());
        self.spread.reset_to(self.params.ping_pong_spread);
        self.modulation.reset_to(self.params.modulation);
        self.wow.reset();
        self.flutter.reset();
        self.reverse_phase = 0.0;
        self.active_type = self.params.delay_type;
        self.fade = 1.0;
    }

    fn set_context(&mut self, context: &RoomContext) {
        let tempo = context.tempo();
        if tempo != self.tempo_bpm {
            self.tempo_bpm = tempo;
            self.update();
        }
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let time = self.time.next_value();
            let feedback = self.feedback.next_value();
            let mix = self.mix.next_value();
            let tone = self.tone.next_value();
            let spread = self.spread.next_value();
            let depth = self.modulation.next_value();
            let fade = self.next_fade();
            let wander = self.next_wander(depth);
            // Reads happen before this sample's write: `time − 1` back is `time` ago.
            let read = time + wander - 1.0;
            let (dry_l, dry_r) = (*l, *r);
            let (wet_l, wet_r) = match self.active_type {
                DelayType::Digital => {
                    let (yl, yr) = (read_at(&self.lines[0], read), read_at(&self.lines[1], read));
                    self.lines[0].push(dry_l + feedback * yl);
                    self.lines[1].push(dry_r + feedback * yr);
                    (yl, yr)
                }
                DelayType::Analog | DelayType::Tape => {
                    let mut out = [0.0; 2];
                    for (((line, state), y), x) in self
                        .lines
                        .iter_mut()
                        .zip(&mut self.tone_state)
                        .zip(&mut out)
                        .zip([dry_l, dry_r])
                    {
                        *y = read_at(line, read);
                        *state = *y + tone * (*state - *y);
                        line.push(saturate(x + feedback * *state));
                    }
                    (out[0], out[1])
                }
                DelayType::Pingpong => {
                    let (yl, yr) = (read_at(&self.lines[0], read), read_at(&self.lines[1], read));
                    self.lines[0].push(0.5 * (dry_l + dry_r) + feedback * yr);
                    self.lines[1].push(feedback * yl);
                    let (near, far) = (0.5 + 0.5 * spread, 0.5 - 0.5 * spread);
                    (near * yl + far * yr, near * yr + far * yl)
                }
                DelayType::Reverse => {
                    let period = time.max(2.0);
                    let phase_a = self.reverse_phase;
                    self.reverse_phase += 1.0 / period;
                    if self.reverse_phase >= 1.0 {
                        self.reverse_phase -= 1.0;
                    }
                    let phase_b = if phase_a < 0.5 {
                        phase_a + 0.5
                    } else {
                        phase_a - 0.5
                    };
                    let (weight_a, weight_b) = (
                        reverse_window(phase_a as f32),
                        reverse_window(phase_b as f32),
                    );
                    let (delay_a, delay_b) = (
                        (2.0 * period * phase_a) as f32,
                        (2.0 * period * phase_b) as f32,
                    );
                    let mut out = [0.0; 2];
                    for ((line, y), x) in self.lines.iter_mut().zip(&mut out).zip([dry_l, dry_r]) {
                        *y = weight_a * line.read_linear(delay_a)
                            + weight_b * line.read_linear(delay_b);
                        line.push(x + feedback * *y);
                    }
                    (out[0], out[1])
                }
            };
            let wet = mix * fade;
            *l = dry_l * (1.0 - mix) + wet_l * wet;
            *r = dry_r * (1.0 - mix) + wet_r * wet;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::conformance_tests;
    use crate::test_support::{FS, Noise, render_stereo, sine};

    conformance_tests!(Delay {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] = &[
            ("/delayType", &["digital", "analog", "tape", "pingpong", "reverse"]),
            ("/subdivision", &["1/4", "1/8D", "1/16T", "1/1"]),
        ];
        /// Feedback 0.95 at 2 s loses 0.22 dB a second: 400 dB (to 1e-20) takes 1800 s.
        const TAIL_LIMIT_SECONDS: f64 = 2_000.0;
        /// Between repeats of a short burst there are up to 4 s of silence (reverse, 2 s).
        const TAIL_QUIET_SECONDS: f64 = 4.5;
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn wet(delay_type: DelayType, time: f32, feedback: f32) -> Params {
        Params {
            enabled: true,
            delay_type,
            time,
            feedback,
            mix: 1.0,
            ..Params::default()
        }
    }

    fn prepared(params: &Params) -> Delay {
        let mut delay = Delay::new(params);
        delay.prepare(&ProcessSpec::stereo(FS, 1024));
        delay
    }

    fn onsets(signal: &[f32], threshold: f32) -> Vec<(usize, f32)> {
        signal
            .iter()
            .enumerate()
            .filter(|(_, y)| y.abs() > threshold)
            .map(|(n, &y)| (n, y))
            .collect()
    }

    /// A tempo-synced time is the note value at the room's tempo, to the sample: an impulse
    /// comes back exactly `round(beats·60/bpm·fs)` samples later, and the next repeat as far
    /// again.
    #[test]
    fn synced_echoes_land_on_the_grid_to_the_sample() {
        for (bpm, note) in [
            (120.0, "1/4"),
            (97.0, "1/8D"),
            (133.0, "1/16T"),
            (61.5, "1/2"),
            (174.0, "1/8"),
        ] {
            let subdivision = Subdivision::parse(note).unwrap();
            let mut delay = prepared(&Params {
                tempo_sync: true,
                subdivision,
                ..wet(DelayType::Digital, 0.5, 0.5)
            });
            delay.set_context(&RoomContext {
                tempo_bpm: bpm,
                ..RoomContext::default()
            });
            // A tempo arriving while playing glides there; a fresh start jumps.
            delay.reset();
            let expected = (subdivision.beats() * 60.0 / bpm * FS).round() as usize;
            let mut input = vec![0.0; 2 * expected + 100];
            input[0] = 1.0;
            let (left, right) = render_stereo(&mut delay, &input, &input, 256);
            let echoes = onsets(&left, 1e-6);
            println!("{note} at {bpm} BPM: echoes at {echoes:?} (expected {expected})");
            assert_eq!(echoes, [(expected, 1.0), (2 * expected, 0.5)]);
            assert_eq!(left, right);
        }
    }

    /// Analog and tape feedback at the maximum setting: 30 s after a noise burst the energy has
    /// fallen steadily (no 1 s window louder than the one before, by more than a rounding
    /// margin) and is far below where it started; every type, the longest and a short time.
    #[test]
    fn maximum_feedback_never_runs_away() {
        for delay_type in [
            DelayType::Digital,
            DelayType::Analog,
            DelayType::Tape,
            DelayType::Pingpong,
            DelayType::Reverse,
        ] {
            for time in [0.25, 2.0] {
                let mut delay = prepared(&Params {
                    tone: 1.0,
                    modulation: 1.0,
                    ..wet(delay_type, time, 1.0)
                });
                let mut rng = Noise::new(4);
                let second = FS as usize;
                let mut input: Vec<f32> = (0..second).map(|_| rng.next_f64() as f32).collect();
                input.resize(32 * second, 0.0);
                let (left, right) = render_stereo(&mut delay, &input, &input, 512);
                let energy: Vec<f64> = (1..32)
                    .map(|s| {
                        let window = s * second..(s + 1) * second;
                        left[window.clone()]
                            .iter()
                            .chain(&right[window])
                            .map(|&y| f64::from(y).powi(2))
                            .sum()
                    })
                    .collect();
                // Long repeats arrive in lumps: compare windows of a whole cycle then (a
                // reverse cycle is twice the time).
                let step = match (delay_type, time > 1.0) {
                    (_, false) => 1,
                    (DelayType::Reverse, true) => 4,
                    (_, true) => 2,
                };
                let pooled: Vec<f64> = energy.chunks(step).map(|c| c.iter().sum()).collect();
                let fall_db = 10.0 * (pooled[pooled.len() - 1] / pooled[0]).log10();
                println!("{delay_type:?} {time} s at feedback 1: 30 s later {fall_db:.1} dB");
                assert!(
                    pooled.windows(2).all(|w| w[1] <= w[0] * 1.02),
                    "{delay_type:?} {time}: {pooled:?}"
                );
                assert!(fall_db < -5.0, "{delay_type:?} {time}: {fall_db}");
                assert!(left.iter().chain(&right).all(|y| y.abs() < 4.0));
            }
        }
    }

    /// Ping-pong: the repeats alternate left, right, left, each the feedback times the last.
    #[test]
    fn ping_pong_alternates() {
        let mut delay = prepared(&wet(DelayType::Pingpong, 0.1, 0.5));
        let mut input = vec![0.0; 20_000];
        input[0] = 1.0;
        let (left, right) = render_stereo(&mut delay, &input, &input, 128);
        assert_eq!(onsets(&left, 1e-6), [(4_800, 1.0), (14_400, 0.25)]);
        assert_eq!(onsets(&right, 1e-6), [(9_600, 0.5), (19_200, 0.125)]);
        // Spread 0: the same repeats, centred.
        let mut centred = prepared(&Params {
            ping_pong_spread: 0.0,
            ..wet(DelayType::Pingpong, 0.1, 0.5)
        });
        let (left, right) = render_stereo(&mut centred, &input, &input, 128);
        assert_eq!(left, right);
        assert_eq!(onsets(&left, 1e-6)[..2], [(4_800, 0.5), (9_600, 0.25)]);
    }

    /// Reverse: an impulse comes back twice (once per head), each `2·(segment end − t)` after
    /// it, with window weights that sum to 1.
    #[test]
    fn reverse_plays_segments_backwards() {
        let period = 4_800;
        let mut delay = prepared(&wet(DelayType::Reverse, 0.1, 0.0));
        let at = 10_000;
        let mut input = vec![0.0; 30_000];
        input[at] = 1.0;
        let (left, _) = render_stereo(&mut delay, &input, &input, 100);
        let echoes = onsets(&left, 1e-6);
        println!("reverse echoes of an impulse at {at}: {echoes:?}");
        assert_eq!(echoes.len(), 2, "{echoes:?}");
        let total: f32 = echoes.iter().map(|e| e.1).sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        // Head A's segments end at multiples of the period, head B's half a period later;
        // each echo is twice the distance to its head's segment end (± the one-sample read
        // offset).
        for (n, _) in &echoes {
            let delay = n - at;
            let ends = [
                at.div_ceil(period) * period,
                (at + period / 2).div_ceil(period) * period - period / 2,
            ];
            assert!(
                ends.iter()
                    .any(|&end| (2 * (end - at)).abs_diff(delay) <= 2),
                "echo after {delay}: segment ends {ends:?}"
            );
        }
    }

    /// A time change while a sine plays glides: the output's largest sample-to-sample step
    /// stays that of a sine (the pitch bends; nothing jumps).
    #[test]
    fn time_changes_glide_without_clicks() {
        for delay_type in [DelayType::Digital, DelayType::Tape, DelayType::Pingpong] {
            let mut delay = prepared(&wet(delay_type, 0.25, 0.5));
            let input = sine(440.0, 0.5, 3 * FS as usize, FS);
            let (first, _) =
                render_stereo(&mut delay, &input[..FS as usize], &input[..FS as usize], 64);
            delay.set_params(&wet(delay_type, 0.7, 0.5));
            let (second, _) =
                render_stereo(&mut delay, &input[FS as usize..], &input[FS as usize..], 64);
            let step = |x: &[f32]| {
                x.windows(2)
                    .map(|w| (w[1] - w[0]).abs())
                    .fold(0.0, f32::max)
            };
            let steady = step(&first[FS as usize / 2..]);
            let across = step(&second);
            println!("{delay_type:?}: largest step {steady:.4} steady, {across:.4} while gliding");
            // 440 Hz at amplitude ≤ 1 (0.5 plus the repeats), sped up ≤ 1.5×.
            assert!(
                across <= 1.5 * steady + 1e-3,
                "{delay_type:?}: {across} vs {steady}"
            );
        }
    }

    /// Mix 0 and disabled are the dry signal exactly; the saturator is unity for small
    /// signals and never exceeds 1.
    #[test]
    fn bypass_and_saturator() {
        let input = sine(330.0, 0.7, 9_600, FS);
        for params in [
            Params {
                mix: 0.0,
                ..wet(DelayType::Tape, 0.05, 0.9)
            },
            Params::default(),
        ] {
            let mut delay = prepared(&params);
            let (left, right) = render_stereo(&mut delay, &input, &input, 100);
            assert_eq!(left, input);
            assert_eq!(right, input);
        }
        assert!((saturate(0.01) - 0.01).abs() < 2e-7);
        assert_eq!(saturate(1.5), 1.0);
        assert_eq!(saturate(-40.0), -1.0);
        assert!((0..=300).all(|i| saturate(i as f32 / 100.0) <= 1.0));
    }
}
