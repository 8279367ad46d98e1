//! One effect in the chain with its switch: the click-free crossfade when it turns on or off.

use super::registry::{Unit, UnitParams};
use crate::effect::{Block, ProcessSpec};

/// Length of the crossfade when an effect is switched on or off (seconds).
pub const SWITCH_FADE_S: f64 = 0.01;

/// One effect in the chain with its on/off switch and crossfade.
#[derive(Debug)]
pub struct Slot {
    pub(super) unit: Unit,
    /// The parameters the effect runs with (`enabled` forced on; the slot owns the switch).
    params: UnitParams,
    /// Whether the effect is switched on (the fade's destination).
    on: bool,
    /// Samples into the fade, 0 (input only) ..= `fade_len` (effect only).
    position: usize,
    fade_len: usize,
    /// The block's input, kept while fading.
    dry: [Vec<f32>; 2],
}

impl Slot {
    pub(super) fn new(params: &UnitParams) -> Self {
        let mut slot = Self {
            unit: Unit::new(params),
            params: params.clone(),
            on: params.enabled(),
            position: 0,
            fade_len: 1,
            dry: [Vec::new(), Vec::new()],
        };
        slot.position = if slot.on { slot.fade_len } else { 0 };
        slot.params.set_enabled(true);
        slot.unit.set_params(&slot.params);
        slot
    }

    pub(super) fn prepare(&mut self, spec: &ProcessSpec) {
        self.unit.effect().prepare(spec);
        self.fade_len = ((SWITCH_FADE_S * spec.sample_rate).round() as usize).max(1);
        self.position = if self.on { self.fade_len } else { 0 };
        self.dry = [vec![0.0; spec.max_block], vec![0.0; spec.max_block]];
    }

    /// The effect.
    pub fn unit(&self) -> &Unit {
        &self.unit
    }

    /// Its parameters (`enabled` is the switch).
    pub fn params(&self) -> UnitParams {
        let mut params = self.params.clone();
        params.set_enabled(self.on);
        params
    }

    /// Whether the effect is switched on (it may still be fading in).
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Whether the effect runs at all (on, or fading out).
    pub fn is_running(&self) -> bool {
        self.on || self.position > 0
    }

    /// Applies `params`: the effect's settings at once (it glides where it can), `enabled` by
    /// crossfading.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &UnitParams) {
        if params.key() != self.params.key() {
            return;
        }
        self.params.clone_from(params);
        self.params.set_enabled(true);
        self.unit.set_params(&self.params);
        self.switch(params.enabled());
    }

    /// Switches the effect on or off with a crossfade.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn switch(&mut self, on: bool) {
        if on && !self.is_running() {
            self.unit.effect().reset();
        }
        self.on = on;
    }

    /// Latency the effect adds while it runs (samples).
    pub fn latency(&self) -> usize {
        if self.is_running() {
            self.unit.effect_ref().latency()
        } else {
            0
        }
    }

    /// Processes `block`: not at all when off, the effect alone when on, a crossfade between.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn process(&mut self, block: &mut Block<'_>) {
        let target = if self.on { self.fade_len } else { 0 };
        if self.position == target {
            if self.on {
                self.unit.effect().process(block);
            }
            return;
        }
        let frames = block.len();
        let [dry_left, dry_right] = &mut self.dry;
        let (dry_left, dry_right) = (&mut dry_left[..frames], &mut dry_right[..frames]);
        dry_left.copy_from_slice(block.left());
        dry_right.copy_from_slice(block.right());
        self.unit.effect().process(block);
        let step = 1.0 / self.fade_len as f32;
        let (left, right) = block.channels_mut();
        for (((l, r), &dl), &dr) in left
            .iter_mut()
            .zip(right.iter_mut())
            .zip(&*dry_left)
            .zip(&*dry_right)
        {
            if self.position < target {
                self.position += 1;
            } else if self.position > target {
                self.position -= 1;
            }
            // The ends are exact: the effect alone, or the input alone.
            if self.position == self.fade_len {
                continue;
            }
            if self.position == 0 {
                (*l, *r) = (dl, dr);
                continue;
            }
            let gain = self.position as f32 * step;
            *l = dl + gain * (*l - dl);
            *r = dr + gain * (*r - dr);
        }
    }

    pub(super) fn reset(&mut self) {
        self.unit.effect().reset();
        self.position = if self.on { self.fade_len } else { 0 };
    }
}
