//! State the control thread and the audio thread share through atomics: per-slot gains and
//! mutes, set by the host or the UI and read every block.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rt::atomic::AtomicF32;

/// Remote streams the processor can play at once (7 players with two tracks each, and room):
/// the slots whose parameters are shared here.
pub const MAX_REMOTES: usize = 16;

/// Shared per-slot parameters, the audio thread's sample clock and the room's grid.
pub struct Shared {
    gains: [AtomicF32; MAX_REMOTES],
    mutes: [AtomicBool; MAX_REMOTES],
    /// The sample clock at the start of the block the audio thread is processing.
    sample_clock: AtomicU64,
    /// The room's beat grid on that clock (control thread → audio thread).
    pub(crate) grid: crate::grid::Shared,
    /// Session-timeline ticks minus local 48 kHz ticks (the sample clock × 48 kHz / rate), as
    /// f64 bits; NaN until the session clock is known.
    session_offset: AtomicU64,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            gains: std::array::from_fn(|_| AtomicF32::new(1.0)),
            mutes: std::array::from_fn(|_| AtomicBool::new(false)),
            sample_clock: AtomicU64::new(0),
            grid: crate::grid::Shared::new(),
            session_offset: AtomicU64::new(f64::NAN.to_bits()),
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("sample_clock", &self.sample_clock())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Publishes the sample clock at a block start.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_sample_clock(&self, samples: u64) {
        self.sample_clock.store(samples, Ordering::Release);
    }

    /// The sample clock at the start of the newest block.
    pub fn sample_clock(&self) -> u64 {
        self.sample_clock.load(Ordering::Acquire)
    }

    /// Publishes where the session timeline is on the local clock: session ticks = local
    /// 48 kHz ticks + `offset`.
    pub fn set_session_offset(&self, offset: f64) {
        self.session_offset
            .store(offset.to_bits(), Ordering::Relaxed);
    }

    /// Session ticks minus local 48 kHz ticks, once the control thread knows the session clock.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn session_offset(&self) -> Option<f64> {
        let offset = f64::from_bits(self.session_offset.load(Ordering::Relaxed));
        offset.is_finite().then_some(offset)
    }

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
}
