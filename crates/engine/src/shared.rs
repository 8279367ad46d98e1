//! State the control thread and the audio thread share through atomics: per-slot gains and
//! mutes (set by the host or the UI, read every block) and which player each slot plays.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use rt::atomic::AtomicF32;

use crate::processor::MAX_REMOTES;

/// No player in a slot.
const NO_USER: u64 = u64::MAX;

/// Shared parameters and slot assignments.
#[derive(Debug)]
pub struct Shared {
    gains: [AtomicF32; MAX_REMOTES],
    mutes: [AtomicBool; MAX_REMOTES],
    users: [AtomicU64; MAX_REMOTES],
    /// Publications of the processor's stats so far.
    pub blocks: AtomicU32,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            gains: std::array::from_fn(|_| AtomicF32::new(1.0)),
            mutes: std::array::from_fn(|_| AtomicBool::new(false)),
            users: std::array::from_fn(|_| AtomicU64::new(NO_USER)),
            blocks: AtomicU32::new(0),
        }
    }
}

impl Shared {
    /// Sets slot `index`'s linear gain (clamped to 0..=4, +12 dB).
    pub fn set_gain(&self, index: usize, gain: f32) {
        if let Some(slot) = self.gains.get(index) {
            let gain = if gain.is_finite() {
                gain.clamp(0.0, 4.0)
            } else {
                1.0
            };
            slot.store(gain, Ordering::Relaxed);
        }
    }

    /// Mutes or unmutes slot `index`.
    pub fn set_mute(&self, index: usize, mute: bool) {
        if let Some(slot) = self.mutes.get(index) {
            slot.store(mute, Ordering::Relaxed);
        }
    }

    /// The gain slot `index` plays at now (0 when muted).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn gain(&self, index: usize) -> f32 {
        match (self.gains.get(index), self.mutes.get(index)) {
            (Some(gain), Some(mute)) if !mute.load(Ordering::Relaxed) => {
                gain.load(Ordering::Relaxed)
            }
            _ => 0.0,
        }
    }

    /// Records which player slot `index` plays.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_slot_user(&self, index: usize, user_id: Option<u32>) {
        if let Some(slot) = self.users.get(index) {
            slot.store(user_id.map_or(NO_USER, u64::from), Ordering::Relaxed);
        }
    }

    /// The player slot `index` plays, if any.
    pub fn slot_user(&self, index: usize) -> Option<u32> {
        let user = self.users.get(index)?.load(Ordering::Relaxed);
        (user != NO_USER).then_some(user as u32)
    }
}
