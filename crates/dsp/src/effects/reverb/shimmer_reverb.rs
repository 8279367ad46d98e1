//! The shimmer reverb (docs/effects.md §3 #33): a six-line feedback delay network with a real pitch
//! shifter in its loop, so every pass through the loop climbs by `pitch` semitones.
//!
//! Signal flow: the mono input → pre-delay → four series allpass diffusers (coefficient
//! 0.75·diffusion/100) → into six delay lines of 29 + 8·i ms (the reference's lengths, each
//! moved to the nearest prime number of samples so no two lines share echoes). Each line's
//! output passes a one-pole low-pass (damping) and the lines feed back through a Householder
//! matrix (lossless: I − 2/N·11ᵀ, 12 additions) scaled per line for the decay: g_i =
//! 10^(−3·L_i / (fs·T60)), so `decay` is the RT60 in seconds at low frequencies. The
//! reference's fb = 0.4 + 0.055·decay is not a decay time, so this maps the parameter to what
//! it names.
//!
//! Shimmer: the mixed feedback's component along one direction u (a ±1/√6 pattern) goes
//! through the polyphonic delay-line shifter ([`crate::blocks::granular`]) at 2^(pitch/12),
//! and a `shimmer`/100 share of that component is replaced by its shifted version; the other
//! five dimensions recirculate untouched. The matrix is orthogonal and the shifter does not
//! amplify, so the loop gain stays ≤ max g_i < 1 at every setting: the tail cannot run away,
//! whatever decay and shimmer (tested over 30 s at the maximum). Once input and tail have
//! stayed below −300 dB for 256 samples the state is cleared, so tails end exactly.
//!
//! Modulation sweeps each line's length by up to ±1 ms (modulation/100) with its own slow
//! sine (0.31…0.96 Hz), read with cubic Hermite interpolation; it smears the lines' modes.
//! The wet output is two orthogonal ±1 patterns of the lines (decorrelated left and right)
//! through a one-pole tone low-pass (1 kHz at 0 … 18 kHz at 100); out = dry·(1 − mix) +
//! wet·mix. Pitch values other than 0, 5, 7, 12, 19, 24 snap to the nearest of them.

use crate::automation::Kind;
use crate::blocks::delay::DelayLine;
use crate::blocks::granular::Shifter;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "shimmerReverb";

/// Declared range of [`Params::decay`] (s).
pub const DECAY_RANGE: RangeInclusive<f32> = 0.5..=10.0;
/// Declared range of the 0…100 parameters (%).
pub const PERCENT_RANGE: RangeInclusive<f32> = 0.0..=100.0;
/// Range of [`Params::pitch`] (semitones; snapped to [`PITCHES`]).
pub const PITCH_RANGE: RangeInclusive<f32> = 0.0..=24.0;
/// Declared range of [`Params::pre_delay`] (ms).
pub const PRE_DELAY_RANGE: RangeInclusive<f32> = 0.0..=100.0;
/// The shimmer intervals docs/effects.md §3 #33 allows, semitones.
pub const PITCHES: [f32; 6] = [0.0, 5.0, 7.0, 12.0, 19.0, 24.0];

/// Delay lines in the network.
const LINES: usize = 6;
/// Line lengths: 29 + 8·i ms (docs/effects.md §3 #33).
const FIRST_LINE_S: f64 = 0.029;
const LINE_STEP_S: f64 = 0.008;
/// Diffuser allpass lengths, seconds, and the largest coefficient.
const DIFFUSERS_S: [f64; 4] = [0.004_77, 0.003_59, 0.012_73, 0.009_31];
const MAX_DIFFUSION: f32 = 0.75;
/// Largest length sweep (seconds each way) and the lines' modulation rates.
const MAX_MODULATION_S: f64 = 0.001;
const MODULATION_HZ: [f64; LINES] = [0.31, 0.44, 0.57, 0.70, 0.83, 0.96];
/// Largest damping coefficient of the loop low-pass.
const MAX_DAMPING: f32 = 0.7;
/// Tone low-pass corners at tone 0 and 100, Hz.
const TONE_LOW_HZ: f64 = 1_000.0;
const TONE_HIGH_HZ: f64 = 18_000.0;
/// Parameters glide over this time constant.
const SMOOTHING_S: f64 = 0.02;
/// Sign patterns: the shimmer direction and the two outputs (mutually orthogonal).
const SHIMMER_SIGNS: [f32; LINES] = [1.0, 1.0, 1.0, -1.0, -1.0, -1.0];
const LEFT_SIGNS: [f32; LINES] = [1.0, -1.0, 1.0, -1.0, 1.0, -1.0];
const RIGHT_SIGNS: [f32; LINES] = [1.0, 1.0, -1.0, -1.0, 1.0, 1.0];
/// Samples between two silence checks, and the level below which a silent input's tail is
/// ended (−300 dB).
const SILENCE_CHECK: usize = 256;
const SILENCE_FLOOR: f32 = 1e-15;
/// Wet output gain (the lines carry the input's energy spread over six outputs).
const WET_GAIN: f32 = 0.5;

/// The shimmer reverb's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// RT60 in seconds, 0.5…10 (default 3).
    pub decay: f32,
    /// Share of the feedback sent through the pitch shifter, 0…100 (default 50).
    pub shimmer: f32,
    /// Shift per pass, semitones: 0, 5, 7, 12, 19 or 24 (default 12).
    pub pitch: f32,
    /// High-frequency damping in the loop, 0…100 (default 50).
    pub damping: f32,
    /// Wet brightness, 0…100 (default 50).
    pub tone: f32,
    /// Line length modulation, 0…100 (default 30).
    pub modulation: f32,
    /// Pre-delay in ms, 0…100 (default 30).
    pub pre_delay: f32,
    /// Input diffusion, 0…100 (default 80).
    pub diffusion: f32,
    /// Wet share in %, 0…100 (default 30).
    pub mix: f32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            decay: 3.0,
            shimmer: 50.0,
            pitch: 12.0,
            damping: 50.0,
            tone: 50.0,
            modulation: 30.0,
            pre_delay: 30.0,
            diffusion: 80.0,
            mix: 30.0,
        }
    }
}

crate::automatable!(Params {
    [decay] "decay", "Decay", Kind::logarithmic(DECAY_RANGE, "s");
    [shimmer] "shimmer", "Shimmer", Kind::linear(PERCENT_RANGE, "%");
    [pitch] "pitch", "Pitch", Kind::linear(PITCH_RANGE, "st");
    [damping] "damping", "Damping", Kind::linear(PERCENT_RANGE, "%");
    [tone] "tone", "Tone", Kind::linear(PERCENT_RANGE, "%");
    [modulation] "modulation", "Modulation", Kind::linear(PERCENT_RANGE, "%");
    [pre_delay] "preDelay", "Pre-Delay", Kind::linear(PRE_DELAY_RANGE, "ms");
    [diffusion] "diffusion", "Diffusion", Kind::linear(PERCENT_RANGE, "%");
    [mix] "mix", "Mix", Kind::linear(PERCENT_RANGE, "%");
});

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default) and the
    /// pitch on the nearest allowed interval.
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        let pitch = clamp_param(self.pitch, PITCH_RANGE, d.pitch);
        let pitch = PITCHES
            .into_iter()
            .min_by(|a, b| (a - pitch).abs().total_cmp(&(b - pitch).abs()))
            .unwrap_or(d.pitch);
        Self {
            enabled: self.enabled,
            decay: clamp_param(self.decay, DECAY_RANGE, d.decay),
            shimmer: clamp_param(self.shimmer, PERCENT_RANGE, d.shimmer),
            pitch,
            damping: clamp_param(self.damping, PERCENT_RANGE, d.damping),
            tone: clamp_param(self.tone, PERCENT_RANGE, d.tone),
            modulation: clamp_param(self.modulation, PERCENT_RANGE, d.modulation),
            pre_delay: clamp_param(self.pre_delay, PRE_DELAY_RANGE, d.pre_delay),
            diffusion: clamp_param(self.diffusion, PERCENT_RANGE, d.diffusion),
            mix: clamp_param(self.mix, PERCENT_RANGE, d.mix),
        }
    }

    /// Smoothed control targets: shimmer share, damping coefficient, diffusion coefficient,
    /// modulation depth (share of the largest), pre-delay (ms), mix.
    fn controls(&self) -> [f32; 6] {
        [
            self.shimmer / 100.0,
            MAX_DAMPING * self.damping / 100.0,
            MAX_DIFFUSION * self.diffusion / 100.0,
            self.modulation / 100.0,
            self.pre_delay,
            self.mix / 100.0,
        ]
    }
}

/// The smallest prime ≥ `n`.
fn prime_at_least(n: usize) -> usize {
    let is_prime = |k: usize| {
        k >= 2
            && (2..)
                .take_while(|d| d * d <= k)
                .all(|d| !k.is_multiple_of(d))
    };
    (n.max(2)..).find(|&k| is_prime(k)).unwrap_or(n)
}

/// A Schroeder allpass on a fixed buffer.
#[derive(Clone, Debug, Default)]
struct Allpass {
    buffer: Vec<f32>,
    index: usize,
}

impl Allpass {
    fn prepare(&mut self, len: usize) {
        self.buffer = vec![0.0; len.max(1)];
        self.index = 0;
    }

    fn reset(&mut self) {
        self.buffer.fill(0.0);
        self.index = 0;
    }

    #[inline]
    fn process(&mut self, x: f32, g: f32) -> f32 {
        let delayed = self.buffer[self.index];
        let v = x + g * delayed;
        self.buffer[self.index] = v;
        self.index += 1;
        if self.index == self.buffer.len() {
            self.index = 0;
        }
        delayed - g * v
    }
}

/// A sine oscillator by rotation of (cos, sin): in f64 its amplitude drifts by well under
/// 1e-9 over minutes, so it needs no renormalising.
#[derive(Clone, Copy, Debug)]
struct Rotor {
    cos: f64,
    sin: f64,
    step_cos: f64,
    step_sin: f64,
    phase: f64,
}

impl Rotor {
    fn new(hz: f64, phase: f64, sample_rate: f64) -> Self {
        let (step_sin, step_cos) = (TAU * hz / sample_rate).sin_cos();
        let mut rotor = Self {
            cos: 1.0,
            sin: 0.0,
            step_cos,
            step_sin,
            phase,
        };
        rotor.reset();
        rotor
    }

    fn reset(&mut self) {
        (self.sin, self.cos) = (TAU * self.phase).sin_cos();
    }

    #[inline]
    fn next_value(&mut self) -> f64 {
        let cos = self.cos * self.step_cos - self.sin * self.step_sin;
        self.sin = self.sin * self.step_cos + self.cos * self.step_sin;
        self.cos = cos;
        self.sin
    }
}

/// The shimmer reverb. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct ShimmerReverb {
    params: Params,
    sample_rate: f64,
    pre_delay: DelayLine,
    diffusers: [Allpass; 4],
    lines: [DelayLine; LINES],
    lengths: [f64; LINES],
    gains: [f32; LINES],
    damped: [f32; LINES],
    rotors: [Rotor; LINES],
    max_modulation: f64,
    shifter: Shifter,
    tone_state: [f32; 2],
    tone_coef: f32,
    /// Shimmer share, damping, diffusion, modulation, pre-delay (ms), mix.
    controls: [OnePole; 6],
    /// The loudest input or line output since the last silence check, samples to the next
    /// check, and whether the state was cleared since sound last passed.
    loudest: f32,
    until_check: usize,
    silent: bool,
}

impl ShimmerReverb {
    /// A shimmer reverb with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut effect = Self {
            params: params.clamped(),
            sample_rate,
            pre_delay: DelayLine::new(),
            diffusers: std::array::from_fn(|_| Allpass::default()),
            lines: std::array::from_fn(|_| DelayLine::new()),
            lengths: [1.0; LINES],
            gains: [0.0; LINES],
            damped: [0.0; LINES],
            rotors: std::array::from_fn(|i| {
                Rotor::new(MODULATION_HZ[i], i as f64 / LINES as f64, sample_rate)
            }),
            max_modulation: 0.0,
            shifter: Shifter::new(),
            tone_state: [0.0; 2],
            tone_coef: 0.0,
            controls: std::array::from_fn(|_| OnePole::new(0.0, SMOOTHING_S, sample_rate)),
            loudest: 0.0,
            until_check: SILENCE_CHECK,
            silent: true,
        };
        effect.prepare(&ProcessSpec::stereo(sample_rate, 1));
        effect
    }

    /// Applies new parameters (clamped). Decay, tone and pitch apply at once (the loop's
    /// state carries over); the other controls glide. Switching on starts from silence.
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

    /// Silences every delay and filter (the modulators and controls run on).
    fn clear_state(&mut self) {
        self.pre_delay.reset();
        for diffuser in &mut self.diffusers {
            diffuser.reset();
        }
        for line in &mut self.lines {
            line.reset();
        }
        self.damped = [0.0; LINES];
        self.shifter.reset();
        self.tone_state = [0.0; 2];
    }

    fn update(&mut self) {
        let t60 = f64::from(self.params.decay);
        for (gain, &length) in self.gains.iter_mut().zip(&self.lengths) {
            *gain = 10f64.powf(-3.0 * length / (self.sample_rate * t60)) as f32;
        }
        let tone = f64::from(self.params.tone) / 100.0;
        let corner =
            (TONE_LOW_HZ * (TONE_HIGH_HZ / TONE_LOW_HZ).powf(tone)).min(0.45 * self.sample_rate);
        self.tone_coef = (-TAU * corner / self.sample_rate).exp() as f32;
        self.shifter
            .set_ratio((f64::from(self.params.pitch) / 12.0).exp2());
        for (control, target) in self.controls.iter_mut().zip(self.params.controls()) {
            control.set_target(target);
        }
    }
}

impl Effect for ShimmerReverb {
    fn prepare(&mut self, spec: &ProcessSpec) {
        let fs = spec.sample_rate;
        self.sample_rate = fs;
        self.pre_delay
            .prepare((f64::from(*PRE_DELAY_RANGE.end()) * 1e-3 * fs).ceil() as usize + 2);
        for (diffuser, seconds) in self.diffusers.iter_mut().zip(DIFFUSERS_S) {
            diffuser.prepare((seconds * fs).round() as usize);
        }
        self.max_modulation = MAX_MODULATION_S * fs;
        for (i, (line, length)) in self.lines.iter_mut().zip(&mut self.lengths).enumerate() {
            let nominal = ((FIRST_LINE_S + LINE_STEP_S * i as f64) * fs).round() as usize;
            *length = prime_at_least(nominal) as f64;
            line.prepare((*length + self.max_modulation).ceil() as usize + 4);
        }
        self.rotors =
            std::array::from_fn(|i| Rotor::new(MODULATION_HZ[i], i as f64 / LINES as f64, fs));
        self.shifter.prepare(fs);
        for control in &mut self.controls {
            control.set_time(SMOOTHING_S, fs);
        }
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        self.clear_state();
        self.silent = true;
        self.loudest = 0.0;
        self.until_check = SILENCE_CHECK;
        for rotor in &mut self.rotors {
            rotor.reset();
        }
        for (control, target) in self.controls.iter_mut().zip(self.params.controls()) {
            control.reset_to(target);
        }
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let ms = self.sample_rate * 1e-3;
        let norm = 1.0 / (LINES as f32).sqrt();
        let householder = 2.0 / LINES as f32;
        let tone_coef = self.tone_coef;
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let [shimmer, damping, diffusion, modulation, pre_delay, mix] =
                self.controls.each_mut().map(OnePole::next_value);

            // Input: mono → pre-delay → diffusers.
            self.pre_delay.push(0.5 * (*l + *r));
            let mut input = self
                .pre_delay
                .read_linear((f64::from(pre_delay) * ms) as f32);
            for diffuser in &mut self.diffusers {
                input = diffuser.process(input, diffusion);
            }

            // The lines' outputs (modulated reads), damped.
            let depth = f64::from(modulation) * self.max_modulation;
            let mut outputs = [0.0f32; LINES];
            for (((output, rotor), line), (damped, length)) in outputs
                .iter_mut()
                .zip(&mut self.rotors)
                .zip(&self.lines)
                .zip(self.damped.iter_mut().zip(&self.lengths))
            {
                // The rotors turn whatever the depth, so a depth change never jumps phase.
                let sweep = depth * rotor.next_value();
                let read = line.read_hermite((length + sweep) as f32);
                *damped = read + damping * (*damped - read);
                *output = *damped;
            }

            // Householder feedback; along the shimmer direction the shifted signal replaces
            // a `shimmer` share of what is there.
            let mean = householder * outputs.iter().sum::<f32>();
            let mut mixed = [0.0f32; LINES];
            for (m, y) in mixed.iter_mut().zip(&outputs) {
                *m = y - mean;
            }
            let projected = norm
                * mixed
                    .iter()
                    .zip(SHIMMER_SIGNS)
                    .map(|(z, s)| z * s)
                    .sum::<f32>();
            let shifted = self.shifter.process(projected);
            let swap = shimmer * (shifted - projected) * norm;
            let mut loudest = input.abs();
            for i in 0..LINES {
                let feedback = mixed[i] + swap * SHIMMER_SIGNS[i];
                self.lines[i].push(self.gains[i] * feedback + input);
                loudest = loudest.max(outputs[i].abs());
            }
            self.loudest = self.loudest.max(loudest);
            self.until_check -= 1;
            if self.until_check == 0 {
                self.until_check = SILENCE_CHECK;
                // Far below hearing (−300 dB) and nothing coming in: end the tail exactly
                // instead of letting a few beating modes hover near zero for another minute.
                if self.loudest < SILENCE_FLOOR && !self.silent {
                    self.clear_state();
                    self.silent = true;
                } else if self.loudest >= SILENCE_FLOOR {
                    self.silent = false;
                }
                self.loudest = 0.0;
            }

            // Two decorrelated outputs, tone, mix.
            let wet = [LEFT_SIGNS, RIGHT_SIGNS].map(|signs| {
                WET_GAIN * norm * outputs.iter().zip(signs).map(|(y, s)| y * s).sum::<f32>()
            });
            for (state, value) in self.tone_state.iter_mut().zip(wet) {
                *state = value + tone_coef * (*state - value);
            }
            *l += mix * (self.tone_state[0] - *l);
            *r += mix * (self.tone_state[1] - *r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::test_support::{FS, dtft, render_stereo};

    conformance_tests!(ShimmerReverb {
        // decay 10 s: −300 dB, where the tail is ended, takes about 50 s.
        const TAIL_LIMIT_SECONDS: f64 = 60.0;
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn wet_only(params: Params) -> Params {
        Params {
            enabled: true,
            mix: 100.0,
            pre_delay: 0.0,
            ..params
        }
    }

    /// At the longest decay with everything through the shifter, 30 s of tail after a noise
    /// burst: every 1 s window is finite and below the loudest of the first two seconds, and
    /// the level falls from second to second after the first ones (no runaway).
    #[test]
    fn the_tail_never_runs_away() {
        for pitch in [12.0, 24.0, 0.0] {
            for shimmer in [100.0, 50.0] {
                let params = wet_only(Params {
                    decay: 10.0,
                    shimmer,
                    pitch,
                    damping: 0.0,
                    modulation: 100.0,
                    diffusion: 100.0,
                    ..Params::default()
                });
                let mut effect = ShimmerReverb::prepared(&params);
                let len = 31 * FS as usize;
                let mut noise = crate::test_support::Noise::new(33);
                let input: Vec<f32> = (0..len)
                    .map(|n| {
                        if n < 4_800 {
                            noise.next_f64() as f32
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let (left, right) = render_stereo(&mut effect, &input, &input, 1024);
                let rms: Vec<f64> = left
                    .chunks(FS as usize)
                    .zip(right.chunks(FS as usize))
                    .map(|(l, r)| {
                        let e: f64 = l.iter().chain(r).map(|&x| f64::from(x).powi(2)).sum();
                        (e / (2.0 * l.len() as f64)).sqrt()
                    })
                    .collect();
                assert!(left.iter().chain(&right).all(|y| y.is_finite()));
                let early = rms[0].max(rms[1]);
                let db: Vec<f64> = rms.iter().map(|x| 20.0 * (x / early).log10()).collect();
                println!(
                    "pitch {pitch} shimmer {shimmer}: 1 s levels re the first 2 s: 5 s \
                     {:.1} dB, 10 s {:.1}, 20 s {:.1}, 30 s {:.1}",
                    db[5], db[10], db[20], db[30]
                );
                for second in 2..rms.len() {
                    assert!(
                        rms[second] <= early,
                        "{pitch} {shimmer}: {second} s {}",
                        db[second]
                    );
                    assert!(
                        rms[second] <= rms[second - 1] * 1.05,
                        "{pitch} {shimmer}: grew at {second} s"
                    );
                }
                assert!(
                    db[30] < -30.0,
                    "{pitch} {shimmer}: still {} dB at 30 s",
                    db[30]
                );
            }
        }
    }

    /// A 440 Hz tone into the reverb: with shimmer, the tail holds the tone moved by `pitch`
    /// (880 Hz for 12, 659 Hz for 7, 1319 Hz for 19), at least 12 dB above what the plain
    /// reverb has there and within 30 dB of the 440 Hz left in the tail.
    #[test]
    fn the_shifted_partial_appears_at_the_pitch() {
        let len = 3 * FS as usize;
        let tone: Vec<f32> = (0..len)
            .map(|n| {
                if n < FS as usize {
                    (0.5 * (TAU * 440.0 * n as f64 / FS).sin()) as f32
                } else {
                    0.0
                }
            })
            .collect();
        let level = |signal: &[f32], f: f64| {
            let (re, im) = dtft(signal, f, FS);
            10.0 * (re * re + im * im).log10()
        };
        for pitch in [12.0f32, 7.0, 19.0] {
            let shifted_hz = 440.0 * f64::from(pitch / 12.0).exp2();
            let mut results = [0.0; 2];
            for (slot, shimmer) in [0.0, 60.0].into_iter().enumerate() {
                let mut effect = ShimmerReverb::prepared(&wet_only(Params {
                    shimmer,
                    pitch,
                    ..Params::default()
                }));
                let (left, _) = render_stereo(&mut effect, &tone, &tone, 256);
                // The tail, after the tone stopped.
                let tail = &left[FS as usize + 4_800..2 * FS as usize];
                results[slot] = level(tail, shifted_hz) - level(tail, 440.0);
            }
            println!(
                "pitch {pitch}: {shifted_hz:.1} Hz re 440 Hz in the tail: plain {:.1} dB, \
                 shimmer {:.1} dB",
                results[0], results[1]
            );
            assert!(results[1] > -30.0, "{pitch}: {}", results[1]);
            assert!(results[1] > results[0] + 12.0, "{pitch}: {results:?}");
        }
    }

    /// The decay parameter is the RT60: the tail of the plain reverb (no shimmer) falls 60 dB
    /// in `decay` seconds within 15 % (T30 on the Schroeder integral, low frequencies).
    #[test]
    fn decay_is_the_reverberation_time() {
        for decay in [1.0f32, 3.0] {
            let params = wet_only(Params {
                decay,
                shimmer: 0.0,
                damping: 0.0,
                modulation: 0.0,
                tone: 100.0,
                ..Params::default()
            });
            let mut effect = ShimmerReverb::prepared(&params);
            let len = ((f64::from(decay) * 2.0 + 1.0) * FS) as usize;
            let mut input = vec![0.0; len];
            input[0] = 1.0;
            let (left, right) = render_stereo(&mut effect, &input, &input, 512);
            let energy: Vec<f64> = left
                .iter()
                .zip(&right)
                .map(|(&l, &r)| f64::from(l).powi(2) + f64::from(r).powi(2))
                .collect();
            let mut remaining: Vec<f64> = energy
                .iter()
                .rev()
                .scan(0.0, |sum, &e| {
                    *sum += e;
                    Some(*sum)
                })
                .collect();
            remaining.reverse();
            let db = |n: usize| 10.0 * (remaining[n] / remaining[0]).log10();
            let at = |level: f64| (0..len).find(|&n| db(n) <= level).unwrap() as f64 / FS;
            let t60 = 2.0 * (at(-35.0) - at(-5.0));
            println!("decay {decay} s: T30-based RT60 {t60:.3} s");
            assert!(
                (t60 / f64::from(decay) - 1.0).abs() < 0.15,
                "{decay}: {t60}"
            );
        }
    }

    #[test]
    fn params_use_the_reference_json_keys_and_snap_the_pitch() {
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
                "damping",
                "decay",
                "diffusion",
                "enabled",
                "mix",
                "modulation",
                "pitch",
                "preDelay",
                "shimmer",
                "tone"
            ]
        );
        let snap = |pitch: f32| {
            Params {
                pitch,
                ..Params::default()
            }
            .clamped()
            .pitch
        };
        assert_eq!(snap(13.0), 12.0);
        assert_eq!(snap(16.0), 19.0);
        assert_eq!(snap(2.0), 0.0);
        assert_eq!(snap(f32::NAN), 12.0);
        assert_eq!(snap(99.0), 24.0);
        assert_eq!(prime_at_least(1_392), 1_399);
        let mix_zero = Params {
            enabled: true,
            mix: 0.0,
            ..Params::default()
        };
        let input: Vec<f32> = (0..4_800).map(|n| ((n % 50) as f32 / 50.0) - 0.5).collect();
        let mut effect = ShimmerReverb::prepared(&mix_zero);
        let (left, _) = render_stereo(&mut effect, &input, &input, 64);
        assert_eq!(left, input, "mix 0 is the dry signal");
    }
}
