//! The granular delay (docs/effects.md §3 #30): up to eight overlapping Hann-windowed grains read
//! from a recording of the input, each with its own position, pitch, direction and pan, fed back
//! and mixed with the dry signal; `freeze` stops the recording so the grains loop what it holds.
//!
//! - **Scheduling**: a new grain starts every `grainSize / overlap` samples, overlap =
//!   `1 + 7·density/100` (1 … 8 grains sounding at once), the interval jittered by
//!   ±`texture/2` % (the legacy `texture`, default 30). The countdown runs per sample, so
//!   grains start on the same samples whatever the block size. A grain due while all eight
//!   voices sound is skipped.
//! - **Each grain** takes the parameters of its first sample: length `grainSize`; pitch ratio
//!   `2^((pitch ± pitchRandom/100·12 st)/12)`; played backwards with probability
//!   `reverse/100`; starting `position + U(0, positionRandom/100·1 s)` behind the write head,
//!   moved just far enough to keep the whole grain inside recorded audio (a grain reading
//!   faster than real time must not overtake the write head); panned at random within
//!   ±`spread/100` (equal power).
//! - **Level**: each grain is scaled by `1/max(1, overlap/2)`, the reciprocal of the mean sum
//!   of the overlapping Hann windows, so a pitch-0 grain cloud reproduces its input at about
//!   unity and the feedback loop (`0.9·feedback/100`, through a soft saturator) stays below
//!   unity gain.
//! - **Random numbers** come from a xorshift generator with a fixed seed; `reset` restores it,
//!   so a given input and parameter history always gives the same output.
//! - The recording holds 2 s of positions plus 1 s of position randomness plus the travel of
//!   the longest, fastest grain (0.5 s at ±4×): 5.5 s of mono at the prepared rate. The Hann
//!   window is a 1024-point table read with linear interpolation (error < 1e-5) at a
//!   fixed-point phase.

use crate::automation::Kind;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::delay::delay::saturate;
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "granularDelay";

/// Declared range of [`Params::grain_size`] (ms).
pub const GRAIN_SIZE_RANGE: RangeInclusive<f32> = 10.0..=500.0;
/// Declared range of the percentages.
pub const PERCENT_RANGE: RangeInclusive<f32> = 0.0..=100.0;
/// Declared range of [`Params::pitch`] (semitones).
pub const PITCH_RANGE: RangeInclusive<f32> = -24.0..=24.0;
/// Declared range of [`Params::position`] (ms).
pub const POSITION_RANGE: RangeInclusive<f32> = 0.0..=2_000.0;

/// Grains that can sound at once.
pub const VOICES: usize = 8;
/// Pitch randomness at 100 %: ± this many semitones.
const PITCH_RANDOM_SEMITONES: f32 = 12.0;
/// Position randomness at 100 %: up to this much further back (s).
const POSITION_RANDOM_S: f64 = 1.0;
/// Loop gain at feedback 100 %.
const MAX_FEEDBACK: f32 = 0.9;
/// Hann table points (one more stored for the interpolation's last step).
const WINDOW_POINTS: usize = 1024;
/// Fractional bits of a grain's window phase, and the scale of that fraction.
const PHASE_BITS: u32 = 16;
const PHASE_MASK: u32 = (1 << PHASE_BITS) - 1;
const PHASE_SCALE: f32 = 1.0 / (1 << PHASE_BITS) as f32;
/// The generator's seed (any non-zero value).
const SEED: u32 = 0x9E37_79B9;
/// Smoothing of feedback and mix.
const SMOOTHING_S: f64 = 0.01;

/// The granular delay's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Grain length in ms, 10…500 (default 100).
    pub grain_size: f32,
    /// Grain overlap 0…100 (default 50): 1 + 7·density/100 grains at once.
    pub density: f32,
    /// Grain transposition in semitones, ±24 (default 0).
    pub pitch: f32,
    /// Random transposition per grain 0…100 (default 0): up to ±12 semitones.
    pub pitch_random: f32,
    /// How far back grains start, ms, 0…2000 (default 250).
    pub position: f32,
    /// Random extra distance per grain 0…100 (default 0): up to 1 s.
    pub position_random: f32,
    /// Feedback of the grains into the recording 0…100 (default 30).
    pub feedback: f32,
    /// Random stereo placement of grains 0…100 (default 50).
    pub spread: f32,
    /// Share of grains played backwards 0…100 % (default 0).
    pub reverse: f32,
    /// Wet share 0…100 (default 50).
    pub mix: f32,
    /// Stop recording: the grains loop what the buffer holds (default off).
    pub freeze: bool,
    /// Legacy: jitter of the grain onsets 0…100 (default 30).
    pub texture: f32,
}

crate::automatable!(Params {
    [grain_size] "grainSize", "Grain Size", Kind::logarithmic(GRAIN_SIZE_RANGE, "ms");
    [density] "density", "Density", Kind::linear(PERCENT_RANGE, "%");
    [pitch] "pitch", "Pitch", Kind::linear(PITCH_RANGE, "st");
    [pitch_random] "pitchRandom", "Pitch Random", Kind::linear(PERCENT_RANGE, "%");
    [position] "position", "Position", Kind::linear(POSITION_RANGE, "ms");
    [position_random] "positionRandom", "Position Random", Kind::linear(PERCENT_RANGE, "%");
    [feedback] "feedback", "Feedback", Kind::linear(PERCENT_RANGE, "%");
    [spread] "spread", "Spread", Kind::linear(PERCENT_RANGE, "%");
    [reverse] "reverse", "Reverse", Kind::linear(PERCENT_RANGE, "%");
    [mix] "mix", "Mix", Kind::linear(PERCENT_RANGE, "%");
    [freeze] "freeze", "Freeze", Kind::Toggle;
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            grain_size: 100.0,
            density: 50.0,
            pitch: 0.0,
            pitch_random: 0.0,
            position: 250.0,
            position_random: 0.0,
            feedback: 30.0,
            spread: 50.0,
            reverse: 0.0,
            mix: 50.0,
            freeze: false,
            texture: 30.0,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        let percent = |value: f32, default: f32| clamp_param(value, PERCENT_RANGE, default);
        Self {
            enabled: self.enabled,
            grain_size: clamp_param(self.grain_size, GRAIN_SIZE_RANGE, d.grain_size),
            density: percent(self.density, d.density),
            pitch: clamp_param(self.pitch, PITCH_RANGE, d.pitch),
            pitch_random: percent(self.pitch_random, d.pitch_random),
            position: clamp_param(self.position, POSITION_RANGE, d.position),
            position_random: percent(self.position_random, d.position_random),
            feedback: percent(self.feedback, d.feedback),
            spread: percent(self.spread, d.spread),
            reverse: percent(self.reverse, d.reverse),
            mix: percent(self.mix, d.mix),
            freeze: self.freeze,
            texture: percent(self.texture, d.texture),
        }
    }

    /// Grains sounding at once on average, 1…8.
    pub fn overlap(&self) -> f32 {
        1.0 + (VOICES - 1) as f32 * self.density / 100.0
    }
}

/// xorshift32: small, fast, and the same sequence on every platform.
#[derive(Clone, Debug)]
struct Rng(u32);

impl Rng {
    /// Uniform in 0…1.
    fn unit(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 >> 8) as f32 / (1u32 << 24) as f32
    }

    /// Uniform in −1…1.
    fn bipolar(&mut self) -> f32 {
        2.0 * self.unit() - 1.0
    }
}

/// One sounding grain.
#[derive(Clone, Copy, Debug, Default)]
struct Grain {
    active: bool,
    /// Read position in the recording: an index in 0…len, fractional.
    position: f64,
    /// Samples advanced per output sample (negative: backwards).
    speed: f64,
    /// Window position in table points, fixed point with 16 fractional bits, and its step
    /// per sample (integer arithmetic: no float-to-integer conversion per grain and sample).
    phase: u32,
    phase_step: u32,
    /// Samples left to sound (the lifetime counts samples, not window phase, so a grain
    /// lasts exactly its length whatever the rounding of the phase).
    remaining: usize,
    /// Pan gains including the level normalisation.
    gain_left: f32,
    gain_right: f32,
}

/// The granular delay. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct GranularDelay {
    params: Params,
    sample_rate: f64,
    recording: Vec<f32>,
    mask: usize,
    /// Where the next sample is written.
    write: usize,
    /// The recording's length as a float, for wrapping grain positions.
    recording_len: f64,
    window: Box<[f32; WINDOW_POINTS + 1]>,
    grains: [Grain; VOICES],
    /// Samples until the next grain starts.
    until_grain: f64,
    rng: Rng,
    feedback: OnePole,
    mix: OnePole,
    started: u64,
    skipped: u64,
}

impl GranularDelay {
    /// A granular delay with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut delay = Self {
            params: params.clamped(),
            sample_rate,
            recording: Vec::new(),
            mask: 0,
            write: 0,
            recording_len: 1.0,
            window: Box::new(std::array::from_fn(|i| {
                (0.5 - 0.5 * (TAU * i as f64 / WINDOW_POINTS as f64).cos()) as f32
            })),
            grains: [Grain::default(); VOICES],
            until_grain: 0.0,
            rng: Rng(SEED),
            feedback: OnePole::new(0.0, SMOOTHING_S, sample_rate),
            mix: OnePole::new(0.0, SMOOTHING_S, sample_rate),
            started: 0,
            skipped: 0,
        };
        delay.prepare(&ProcessSpec::stereo(sample_rate, 0));
        delay
    }

    /// Applies new parameters (clamped). New grains take them as they start; feedback and mix
    /// glide. Switching on starts from silence.
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

    /// Grains sounding now.
    pub fn active_grains(&self) -> usize {
        self.grains.iter().filter(|g| g.active).count()
    }

    /// Grains started since the last reset, and grains skipped because all voices sounded.
    pub fn grain_counts(&self) -> (u64, u64) {
        (self.started, self.skipped)
    }

    fn update(&mut self) {
        self.feedback
            .set_target(MAX_FEEDBACK * self.params.feedback / 100.0);
        self.mix.set_target(self.params.mix / 100.0);
    }

    /// Starts a grain with the current parameters (or skips it if every voice sounds), and
    /// returns the samples until the next one.
    fn start_grain(&mut self) -> f64 {
        let p = &self.params;
        let length = (f64::from(p.grain_size) * 1e-3 * self.sample_rate)
            .round()
            .max(2.0);
        let overlap = p.overlap();
        // Draw every random number whether or not a voice is free, so the sequence (and the
        // output) depends only on the sample count.
        let pitch_jitter = self.rng.bipolar();
        let reverse_draw = self.rng.unit();
        let position_draw = self.rng.unit();
        let pan_draw = self.rng.bipolar();
        let onset_draw = self.rng.bipolar();

        let semitones = p.pitch + pitch_jitter * p.pitch_random / 100.0 * PITCH_RANDOM_SEMITONES;
        let ratio = 2f64.powf(f64::from(semitones) / 12.0);
        let backwards = reverse_draw * 100.0 < p.reverse;
        let speed = if backwards { -ratio } else { ratio };
        // Distance behind the write head at the grain's start, kept so that the whole grain
        // reads recorded audio: a grain faster than time closes in by (speed − 1)·length, one
        // slower (or backwards) falls behind by (1 − speed)·length.
        let wanted = (f64::from(p.position) * 1e-3
            + f64::from(position_draw * p.position_random / 100.0) * POSITION_RANDOM_S)
            * self.sample_rate;
        let nearest = ((speed - 1.0) * length).max(0.0) + 2.0;
        let farthest = self.recording.len() as f64 - 4.0 - ((1.0 - speed) * length).max(0.0);
        let distance = wanted.clamp(nearest, farthest.max(nearest));

        if let Some(grain) = self.grains.iter_mut().find(|g| !g.active) {
            let angle = (1.0 + pan_draw * p.spread / 100.0) * std::f32::consts::FRAC_PI_4;
            let level = 1.0 / (overlap / 2.0).max(1.0);
            *grain = Grain {
                active: true,
                position: (self.write as f64 - distance).rem_euclid(self.recording_len),
                speed,
                phase: 0,
                // Rounded down, so the last sample's phase stays inside the table.
                phase_step: ((WINDOW_POINTS << PHASE_BITS) as f64 / length) as u32,
                remaining: length as usize,
                gain_left: level * angle.cos() * std::f32::consts::SQRT_2,
                gain_right: level * angle.sin() * std::f32::consts::SQRT_2,
            };
            self.started += 1;
        } else {
            self.skipped += 1;
        }
        let jitter = 0.5 * p.texture / 100.0 * onset_draw;
        (length / f64::from(overlap) * f64::from(1.0 + jitter)).max(1.0)
    }
}

impl Effect for GranularDelay {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        let longest_travel = f64::from(*GRAIN_SIZE_RANGE.end()) * 1e-3 * 4.0;
        let seconds =
            f64::from(*POSITION_RANGE.end()) * 1e-3 + POSITION_RANDOM_S + longest_travel + 0.01;
        let len = ((seconds * spec.sample_rate).ceil() as usize).next_power_of_two();
        self.recording = vec![0.0; len];
        self.recording_len = len as f64;
        self.mask = len - 1;
        self.feedback.set_time(SMOOTHING_S, spec.sample_rate);
        self.mix.set_time(SMOOTHING_S, spec.sample_rate);
        self.reset();
    }

    fn reset(&mut self) {
        self.recording.fill(0.0);
        self.write = 0;
        self.grains = [Grain::default(); VOICES];
        // The countdown runs before the check, so 1 starts the first grain on the first sample
        // and the next one a whole interval later.
        self.until_grain = 1.0;
        self.rng = Rng(SEED);
        self.feedback
            .reset_to(MAX_FEEDBACK * self.params.feedback / 100.0);
        self.mix.reset_to(self.params.mix / 100.0);
        self.started = 0;
        self.skipped = 0;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let freeze = self.params.freeze;
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            self.until_grain -= 1.0;
            if self.until_grain <= 0.0 {
                self.until_grain += self.start_grain();
            }
            let feedback = self.feedback.next_value();
            let mix = self.mix.next_value();

            let (mut wet_l, mut wet_r) = (0.0f32, 0.0f32);
            for grain in self.grains.iter_mut().filter(|g| g.active) {
                // Positions stay in 0…len, so truncation is the floor.
                let index = grain.position as u32 as usize;
                let fraction = (grain.position - index as f64) as f32;
                let a = self.recording[index & self.mask];
                let b = self.recording[(index + 1) & self.mask];
                let sample = a + fraction * (b - a);
                let point = ((grain.phase >> PHASE_BITS) as usize).min(WINDOW_POINTS - 1);
                let t = (grain.phase & PHASE_MASK) as f32 * PHASE_SCALE;
                let (w0, w1) = (self.window[point], self.window[point + 1]);
                let weighted = sample * (w0 + t * (w1 - w0));
                wet_l += weighted * grain.gain_left;
                wet_r += weighted * grain.gain_right;
                grain.position += grain.speed;
                if grain.position >= self.recording_len {
                    grain.position -= self.recording_len;
                } else if grain.position < 0.0 {
                    grain.position += self.recording_len;
                }
                grain.phase = grain.phase.wrapping_add(grain.phase_step);
                grain.remaining -= 1;
                grain.active = grain.remaining > 0;
            }

            if !freeze {
                let input = 0.5 * (*l + *r) + saturate(feedback * 0.5 * (wet_l + wet_r));
                self.recording[self.write & self.mask] = input;
                self.write = (self.write + 1) & self.mask;
            }
            *l = *l * (1.0 - mix) + wet_l * mix;
            *r = *r * (1.0 - mix) + wet_r * mix;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::conformance_tests;
    use crate::test_support::{FS, Noise, render_stereo, sine};

    conformance_tests!(GranularDelay {
        /// Feedback 0.9 through grains up to 3.5 s back: 400 dB (to 1e-20) in about 1600 s.
        const TAIL_LIMIT_SECONDS: f64 = 2_000.0;
        /// Up to 3.5 s between a burst and its return.
        const TAIL_QUIET_SECONDS: f64 = 4.0;
        /// Freeze holds its sound for as long as it is on.
        const SUSTAINING: &'static [&'static str] = &["/freeze"];
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn wet(grain_size: f32, density: f32, pitch: f32) -> Params {
        Params {
            enabled: true,
            grain_size,
            density,
            pitch,
            feedback: 0.0,
            spread: 0.0,
            texture: 0.0,
            mix: 100.0,
            ..Params::default()
        }
    }

    fn prepared(params: &Params) -> GranularDelay {
        let mut delay = GranularDelay::new(params);
        delay.prepare(&ProcessSpec::stereo(FS, 1024));
        delay
    }

    /// Grain size and count: on a constant input with one grain at a time, the output is a
    /// train of Hann bumps exactly `grainSize` long (zero at their joins); the average number
    /// of grains sounding is 1 + 7·density/100 (±1 %), as many start each second as that
    /// overlap over the grain length (±1), and eight voices suffice at full density.
    #[test]
    fn grains_have_their_size_and_count() {
        for size_ms in [20.0f32, 100.0, 370.0] {
            let mut delay = prepared(&wet(size_ms, 0.0, 0.0));
            let input = vec![0.5; 4 * FS as usize];
            let (left, _) = render_stereo(&mut delay, &input, &input, 256);
            // Joins: samples where the output returns to (almost) zero after the recording has
            // filled the read region.
            let settled = &left[FS as usize..];
            let joins: Vec<usize> = (1..settled.len() - 1)
                .filter(|&n| settled[n] <= settled[n - 1] && settled[n] < settled[n + 1])
                .filter(|&n| settled[n] < 1e-3)
                .collect();
            let spacing: Vec<usize> = joins.windows(2).map(|w| w[1] - w[0]).collect();
            let expected = (f64::from(size_ms) * 48.0).round() as usize;
            println!(
                "grain {size_ms} ms: bump lengths {:?} (expected {expected})",
                &spacing[..3]
            );
            assert!(
                spacing.iter().all(|&s| s.abs_diff(expected) <= 1),
                "{size_ms}: {spacing:?}"
            );
            let peak = settled.iter().fold(0.0f32, |m, &y| m.max(y));
            // One grain at a time at unity level, centred: the input's level at the crest.
            assert!((peak - 0.5).abs() < 0.01, "{peak}");
        }
        for density in [0.0, 25.0, 50.0, 75.0, 100.0] {
            let mut delay = prepared(&wet(80.0, density, 0.0));
            // Past the first grain's length (the cloud builds up), then count, sample by
            // sample, the grains sounding and the grains started over 1 s.
            let _ = render_stereo(&mut delay, &[0.0; 4_800], &[0.0; 4_800], 256);
            let (started_before, _) = delay.grain_counts();
            let mut total = 0usize;
            for _ in 0..FS as usize {
                let _ = render_stereo(&mut delay, &[0.0], &[0.0], 1);
                total += delay.active_grains();
            }
            let mean = total as f64 / FS;
            let (started, skipped) = delay.grain_counts();
            let per_second = started - started_before;
            let overlap = 1.0 + 7.0 * f64::from(density) / 100.0;
            let expected_per_second = overlap / 0.080;
            println!(
                "density {density}: {mean:.3} grains sounding (expected {overlap}), \
                 {per_second} started in 1 s (expected {expected_per_second:.1}), {skipped} \
                 skipped"
            );
            assert!((mean / overlap - 1.0).abs() < 0.01, "{density}: {mean}");
            assert!(
                (per_second as f64 - expected_per_second).abs() <= 1.0,
                "{per_second}"
            );
            assert_eq!(skipped, 0);
        }
    }

    /// Grain pitch: one grain at a time (back to back, each starting on a multiple of the
    /// grain length), a 440 Hz sine comes out of every grain at 440·2^(pitch/12) within
    /// 1 cent, forwards and backwards (zero-crossing rate over each grain's middle half).
    ///
    /// The long-term spectrum is no measure of it: grains starting periodically put their
    /// energy on a comb at the input frequency plus multiples of the grain rate, whose tooth
    /// nearest the transposed frequency is off by up to half the grain rate.
    #[test]
    fn grains_are_transposed_by_the_pitch() {
        let length = 9_600;
        for (pitch, reverse) in [
            (12.0, 0.0),
            (-7.0, 0.0),
            (5.0, 100.0),
            (-24.0, 0.0),
            (24.0, 0.0),
        ] {
            let mut delay = prepared(&Params {
                reverse,
                ..wet(200.0, 0.0, pitch)
            });
            let input = sine(440.0, 0.5, 4 * FS as usize, FS);
            let (out, _) = render_stereo(&mut delay, &input, &input, 512);
            let expected = 440.0 * 2f64.powf(f64::from(pitch) / 12.0);
            let mut worst = 0.0f64;
            for grain in 5..18 {
                let centre = grain * length + length / 4..grain * length + 3 * length / 4;
                let crossings: Vec<f64> = centre
                    .filter(|&n| out[n] < 0.0 && out[n + 1] >= 0.0)
                    .map(|n| n as f64 + f64::from(out[n] / (out[n] - out[n + 1])))
                    .collect();
                let measured = (crossings.len() - 1) as f64
                    / (crossings[crossings.len() - 1] - crossings[0])
                    * FS;
                let cents = 1200.0 * (measured / expected).log2();
                if cents.abs() > worst.abs() {
                    worst = cents;
                }
            }
            println!(
                "pitch {pitch} (reverse {reverse}): worst grain {worst:+.3} cents off {expected:.2} Hz"
            );
            assert!(worst.abs() <= 1.0, "{pitch}: {worst}");
        }
    }

    /// Freeze: after 2 s of noise the recording stops; with silence in, the grains keep the
    /// level for 10 s, every second's RMS within ±0.5 dB of the first's.
    #[test]
    fn freeze_holds_the_level() {
        let params = Params {
            enabled: true,
            mix: 100.0,
            ..Params::default()
        };
        let mut delay = prepared(&params);
        let mut rng = Noise::new(11);
        let noise: Vec<f32> = (0..2 * FS as usize)
            .map(|_| 0.5 * rng.next_f64() as f32)
            .collect();
        let _ = render_stereo(&mut delay, &noise, &noise, 512);
        delay.set_params(&Params {
            freeze: true,
            ..params
        });
        let silence = vec![0.0; 11 * FS as usize];
        let (left, right) = render_stereo(&mut delay, &silence, &silence, 512);
        let rms_db = |s: usize| {
            let range = s * FS as usize..(s + 1) * FS as usize;
            let e: f64 = left[range.clone()]
                .iter()
                .chain(&right[range])
                .map(|&y| f64::from(y).powi(2))
                .sum::<f64>()
                / (2.0 * FS);
            10.0 * e.log10()
        };
        let levels: Vec<f64> = (1..11).map(rms_db).collect();
        let spread = levels
            .iter()
            .map(|l| (l - levels[0]).abs())
            .fold(0.0, f64::max);
        println!("frozen RMS per second: {levels:.2?} dB (largest change {spread:.2} dB)");
        assert!(levels[0] > -30.0, "{}", levels[0]);
        assert!(spread <= 0.5, "{spread}");
    }

    /// The same input gives the same output in a new instance (the generator is seeded), and
    /// mix 0 / disabled are the dry signal exactly.
    #[test]
    fn seeded_and_bypass() {
        let params = Params {
            enabled: true,
            pitch_random: 50.0,
            position_random: 50.0,
            reverse: 30.0,
            ..Params::default()
        };
        let input = sine(220.0, 0.5, FS as usize, FS);
        let first = render_stereo(&mut prepared(&params), &input, &input, 333);
        let second = render_stereo(&mut prepared(&params), &input, &input, 64);
        assert_eq!(first, second);
        for params in [Params { mix: 0.0, ..params }, Params::default()] {
            let (left, right) = render_stereo(&mut prepared(&params), &input, &input, 100);
            assert_eq!(left, input);
            assert_eq!(right, input);
        }
    }
}
