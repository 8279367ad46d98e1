//! Lo-fi effects: deliberate degradation of the signal's resolution in time and amplitude.

pub mod bitcrusher;
