//! Modulation effects: the signal multiplied or moved by an oscillator.
//!
//! Shared here: the waveform choice of the effects that offer one ([`LfoWaveform`]) and a
//! cheap LFO (`Phasor`) for the per-sample modulators. The shapes are those of
//! [`crate::blocks::lfo::Waveform`]; the sine is a polynomial (error < 2e-7) because a libm
//! `sin` per sample and channel (≈ 10–20 ns) alone would spend the tremolo's whole docs/effects.md
//! §4 budget.

pub mod auto_pan;
pub mod chorus;
pub mod flanger;
pub mod frequency_shifter;
pub mod phaser;
pub mod ring_modulator;
pub mod rotary_speaker;
pub mod tremolo;
pub mod vibrato;
pub mod vocal_doubler;

use crate::blocks::lfo::Waveform;
use serde::{Deserialize, Serialize};

/// An LFO shape as the reference JSON names it.
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

crate::host_choice!(LfoWaveform {
    Sine => "Sine",
    Triangle => "Triangle",
    Square => "Square",
    Sawtooth => "Sawtooth",
});

impl LfoWaveform {
    /// The LFO block's shape.
    pub fn waveform(self) -> Waveform {
        match self {
            Self::Sine => Waveform::Sine,
            Self::Triangle => Waveform::Triangle,
            Self::Square => Waveform::Square,
            Self::Sawtooth => Waveform::Saw,
        }
    }
}

/// The fractional part of `cycles` for `cycles` in −1…2 (phases plus offsets below a cycle):
/// conditional steps instead of `floor`, which is a libm call on baseline x86-64.
#[inline]
pub(crate) fn wrap(cycles: f64) -> f64 {
    let mut p = cycles;
    if p >= 1.0 {
        p -= 1.0;
    }
    if p >= 1.0 {
        p -= 1.0;
    }
    if p < 0.0 {
        p += 1.0;
    }
    p
}

/// sin(2π·`phase`) for `phase` in 0…1: an odd Taylor polynomial on the quarter wave.
#[inline]
pub(crate) fn sine(phase: f64) -> f32 {
    let centred = if phase > 0.5 { phase - 1.0 } else { phase } as f32;
    let quarter = if centred > 0.25 {
        0.5 - centred
    } else if centred < -0.25 {
        -0.5 - centred
    } else {
        centred
    };
    let x = std::f32::consts::TAU * quarter;
    let x2 = x * x;
    // Taylor coefficients as products, not divisions (a division costs several multiplies).
    x * (1.0
        + x2 * (-1.0 / 6.0
            + x2 * (1.0 / 120.0
                + x2 * (-1.0 / 5_040.0 + x2 * (1.0 / 362_880.0 + x2 * (-1.0 / 39_916_800.0))))))
}

/// `waveform` at `phase` (0…1), with the shapes of [`Waveform::at`] in `f32`.
#[inline]
pub(crate) fn shape(waveform: Waveform, phase: f64) -> f32 {
    match waveform {
        Waveform::Sine => sine(phase),
        Waveform::Triangle => {
            let p = phase as f32;
            if p < 0.25 {
                4.0 * p
            } else if p < 0.75 {
                2.0 - 4.0 * p
            } else {
                4.0 * p - 4.0
            }
        }
        Waveform::Square => {
            if phase < 0.5 {
                1.0
            } else {
                -1.0
            }
        }
        Waveform::Saw => {
            let p = phase as f32;
            if p < 0.5 { 2.0 * p } else { 2.0 * p - 2.0 }
        }
    }
}

/// An LFO's phase: an `f64` count of cycles (docs/effects.md §2.10) advanced once per sample, so
/// its value never depends on block boundaries. Shapes are read with [`shape`] at any offset.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Phasor {
    /// Cycles, 0…1.
    phase: f64,
    /// Cycles per sample.
    increment: f64,
}

impl Phasor {
    /// Sets the rate (non-positive or NaN: frozen).
    pub(crate) fn set_rate(&mut self, hz: f64, sample_rate: f64) {
        self.increment = if hz > 0.0 { hz / sample_rate } else { 0.0 };
    }

    /// The rate in Hz.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn rate(&self, sample_rate: f64) -> f64 {
        self.increment * sample_rate
    }

    /// The phase of the current sample.
    #[inline]
    pub(crate) fn phase(&self) -> f64 {
        self.phase
    }

    /// Moves to `cycles` (any finite value; only the fraction counts).
    pub(crate) fn set_phase(&mut self, cycles: f64) {
        self.phase = if cycles.is_finite() {
            cycles - cycles.floor()
        } else {
            0.0
        };
    }

    /// Advances one sample.
    #[inline]
    pub(crate) fn advance(&mut self) {
        self.phase += self.increment;
        if self.phase >= 1.0 {
            self.phase -= 1.0;
        }
    }
}

/// Samples between two evaluations of a modulator's LFO in the delay-based effects: their
/// delays (and the auto-pan's gains) are computed every this many samples and reached by
/// per-sample linear steps ([`Ramp`]). An LFO of at most 10 Hz moves a delay so smoothly that
/// the straight segments are off by A·(2πf·16/fs)²/8 ≈ 1e-6 of the swing A; the effects' costs
/// drop by the LFO and trigonometry they no longer do per sample.
pub(crate) const CONTROL_INTERVAL: usize = 16;

/// A value that steps linearly to a target over [`CONTROL_INTERVAL`] samples.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ramp {
    value: f32,
    step: f32,
}

impl Ramp {
    /// Sets the value, no ramp.
    pub(crate) fn jump(&mut self, value: f32) {
        self.value = value;
        self.step = 0.0;
    }

    /// Ramps from the current value to `target`, arriving after [`CONTROL_INTERVAL`] samples.
    pub(crate) fn aim(&mut self, target: f32) {
        self.step = (target - self.value) * (1.0 / CONTROL_INTERVAL as f32);
    }

    /// The value the next [`Ramp::next_value`] returns.
    pub(crate) fn next_value_peek(&self) -> f32 {
        self.value
    }

    /// The value for this sample; then one step on.
    #[inline]
    pub(crate) fn next_value(&mut self) -> f32 {
        let value = self.value;
        self.value += self.step;
        value
    }
}

/// Measurements shared by the modulation effects' objective tests (docs/effects.md §1 #16–#18,
/// #22).
#[cfg(test)]
pub(crate) mod measure {
    use std::f64::consts::TAU;

    /// Rising zero crossings, located by linear interpolation (in samples).
    pub(crate) fn rising_crossings(signal: &[f32]) -> Vec<f64> {
        signal
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
            .map(|(n, w)| n as f64 + f64::from(w[0] / (w[0] - w[1])))
            .collect()
    }

    /// The instantaneous frequency of a tone: one (time in s, Hz) point per period, from the
    /// spacing of consecutive rising crossings.
    pub(crate) fn instantaneous_frequency(signal: &[f32], sample_rate: f64) -> Vec<(f64, f64)> {
        rising_crossings(signal)
            .windows(2)
            .map(|w| {
                (
                    0.5 * (w[0] + w[1]) / sample_rate,
                    sample_rate / (w[1] - w[0]),
                )
            })
            .collect()
    }

    /// The rate (Hz) of a series that swings about its mean: from the rising crossings of the
    /// series minus its mean, linearly interpolated in time.
    pub(crate) fn swing_rate(series: &[(f64, f64)]) -> f64 {
        let mean = series.iter().map(|p| p.1).sum::<f64>() / series.len() as f64;
        let crossings: Vec<f64> = series
            .windows(2)
            .filter(|w| w[0].1 < mean && w[1].1 >= mean)
            .map(|w| {
                let fraction = (mean - w[0].1) / (w[1].1 - w[0].1);
                w[0].0 + fraction * (w[1].0 - w[0].0)
            })
            .collect();
        (crossings.len() - 1) as f64 / (crossings[crossings.len() - 1] - crossings[0])
    }

    /// Least-squares fit of `mean + a·cos(2π·rate·t) + b·sin(2π·rate·t)` to the series:
    /// `(mean, amplitude)`.
    pub(crate) fn sinusoid_fit(series: &[(f64, f64)], rate: f64) -> (f64, f64) {
        // Normal equations of the three basis functions.
        let mut m = [[0.0f64; 3]; 3];
        let mut v = [0.0f64; 3];
        for &(t, y) in series {
            let basis = [1.0, (TAU * rate * t).cos(), (TAU * rate * t).sin()];
            for i in 0..3 {
                v[i] += basis[i] * y;
                for j in 0..3 {
                    m[i][j] += basis[i] * basis[j];
                }
            }
        }
        // Gaussian elimination (the system is small and well conditioned over whole periods).
        for col in 0..3 {
            for row in col + 1..3 {
                let factor = m[row][col] / m[col][col];
                let pivot = m[col];
                for (target, source) in m[row].iter_mut().zip(pivot).skip(col) {
                    *target -= factor * source;
                }
                v[row] -= factor * v[col];
            }
        }
        let mut x = [0.0f64; 3];
        for row in (0..3).rev() {
            let known: f64 = (row + 1..3).map(|k| m[row][k] * x[k]).sum();
            x[row] = (v[row] - known) / m[row][row];
        }
        (x[0], x[1].hypot(x[2]))
    }

    /// The frequency in `low..high` where the impulse response's magnitude is least (golden
    /// section search: the window must hold one notch).
    pub(crate) fn notch_between(ir: &[f32], low: f64, high: f64) -> f64 {
        let level = |f: f64| crate::test_support::response_db(ir, f, crate::test_support::FS);
        let ratio = (5f64.sqrt() - 1.0) / 2.0;
        let (mut a, mut b) = (low, high);
        let mut c = b - ratio * (b - a);
        let mut d = a + ratio * (b - a);
        let (mut level_c, mut level_d) = (level(c), level(d));
        while b - a > 1e-4 * low {
            if level_c < level_d {
                b = d;
                d = c;
                level_d = level_c;
                c = b - ratio * (b - a);
                level_c = level(c);
            } else {
                a = c;
                c = d;
                level_c = level_d;
                d = a + ratio * (b - a);
                level_d = level(d);
            }
        }
        0.5 * (a + b)
    }

    /// The worst relative error (%) of the first `count` notches of a comb with delay `tau`
    /// seconds against (k + `offset`)/τ, each searched within ±4 %.
    pub(crate) fn comb_notches(ir: &[f32], tau: f64, offset: f64, count: usize) -> f64 {
        (0..count)
            .map(|k| {
                let expected = (k as f64 + offset) / tau;
                let found = notch_between(ir, 0.96 * expected, 1.04 * expected);
                100.0 * (found / expected - 1.0).abs()
            })
            .fold(0.0, f64::max)
    }

    /// The peak magnitude of each consecutive `frame`-sample stretch: an envelope sampled
    /// every `frame` samples.
    pub(crate) fn frame_peaks(signal: &[f32], frame: usize) -> Vec<f64> {
        signal
            .chunks_exact(frame)
            .map(|c| c.iter().fold(0.0f64, |m, &x| m.max(f64::from(x.abs()))))
            .collect()
    }

    /// The period (in series samples, interpolated) of a periodic series: the lag in
    /// `min_lag..max_lag` where the correlation coefficient of the series with itself shifted
    /// peaks (normalised by both overlaps' energies, so a partial cycle at either end does not
    /// tilt the peak).
    pub(crate) fn period(series: &[f64], min_lag: usize, max_lag: usize) -> f64 {
        let mean = series.iter().sum::<f64>() / series.len() as f64;
        let centred: Vec<f64> = series.iter().map(|x| x - mean).collect();
        let correlation = |lag: usize| {
            let (a, b) = (&centred[..centred.len() - lag], &centred[lag..]);
            let product: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let energy_a: f64 = a.iter().map(|x| x * x).sum();
            let energy_b: f64 = b.iter().map(|x| x * x).sum();
            product / (energy_a * energy_b).sqrt()
        };
        let values: Vec<f64> = (min_lag - 1..=max_lag + 1).map(correlation).collect();
        let best = (1..values.len() - 1)
            .max_by(|&a, &b| values[a].total_cmp(&values[b]))
            .expect("lags");
        let (a, b, c) = (values[best - 1], values[best], values[best + 1]);
        let offset = 0.5 * (a - c) / (a - 2.0 * b + c);
        (min_lag - 1 + best) as f64 + offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_polynomial_shapes_match_the_lfo_block() {
        for waveform in [
            Waveform::Sine,
            Waveform::Triangle,
            Waveform::Square,
            Waveform::Saw,
        ] {
            let worst = (0..100_000)
                .map(|i| {
                    let phase = f64::from(i) / 100_000.0;
                    (f64::from(shape(waveform, phase)) - waveform.at(phase)).abs()
                })
                .fold(0.0, f64::max);
            assert!(worst < 2e-7, "{waveform:?}: {worst}");
        }
        assert_eq!(wrap(1.75), 0.75);
        assert_eq!(wrap(-0.25), 0.75);
        assert_eq!(wrap(0.5), 0.5);
    }

    #[test]
    fn the_phasor_runs_at_its_rate() {
        let mut phasor = Phasor::default();
        phasor.set_rate(3.0, 48_000.0);
        assert!((phasor.rate(48_000.0) - 3.0).abs() < 1e-12);
        let mut wraps = 0;
        for _ in 0..48_001 {
            let before = phasor.phase();
            phasor.advance();
            if phasor.phase() < before {
                wraps += 1;
            }
        }
        assert_eq!(wraps, 3);
        assert!(phasor.phase() < 1e-4, "{}", phasor.phase());
        phasor.set_phase(-0.25);
        assert_eq!(phasor.phase(), 0.75);
    }
}
