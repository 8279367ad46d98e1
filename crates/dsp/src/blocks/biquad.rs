//! RBJ cookbook biquads (W3C Audio EQ Cookbook) in transposed direct form II, and a smoothed
//! variant whose parameters can move while audio plays without clicking.
//!
//! Coefficients and state are `f64`: in `f32`, a 20 Hz high-pass is already 0.09 dB off at its
//! cutoff (docs/effects.md §2.1), and the DC blocker, low shelves and crossovers live down there.
//! Samples enter and leave as `f32`.

use std::f64::consts::{LN_2, PI, TAU};

/// The filter shapes of the cookbook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Low-pass; `q` sets the resonance (the gain at the cutoff is `q`).
    Lowpass,
    /// High-pass; `q` as for [`Kind::Lowpass`].
    Highpass,
    /// Band-pass with 0 dB at the centre (the cookbook's "constant 0 dB peak gain" form).
    Bandpass,
    /// Band-stop with a zero at the centre.
    Notch,
    /// Peaking EQ: `gain_db` at the centre, 0 dB far away.
    Peak,
    /// Low shelf: `gain_db` at DC, half of it (in dB) at the corner.
    LowShelf,
    /// High shelf: `gain_db` at Nyquist, half of it (in dB) at the corner.
    HighShelf,
    /// All-pass: unit magnitude, phase turning through −π at the centre.
    Allpass,
}

/// What a biquad should do: shape, corner or centre frequency (Hz), Q, and gain (dB; used by the
/// peak and shelf shapes only).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Design {
    /// The shape.
    pub kind: Kind,
    /// Corner or centre frequency in Hz.
    pub frequency: f64,
    /// Quality factor (`1/√2` is Butterworth for the low- and high-pass).
    pub q: f64,
    /// Gain in dB for [`Kind::Peak`], [`Kind::LowShelf`] and [`Kind::HighShelf`].
    pub gain_db: f64,
}

impl Design {
    /// A design with 0 dB gain (the gain only matters to peaks and shelves).
    pub const fn new(kind: Kind, frequency: f64, q: f64) -> Self {
        Self {
            kind,
            frequency,
            q,
            gain_db: 0.0,
        }
    }

    /// A design with a gain, for peaks and shelves.
    pub const fn with_gain(kind: Kind, frequency: f64, q: f64, gain_db: f64) -> Self {
        Self {
            kind,
            frequency,
            q,
            gain_db,
        }
    }
}

/// Normalised biquad coefficients (`a0 = 1`):
/// `H(z) = (b0 + b1·z⁻¹ + b2·z⁻²) / (1 + a1·z⁻¹ + a2·z⁻²)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coefs {
    /// Feed-forward coefficient of x\[n\].
    pub b0: f64,
    /// Feed-forward coefficient of x\[n−1\].
    pub b1: f64,
    /// Feed-forward coefficient of x\[n−2\].
    pub b2: f64,
    /// Feedback coefficient of y\[n−1\].
    pub a1: f64,
    /// Feedback coefficient of y\[n−2\].
    pub a2: f64,
}

/// Lowest Q a design accepts: below it α explodes and the poles approach ±1.
const MIN_Q: f64 = 1e-3;
/// Highest corner, as a fraction of the sample rate: at exactly Nyquist sin(w0) = 0 and several
/// shapes degenerate.
const MAX_FREQUENCY_RATIO: f64 = 0.499;
/// Lowest corner in Hz: at 0 the shapes degenerate the same way.
const MIN_FREQUENCY: f64 = 1e-3;

impl Coefs {
    /// The filter that passes its input unchanged.
    pub const IDENTITY: Self = Self {
        b0: 1.0,
        b1: 0.0,
        b2: 0.0,
        a1: 0.0,
        a2: 0.0,
    };

    /// The cookbook coefficients for `design` at `sample_rate`.
    ///
    /// Out-of-range input (a frequency at or beyond Nyquist or ≤ 0, a Q ≤ 0, NaN) is clamped to
    /// the nearest usable design, so whatever a parameter says, the result is a stable filter.
    pub fn new(design: &Design, sample_rate: f64) -> Self {
        let max_frequency = MAX_FREQUENCY_RATIO * sample_rate;
        let frequency = finite_or(design.frequency, 1_000.0).clamp(MIN_FREQUENCY, max_frequency);
        let q = finite_or(design.q, 1.0).max(MIN_Q);
        let gain_db = finite_or(design.gain_db, 0.0);

        let w0 = TAU * frequency / sample_rate;
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * q);
        let a = 10f64.powf(gain_db / 40.0);
        let two_sqrt_a_alpha = 2.0 * a.sqrt() * alpha;

        let [b0, b1, b2, a0, a1, a2] = match design.kind {
            Kind::Lowpass => {
                let b = (1.0 - cos) / 2.0;
                [b, 2.0 * b, b, 1.0 + alpha, -2.0 * cos, 1.0 - alpha]
            }
            Kind::Highpass => {
                let b = (1.0 + cos) / 2.0;
                [b, -2.0 * b, b, 1.0 + alpha, -2.0 * cos, 1.0 - alpha]
            }
            Kind::Bandpass => [alpha, 0.0, -alpha, 1.0 + alpha, -2.0 * cos, 1.0 - alpha],
            Kind::Notch => [1.0, -2.0 * cos, 1.0, 1.0 + alpha, -2.0 * cos, 1.0 - alpha],
            Kind::Allpass => [
                1.0 - alpha,
                -2.0 * cos,
                1.0 + alpha,
                1.0 + alpha,
                -2.0 * cos,
                1.0 - alpha,
            ],
            Kind::Peak => [
                1.0 + alpha * a,
                -2.0 * cos,
                1.0 - alpha * a,
                1.0 + alpha / a,
                -2.0 * cos,
                1.0 - alpha / a,
            ],
            Kind::LowShelf => [
                a * ((a + 1.0) - (a - 1.0) * cos + two_sqrt_a_alpha),
                2.0 * a * ((a - 1.0) - (a + 1.0) * cos),
                a * ((a + 1.0) - (a - 1.0) * cos - two_sqrt_a_alpha),
                (a + 1.0) + (a - 1.0) * cos + two_sqrt_a_alpha,
                -2.0 * ((a - 1.0) + (a + 1.0) * cos),
                (a + 1.0) + (a - 1.0) * cos - two_sqrt_a_alpha,
            ],
            Kind::HighShelf => [
                a * ((a + 1.0) + (a - 1.0) * cos + two_sqrt_a_alpha),
                -2.0 * a * ((a - 1.0) + (a + 1.0) * cos),
                a * ((a + 1.0) + (a - 1.0) * cos - two_sqrt_a_alpha),
                (a + 1.0) - (a - 1.0) * cos + two_sqrt_a_alpha,
                2.0 * ((a - 1.0) - (a + 1.0) * cos),
                (a + 1.0) - (a - 1.0) * cos - two_sqrt_a_alpha,
            ],
        };
        Self {
            b0: b0 / a0,
            b1: b1 / a0,
            b2: b2 / a0,
            a1: a1 / a0,
            a2: a2 / a0,
        }
    }

    /// The complex frequency response H(e^jw) at `frequency`, as (re, im).
    pub fn response(&self, frequency: f64, sample_rate: f64) -> (f64, f64) {
        let w = TAU * frequency / sample_rate;
        let (s1, c1) = (-w).sin_cos();
        let (s2, c2) = (-2.0 * w).sin_cos();
        let num = (
            self.b0 + self.b1 * c1 + self.b2 * c2,
            self.b1 * s1 + self.b2 * s2,
        );
        let den = (
            1.0 + self.a1 * c1 + self.a2 * c2,
            self.a1 * s1 + self.a2 * s2,
        );
        let den_norm = den.0 * den.0 + den.1 * den.1;
        (
            (num.0 * den.0 + num.1 * den.1) / den_norm,
            (num.1 * den.0 - num.0 * den.1) / den_norm,
        )
    }

    /// |H(e^jw)| in dB at `frequency`.
    pub fn magnitude_db(&self, frequency: f64, sample_rate: f64) -> f64 {
        let (re, im) = self.response(frequency, sample_rate);
        10.0 * (re * re + im * im).log10()
    }

    /// Whether both poles lie strictly inside the unit circle (the stability triangle
    /// `|a2| < 1`, `|a1| < 1 + a2`).
    pub fn is_stable(&self) -> bool {
        self.a2.abs() < 1.0 && self.a1.abs() < 1.0 + self.a2
    }

    /// The largest pole magnitude: the impulse response decays as `radius^n`.
    pub fn pole_radius(&self) -> f64 {
        let discriminant = self.a1 * self.a1 - 4.0 * self.a2;
        if discriminant < 0.0 {
            self.a2.sqrt()
        } else {
            let root = discriminant.sqrt();
            ((-self.a1 + root) / 2.0)
                .abs()
                .max(((-self.a1 - root) / 2.0).abs())
        }
    }

    fn lerp_step(&self, to: &Self, steps: f64) -> Self {
        Self {
            b0: (to.b0 - self.b0) / steps,
            b1: (to.b1 - self.b1) / steps,
            b2: (to.b2 - self.b2) / steps,
            a1: (to.a1 - self.a1) / steps,
            a2: (to.a2 - self.a2) / steps,
        }
    }

    fn add(&mut self, step: &Self) {
        self.b0 += step.b0;
        self.b1 += step.b1;
        self.b2 += step.b2;
        self.a1 += step.a1;
        self.a2 += step.a2;
    }
}

impl Default for Coefs {
    fn default() -> Self {
        Self::IDENTITY
    }
}

fn finite_or(x: f64, fallback: f64) -> f64 {
    if x.is_finite() { x } else { fallback }
}

/// One biquad section, transposed direct form II, `f64` state.
#[derive(Clone, Debug, Default)]
pub struct Biquad {
    coefs: Coefs,
    s1: f64,
    s2: f64,
}

impl Biquad {
    /// A filter with these coefficients and silent state.
    pub fn new(coefs: Coefs) -> Self {
        Self {
            coefs,
            s1: 0.0,
            s2: 0.0,
        }
    }

    /// A filter for `design` at `sample_rate`, silent state.
    pub fn from_design(design: &Design, sample_rate: f64) -> Self {
        Self::new(Coefs::new(design, sample_rate))
    }

    /// Replaces the coefficients and keeps the state. A jump in coefficients with audio in the
    /// state is a step in the output: for parameters that move while playing, use [`Smoothed`].
    pub fn set_coefs(&mut self, coefs: Coefs) {
        self.coefs = coefs;
    }

    /// Clears the state (silence in, silence out).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        self.s1 = 0.0;
        self.s2 = 0.0;
    }

    /// Filters one sample in `f64` (for cascades that keep `f64` between sections).
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn process_f64(&mut self, x: f64) -> f64 {
        let c = &self.coefs;
        let y = c.b0 * x + self.s1;
        self.s1 = c.b1 * x - c.a1 * y + self.s2;
        self.s2 = c.b2 * x - c.a2 * y;
        y
    }

    /// Filters one sample.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn process_sample(&mut self, x: f32) -> f32 {
        self.process_f64(f64::from(x)) as f32
    }

    /// Filters `samples` in place.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn process(&mut self, samples: &mut [f32]) {
        for x in samples {
            *x = self.process_sample(*x);
        }
    }

    /// The current coefficients.
    pub fn coefs(&self) -> &Coefs {
        &self.coefs
    }

    /// The larger magnitude of the two state variables: how much of past input the filter
    /// still holds (0 after a reset).
    pub fn state_magnitude(&self) -> f64 {
        self.s1.abs().max(self.s2.abs())
    }
}

/// Q of a band-pass or peak whose bandwidth is `octaves` at centre `w0` (radians per sample),
/// the cookbook's digital bandwidth relation.
pub fn q_from_bandwidth(octaves: f64, w0: f64) -> f64 {
    let sin = w0.sin();
    1.0 / (2.0 * (LN_2 / 2.0 * octaves * w0 / sin).sinh())
}

/// Angular frequency in radians per sample.
pub fn angular(frequency: f64, sample_rate: f64) -> f64 {
    2.0 * PI * frequency / sample_rate
}

mod smoothed;
#[cfg(test)]
mod tests;

pub use smoothed::{DESIGN_INTERVAL, Smoothed, SmoothedPair};
