//! The effect chain: all 35 effects of docs/effects.md §3, in chain order, built and prepared
//! up front, and the [`Preset`] model that configures it (the reference preset JSON: an object
//! keyed by effect key, each value a partial parameter object).
//!
//! Registration is one place: the `units!` table in `chain/registry.rs`. Adding an effect = one
//! line there (variant, key, type, module); the chain order comes from [`EFFECT_ORDER`], the full
//! list of the 35 reference keys.
//!
//! Switching: the chain, not the effect, owns each effect's `enabled`. An effect inside the
//! chain always runs as enabled; its [`Slot`] decides whether to call it and crossfades between
//! the input and the effect's output over [`SWITCH_FADE_S`] when it is switched, so a toggle
//! never clicks, whatever the effect does to the signal. Switching on from fully off resets the
//! effect first (an old reverb tail must not come back). A fully-off effect costs nothing and
//! adds no latency: the chain's latency is the sum of the switched-on effects' (a jam wants the
//! fewest samples in the path; the plugin reports a change to the host). The fade is between two
//! timelines when a latent effect switches, a 10 ms blend rather than a jump.

mod preset;
mod registry;
mod slot;
#[cfg(test)]
mod tests;

pub use preset::{Preset, PresetError};
pub use registry::{EFFECT_ORDER, EffectInfo, Unit, UnitParams, display_name};
pub use slot::{SWITCH_FADE_S, Slot};

use crate::context::RoomContext;
use crate::effect::{Block, Effect, ProcessSpec};

/// The chain: every effect, in docs/effects.md §3 order, each in its switching [`Slot`].
#[derive(Debug)]
pub struct Chain {
    slots: Vec<Slot>,
}

impl Chain {
    /// A chain configured by `preset`; call [`Chain::prepare`] before processing.
    pub fn new(preset: &Preset) -> Self {
        Self {
            slots: preset.units.iter().map(Slot::new).collect(),
        }
    }

    /// Prepares every effect and its crossfade for `spec` (may allocate; off the audio thread).
    pub fn prepare(&mut self, spec: &ProcessSpec) {
        for slot in &mut self.slots {
            slot.prepare(spec);
        }
    }

    /// Applies a preset's parameters to the prepared effects (no rebuild); effects switched on
    /// or off crossfade.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_preset(&mut self, preset: &Preset) {
        for (slot, params) in self.slots.iter_mut().zip(&preset.units) {
            slot.set_params(params);
        }
    }

    /// Hands every effect the room's tempo, beat position, key and scale (before each block).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_context(&mut self, context: &RoomContext) {
        for slot in &mut self.slots {
            slot.unit.effect().set_context(context);
        }
    }

    /// The effects, in chain order.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The effects, in chain order, to switch or set one of them.
    pub fn slots_mut(&mut self) -> &mut [Slot] {
        &mut self.slots
    }

    /// The chain's current settings as a preset.
    pub fn preset(&self) -> Preset {
        Preset {
            units: self.slots.iter().map(Slot::params).collect(),
            unknown: Vec::new(),
        }
    }

    /// Total latency of the running effects, in samples.
    pub fn latency(&self) -> usize {
        self.slots.iter().map(Slot::latency).sum()
    }
}

impl Effect for Chain {
    fn prepare(&mut self, spec: &ProcessSpec) {
        Self::prepare(self, spec);
    }

    fn reset(&mut self) {
        for slot in &mut self.slots {
            slot.reset();
        }
    }

    fn process(&mut self, block: &mut Block<'_>) {
        for slot in &mut self.slots {
            slot.process(block);
        }
    }

    fn set_context(&mut self, context: &RoomContext) {
        Self::set_context(self, context);
    }

    fn latency(&self) -> usize {
        Self::latency(self)
    }
}
