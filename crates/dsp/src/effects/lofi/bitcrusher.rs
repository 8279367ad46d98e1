//! The bitcrusher (docs/effects.md §3 #17): sample-and-hold at `sampleRate`, then quantisation to
//! exactly 2^bits levels (two's-complement PCM: k/2^(bits−1) for k = −2^(bits−1) …
//! 2^(bits−1) − 1, so zero is a level and silence stays silence), with optional TPDF dither and
//! a dry/wet mix.
//!
//! The hold is counted in whole hertz against the host rate (add the target rate each sample,
//! capture when the sum reaches the host rate), so a ratio such as 48000/8000 holds exactly 6
//! samples every time; a phase accumulator in floating point would now and then hold 5 or 7.

use crate::automation::Kind;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "bitcrusher";

/// Declared range of [`Params::bit_depth`] (bits; rounded to a whole number).
pub const BIT_DEPTH_RANGE: RangeInclusive<f32> = 1.0..=16.0;
/// Declared range of [`Params::sample_rate`] (Hz).
pub const SAMPLE_RATE_RANGE: RangeInclusive<f32> = 500.0..=48_000.0;
/// Declared range of [`Params::mix`] (%).
pub const MIX_RANGE: RangeInclusive<f32> = 0.0..=100.0;

/// The mix glides over this time constant.
const MIX_SMOOTHING_S: f64 = 0.01;
/// Seed of the dither generator (reset restarts the sequence: reset = fresh instance).
const DITHER_SEED: u32 = 0x9E37_79B9;

/// The bitcrusher's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Bits 1…16 (default 8); the reference also writes it as `bits`.
    #[serde(alias = "bits")]
    pub bit_depth: f32,
    /// Hold rate in Hz, 500…48000 (default 8000); at or above the host rate nothing is held.
    pub sample_rate: f32,
    /// Triangular (TPDF) dither of ±1 step before quantising (default off).
    pub dither: bool,
    /// Wet share in %, 0…100 (default 100).
    pub mix: f32,
}

crate::automatable!(Params {
    [bit_depth] "bitDepth", "Bit Depth", Kind::int(1, 16);
    [sample_rate] "sampleRate", "Sample Rate", Kind::logarithmic(SAMPLE_RATE_RANGE, "Hz");
    [dither] "dither", "Dither", Kind::Toggle;
    [mix] "mix", "Mix", Kind::linear(MIX_RANGE, "%");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            bit_depth: 8.0,
            sample_rate: 8_000.0,
            dither: false,
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
            bit_depth: clamp_param(self.bit_depth, BIT_DEPTH_RANGE, defaults.bit_depth).round(),
            sample_rate: clamp_param(self.sample_rate, SAMPLE_RATE_RANGE, defaults.sample_rate),
            dither: self.dither,
            mix: clamp_param(self.mix, MIX_RANGE, defaults.mix),
        }
    }
}

/// Quantises `x` to the 2^bits two's-complement levels k/2^(bits−1) (`half_levels` =
/// 2^(bits−1)), rounding to the nearest and clamping at the ends.
#[inline]
pub fn quantize(x: f32, half_levels: f32) -> f32 {
    // Through an integer level index: −0.0 (what rounding gives small negative input) becomes
    // the one zero level, and NaN becomes 0 (`as` saturates).
    let half = half_levels as i32;
    let level = ((x * half_levels).round() as i32).clamp(-half, half - 1);
    level as f32 / half_levels
}

/// The bitcrusher. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct Bitcrusher {
    params: Params,
    /// Host rate and hold rate in whole hertz (see the module notes).
    host_rate: f64,
    hold_rate: f64,
    /// Sum of hold-rate steps since the last capture.
    hold_phase: f64,
    /// 2^(bits−1).
    half_levels: f32,
    held: [f32; 2],
    mix: OnePole,
    rng: u32,
}

impl Bitcrusher {
    /// A bitcrusher with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let mut bitcrusher = Self {
            params: params.clamped(),
            host_rate: 48_000.0,
            hold_rate: 8_000.0,
            hold_phase: 0.0,
            half_levels: 128.0,
            held: [0.0; 2],
            mix: OnePole::new(1.0, MIX_SMOOTHING_S, 48_000.0),
            rng: DITHER_SEED,
        };
        bitcrusher.update();
        bitcrusher.reset();
        bitcrusher
    }

    /// Applies new parameters (clamped). The mix glides; depth and rate act from the next held
    /// sample. Switching on starts from silent state.
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
        self.half_levels = 2f32.powf(self.params.bit_depth - 1.0);
        self.hold_rate = f64::from(self.params.sample_rate)
            .round()
            .min(self.host_rate);
        self.mix.set_target(self.params.mix / 100.0);
    }

    /// Triangular noise in (−1, 1): the difference of two uniform values (xorshift32).
    #[inline]
    fn tpdf(&mut self) -> f32 {
        let mut uniform = || {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 17;
            self.rng ^= self.rng << 5;
            (self.rng >> 8) as f32 / (1u32 << 24) as f32
        };
        uniform() - uniform()
    }

    #[inline]
    fn crush(&mut self, x: f32) -> f32 {
        // Dither only moves signal: digital silence stays silent instead of hissing.
        let dither = if self.params.dither && x != 0.0 {
            self.tpdf() / self.half_levels
        } else {
            0.0
        };
        quantize(x + dither, self.half_levels)
    }
}

impl Effect for Bitcrusher {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.host_rate = spec.sample_rate.round().max(1.0);
        self.mix.set_time(MIX_SMOOTHING_S, spec.sample_rate);
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        // Primed so the first sample after a reset is captured at once.
        self.hold_phase = self.host_rate - self.hold_rate;
        self.held = [0.0; 2];
        self.mix.reset_to(self.params.mix / 100.0);
        self.rng = DITHER_SEED;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            self.hold_phase += self.hold_rate;
            if self.hold_phase >= self.host_rate {
                self.hold_phase -= self.host_rate;
                self.held = [self.crush(*l), self.crush(*r)];
            }
            let mix = self.mix.next_value();
            // This form is exact at both ends: mix 1 is the crushed signal, mix 0 the dry.
            *l = mix * self.held[0] + (1.0 - mix) * *l;
            *r = mix * self.held[1] + (1.0 - mix) * *r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::test_support::{FS, render_mono, sine};

    conformance_tests!(Bitcrusher);

    fn enabled(bit_depth: f32, sample_rate: f32) -> Params {
        Params {
            enabled: true,
            bit_depth,
            sample_rate,
            ..Params::default()
        }
    }

    /// docs/effects.md §1 test 20: a full-scale ramp comes out on exactly 2^bits distinct levels,
    /// each a multiple of 2^−(bits−1).
    #[test]
    fn a_ramp_comes_out_on_exactly_2_to_the_bits_levels() {
        let len = 1 << 18;
        let ramp: Vec<f32> = (0..len)
            .map(|n| -1.0 + 2.0 * n as f32 / (len - 1) as f32)
            .collect();
        for bits in [1u32, 2, 3, 4, 8, 12, 16] {
            let mut bitcrusher = Bitcrusher::prepared(&enabled(bits as f32, 48_000.0));
            let output = render_mono(&mut bitcrusher, &ramp, 1024);
            let mut levels: Vec<u32> = output.iter().map(|y| y.to_bits()).collect();
            levels.sort_unstable();
            levels.dedup();
            let step = 2f32.powi(1 - bits as i32);
            assert!(output.iter().all(|y| (y / step).fract() == 0.0), "{bits}");
            println!("{bits} bits: {} distinct levels", levels.len());
            assert_eq!(levels.len(), 1 << bits, "{bits} bits");
        }
    }

    /// docs/effects.md §1 test 20: the hold is exactly host rate / hold rate samples (a steep ramp
    /// makes every held value different); a fractional ratio holds for the right average.
    #[test]
    fn the_hold_is_exactly_the_rate_ratio() {
        let ramp: Vec<f32> = (0..48_000).map(|n| -1.0 + n as f32 / 24_000.0).collect();
        for (rate, hold) in [(8_000.0, 6), (12_000.0, 4), (16_000.0, 3), (500.0, 96)] {
            let mut bitcrusher = Bitcrusher::prepared(&enabled(16.0, rate));
            let output = render_mono(&mut bitcrusher, &ramp, 333);
            for (n, y) in output.iter().enumerate() {
                let start = n - n % hold;
                assert_eq!(*y, quantize(ramp[start], 32_768.0), "{rate} Hz, sample {n}");
            }
        }
        let mut bitcrusher = Bitcrusher::prepared(&enabled(16.0, 44_100.0));
        let output = render_mono(&mut bitcrusher, &ramp, 333);
        let captures = 1 + output.windows(2).filter(|w| w[0] != w[1]).count();
        assert_eq!(captures, 44_100);
    }

    /// TPDF dither makes the average output follow a signal below one step (without dither
    /// it rounds to silence), and digital silence stays silent.
    #[test]
    fn dither_linearises_and_leaves_silence_silent() {
        let step = 1.0 / 128.0;
        let input = vec![0.3 * step; 48_000];
        for dither in [false, true] {
            let mut bitcrusher = Bitcrusher::prepared(&Params {
                dither,
                ..enabled(8.0, 48_000.0)
            });
            let output = render_mono(&mut bitcrusher, &input, 1024);
            let mean = output.iter().map(|&y| f64::from(y)).sum::<f64>() / output.len() as f64;
            println!(
                "dither {dither}: mean {:.4} steps for 0.3",
                mean / f64::from(step)
            );
            if dither {
                assert!((mean / f64::from(step) - 0.3).abs() < 0.015, "{mean}");
            } else {
                assert_eq!(mean, 0.0);
            }
            let silence = render_mono(&mut bitcrusher, &[0.0; 4_800], 1024);
            assert!(silence.iter().all(|&y| y == 0.0));
        }
    }

    #[test]
    fn mix_blends_dry_and_crushed() {
        let input = sine(440.0, 0.8, 4_800, FS);
        let mut dry = Bitcrusher::prepared(&Params {
            mix: 0.0,
            ..enabled(4.0, 8_000.0)
        });
        assert_eq!(render_mono(&mut dry, &input, 64), input);
        let mut half = Bitcrusher::prepared(&Params {
            mix: 50.0,
            ..enabled(4.0, 48_000.0)
        });
        let output = render_mono(&mut half, &input, 64);
        for (y, x) in output.iter().zip(&input) {
            assert!((y - 0.5 * (x + quantize(*x, 8.0))).abs() < 1e-6);
        }
        let mut disabled = Bitcrusher::prepared(&Params::default());
        assert_eq!(render_mono(&mut disabled, &input, 64), input);
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
        assert_eq!(keys, ["bitDepth", "dither", "enabled", "mix", "sampleRate"]);
        let aliased: Params = serde_json::from_str(r#"{"bits": 4, "dither": true}"#).unwrap();
        assert_eq!((aliased.bit_depth, aliased.dither), (4.0, true));
        let wild = Params {
            bit_depth: 40.5,
            sample_rate: f32::NAN,
            mix: -3.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!(
            (wild.bit_depth, wild.sample_rate, wild.mix),
            (16.0, 8_000.0, 0.0)
        );
        assert_eq!(
            Params {
                bit_depth: 3.4,
                ..Params::default()
            }
            .clamped()
            .bit_depth,
            3.0
        );
    }
}
