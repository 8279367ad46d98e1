//! Dynamics processors: effects whose gain follows the signal's level.

pub mod compressor;
pub mod limiter;
pub mod noise_gate;
