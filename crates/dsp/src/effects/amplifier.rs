//! Amp and cabinet simulation: a preamp with tone stack (waveshaper at 4× the rate) and the
//! IIR model of a speaker cabinet and its microphone.

pub mod amp;
pub mod cabinet;
