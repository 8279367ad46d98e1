//! Delays: the tape/analog/digital echo, the stereo delay and the granular delay.

// The file is named after the effect's key, as every effect's is; the category shares the name.
#[allow(clippy::module_inception)]
pub mod delay;
pub mod granular_delay;
pub mod stereo_delay;
