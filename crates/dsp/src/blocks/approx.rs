//! Branch-free stand-ins for the libm functions a hot loop would otherwise call once per sample
//! (e^y, log2, and the decibel conversions built on them), accurate far beyond what their users
//! need and a fraction of the cost: no call, no table, a few multiplies.
//!
//! Each reduces its argument with the float's exponent bits (a power of two is exact there) and
//! evaluates a polynomial on the small remainder. They assume finite arguments in their stated
//! ranges (the callers clamp or floor first); out of range they return garbage, not a panic.

use std::f64::consts::{LN_2, LN_10, LOG2_E};

/// 1.5·2⁵²: adding it rounds an `f64` of magnitude < 2⁵¹ to an integer, which then sits in the
/// low bits of the sum's representation.
const ROUNDING_SHIFTER: f64 = 6_755_399_441_055_744.0;

/// e^y for |y| ≤ 700, relative error < 3e-10: with y = k·ln 2 + r, k whole and |r| ≤ ln 2 / 2,
/// e^r comes from its Taylor polynomial to r⁸ and 2^k is built in the exponent bits.
#[inline]
pub fn exp(y: f64) -> f64 {
    let shifted = y * LOG2_E + ROUNDING_SHIFTER;
    let k = shifted - ROUNDING_SHIFTER;
    let r = y - k * LN_2;
    let e_r = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0
                            + r * (1.0 / 720.0 + r * (1.0 / 5_040.0 + r * (1.0 / 40_320.0))))))));
    let k_bits = shifted.to_bits().wrapping_sub(ROUNDING_SHIFTER.to_bits());
    let two_to_k = f64::from_bits(k_bits.wrapping_add(1_023) << 52);
    e_r * two_to_k
}

/// Bits of √½: subtracting them splits x into 2^e · m with m in [√½, √2).
const SQRT_HALF_BITS: u64 = 0x3FE6_A09E_667F_3BCD;

/// log2(1 + t)/t on t in [√½ − 1, √2 − 1], Chebyshev-fitted, highest power first (error 5e-8,
/// so log2 itself is within 2e-8 absolute).
const LOG2_SERIES: [f64; 9] = [
    0.123_109_684_671_914_6,
    -0.205_861_880_512_760_55,
    0.216_078_225_522_437_77,
    -0.239_169_881_401_041_8,
    0.287_903_260_924_501_47,
    -0.360_693_268_135_336_14,
    0.480_910_753_459_412_53,
    -0.721_347_468_249_562_4,
    1.442_695_003_567_982_2,
];

/// log2(x) for positive, normal x (≥ 2.2e-308), within 2e-8 absolute.
#[inline]
pub fn log2(x: f64) -> f64 {
    let bits = x.to_bits();
    let exponent = (bits.wrapping_sub(SQRT_HALF_BITS) as i64) >> 52;
    let m = f64::from_bits(bits.wrapping_sub((exponent << 52) as u64));
    let t = m - 1.0;
    let series = LOG2_SERIES.iter().fold(0.0, |sum, &c| sum * t + c);
    exponent as f64 + t * series
}

/// Decibels to a linear gain (|db| ≤ 6000), relative error < 3e-10.
#[inline]
pub fn db_to_gain(db: f64) -> f64 {
    exp(db * (LN_10 / 20.0))
}

/// A positive, normal linear gain or level in decibels, within 2e-7 dB.
#[inline]
pub fn gain_to_db(gain: f64) -> f64 {
    log2(gain) * (20.0 * std::f64::consts::LOG10_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_3e10_relative() {
        let mut worst = 0.0f64;
        for i in 0..=1_400_000 {
            let y = -700.0 + 1_400.0 * f64::from(i) / 1_400_000.0;
            worst = worst.max((exp(y) / y.exp() - 1.0).abs());
        }
        assert!(worst < 3e-10, "{worst}");
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn log2_is_within_2e8_absolute_and_decibels_round_trip() {
        let mut worst = 0.0f64;
        let mut worst_db = 0.0f64;
        for i in 0..=1_000_000 {
            let x = 10f64.powf(-30.0 + 40.0 * f64::from(i) / 1_000_000.0);
            worst = worst.max((log2(x) - x.log2()).abs());
            worst_db = worst_db.max((gain_to_db(x) - 20.0 * x.log10()).abs());
            let db = -600.0 + 1_200.0 * f64::from(i) / 1_000_000.0;
            assert!(
                (db_to_gain(db) / 10f64.powf(db / 20.0) - 1.0).abs() < 3e-10,
                "{db}"
            );
        }
        println!("log2: worst {worst:.2e}; dB: worst {worst_db:.2e}");
        assert!(worst < 2e-8, "{worst}");
        assert!(worst_db < 2e-7, "{worst_db}");
        assert_eq!(log2(1.0), 0.0);
        assert_eq!(log2(0.25), -2.0);
        assert_eq!(log2(f64::MIN_POSITIVE), -1_022.0);
    }
}
