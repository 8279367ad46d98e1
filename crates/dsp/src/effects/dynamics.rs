//! Dynamics processors: effects whose gain follows the signal's level.

pub mod compressor;
pub mod de_esser;
pub mod limiter;
pub mod multiband_compressor;
pub mod noise_gate;
pub mod transient_shaper;
