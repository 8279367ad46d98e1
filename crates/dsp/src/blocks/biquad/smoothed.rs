//! Biquads whose parameters glide while audio plays: [`Smoothed`] (one channel) and
//! [`SmoothedPair`] (two channels sharing one design).

use super::{Biquad, Coefs, Design, Kind, MIN_FREQUENCY, MIN_Q, finite_or};

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
