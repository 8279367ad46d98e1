//! The vocal doubler (docs/effects.md §3 #27): one to four extra "takes" of the input, each a
//! delayed copy whose pitch wanders slowly, panned across the stereo field and mixed with the dry
//! signal (automatic double tracking).
//!
//! Voice v (0-based) reads a delay line fed with the mono sum ½(L + R):
//! - its own LFO at 0.5 + 0.3·v Hz (the reference's rates), a sine starting at v/4 of a cycle
//!   with odd voices inverted, so the voices drift apart rather than together;
//! - a pitch wander of ±`detune` cents: the delay swings by A = r·fs/(2π·f_v) samples around
//!   its centre, r = 2^(detune/1200) − 1 (as in the vibrato, the peak deviation is f₀·r);
//! - a centre delay of `delay`·(1 + depth/100·s_v) + A + 2 samples, s_v a fixed per-voice
//!   scatter of up to ±½ ([`SCATTER`]): `depth` spreads the takes' timing apart. The scatter is
//!   a constant table rather than a generator, so every instance and every reset sounds the
//!   same (a doubler whose voices moved with a random seed would need that seed stored);
//! - a pan position spread/100·P_v (one voice: centre; two: left and right; three: left, right,
//!   centre; four: left, right, −⅓, +⅓) with a constant-power law.
//!
//! The wet sum is scaled by √(2/n) for n voices, so one centred voice and a hard-panned pair
//! come out at unity per channel and n uncorrelated voices keep the power of one. A change of
//! voice count fades voices in and out over 20 ms; delay, depth and detune glide over 100 ms
//! (their change bends the pitch briefly); spread and mix over 20 ms. Reads are cubic Hermite;
//! the delays are computed every 16 samples and step linearly in between (`CONTROL_INTERVAL`).
//! No latency is reported: the voices' delays are the effect, the dry path is not delayed.

use crate::automation::Kind;
use crate::blocks::delay::DelayLine;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::modulation::{CONTROL_INTERVAL, Phasor, Ramp, sine};
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "vocalDoubler";

/// Declared range of [`Params::detune`] (cents).
pub const DETUNE_RANGE: RangeInclusive<f32> = 0.0..=50.0;
/// Declared range of [`Params::delay`] (ms).
pub const DELAY_RANGE: RangeInclusive<f32> = 0.0..=50.0;
/// Declared range of [`Params::spread`], [`Params::depth`] and [`Params::mix`] (%).
pub const PERCENT_RANGE: RangeInclusive<f32> = 0.0..=100.0;
/// Declared range of [`Params::voices`].
pub const VOICES_RANGE: RangeInclusive<f32> = 1.0..=4.0;

/// The most voices.
pub const MAX_VOICES: usize = 4;
/// Each voice's timing scatter at depth 100, as a fraction of `delay`.
pub const SCATTER: [f32; MAX_VOICES] = [0.0, 0.5, -0.35, 0.25];
/// Pan positions (−1 left … 1 right) at spread 100, by voice count.
const PANS: [[f32; MAX_VOICES]; MAX_VOICES] = [
    [0.0, 0.0, 0.0, 0.0],
    [-1.0, 1.0, 0.0, 0.0],
    [-1.0, 1.0, 0.0, 0.0],
    [-1.0, 1.0, -1.0 / 3.0, 1.0 / 3.0],
];
/// The shortest delay beyond the swing, in samples (the Hermite reader's floor).
const MIN_DELAY_SAMPLES: f32 = 2.0;
/// Delay, depth and detune glide over this time constant.
const DELAY_SMOOTHING_S: f64 = 0.1;
/// Spread, mix and voice levels glide over this one.
const LEVEL_SMOOTHING_S: f64 = 0.02;

/// The LFO rate of voice `voice` (Hz).
pub fn voice_rate(voice: usize) -> f64 {
    0.5 + 0.3 * voice as f64
}

/// The vocal doubler's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Pitch wander of each voice in cents, 0…50 (default 15).
    pub detune: f32,
    /// Base delay of the voices in ms, 0…50 (default 20).
    pub delay: f32,
    /// Stereo spread of the voices in %, 0…100 (default 80).
    pub spread: f32,
    /// Timing scatter between the voices in %, 0…100 (default 30).
    pub depth: f32,
    /// Wet share in %, 0…100 (default 50).
    pub mix: f32,
    /// Voices, 1…4 (default 2).
    pub voices: f32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            detune: 15.0,
            delay: 20.0,
            spread: 80.0,
            depth: 30.0,
            mix: 50.0,
            voices: 2.0,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default; voices
    /// round to a whole number).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            detune: clamp_param(self.detune, DETUNE_RANGE, d.detune),
            delay: clamp_param(self.delay, DELAY_RANGE, d.delay),
            spread: clamp_param(self.spread, PERCENT_RANGE, d.spread),
            depth: clamp_param(self.depth, PERCENT_RANGE, d.depth),
            mix: clamp_param(self.mix, PERCENT_RANGE, d.mix),
            voices: clamp_param(self.voices, VOICES_RANGE, d.voices).round(),
        }
    }

    fn voice_count(&self) -> usize {
        self.voices as usize
    }
}

crate::automatable!(Params {
    [detune] "detune", "Detune", Kind::linear(DETUNE_RANGE, "ct");
    [delay] "delay", "Delay", Kind::linear(DELAY_RANGE, "ms");
    [spread] "spread", "Spread", Kind::linear(PERCENT_RANGE, "%");
    [depth] "depth", "Depth", Kind::linear(PERCENT_RANGE, "%");
    [mix] "mix", "Mix", Kind::linear(PERCENT_RANGE, "%");
    [voices] "voices", "Voices", Kind::int(1, 4);
});

/// The vocal doubler. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct VocalDoubler {
    params: Params,
    sample_rate: f64,
    line: DelayLine,
    lfos: [Phasor; MAX_VOICES],
    /// Base delay in samples, depth (0…1), r = 2^(detune/1200) − 1.
    delay: OnePole,
    depth: OnePole,
    ratio: OnePole,
    spread: OnePole,
    mix: OnePole,
    levels: [OnePole; MAX_VOICES],
    /// Pan gains (left, right) per voice at the spread they were computed for.
    pans: [(f32, f32); MAX_VOICES],
    pans_spread: f32,
    /// Each voice's share (1; a test solos one).
    solo: [f32; MAX_VOICES],
    /// The voices' delays, stepping between control points (the LFOs and the delay glides run
    /// at the control rate, their phases those of the next control point).
    taps: [Ramp; MAX_VOICES],
    until_control: usize,
}

impl VocalDoubler {
    /// A doubler with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut doubler = Self {
            params: params.clamped(),
            sample_rate,
            line: DelayLine::new(),
            lfos: [Phasor::default(); MAX_VOICES],
            delay: OnePole::new(0.0, DELAY_SMOOTHING_S, sample_rate),
            depth: OnePole::new(0.0, DELAY_SMOOTHING_S, sample_rate),
            ratio: OnePole::new(0.0, DELAY_SMOOTHING_S, sample_rate),
            spread: OnePole::new(0.0, LEVEL_SMOOTHING_S, sample_rate),
            mix: OnePole::new(0.0, LEVEL_SMOOTHING_S, sample_rate),
            levels: std::array::from_fn(|_| OnePole::new(0.0, LEVEL_SMOOTHING_S, sample_rate)),
            pans: [(0.0, 0.0); MAX_VOICES],
            pans_spread: f32::NAN,
            solo: [1.0; MAX_VOICES],
            taps: [Ramp::default(); MAX_VOICES],
            until_control: 0,
        };
        doubler.prepare(&ProcessSpec::stereo(sample_rate, 1));
        doubler
    }

    /// Applies new parameters (clamped): the LFOs run on, everything else glides, voices fade
    /// in and out. Switching on starts from silence.
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

    fn targets(&self) -> [f32; 5] {
        let p = &self.params;
        [
            (f64::from(p.delay) * 1e-3 * self.sample_rate) as f32,
            p.depth / 100.0,
            ((f64::from(p.detune) / 1_200.0).exp2() - 1.0) as f32,
            p.spread / 100.0,
            p.mix / 100.0,
        ]
    }

    fn level_target(&self, voice: usize) -> f32 {
        if voice < self.params.voice_count() {
            1.0
        } else {
            0.0
        }
    }

    fn update(&mut self) {
        let [delay, depth, ratio, spread, mix] = self.targets();
        self.delay.set_target(delay);
        self.depth.set_target(depth);
        self.ratio.set_target(ratio);
        self.spread.set_target(spread);
        self.mix.set_target(mix);
        for voice in 0..MAX_VOICES {
            let target = self.level_target(voice);
            self.levels[voice].set_target(target);
        }
        // The positions depend on the voice count.
        self.pans_spread = f32::NAN;
    }

    /// Recomputes the pan gains for `spread` (only when it moved).
    fn update_pans(&mut self, spread: f32) {
        if spread == self.pans_spread {
            return;
        }
        self.pans_spread = spread;
        let positions = PANS[self.params.voice_count() - 1];
        for (pan, position) in self.pans.iter_mut().zip(positions) {
            let angle = f64::from((1.0 + spread * position) * 0.125);
            *pan = (sine(angle + 0.25), sine(angle));
        }
    }

    /// The voices' delays (samples) at the LFOs' current phases.
    fn delays_now(&self, base: f32, depth: f32, ratio: f32) -> [f32; MAX_VOICES] {
        std::array::from_fn(|voice| {
            let swing = ratio * (self.sample_rate / (TAU * voice_rate(voice))) as f32;
            let lfo = sine(self.lfos[voice].phase());
            let wander = if voice % 2 == 0 { lfo } else { -lfo };
            base * (1.0 + depth * SCATTER[voice]) + swing * (1.0 + wander) + MIN_DELAY_SAMPLES
        })
    }

    /// One control step: the glides and LFOs move on to the next control point, whose delays
    /// it returns.
    fn control_step(&mut self) -> [f32; MAX_VOICES] {
        let base = self.delay.next_value();
        let depth = self.depth.next_value();
        let ratio = self.ratio.next_value();
        for lfo in &mut self.lfos {
            lfo.advance();
        }
        self.delays_now(base, depth, ratio)
    }

    /// Makes the wet signal voice `voice` alone.
    #[cfg(test)]
    fn solo(&mut self, voice: usize) {
        self.solo = [0.0; MAX_VOICES];
        self.solo[voice] = 1.0;
    }
}

impl Effect for VocalDoubler {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        let longest_ratio = (f64::from(*DETUNE_RANGE.end()) / 1_200.0).exp2() - 1.0;
        let longest_swing = longest_ratio * spec.sample_rate / (TAU * voice_rate(0));
        let longest =
            f64::from(*DELAY_RANGE.end()) * 1e-3 * spec.sample_rate * 1.5 + 2.0 * longest_swing;
        self.line.prepare(longest.ceil() as usize + 8);
        let control_rate = spec.sample_rate / CONTROL_INTERVAL as f64;
        for (voice, lfo) in self.lfos.iter_mut().enumerate() {
            lfo.set_rate(voice_rate(voice), control_rate);
        }
        for smoother in [&mut self.delay, &mut self.depth, &mut self.ratio] {
            smoother.set_time(DELAY_SMOOTHING_S, control_rate);
        }
        for smoother in [&mut self.spread, &mut self.mix]
            .into_iter()
            .chain(self.levels.iter_mut())
        {
            smoother.set_time(LEVEL_SMOOTHING_S, spec.sample_rate);
        }
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        self.line.reset();
        for (voice, lfo) in self.lfos.iter_mut().enumerate() {
            lfo.set_phase(voice as f64 / MAX_VOICES as f64);
        }
        let [delay, depth, ratio, spread, mix] = self.targets();
        self.delay.reset_to(delay);
        self.depth.reset_to(depth);
        self.ratio.reset_to(ratio);
        self.spread.reset_to(spread);
        self.mix.reset_to(mix);
        for voice in 0..MAX_VOICES {
            let target = self.level_target(voice);
            self.levels[voice].reset_to(target);
        }
        self.pans_spread = f32::NAN;
        self.update_pans(spread);
        let delays = self.delays_now(delay, depth, ratio);
        for (ramp, delay) in self.taps.iter_mut().zip(delays) {
            ramp.jump(delay);
        }
        self.until_control = 0;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            if self.until_control == 0 {
                let targets = self.control_step();
                for (ramp, target) in self.taps.iter_mut().zip(targets) {
                    ramp.aim(target);
                }
                self.until_control = CONTROL_INTERVAL;
            }
            self.until_control -= 1;
            let spread = self.spread.next_value();
            let mix = self.mix.next_value();
            self.update_pans(spread);
            self.line.push(0.5 * (*l + *r));
            let (mut wet_l, mut wet_r, mut count) = (0.0f32, 0.0f32, 0.0f32);
            for voice in 0..MAX_VOICES {
                let level = self.levels[voice].next_value();
                let delay = self.taps[voice].next_value();
                if level == 0.0 {
                    continue;
                }
                count += level;
                let sample = level * self.solo[voice] * self.line.read_hermite(delay);
                let (gain_l, gain_r) = self.pans[voice];
                wet_l += gain_l * sample;
                wet_r += gain_r * sample;
            }
            let norm = (2.0 / count.max(1.0)).sqrt();
            *l = mix * norm * wet_l + (1.0 - mix) * *l;
            *r = mix * norm * wet_r + (1.0 - mix) * *r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::effects::modulation::measure::{instantaneous_frequency, sinusoid_fit, swing_rate};
    use crate::test_support::{FS, impulse, render_mono, render_stereo, sine as tone};

    conformance_tests!(VocalDoubler);

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn enabled(voices: f32, detune: f32, delay: f32, depth: f32, spread: f32) -> Params {
        Params {
            enabled: true,
            detune,
            delay,
            spread,
            depth,
            mix: 100.0,
            voices,
        }
    }

    /// Each voice, solo, on a 1 kHz sine: its pitch wanders at 0.5 + 0.3·v Hz (±0.5 %) by
    /// ±detune cents (±5 %).
    #[test]
    fn each_voice_wanders_at_its_rate_by_the_detune() {
        for voice in 0..MAX_VOICES {
            let mut doubler = VocalDoubler::prepared(&enabled(4.0, 20.0, 15.0, 50.0, 0.0));
            doubler.solo(voice);
            let input = tone(1_000.0, 0.5, 13 * FS as usize, FS);
            let output = render_mono(&mut doubler, &input, 256);
            let series = instantaneous_frequency(&output[FS as usize..], FS);
            let rate = swing_rate(&series);
            let (mean, amplitude) = sinusoid_fit(&series, rate);
            let cents = 1_200.0 * (1.0 + amplitude / 1_000.0).log2();
            println!(
                "vocalDoubler voice {voice}: rate {rate:.4} Hz (expected {:.1}), wander \
                 {cents:.2} ct (expected 20), mean {mean:.3} Hz",
                voice_rate(voice)
            );
            assert!((rate / voice_rate(voice) - 1.0).abs() < 0.005);
            assert!((cents / 20.0 - 1.0).abs() < 0.05);
        }
    }

    /// Without detune each voice is a plain delay of delay·(1 + depth·s_v) + 2 samples.
    #[test]
    fn voices_sit_at_their_scattered_delays() {
        for (voice, scatter) in SCATTER.into_iter().enumerate() {
            let mut doubler = VocalDoubler::prepared(&enabled(4.0, 0.0, 10.0, 100.0, 0.0));
            doubler.solo(voice);
            let ir = render_mono(&mut doubler, &impulse(4_800), 256);
            let peak = (0..ir.len())
                .max_by(|&a, &b| ir[a].abs().total_cmp(&ir[b].abs()))
                .unwrap();
            let expected = 480.0 * (1.0 + scatter) + 2.0;
            println!("vocalDoubler voice {voice}: delay {peak} samples (expected {expected})");
            assert!((peak as f32 - expected).abs() <= 0.5);
        }
    }

    /// Spread 100 with two voices: voice 0 entirely left, voice 1 entirely right, each at the
    /// input's level; spread 0 centres them.
    #[test]
    fn spread_pans_the_voices() {
        let input = tone(500.0, 0.5, 9_600, FS);
        for (voice, left_expected) in [(0, true), (1, false)] {
            let mut doubler = VocalDoubler::prepared(&enabled(2.0, 0.0, 5.0, 0.0, 100.0));
            doubler.solo(voice);
            let (left, right) = render_stereo(&mut doubler, &input, &input, 64);
            let peak = |s: &[f32]| s[4_800..].iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let (l, r) = (peak(&left), peak(&right));
            println!("vocalDoubler spread 100, voice {voice}: L {l:.4}, R {r:.4}");
            let (loud, quiet) = if left_expected { (l, r) } else { (r, l) };
            assert!((loud - 0.5).abs() < 1e-3 && quiet < 1e-6);
        }
    }

    #[test]
    fn mix_zero_and_disabled_are_bit_exact() {
        let input = tone(440.0, 0.8, 4_800, FS);
        let mut disabled = VocalDoubler::prepared(&Params::default());
        assert_eq!(render_mono(&mut disabled, &input, 64), input);
        let mut dry = VocalDoubler::prepared(&Params {
            mix: 0.0,
            ..enabled(4.0, 50.0, 50.0, 100.0, 100.0)
        });
        assert_eq!(render_mono(&mut dry, &input, 64), input);
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
                "delay", "depth", "detune", "enabled", "mix", "spread", "voices"
            ]
        );
        let wild = Params {
            voices: 2.6,
            detune: 99.0,
            delay: f32::NAN,
            ..Params::default()
        }
        .clamped();
        assert_eq!((wild.voices, wild.detune, wild.delay), (3.0, 50.0, 20.0));
    }
}
