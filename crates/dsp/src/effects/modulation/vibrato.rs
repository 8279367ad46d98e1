//! The vibrato (docs/effects.md §3 #24): the pitch moved by an LFO through a modulated delay, wet
//! only. **Ours**: `depth` is the peak pitch deviation in cents (the reference moves a 12.5 ms
//! delay by ±2 ms·depth, whose pitch swing then depends on the rate).
//!
//! Design: the LFO shapes the *pitch*, ratio(t) = 1 + r·lfo(t) with r = 2^(depth/1200) − 1,
//! and the delay is its integral: a delay D(t) read from a line plays the input at a ratio
//! 1 − dD/dt, so D(t) = D₀ + r·(fs/f)·(I_max − I(phase)), I the integral of the shape over the
//! cycle (closed forms below; every shape has zero mean, so D is periodic). A sine LFO gives
//! the classic vibrato (delay swing A = r/(2πf) s, peak deviation f₀·2πf·A = f₀·r); a triangle
//! gives a pitch that glides linearly, a square a trill-like jump between ±depth with a
//! continuous delay (no click), a sawtooth a rising glide that snaps back.
//!
//! The delay line is read with the cubic Hermite reader (the fraction changes every sample);
//! the delay itself is computed every 16 samples and steps linearly in between (see
//! `CONTROL_INTERVAL` in the category module).
//! The amplitude r·fs/f glides over 50 ms when depth or rate change and the delay is
//! slew-limited to ¼ sample per sample, so a large setting change bends the pitch by at most
//! −5 … +4 semitones while the delay catches up, never jumps. Rates below 0.1 Hz (a slow
//! tempo-synced note value) keep the swing of 0.1 Hz, which sizes the line: at most
//! (2^(100/1200) − 1)·10 s·½ ≈ 0.3 s.
//!
//! `stereo` offsets the right LFO (0…180°). With `tempoSync` one LFO cycle lasts
//! `subdivision` at the room tempo, its phase locked to the beat grid while a transport runs.
//! The legacy `delay` is an onset time: after at least 50 ms below −80 dBFS (and after a reset)
//! the depth fades in over `delay` ms once sound arrives, as a synth's delayed vibrato does.
//!
//! Latency: none is reported. The wet path's delay (D₀ = 2 samples at the crest, its mean
//! D₀ + r·fs/(πf) for a sine: 1.1 ms at the defaults) moves with the LFO and the settings, so
//! no constant compensates it; it is the effect itself.

use crate::automation::Kind;
use crate::blocks::delay::DelayLine;
use crate::blocks::lfo::{Waveform, tempo_hz};
use crate::blocks::smoother::OnePole;
use crate::context::RoomContext;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::modulation::{CONTROL_INTERVAL, LfoWaveform, Phasor, Ramp, sine, wrap};
use crate::effects::param::Subdivision;
use serde::{Deserialize, Serialize};
use std::f64::consts::{PI, TAU};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "vibrato";

/// Declared range of [`Params::rate`] (Hz).
pub const RATE_RANGE: RangeInclusive<f32> = 0.1..=10.0;
/// Declared range of [`Params::depth`] (cents).
pub const DEPTH_RANGE: RangeInclusive<f32> = 0.0..=100.0;
/// Declared range of [`Params::stereo`] (degrees).
pub const STEREO_RANGE: RangeInclusive<f32> = 0.0..=180.0;
/// Range of the legacy [`Params::delay`] onset (ms; undeclared).
pub const ONSET_RANGE: RangeInclusive<f32> = 0.0..=2_000.0;

/// The shortest delay, at the LFO's crest (the Hermite reader needs one newer sample).
const MIN_DELAY_SAMPLES: f64 = 2.0;
/// Below this rate the swing stays that of this rate (see the module notes).
const MIN_SWING_RATE_HZ: f64 = 0.1;
/// The swing amplitude glides over this time constant.
const SWING_SMOOTHING_S: f64 = 0.05;
/// The delay moves at most this many samples per sample.
const MAX_DELAY_SLEW: f32 = 0.25;
/// Input below this level for [`ONSET_GAP_S`] re-arms the onset fade.
const ONSET_GATE: f32 = 1e-4;
const ONSET_GAP_S: f64 = 0.05;

/// The vibrato's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// LFO rate in Hz, 0.1…10 (default 5), unless tempo-synced.
    pub rate: f32,
    /// Peak pitch deviation in cents, 0…100 (default 30).
    pub depth: f32,
    /// LFO shape (default sine): the shape of the pitch's motion.
    pub waveform: LfoWaveform,
    /// Right LFO phase offset in degrees, 0…180 (default 0).
    pub stereo: f32,
    /// One cycle per `subdivision` at the room tempo instead of `rate` (default off).
    pub tempo_sync: bool,
    /// The cycle length when synced (default "1/4").
    pub subdivision: Subdivision,
    /// Legacy: onset time in ms (default 0: vibrato at once).
    pub delay: f32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            rate: 5.0,
            depth: 30.0,
            waveform: LfoWaveform::Sine,
            stereo: 0.0,
            tempo_sync: false,
            subdivision: Subdivision::QUARTER,
            delay: 0.0,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            rate: clamp_param(self.rate, RATE_RANGE, d.rate),
            depth: clamp_param(self.depth, DEPTH_RANGE, d.depth),
            waveform: self.waveform,
            stereo: clamp_param(self.stereo, STEREO_RANGE, d.stereo),
            tempo_sync: self.tempo_sync,
            subdivision: self.subdivision,
            delay: clamp_param(self.delay, ONSET_RANGE, d.delay),
        }
    }
}

crate::automatable!(Params {
    [rate] "rate", "Rate", Kind::logarithmic(RATE_RANGE, "Hz");
    [depth] "depth", "Depth", Kind::linear(DEPTH_RANGE, "ct");
    [waveform] "waveform", "Waveform", Kind::choice::<LfoWaveform>();
    [stereo] "stereo", "Stereo Phase", Kind::linear(STEREO_RANGE, "°");
    [tempo_sync] "tempoSync", "Tempo Sync", Kind::Toggle;
    [subdivision] "subdivision", "Subdivision", Kind::NOTE;
});

/// The integral over the cycle of `waveform` from phase 0 to `phase` (in cycles·units), and
/// its maximum: sine (1 − cos 2πp)/2π ≤ 1/π; triangle 2p², ¼ − 2(½ − p)², 2(1 − p)² ≤ ¼;
/// square p, 1 − p ≤ ½; sawtooth p², (1 − p)² ≤ ¼.
#[inline]
fn integral(waveform: Waveform, phase: f64) -> f64 {
    match waveform {
        Waveform::Sine => (1.0 - f64::from(sine(wrap(phase + 0.25)))) * (1.0 / TAU),
        Waveform::Triangle => {
            if phase < 0.25 {
                2.0 * phase * phase
            } else if phase < 0.75 {
                0.25 - 2.0 * (0.5 - phase) * (0.5 - phase)
            } else {
                2.0 * (1.0 - phase) * (1.0 - phase)
            }
        }
        Waveform::Square => {
            if phase < 0.5 {
                phase
            } else {
                1.0 - phase
            }
        }
        Waveform::Saw => {
            if phase < 0.5 {
                phase * phase
            } else {
                (1.0 - phase) * (1.0 - phase)
            }
        }
    }
}

fn integral_max(waveform: Waveform) -> f64 {
    match waveform {
        Waveform::Sine => 1.0 / PI,
        Waveform::Triangle | Waveform::Saw => 0.25,
        Waveform::Square => 0.5,
    }
}

/// The vibrato. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct Vibrato {
    params: Params,
    sample_rate: f64,
    tempo_bpm: f64,
    lines: [DelayLine; 2],
    lfo: Phasor,
    /// r·fs/f in samples: the delay swing per unit of the shape's integral.
    swing: OnePole,
    /// The delays being read, stepping between control points (slew-limited there).
    delays: [Ramp; 2],
    until_control: usize,
    /// Onset fade 0…1, its step per sample, and the quiet samples counted towards re-arming.
    onset: f32,
    onset_step: f32,
    quiet: usize,
    gap: usize,
}

impl Vibrato {
    /// A vibrato with `params` at 120 BPM; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut vibrato = Self {
            params: params.clamped(),
            sample_rate,
            tempo_bpm: 120.0,
            lines: [DelayLine::new(), DelayLine::new()],
            lfo: Phasor::default(),
            swing: OnePole::new(0.0, SWING_SMOOTHING_S, sample_rate),
            delays: [Ramp::default(); 2],
            until_control: 0,
            onset: 1.0,
            onset_step: 1.0,
            quiet: 0,
            gap: 1,
        };
        vibrato.prepare(&ProcessSpec::stereo(sample_rate, 1));
        vibrato
    }

    /// Applies new parameters (clamped): the LFO runs on, the swing glides. Switching on
    /// starts from phase 0.
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

    /// The LFO rate in Hz (the tempo's when synced).
    pub fn rate_hz(&self) -> f64 {
        if self.params.tempo_sync {
            tempo_hz(self.params.subdivision.beats(), self.tempo_bpm)
        } else {
            f64::from(self.params.rate)
        }
    }

    fn swing_target(&self) -> f32 {
        let ratio = (f64::from(self.params.depth) / 1_200.0).exp2() - 1.0;
        (ratio * self.sample_rate / self.rate_hz().max(MIN_SWING_RATE_HZ)) as f32
    }

    fn update(&mut self) {
        let control_rate = self.sample_rate / CONTROL_INTERVAL as f64;
        self.lfo.set_rate(self.rate_hz(), control_rate);
        self.swing.set_target(self.swing_target());
        let onset_samples = f64::from(self.params.delay) * 1e-3 * self.sample_rate;
        self.onset_step = if onset_samples >= 1.0 {
            (1.0 / onset_samples) as f32
        } else {
            1.0
        };
    }

    /// The delay the LFO asks for at `phase`, for a swing.
    #[inline]
    fn delay_at(&self, waveform: Waveform, phase: f64, swing: f64) -> f32 {
        (MIN_DELAY_SAMPLES + swing * (integral_max(waveform) - integral(waveform, phase))) as f32
    }
}

impl Effect for Vibrato {
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
        let longest_ratio = (f64::from(*DEPTH_RANGE.end()) / 1_200.0).exp2() - 1.0;
        let longest = MIN_DELAY_SAMPLES
            + longest_ratio * spec.sample_rate / MIN_SWING_RATE_HZ * integral_max(Waveform::Square);
        for line in &mut self.lines {
            line.prepare(longest.ceil() as usize + 4);
        }
        self.swing.set_time(
            SWING_SMOOTHING_S,
            spec.sample_rate / CONTROL_INTERVAL as f64,
        );
        self.gap = (ONSET_GAP_S * spec.sample_rate) as usize;
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        for line in &mut self.lines {
            line.reset();
        }
        self.lfo.set_phase(0.0);
        self.swing.reset_to(self.swing_target());
        self.quiet = 0;
        self.onset = if self.params.delay > 0.0 { 0.0 } else { 1.0 };
        let waveform = self.params.waveform.waveform();
        let swing = f64::from(self.swing.value() * self.onset);
        let stereo = f64::from(self.params.stereo) / 360.0;
        self.delays[0].jump(self.delay_at(waveform, 0.0, swing));
        self.delays[1].jump(self.delay_at(waveform, stereo, swing));
        self.until_control = 0;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let waveform = self.params.waveform.waveform();
        let stereo = f64::from(self.params.stereo) / 360.0;
        let onset_step = self.onset_step;
        let gap = self.gap;
        let max_move = MAX_DELAY_SLEW * CONTROL_INTERVAL as f32;
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            if onset_step < 1.0 {
                if l.abs().max(r.abs()) < ONSET_GATE {
                    self.quiet += 1;
                    if self.quiet >= gap {
                        self.onset = 0.0;
                    }
                } else {
                    self.quiet = 0;
                    self.onset = (self.onset + onset_step).min(1.0);
                }
            } else {
                self.onset = 1.0;
            }
            if self.until_control == 0 {
                let swing = f64::from(self.swing.next_value() * self.onset);
                self.lfo.advance();
                let phase = self.lfo.phase();
                let targets = [
                    self.delay_at(waveform, phase, swing),
                    self.delay_at(waveform, wrap(phase + stereo), swing),
                ];
                for (delay, target) in self.delays.iter_mut().zip(targets) {
                    let now = delay.next_value_peek();
                    delay.aim(now + (target - now).clamp(-max_move, max_move));
                }
                self.until_control = CONTROL_INTERVAL;
            }
            self.until_control -= 1;
            self.lines[0].push(*l);
            self.lines[1].push(*r);
            *l = self.lines[0].read_hermite(self.delays[0].next_value());
            *r = self.lines[1].read_hermite(self.delays[1].next_value());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::effects::modulation::measure::{instantaneous_frequency, sinusoid_fit, swing_rate};
    use crate::test_support::{FS, render_mono, render_stereo, sine as tone};

    conformance_tests!(Vibrato {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] = &[
            ("/waveform", &["sine", "triangle", "square", "sawtooth"]),
            ("/subdivision", &["1/4", "1/16", "1/8T", "1/2D", "4/1"]),
        ];
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn enabled(rate: f32, depth: f32, waveform: LfoWaveform) -> Params {
        Params {
            enabled: true,
            rate,
            depth,
            waveform,
            ..Params::default()
        }
    }

    /// The instantaneous frequency of the output for a 1 kHz sine, after the first second.
    fn track(vibrato: &mut Vibrato, seconds: usize) -> Vec<(f64, f64)> {
        let input = tone(1_000.0, 0.5, (seconds + 1) * FS as usize, FS);
        let output = render_mono(vibrato, &input, 256);
        instantaneous_frequency(&output[FS as usize..], FS)
    }

    /// docs/effects.md §1 #16 on a 1 kHz sine: the instantaneous frequency swings at the LFO rate
    /// (±0.5 %) by f₀·2π·f_lfo·A_delay (±5 %), A_delay = r/(2π·f_lfo), i.e. the depth in cents.
    #[test]
    fn the_pitch_swings_by_the_depth_in_cents_at_the_rate() {
        for (rate, depth) in [(5.0, 30.0), (0.5, 100.0), (10.0, 10.0), (2.0, 50.0)] {
            let mut vibrato = Vibrato::prepared(&enabled(rate, depth, LfoWaveform::Sine));
            let series = track(&mut vibrato, 8);
            let measured_rate = swing_rate(&series);
            let (mean, amplitude) = sinusoid_fit(&series, measured_rate);
            let ratio = (f64::from(depth) / 1_200.0).exp2() - 1.0;
            let delay_swing_s = ratio / (TAU * f64::from(rate));
            let expected = 1_000.0 * TAU * f64::from(rate) * delay_swing_s;
            let cents = 1_200.0 * (1.0 + amplitude / 1_000.0).log2();
            println!(
                "vibrato {rate} Hz {depth} ct: rate {measured_rate:.4} Hz, mean {mean:.3} Hz, \
                 deviation {amplitude:.3} Hz (expected {expected:.3}), depth {cents:.2} ct"
            );
            assert!((measured_rate / f64::from(rate) - 1.0).abs() < 0.005);
            assert!((amplitude / expected - 1.0).abs() < 0.05);
            assert!((cents / f64::from(depth) - 1.0).abs() < 0.05);
            assert!((mean - 1_000.0).abs() < 0.5, "no net detune: {mean}");
        }
    }

    /// A square LFO jumps the pitch between +depth and −depth cents (the delay stays
    /// continuous): the instantaneous frequency sits at those two values most of the time.
    #[test]
    fn a_square_lfo_trills_between_plus_and_minus_depth() {
        let mut vibrato = Vibrato::prepared(&enabled(2.0, 50.0, LfoWaveform::Square));
        let series = track(&mut vibrato, 4);
        let up = 1_000.0 * (50.0f64 / 1_200.0).exp2();
        let down = 1_000.0 * (2.0 - (50.0f64 / 1_200.0).exp2());
        let near = |f: f64| series.iter().filter(|p| (p.1 - f).abs() < 0.5).count();
        let (at_up, at_down) = (near(up), near(down));
        println!(
            "vibrato square 50 ct: {at_up} of {} periods at {up:.2} Hz, {at_down} at {down:.2} Hz",
            series.len()
        );
        assert!(at_up + at_down > series.len() * 9 / 10);
        assert!(at_up.abs_diff(at_down) < series.len() / 20);
    }

    /// `stereo` 90° puts the right channel's pitch a quarter cycle ahead.
    #[test]
    fn stereo_offsets_the_right_lfo() {
        let mut vibrato = Vibrato::prepared(&Params {
            stereo: 90.0,
            ..enabled(2.0, 50.0, LfoWaveform::Sine)
        });
        let input = tone(1_000.0, 0.5, 3 * FS as usize, FS);
        let (left, right) = render_stereo(&mut vibrato, &input, &input, 256);
        let peak_time = |signal: &[f32]| {
            let series = instantaneous_frequency(&signal[FS as usize..2 * FS as usize], FS);
            series.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0
        };
        let lead = (peak_time(&left) - peak_time(&right)).rem_euclid(0.5);
        println!("vibrato stereo 90° at 2 Hz: right leads by {lead:.4} s");
        assert!((lead - 0.125).abs() < 0.005);
    }

    /// Tempo sync: the LFO rate is the note value at the room tempo (measured on the pitch),
    /// and with a transport its phase is the beat grid's: at beat 1.25 of "1/4" cycles the
    /// pitch is at its crest.
    #[test]
    fn tempo_sync_sets_the_rate_and_locks_the_phase() {
        let synced = Params {
            tempo_sync: true,
            subdivision: Subdivision::parse("1/8").unwrap(),
            ..enabled(7.0, 50.0, LfoWaveform::Sine)
        };
        let mut vibrato = Vibrato::prepared(&synced);
        vibrato.set_context(&RoomContext {
            tempo_bpm: 90.0,
            ..RoomContext::default()
        });
        assert!((vibrato.rate_hz() - 3.0).abs() < 1e-12);
        // The swing glides to the new rate's in 50 ms; measured after the first second.
        let series = track(&mut vibrato, 4);
        let measured = swing_rate(&series);
        println!("vibrato synced 1/8 at 90 BPM: {measured:.4} Hz (expected 3)");
        assert!((measured / 3.0 - 1.0).abs() < 0.005);

        let mut locked = Vibrato::prepared(&Params {
            subdivision: Subdivision::QUARTER,
            ..synced
        });
        let input = tone(1_000.0, 0.5, FS as usize, FS);
        let mut output = Vec::new();
        for (index, chunk) in input.chunks(480).enumerate() {
            // 120 BPM: 480 samples = 0.02 beats; start the grid at beat 1.25 (phase ¼).
            locked.set_context(&RoomContext {
                beat_position: Some(1.25 + 0.02 * index as f64),
                ..RoomContext::default()
            });
            output.extend(render_mono(&mut locked, chunk, 480));
        }
        // Crests (phase ¼ of each 0.5 s cycle) at 0, 0.5 s; the swing is settled by 0.5 s.
        let series = instantaneous_frequency(&output[12_000..36_000], FS);
        let crest = series.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0 + 0.25;
        println!("vibrato locked to beat 1.25: pitch crest at {crest:.4} s (expected 0.5)");
        assert!((crest - 0.5).abs() < 0.005);
    }

    /// The legacy onset: with `delay` 300 ms the first 100 ms after sound starts carry less
    /// than a third of the depth; after the onset the full depth.
    #[test]
    fn the_legacy_delay_fades_the_vibrato_in() {
        let mut vibrato = Vibrato::prepared(&Params {
            delay: 300.0,
            ..enabled(10.0, 60.0, LfoWaveform::Sine)
        });
        let mut input = vec![0.0; 4_800];
        input.extend(tone(1_000.0, 0.5, FS as usize, FS));
        let output = render_mono(&mut vibrato, &input, 256);
        let swing = |from: usize, to: usize| {
            let series = instantaneous_frequency(&output[from..to], FS);
            let max = series.iter().map(|p| p.1).fold(0.0, f64::max);
            let min = series.iter().map(|p| p.1).fold(f64::MAX, f64::min);
            (max - min) / 2.0
        };
        let (early, late) = (swing(4_800, 4_800 + 4_800), swing(24_000, 48_000));
        println!(
            "vibrato onset 300 ms: swing {early:.2} Hz in the first 100 ms, {late:.2} Hz later"
        );
        assert!(early < late / 3.0 && late > 30.0);
    }

    #[test]
    fn disabled_is_bit_exact_and_depth_zero_is_a_short_delay() {
        let input = tone(440.0, 0.8, 4_800, FS);
        let mut disabled = Vibrato::prepared(&Params::default());
        assert_eq!(render_mono(&mut disabled, &input, 64), input);
        let mut still = Vibrato::prepared(&enabled(5.0, 0.0, LfoWaveform::Sine));
        let output = render_mono(&mut still, &input, 64);
        assert_eq!(output[2..], input[..input.len() - 2]);
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
                "delay",
                "depth",
                "enabled",
                "rate",
                "stereo",
                "subdivision",
                "tempoSync",
                "waveform"
            ]
        );
        let wild = Params {
            depth: 500.0,
            stereo: f32::NAN,
            delay: -1.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!((wild.depth, wild.stereo, wild.delay), (100.0, 0.0, 0.0));
    }
}
