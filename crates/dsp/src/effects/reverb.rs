//! Reverbs: the shimmer reverb (a feedback delay network with a pitch shifter in its loop).

pub mod shimmer_reverb;
