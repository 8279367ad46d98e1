//! Reverbs: the Freeverb-style algorithmic reverb, the room simulator, and the shimmer reverb (a
//! feedback delay network with a pitch shifter in its loop).

// The file is named after the effect's key, as every effect's is; the category shares the name.
#[allow(clippy::module_inception)]
pub mod reverb;
pub mod room_simulator;
pub mod shimmer_reverb;
