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

/// Samples between two designs while a parameter moves. Coefficients are interpolated per sample
/// in between, so the cost is one trigonometric design per 16 samples.
pub const DESIGN_INTERVAL: usize = 16;

/// A biquad whose frequency, Q and gain glide to new values instead of jumping.
///
/// Why it cannot click: a coefficient step with audio in the state is a step in the output, so
/// coefficients never step here. The parameters ramp linearly in the domains they are heard in
/// (log frequency, log Q, dB) over the ramp time; every [`DESIGN_INTERVAL`] samples the filter
/// is designed at where the ramp will be at the end of the interval, and the coefficients move
/// there in equal per-sample increments. Designing along the ramp, rather than interpolating
/// coefficients straight from the old filter to the new one, keeps every intermediate filter
/// close to a real design: a straight line between distant designs passes through filters
/// unrelated to either (with gain bumps of tens of dB). Each per-sample filter is stable too,
/// because it lies on a segment between two stable designs and the stability triangle of
/// `(a1, a2)` is convex.
///
/// A change of [`Kind`] cannot glide (there is no path between shapes); it takes effect at once
/// and the effect that allows it must crossfade.
#[derive(Clone, Debug)]
pub struct Smoothed {
    filter: Biquad,
    kind: Kind,
    sample_rate: f64,
    ramp_samples: usize,
    /// Where the parameter ramp is now: ln(frequency), ln(Q), gain in dB.
    now: [f64; 3],
    /// Per-sample change of `now` while ramping.
    slope: [f64; 3],
    /// Where the ramp ends, exactly (summing slopes would miss it by rounding).
    target: [f64; 3],
    /// The target design's coefficients (`exp(ln f)` would miss them by rounding).
    target_coefs: Coefs,
    /// Samples left in the parameter ramp.
    ramp_left: usize,
    /// Per-sample coefficient increment within the current interval.
    coef_step: Coefs,
    /// The design the current interval ends on (set exactly at its end: no accumulated drift).
    interval_end: Coefs,
    /// Samples left in the current interval.
    interval_left: usize,
}

impl Smoothed {
    /// A filter at `design` (no ramp in progress) whose later changes take `ramp_seconds`.
    pub fn new(design: &Design, sample_rate: f64, ramp_seconds: f64) -> Self {
        let coefs = Coefs::new(design, sample_rate);
        Self {
            filter: Biquad::new(coefs),
            kind: design.kind,
            sample_rate,
            ramp_samples: (ramp_seconds * sample_rate).round().max(1.0) as usize,
            now: Self::parameters(design),
            slope: [0.0; 3],
            target: Self::parameters(design),
            target_coefs: coefs,
            ramp_left: 0,
            coef_step: Coefs {
                b0: 0.0,
                b1: 0.0,
                b2: 0.0,
                a1: 0.0,
                a2: 0.0,
            },
            interval_end: coefs,
            interval_left: 0,
        }
    }

    /// Starts a glide to `design` (or jumps there if its [`Kind`] differs). The design already
    /// targeted changes nothing: effects pass every parameter on each update (a preset sets all
    /// of them), and restarting the glide would redesign the filter for another ramp time and
    /// stretch a glide in progress.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_target(&mut self, design: &Design) {
        if design.kind != self.kind {
            self.jump_to(design);
            return;
        }
        let target = Self::parameters(design);
        if target == self.target {
            return;
        }
        self.target = target;
        self.target_coefs = Coefs::new(design, self.sample_rate);
        let steps = self.ramp_samples as f64;
        for ((slope, now), target) in self.slope.iter_mut().zip(self.now).zip(self.target) {
            *slope = (target - now) / steps;
        }
        self.ramp_left = self.ramp_samples;
    }

    /// Sets `design` at once, without a glide (for prepare and reset, not for playing audio).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn jump_to(&mut self, design: &Design) {
        self.kind = design.kind;
        self.now = Self::parameters(design);
        self.target = self.now;
        self.ramp_left = 0;
        self.interval_left = 0;
        self.interval_end = Coefs::new(design, self.sample_rate);
        self.target_coefs = self.interval_end;
        self.filter.set_coefs(self.interval_end);
    }

    /// Clears the audio state (a glide in progress goes on).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        self.filter.reset();
    }

    /// Glides each filter of a bank to the design at the same position.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_targets(bank: &mut [Self], designs: &[Design]) {
        for (filter, design) in bank.iter_mut().zip(designs) {
            filter.set_target(design);
        }
    }

    /// Jumps each filter of a bank to the design at the same position and clears its state
    /// (what an effect's `reset` does to its filters).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset_to(bank: &mut [Self], designs: &[Design]) {
        for (filter, design) in bank.iter_mut().zip(designs) {
            filter.jump_to(design);
            filter.reset();
        }
    }

    /// Filters one sample, advancing any glide by one sample.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn process_sample(&mut self, x: f32) -> f32 {
        self.process_f64(f64::from(x)) as f32
    }

    /// Filters one sample in `f64` (for cascades), advancing any glide by one sample.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn process_f64(&mut self, x: f64) -> f64 {
        self.advance();
        self.filter.process_f64(x)
    }

    /// Advances any glide by one sample; the coefficients for this sample.
    #[inline]
    fn advance(&mut self) -> &Coefs {
        if self.interval_left == 0 && self.ramp_left > 0 {
            self.start_interval();
        }
        if self.interval_left > 0 {
            self.interval_left -= 1;
            if self.interval_left == 0 {
                self.filter.coefs = self.interval_end;
            } else {
                self.filter.coefs.add(&self.coef_step);
            }
        }
        &self.filter.coefs
    }

    /// Filters `samples` in place.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn process(&mut self, samples: &mut [f32]) {
        for x in samples {
            *x = self.process_sample(*x);
        }
    }

    /// The coefficients in use at this sample.
    pub fn coefs(&self) -> &Coefs {
        self.filter.coefs()
    }

    /// Whether no glide is in progress (the coefficients are the target design's).
    pub fn is_settled(&self) -> bool {
        self.ramp_left == 0 && self.interval_left == 0
    }

    /// See [`Biquad::state_magnitude`].
    pub fn state_magnitude(&self) -> f64 {
        self.filter.state_magnitude()
    }

    fn start_interval(&mut self) {
        let n = DESIGN_INTERVAL.min(self.ramp_left);
        self.ramp_left -= n;
        if self.ramp_left == 0 {
            self.now = self.target;
            self.interval_end = self.target_coefs;
        } else {
            for (now, slope) in self.now.iter_mut().zip(self.slope) {
                *now += slope * n as f64;
            }
            let design = Design {
                kind: self.kind,
                frequency: self.now[0].exp(),
                q: self.now[1].exp(),
                gain_db: self.now[2],
            };
            self.interval_end = Coefs::new(&design, self.sample_rate);
        }
        self.coef_step = self.filter.coefs.lerp_step(&self.interval_end, n as f64);
        self.interval_left = n;
    }

    fn parameters(design: &Design) -> [f64; 3] {
        // Clamp before the logarithms so a hostile value cannot make the ramp NaN; `Coefs::new`
        // applies the sample-rate-dependent clamps.
        let frequency = finite_or(design.frequency, 1_000.0).max(MIN_FREQUENCY);
        let q = finite_or(design.q, 1.0).max(MIN_Q);
        [frequency.ln(), q.ln(), finite_or(design.gain_db, 0.0)]
    }
}

/// The same gliding biquad on two channels (left and right of a stereo effect): one coefficient
/// glide, two states, both channels computed side by side on `[f64; 2]` (one SIMD register).
/// Bit for bit what two [`Smoothed`] given the same designs compute, at about the cost of one.
#[derive(Clone, Debug)]
pub struct SmoothedPair {
    /// The glide (its own filter state is unused).
    glide: Smoothed,
    s1: [f64; 2],
    s2: [f64; 2],
}

impl SmoothedPair {
    /// Both channels at `design`, silent, later changes taking `ramp_seconds`.
    pub fn new(design: &Design, sample_rate: f64, ramp_seconds: f64) -> Self {
        Self {
            glide: Smoothed::new(design, sample_rate, ramp_seconds),
            s1: [0.0; 2],
            s2: [0.0; 2],
        }
    }

    /// See [`Smoothed::set_target`].
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_target(&mut self, design: &Design) {
        self.glide.set_target(design);
    }

    /// See [`Smoothed::jump_to`].
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn jump_to(&mut self, design: &Design) {
        self.glide.jump_to(design);
    }

    /// Clears both channels' state (a glide in progress goes on).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        self.s1 = [0.0; 2];
        self.s2 = [0.0; 2];
    }

    /// Glides each pair of a bank to the design at the same position.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_targets(bank: &mut [Self], designs: &[Design]) {
        for (filter, design) in bank.iter_mut().zip(designs) {
            filter.set_target(design);
        }
    }

    /// Jumps each pair of a bank to the design at the same position and clears its state.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset_to(bank: &mut [Self], designs: &[Design]) {
        for (filter, design) in bank.iter_mut().zip(designs) {
            filter.jump_to(design);
            filter.reset();
        }
    }

    /// Filters one sample of each channel in `f64`, advancing any glide by one sample.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn process_f64(&mut self, x: [f64; 2]) -> [f64; 2] {
        let c = *self.glide.advance();
        let mut y = [0.0; 2];
        for channel in 0..2 {
            y[channel] = c.b0 * x[channel] + self.s1[channel];
            self.s1[channel] = c.b1 * x[channel] - c.a1 * y[channel] + self.s2[channel];
            self.s2[channel] = c.b2 * x[channel] - c.a2 * y[channel];
        }
        y
    }

    /// Filters one sample of each channel, advancing any glide by one sample.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn process_sample(&mut self, x: [f32; 2]) -> [f32; 2] {
        self.process_f64(x.map(f64::from)).map(|y| y as f32)
    }

    /// The coefficients in use at this sample.
    pub fn coefs(&self) -> &Coefs {
        self.glide.coefs()
    }

    /// Whether no glide is in progress.
    pub fn is_settled(&self) -> bool {
        self.glide.is_settled()
    }

    /// The larger magnitude of the state over both channels (see [`Biquad::state_magnitude`]).
    pub fn state_magnitude(&self) -> f64 {
        self.s1
            .iter()
            .chain(&self.s2)
            .fold(0.0f64, |m, s| m.max(s.abs()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{FS, Noise, impulse, response_db, sine};

    const PROBES: [f64; 10] = [
        20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0, 20_000.0,
    ];
    const KINDS: [Kind; 8] = [
        Kind::Lowpass,
        Kind::Highpass,
        Kind::Bandpass,
        Kind::Notch,
        Kind::Peak,
        Kind::LowShelf,
        Kind::HighShelf,
        Kind::Allpass,
    ];
    const IR_LEN: usize = 1 << 17;

    fn impulse_response(design: &Design) -> Vec<f32> {
        let mut ir = impulse(IR_LEN);
        Biquad::from_design(design, FS).process(&mut ir);
        ir
    }

    /// docs/effects.md §1 test 1: the DTFT of the f32 impulse response against the analytic |H| of
    /// the f64 coefficients, every shape, f0 from 20 Hz to 15 kHz, Q 0.5 to 10, gains ±12 dB.
    #[test]
    fn impulse_response_matches_the_analytic_magnitude() {
        let mut worst_above_40 = 0.0f64;
        let mut worst_20_to_40 = 0.0f64;
        let mut probes_checked = 0;
        for kind in KINDS {
            for f0 in [20.0, 30.0, 40.0, 100.0, 1_000.0, 5_000.0, 15_000.0] {
                for q in [0.5, std::f64::consts::FRAC_1_SQRT_2, 2.0, 10.0] {
                    for gain_db in [-12.0, 6.0] {
                        let design = Design::with_gain(kind, f0, q, gain_db);
                        let coefs = Coefs::new(&design, FS);
                        assert!(coefs.is_stable(), "{design:?}");
                        let ir = impulse_response(&design);
                        for f in PROBES {
                            let expected = coefs.magnitude_db(f, FS);
                            if expected <= -60.0 {
                                continue;
                            }
                            let error = (response_db(&ir, f, FS) - expected).abs();
                            probes_checked += 1;
                            if f0 >= 40.0 {
                                worst_above_40 = worst_above_40.max(error);
                            } else {
                                worst_20_to_40 = worst_20_to_40.max(error);
                            }
                        }
                    }
                }
            }
        }
        println!(
            "{probes_checked} probes; worst |error| f0 >= 40 Hz: {worst_above_40:.2e} dB, \
             f0 20-40 Hz: {worst_20_to_40:.2e} dB"
        );
        assert!(worst_above_40 <= 0.01, "{worst_above_40} dB");
        assert!(worst_20_to_40 <= 0.1, "{worst_20_to_40} dB");
    }

    /// The analytic response itself against what the cookbook promises at landmarks, so a typo
    /// in a coefficient formula cannot hide behind a matching impulse response.
    #[test]
    fn designs_meet_the_cookbook_landmarks() {
        for f0 in [40.0, 440.0, 3_000.0, 12_000.0] {
            for q in [0.5, 1.0, 4.0] {
                let at = |kind, gain_db, f| {
                    Coefs::new(&Design::with_gain(kind, f0, q, gain_db), FS).magnitude_db(f, FS)
                };
                let q_db = 20.0 * f64::log10(q);
                assert!((at(Kind::Lowpass, 0.0, f0) - q_db).abs() < 1e-9);
                assert!((at(Kind::Highpass, 0.0, f0) - q_db).abs() < 1e-9);
                assert!(at(Kind::Lowpass, 0.0, 0.0).abs() < 1e-9);
                assert!(at(Kind::Highpass, 0.0, FS / 2.0).abs() < 1e-9);
                assert!(at(Kind::Bandpass, 0.0, f0).abs() < 1e-9);
                assert!(at(Kind::Notch, 0.0, f0) < -200.0);
                for f in PROBES {
                    assert!(at(Kind::Allpass, 0.0, f).abs() < 1e-9);
                }
                for gain_db in [-15.0, -3.0, 6.0, 12.0] {
                    // docs/effects.md §1 test 1: peaking at f0 = gain ± 0.01 dB, shelf at f0 =
                    // gain/2.
                    assert!((at(Kind::Peak, gain_db, f0) - gain_db).abs() < 0.01);
                    assert!((at(Kind::LowShelf, gain_db, f0) - gain_db / 2.0).abs() < 0.01);
                    assert!((at(Kind::HighShelf, gain_db, f0) - gain_db / 2.0).abs() < 0.01);
                    assert!((at(Kind::LowShelf, gain_db, 0.0) - gain_db).abs() < 1e-9);
                    assert!((at(Kind::HighShelf, gain_db, FS / 2.0) - gain_db).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn bandwidth_form_gives_the_cookbook_q() {
        // One octave at a low centre is Q = √2 (the analog relation holds where w0 is small).
        let q = q_from_bandwidth(1.0, angular(100.0, FS));
        assert!((q - std::f64::consts::SQRT_2).abs() < 1e-3, "{q}");
    }

    #[test]
    fn hostile_designs_are_clamped_to_stable_filters() {
        for (frequency, q) in [
            (0.0, 1.0),
            (-5.0, 1.0),
            (FS, 1.0),
            (f64::NAN, 0.0),
            (1e3, -1.0),
        ] {
            for kind in KINDS {
                let coefs = Coefs::new(&Design::with_gain(kind, frequency, q, f64::NAN), FS);
                assert!(coefs.is_stable(), "{kind:?} {frequency} {q}: {coefs:?}");
            }
        }
    }

    /// docs/effects.md §1 test 2: f0 and Q jump to random values every block on noise; the output
    /// stays finite and below +40 dBFS, and decays below −120 dB within 1 s of silence.
    #[test]
    fn random_sweeps_on_noise_stay_stable_and_decay() {
        let mut noise = Noise::new(7);
        for kind in KINDS {
            let mut filter = Smoothed::new(&Design::new(kind, 1_000.0, 1.0), FS, 0.005);
            let mut peak = 0.0f32;
            let mut block = [0.0f32; 64];
            for _ in 0..(2.0 * FS) as usize / block.len() {
                let log_f = 20f64.ln() + (noise.next_f64() * 0.5 + 0.5) * 1_000f64.ln();
                let q = 0.3 * (20.0f64 / 0.3).powf(noise.next_f64() * 0.5 + 0.5);
                let gain_db = noise.next_f64() * 12.0;
                filter.set_target(&Design::with_gain(kind, log_f.exp(), q, gain_db));
                for x in &mut block {
                    *x = noise.next_f64() as f32 * 0.5;
                }
                filter.process(&mut block);
                for &y in &block {
                    assert!(y.is_finite());
                    peak = peak.max(y.abs());
                }
            }
            assert!(peak < 100.0, "{kind:?}: peak {peak}");
            // A resonance at 20 Hz with Q 20 rings at 27 dB/s by physics, so the −120 dB in 1 s
            // applies where the last design's poles allow it; elsewhere the tail must follow
            // the pole radius (with margin for the transient's amplitude).
            let mut tail = vec![0.0f32; FS as usize];
            filter.process(&mut tail);
            let last = tail[tail.len() - 64..]
                .iter()
                .fold(0.0f32, |m, y| m.max(y.abs()));
            let radius = filter.coefs().pole_radius();
            let allowed = 1e-6f64.max(1e3 * f64::from(peak) * radius.powf(FS - 64.0));
            assert!(
                f64::from(last) < allowed,
                "{kind:?}: tail {last}, r {radius}"
            );
        }
    }

    /// A cutoff and Q moved far every 8 blocks of 64 samples while a 1 kHz sine plays. A click
    /// is broadband; the glide only adds sidebands near 1 kHz. So the click detector is an
    /// 8th-order high-pass at 8 kHz (−144 dB at 1 kHz): the smoothed filter's output must stay
    /// below −60 dB there, and the same jumps without smoothing must not (which shows the test
    /// can see a click).
    #[test]
    fn parameter_sweep_during_a_sine_does_not_click() {
        let input = sine(1_000.0, 0.5, 24_000, FS);
        let designs = [
            Design::new(Kind::Lowpass, 300.0, 2.0),
            Design::new(Kind::Lowpass, 12_000.0, 0.7),
            Design::new(Kind::Lowpass, 600.0, 4.0),
            Design::new(Kind::Lowpass, 8_000.0, 1.0),
        ];
        let mut smoothed = Smoothed::new(&designs[0], FS, 0.02);
        let mut jumping = Biquad::from_design(&designs[0], FS);
        let mut out_smoothed = input.clone();
        let mut out_jumping = input.clone();
        for (i, (a, b)) in out_smoothed
            .chunks_mut(64)
            .zip(out_jumping.chunks_mut(64))
            .enumerate()
        {
            let design = designs[(i / 8) % designs.len()];
            smoothed.set_target(&design);
            jumping.set_coefs(Coefs::new(&design, FS));
            smoothed.process(a);
            jumping.process(b);
        }
        let click_peak_db = |signal: &mut [f32]| {
            let detector = Design::new(Kind::Highpass, 8_000.0, std::f64::consts::FRAC_1_SQRT_2);
            for _ in 0..4 {
                Biquad::from_design(&detector, FS).process(signal);
            }
            // Skip the detector's own start-up on the sine's onset.
            let peak = signal[480..].iter().fold(0.0f32, |m, v| m.max(v.abs()));
            20.0 * f64::from(peak).log10()
        };
        let smoothed_db = click_peak_db(&mut out_smoothed);
        let jumping_db = click_peak_db(&mut out_jumping);
        println!("energy above 8 kHz: smoothed {smoothed_db:.1} dB, jumping {jumping_db:.1} dB");
        assert!(smoothed_db < -60.0, "{smoothed_db}");
        assert!(jumping_db > -40.0, "{jumping_db}");
    }

    /// Setting the design already targeted neither disturbs a settled filter nor stretches a
    /// glide in progress.
    #[test]
    fn the_same_target_again_changes_nothing() {
        let start = Design::with_gain(Kind::Peak, 200.0, 1.0, -6.0);
        let end = Design::with_gain(Kind::Peak, 5_000.0, 3.0, 9.0);
        let mut settled = Smoothed::new(&start, FS, 0.01);
        settled.set_target(&start);
        assert!(settled.is_settled());
        assert_eq!(*settled.coefs(), Coefs::new(&start, FS));

        let mut filter = Smoothed::new(&start, FS, 0.01);
        filter.set_target(&end);
        filter.process(&mut [0.0; 240]);
        filter.set_target(&end);
        filter.process(&mut [0.0; 240]);
        assert_eq!(*filter.coefs(), Coefs::new(&end, FS));
        assert!(filter.is_settled());
    }

    #[test]
    fn a_glide_ends_exactly_on_the_target_design() {
        let start = Design::with_gain(Kind::Peak, 200.0, 1.0, -6.0);
        let end = Design::with_gain(Kind::Peak, 5_000.0, 3.0, 9.0);
        let mut filter = Smoothed::new(&start, FS, 0.01);
        filter.set_target(&end);
        let mut block = vec![0.0f32; 479];
        filter.process(&mut block);
        assert_ne!(
            *filter.coefs(),
            Coefs::new(&end, FS),
            "the glide ended early"
        );
        filter.process(&mut [0.0]);
        assert_eq!(*filter.coefs(), Coefs::new(&end, FS));
    }

    /// A pair is two channels of the same glide: bit for bit what two `Smoothed` compute.
    #[test]
    fn a_pair_equals_two_single_filters_bit_for_bit() {
        let start = Design::with_gain(Kind::Peak, 300.0, 0.7, 6.0);
        let end = Design::with_gain(Kind::Peak, 5_000.0, 4.0, -9.0);
        let mut pair = SmoothedPair::new(&start, FS, 0.01);
        let mut singles = [
            Smoothed::new(&start, FS, 0.01),
            Smoothed::new(&start, FS, 0.01),
        ];
        let mut rng = Noise::new(5);
        for n in 0..4_800 {
            if n == 100 {
                pair.set_target(&end);
                singles.iter_mut().for_each(|f| f.set_target(&end));
            }
            let x = [rng.next_f64() as f32, rng.next_f64() as f32];
            let y = pair.process_sample(x);
            assert_eq!(
                y[0].to_bits(),
                singles[0].process_sample(x[0]).to_bits(),
                "{n}"
            );
            assert_eq!(
                y[1].to_bits(),
                singles[1].process_sample(x[1]).to_bits(),
                "{n}"
            );
        }
        assert!(pair.is_settled());
    }
}
