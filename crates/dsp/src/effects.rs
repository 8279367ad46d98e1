//! The effects, one per file, grouped by category. Each file holds the effect's `Params` (serde
//! names are the reference JSON keys of docs/effects.md §3, defaults and declared ranges beside
//! them) next to its `process`, so the parameter model and the DSP cannot drift apart.
//!
//! - [`amplifier`]: amp simulator and cabinet.
//! - [`delay`]: the delay, the stereo delay and the granular delay.
//! - [`drive`]: overdrive, distortion, exciter (waveshapers at 4× the rate).
//! - [`dynamics`]: compressor, limiter, noise gate, de-esser, transient shaper, multiband.
//! - [`filter`]: the parametric EQ.
//! - [`lofi`]: the bitcrusher.
//! - [`modulation`]: ring modulator, frequency shifter, tremolo, auto-pan, vibrato, chorus,
//!   flanger, phaser, vocal doubler, rotary speaker.
//! - [`pitch`]: pitch correction, harmonizer, formant shifter (YIN + TD-PSOLA).
//! - [`reverb`]: the shimmer reverb.
//! - [`param`]: parameter types shared by several effects (note values).
//! - [`reverb`]: the reverb (Freeverb) and the room simulator.
//! - [`spatial`]: the stereo imager.

pub mod amplifier;
pub mod delay;
pub mod drive;
pub mod dynamics;
pub mod filter;
pub mod lofi;
pub mod modulation;
pub mod param;
pub mod pitch;
pub mod reverb;
pub mod spatial;

#[cfg(test)]
pub(crate) mod conformance;

use std::ops::RangeInclusive;

/// `value` inside `range`, or `default` if it is NaN: what every `Params::clamped` does to
/// each number, so out-of-range and NaN parameters never reach the DSP.
pub(crate) fn clamp_param(value: f32, range: RangeInclusive<f32>, default: f32) -> f32 {
    if value.is_nan() {
        default
    } else {
        value.clamp(*range.start(), *range.end())
    }
}

/// Decibels to a linear gain factor.
pub(crate) fn db_to_gain(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// A linear gain factor (or level) in decibels.
pub(crate) fn gain_to_db(gain: f64) -> f64 {
    20.0 * gain.log10()
}
