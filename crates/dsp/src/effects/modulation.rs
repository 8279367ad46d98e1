//! Modulation effects: the signal multiplied or moved by an oscillator.

pub mod frequency_shifter;
pub mod ring_modulator;
