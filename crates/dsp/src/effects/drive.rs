//! Drive effects: waveshapers run at 4× the sample rate between fixed and tone filters, and the
//! exciter, which adds shaped harmonics of the treble to the dry signal.

pub mod distortion;
pub mod exciter;
pub mod overdrive;
pub(crate) mod pipeline;
pub mod shaper;
