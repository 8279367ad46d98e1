//! OSP Jam's effects and the building blocks they are made of.
//!
//! Nothing here knows about networking. Effects implement [`effect::Effect`]: `prepare` may
//! allocate, `reset` and `process` never do (the tests prove it under
//! [`rt::guard::no_alloc`]). Samples are `f32`; filter state that needs the precision is `f64`.
//!
//! - [`automation`]: what a host can automate: each effect's parameters by index, alloc-free.
//! - [`effect`]: the [`effect::Effect`] trait, its process spec and stereo block, and the
//!   denormal guard.
//! - [`blocks`]: filters, crossovers, delay lines, LFOs, envelopes, smoothers, oversampling.
//! - [`effects`]: the effects, each with its parameter model (the reference JSON keys).
//! - [`chain`]: the effects in chain order and the preset model that configures them.
//! - [`context`]: the room's tempo, beat grid position, key and scale, which effects follow.
//! - [`fingerprint`]: the 64-bit listener fingerprint of what a listener renders (analysis, not
//!   an effect).

#![forbid(unsafe_code)]

pub mod automation;
pub mod blocks;
pub mod chain;
pub mod context;
pub mod effect;
pub mod effects;
pub mod fingerprint;

#[cfg(test)]
mod test_support;

// Tests prove `process` allocation-free under this allocator (debug builds; `rt::guard::no_alloc`
// aborts on any heap use inside it).
#[cfg(all(test, debug_assertions))]
#[global_allocator]
static ALLOC: rt::guard::AllocDisabler = rt::guard::AllocDisabler;
