//! The static waveshaping curves of the drive and amp effects. Each maps a driven sample to an
//! output within ±1 and is smooth (at least C1), so its harmonics fall off fast enough for 4×
//! oversampling to keep the aliases below −60 dB (docs/effects.md §1 test 19).

use crate::blocks::approx::exp;

/// Input magnitude beyond which `tanh` is ±1 to `f32` precision (tanh(20) = 1 − 8e-18); the
/// clamp also keeps the exponential far from overflow.
const TANH_SATURATION: f64 = 20.0;

/// Below this magnitude tanh is its Taylor series x − x³/3 + 2x⁵/15 − 17x⁷/315 (relative error
/// < 3e-10 at the limit).
const TANH_SERIES_LIMIT: f64 = 0.1;

/// tanh in `f64` from one exponential, within 2e-7 of the true value: (e − 1)/(e + 1) with
/// e = e^{2x}, and the Taylor series near 0, where `e − 1` cancels (in `f32` a −100 dBFS input
/// would come out with a relative error of several per cent).
///
/// Straight-line code with no call and no branch (both forms are computed and one selected; the
/// exponential is [`exp`], not libm's): 32 instructions a sample against about 78 with
/// libm's `exp` and a branch (cachegrind). The waveshapers run it at 4× the sample rate.
#[inline]
pub fn tanh(x: f32) -> f32 {
    let x = f64::from(x).clamp(-TANH_SATURATION, TANH_SATURATION);
    let x2 = x * x;
    let series = x * (1.0 - x2 * (1.0 / 3.0 - x2 * (2.0 / 15.0 - x2 * (17.0 / 315.0))));
    let e = exp(2.0 * x);
    let full = (e - 1.0) / (e + 1.0);
    (if x.abs() < TANH_SERIES_LIMIT {
        series
    } else {
        full
    }) as f32
}

/// tanh for positive input, a softer, lower ceiling for negative input: `c·tanh(x/c)` with
/// `c = negative_ceiling` (< 1 clips the negative half earlier). Both halves have slope 1 and
/// no curvature at 0, so the joint is smooth; the asymmetry adds even harmonics (and a DC
/// offset, which the effects remove after the shaper).
#[inline]
pub fn asymmetric_tanh(x: f32, negative_ceiling: f32) -> f32 {
    // One tanh, its scaling selected (not two behind a branch): the loop stays SIMD.
    let (scale, ceiling) = if x >= 0.0 {
        (1.0, 1.0)
    } else {
        (1.0 / negative_ceiling, negative_ceiling)
    };
    ceiling * tanh(x * scale)
}

/// Half width of the parabolic knee of [`hard_clip`].
const CLIP_KNEE: f32 = 0.25;

/// A hard clip at ±1 with a parabolic knee from 1 − k to 1 + k (k = 0.25): linear below the
/// knee, flat above it, slope continuous (C1), so its harmonics fall off as 1/n³ rather than
/// the 1/n² of a bare clip, which 4× oversampling could not clean up.
#[inline]
pub fn hard_clip(x: f32) -> f32 {
    let magnitude = x.abs();
    let shaped = if magnitude <= 1.0 - CLIP_KNEE {
        magnitude
    } else if magnitude < 1.0 + CLIP_KNEE {
        let into_knee = magnitude - (1.0 - CLIP_KNEE);
        magnitude - into_knee * into_knee / (4.0 * CLIP_KNEE)
    } else {
        1.0
    };
    shaped.copysign(x)
}

/// The negative ceiling of [`fuzz`]: the negative half clips at 0.6, the positive at 1.
const FUZZ_NEGATIVE_CEILING: f32 = 0.6;

/// Asymmetric hard clipping: [`hard_clip`] on the positive half, the same knee scaled to a
/// ceiling of 0.6 on the negative half (a transistor fuzz clips one polarity first).
#[inline]
pub fn fuzz(x: f32) -> f32 {
    if x >= 0.0 {
        hard_clip(x)
    } else {
        FUZZ_NEGATIVE_CEILING * hard_clip(x / FUZZ_NEGATIVE_CEILING)
    }
}

/// A smoothed full-wave rectifier into a soft clip: `tanh(x·tanh(x/s))`, s = `softness` ≥ 1.
/// `x·tanh(x/s)` is |x| away from zero and x²/s near it, so the curve is analytic (a bare |x|
/// has a corner whose harmonics fall off as 1/n² and alias); the output is even in x, so a
/// tone comes out an octave up. Driven hard, the output is a train of notches at the zero
/// crossings whose width shrinks with the drive; a softness that grows with the drive keeps
/// them wide enough for 4× oversampling.
#[inline]
pub fn rectifier(x: f32, softness: f32) -> f32 {
    tanh(x * tanh(x / softness.max(1.0)))
}

/// Applies `curve` to every sample of `samples` in place (the caller picks the curve once per
/// block, so the loop has no dispatch in it).
#[inline]
pub fn apply(samples: &mut [f32], curve: impl Fn(f32) -> f32) {
    samples.iter_mut().for_each(|x| *x = curve(*x));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_tanh_is_within_2e7_of_the_true_value_and_exact_in_relative_terms_near_zero() {
        let mut worst = 0.0f64;
        for i in 0..=400_000 {
            let x = -25.0 + 50.0 * f64::from(i) / 400_000.0;
            worst = worst.max((f64::from(tanh(x as f32)) - (x as f32 as f64).tanh()).abs());
        }
        assert!(worst < 2e-7, "{worst}");
        for x in [1e-5f32, -3e-8, 1e-20] {
            assert!((tanh(x) / x - 1.0).abs() < 1e-6, "{x}");
        }
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(1e4), 1.0);
    }

    #[test]
    fn curves_are_bounded_continuous_and_silent_at_zero() {
        type Curve = fn(f32) -> f32;
        let curves: [(&str, Curve); 5] = [
            ("tanh", tanh),
            ("asymmetric", |x| asymmetric_tanh(x, 0.7)),
            ("hard", hard_clip),
            ("fuzz", fuzz),
            ("rectifier", |x| rectifier(x, 1.0)),
        ];
        for (name, curve) in curves {
            assert_eq!(curve(0.0), 0.0, "{name}");
            let mut previous = curve(-50.0);
            for i in 1..=100_000 {
                let x = -50.0 + 100.0 * i as f32 / 100_000.0;
                let y = curve(x);
                assert!(y.abs() <= 1.0, "{name} {x} {y}");
                // Steepest slope is 1 (or 2·x for the rectifier near 1): steps of 1e-3 in x
                // move the output by little.
                assert!((y - previous).abs() < 3e-3, "{name} jumps at {x}");
                previous = y;
            }
        }
        // Knee joints of the hard clip meet with matching slope.
        let slope = |x: f32| (hard_clip(x + 1e-3) - hard_clip(x - 1e-3)) / 2e-3;
        assert!((slope(0.75) - 1.0).abs() < 2e-3);
        assert!(slope(1.25).abs() < 2e-3);
        assert_eq!(hard_clip(-3.0), -1.0);
        assert_eq!(fuzz(-3.0), -0.6);
    }
}
