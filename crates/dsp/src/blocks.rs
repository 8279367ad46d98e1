//! Building blocks the effects are made of. Each allocates only when built or prepared; every
//! per-sample and per-block method is allocation-free and safe on the audio thread.

pub mod biquad;
pub mod crossover;
pub mod dc;
pub mod delay;
pub mod envelope;
pub mod lfo;
pub mod oversample;
pub mod peak_hold;
pub mod smoother;
