//! Modulation effects: the signal multiplied or moved by an oscillator.

pub mod ring_modulator;
