//! The ring modulator (docs/effects.md §3 #18): the input multiplied by a carrier (sine, triangle,
//! square or sawtooth) at `frequency`·(1 + lfo·depth), the LFO a sine at `lfoRate`, with a
//! dry/wet mix. Both channels share the carrier.
//!
//! The carrier phase is an `f64` count of cycles. The sine is a polynomial (error < 1e-7, so
//! a sine carrier leaves nothing but f_in ± f_c above −140 dB) rather than libm's `sin`, to
//! stay within the 15 ns per stereo frame of docs/effects.md §4. Square and sawtooth are
//! band-limited with PolyBLEP corrections at their jumps (a naive square at 2 kHz aliases at −30
//! dB); the triangle has no jump and its harmonics fall off as 1/n², so it is left as it is.

use crate::automation::Kind;
use crate::blocks::lfo::{Lfo, Waveform};
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "ringModulator";

/// Declared range of [`Params::frequency`] (Hz).
pub const FREQUENCY_RANGE: RangeInclusive<f32> = 20.0..=2_000.0;
/// Range of [`Params::lfo_rate`] (Hz): the declared 0.1…10, and 0 (the default: no LFO).
pub const LFO_RATE_RANGE: RangeInclusive<f32> = 0.0..=10.0;
/// Declared range of [`Params::lfo_depth`] and [`Params::mix`] (%).
pub const PERCENT_RANGE: RangeInclusive<f32> = 0.0..=100.0;

/// The mix glides over this time constant.
const MIX_SMOOTHING_S: f64 = 0.01;

/// The carrier's shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CarrierWaveform {
    /// Sine: only f_in ± f_c.
    #[default]
    Sine,
    /// Triangle.
    Triangle,
    /// Square (band-limited).
    Square,
    /// Sawtooth (band-limited).
    Sawtooth,
}

/// The ring modulator's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Carrier frequency in Hz, 20…2000 (default 440).
    pub frequency: f32,
    /// Carrier shape (default sine).
    pub waveform: CarrierWaveform,
    /// Rate of the sine LFO that sweeps the carrier, Hz (default 0: none).
    pub lfo_rate: f32,
    /// LFO depth in %, 0…100 (default 0): the carrier swings by ±depth % of `frequency`.
    pub lfo_depth: f32,
    /// Wet share in %, 0…100 (default 100).
    pub mix: f32,
}

crate::host_choice!(CarrierWaveform {
    Sine => "Sine",
    Triangle => "Triangle",
    Square => "Square",
    Sawtooth => "Sawtooth",
});

// The LFO rate starts at 0 (no LFO), so its control is linear.
crate::automatable!(Params {
    [frequency] "frequency", "Frequency", Kind::logarithmic(FREQUENCY_RANGE, "Hz");
    [waveform] "waveform", "Waveform", Kind::choice::<CarrierWaveform>();
    [lfo_rate] "lfoRate", "LFO Rate", Kind::linear(LFO_RATE_RANGE, "Hz");
    [lfo_depth] "lfoDepth", "LFO Depth", Kind::linear(PERCENT_RANGE, "%");
    [mix] "mix", "Mix", Kind::linear(PERCENT_RANGE, "%");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            frequency: 440.0,
            waveform: CarrierWaveform::Sine,
            lfo_rate: 0.0,
            lfo_depth: 0.0,
            mix: 100.0,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let defaults = Self::default();
        Self {
            enabled: self.enabled,
            frequency: clamp_param(self.frequency, FREQUENCY_RANGE, defaults.frequency),
            waveform: self.waveform,
            lfo_rate: clamp_param(self.lfo_rate, LFO_RATE_RANGE, defaults.lfo_rate),
            lfo_depth: clamp_param(self.lfo_depth, PERCENT_RANGE, defaults.lfo_depth),
            mix: clamp_param(self.mix, PERCENT_RANGE, defaults.mix),
        }
    }
}

/// sin(2π·`cycles`) for `cycles` in 0…1, by an odd Taylor polynomial on the quarter wave
/// (error < 6e-8).
#[inline]
fn sine_of_cycles(cycles: f64) -> f64 {
    // Fold onto −¼…¼ cycle, where sin is odd and monotonic.
    let centred = cycles - cycles.round();
    let quarter = if centred > 0.25 {
        0.5 - centred
    } else if centred < -0.25 {
        -0.5 - centred
    } else {
        centred
    };
    let x = TAU * quarter;
    let x2 = x * x;
    x * (1.0
        - x2 / 6.0 * (1.0 - x2 / 20.0 * (1.0 - x2 / 42.0 * (1.0 - x2 / 72.0 * (1.0 - x2 / 110.0)))))
}

/// The PolyBLEP residual for a unit upward jump at phase 0, `increment` cycles per sample.
#[inline]
fn poly_blep(phase: f64, increment: f64) -> f64 {
    if phase < increment {
        let t = phase / increment;
        2.0 * t - t * t - 1.0
    } else if phase > 1.0 - increment {
        let t = (phase - 1.0) / increment;
        t * t + 2.0 * t + 1.0
    } else {
        0.0
    }
}

impl CarrierWaveform {
    /// The carrier at `phase` (cycles, 0…1) advancing `increment` cycles per sample. Shapes
    /// follow [`Waveform`]: square +1 for the first half cycle; sawtooth 0 at phase 0, +1 just
    /// before ½ where it jumps to −1.
    #[inline]
    fn at(self, phase: f64, increment: f64) -> f64 {
        match self {
            Self::Sine => sine_of_cycles(phase),
            Self::Triangle => Waveform::Triangle.at(phase),
            Self::Square => {
                let naive = if phase < 0.5 { 1.0 } else { -1.0 };
                let half = if phase < 0.5 {
                    phase + 0.5
                } else {
                    phase - 0.5
                };
                naive + poly_blep(phase, increment) - poly_blep(half, increment)
            }
            Self::Sawtooth => {
                // A rising ramp over t = phase + ½ that drops by 2 at t = 0.
                let t = if phase < 0.5 {
                    phase + 0.5
                } else {
                    phase - 0.5
                };
                2.0 * t - 1.0 - poly_blep(t, increment)
            }
        }
    }
}

/// The ring modulator. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct RingModulator {
    params: Params,
    sample_rate: f64,
    /// Carrier phase in cycles, 0…1.
    phase: f64,
    lfo: Lfo,
    mix: OnePole,
}

impl RingModulator {
    /// A ring modulator with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let mut ring = Self {
            params: params.clamped(),
            sample_rate: 48_000.0,
            phase: 0.0,
            lfo: Lfo::new(48_000.0),
            mix: OnePole::new(1.0, MIX_SMOOTHING_S, 48_000.0),
        };
        ring.update();
        ring.reset();
        ring
    }

    /// Applies new parameters (clamped). The carrier phase runs on, so a new frequency cannot
    /// click; the mix glides. Switching on starts from phase 0.
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
        self.lfo.set_rate_hz(f64::from(self.params.lfo_rate));
        self.mix.set_target(self.params.mix / 100.0);
    }
}

impl Effect for RingModulator {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        self.lfo.set_sample_rate(spec.sample_rate);
        self.mix.set_time(MIX_SMOOTHING_S, spec.sample_rate);
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        self.phase = 0.0;
        self.lfo.reset();
        self.mix.reset_to(self.params.mix / 100.0);
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let base_increment = f64::from(self.params.frequency) / self.sample_rate;
        let depth = f64::from(self.params.lfo_depth) / 100.0;
        let sweeping = depth > 0.0 && self.params.lfo_rate > 0.0;
        let waveform = self.params.waveform;
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let increment = if sweeping {
                base_increment * (1.0 + depth * f64::from(self.lfo.next_value()))
            } else {
                base_increment
            };
            let carrier = waveform.at(self.phase, increment) as f32;
            self.phase += increment;
            if self.phase >= 1.0 {
                self.phase -= 1.0;
            }
            let mix = self.mix.next_value();
            // Exact at both ends: mix 1 is the product, mix 0 the dry input.
            *l = mix * (*l * carrier) + (1.0 - mix) * *l;
            *r = mix * (*r * carrier) + (1.0 - mix) * *r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::test_support::{FS, dtft, render_mono, render_stereo, sine};

    conformance_tests!(RingModulator {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] =
            &[("/waveform", &["sine", "triangle", "square", "sawtooth"])];
    });

    fn enabled(frequency: f32, waveform: CarrierWaveform) -> Params {
        Params {
            enabled: true,
            frequency,
            waveform,
            ..Params::default()
        }
    }

    #[test]
    fn the_polynomial_sine_is_within_1e7() {
        let worst = (0..100_000)
            .map(|i| {
                let cycles = f64::from(i) / 100_000.0;
                (sine_of_cycles(cycles) - (TAU * cycles).sin()).abs()
            })
            .fold(0.0, f64::max);
        assert!(worst < 1e-7, "{worst}");
    }

    /// Energy of `signal` outside the lines at `frequencies`, relative to its total, in dB. One
    /// second at integer frequencies: each line is whole periods, so its energy is 2|X(f)|²/N
    /// exactly (Parseval) and what is left is everything else.
    fn residual_db(signal: &[f32], frequencies: &[f64]) -> f64 {
        let total: f64 = signal.iter().map(|&x| f64::from(x).powi(2)).sum();
        let lines: f64 = frequencies
            .iter()
            .map(|&f| {
                let (re, im) = dtft(signal, f, FS);
                2.0 * (re * re + im * im) / signal.len() as f64
            })
            .sum();
        10.0 * ((total - lines).max(1e-30) / total).log10()
    }

    /// docs/effects.md §1 test 20: with a sine carrier, a sine input comes out as f_in ± f_c only;
    /// everything else together is ≤ −60 dB.
    #[test]
    fn a_sine_carrier_leaves_only_the_sum_and_difference() {
        for (input_hz, carrier_hz) in [(1_000.0, 300.0), (5_000.0, 2_000.0), (440.0, 440.0)] {
            let mut ring =
                RingModulator::prepared(&enabled(carrier_hz as f32, CarrierWaveform::Sine));
            let input = sine(input_hz, 0.5, 2 * FS as usize, FS);
            let output = render_mono(&mut ring, &input, 1024);
            let settled = &output[FS as usize..];
            let lines = [input_hz + carrier_hz, (input_hz - carrier_hz).abs()];
            let lines: &[f64] = if lines[1] == 0.0 { &lines[..1] } else { &lines };
            // 440 × 440 also has DC, which the DTFT at 0 Hz counts once, not twice.
            let dc = if input_hz == carrier_hz {
                let mean = settled.iter().map(|&y| f64::from(y)).sum::<f64>();
                mean * mean / settled.len() as f64
            } else {
                0.0
            };
            let total: f64 = settled.iter().map(|&x| f64::from(x).powi(2)).sum();
            let residual = 10f64.powf(residual_db(settled, lines) / 10.0) * total - dc;
            let residual_db = 10.0 * (residual.max(1e-30) / total).log10();
            println!("{input_hz} Hz × {carrier_hz} Hz sine: everything else {residual_db:.1} dB");
            assert!(
                residual_db <= -60.0,
                "{input_hz} {carrier_hz}: {residual_db}"
            );
        }
    }

    /// The band-limited square and saw: against the naive shapes, the inharmonic energy of a
    /// 1913 Hz carrier (DC input, so the output is the carrier) drops well below.
    #[test]
    fn square_and_saw_carriers_are_band_limited() {
        for waveform in [CarrierWaveform::Square, CarrierWaveform::Sawtooth] {
            let mut ring = RingModulator::prepared(&enabled(1_913.0, waveform));
            let output = render_mono(&mut ring, &vec![1.0; FS as usize], 1024);
            let harmonics: Vec<f64> = (1..=12).map(|h| 1_913.0 * f64::from(h)).collect();
            let residual = residual_db(&output, &harmonics);
            let naive: Vec<f32> = (0..FS as usize)
                .map(|n| {
                    let phase = (1_913.0 * n as f64 / FS).fract();
                    let wave = if waveform == CarrierWaveform::Square {
                        Waveform::Square
                    } else {
                        Waveform::Saw
                    };
                    wave.at(phase) as f32
                })
                .collect();
            let naive_residual = residual_db(&naive, &harmonics);
            println!(
                "{waveform:?} carrier 1913 Hz: inharmonic energy {residual:.1} dB (naive \
                 {naive_residual:.1} dB)"
            );
            assert!(
                residual < naive_residual - 10.0,
                "{residual} {naive_residual}"
            );
        }
    }

    /// The LFO swings the carrier by ±depth: at the LFO's crest (¼ cycle) the carrier runs at
    /// f·(1 + depth), at its trough at f·(1 − depth), within 1 %.
    #[test]
    fn the_lfo_sweeps_the_carrier_by_its_depth() {
        let params = Params {
            lfo_rate: 1.0,
            lfo_depth: 50.0,
            ..enabled(1_000.0, CarrierWaveform::Sine)
        };
        let mut ring = RingModulator::prepared(&params);
        let output = render_mono(&mut ring, &vec![1.0; FS as usize], 1024);
        let local_frequency = |centre: usize| {
            let crossings: Vec<f64> = (centre - 480..centre + 480)
                .filter(|&n| output[n] < 0.0 && output[n + 1] >= 0.0)
                .map(|n| n as f64 + f64::from(output[n] / (output[n] - output[n + 1])))
                .collect();
            (crossings.len() - 1) as f64 / (crossings[crossings.len() - 1] - crossings[0]) * FS
        };
        let crest = local_frequency(12_000);
        let trough = local_frequency(36_000);
        println!("LFO crest {crest:.1} Hz, trough {trough:.1} Hz");
        assert!((crest / 1_500.0 - 1.0).abs() < 0.01, "{crest}");
        assert!((trough / 500.0 - 1.0).abs() < 0.01, "{trough}");
    }

    #[test]
    fn mix_zero_and_disabled_are_bit_exact_and_channels_share_the_carrier() {
        let input = sine(440.0, 0.8, 4_800, FS);
        let mut dry = RingModulator::prepared(&Params {
            mix: 0.0,
            ..enabled(300.0, CarrierWaveform::Square)
        });
        assert_eq!(render_mono(&mut dry, &input, 64), input);
        let mut disabled = RingModulator::prepared(&Params::default());
        assert_eq!(render_mono(&mut disabled, &input, 64), input);
        let mut ring = RingModulator::prepared(&enabled(300.0, CarrierWaveform::Triangle));
        let (left, right) = render_stereo(&mut ring, &input, &input, 64);
        assert_eq!(left, right);
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
                "enabled",
                "frequency",
                "lfoDepth",
                "lfoRate",
                "mix",
                "waveform"
            ]
        );
        let parsed: Params =
            serde_json::from_str(r#"{"waveform": "sawtooth", "lfoRate": 2}"#).unwrap();
        assert_eq!(parsed.waveform, CarrierWaveform::Sawtooth);
        let wild = Params {
            frequency: 1e6,
            lfo_rate: f32::NAN,
            lfo_depth: 300.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!(
            (wild.frequency, wild.lfo_rate, wild.lfo_depth),
            (2_000.0, 0.0, 100.0)
        );
    }
}
