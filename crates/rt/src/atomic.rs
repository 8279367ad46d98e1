//! Atomic floating-point values for parameters shared between threads.
//!
//! Re-exported from `atomic_float`: a plain `AtomicU32`/`AtomicU64` bit cast, lock-free on every
//! platform we ship for.

pub use atomic_float::{AtomicF32, AtomicF64};
