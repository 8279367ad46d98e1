//! What the editor shows of a running plugin, published by the threads that know it: the
//! audio thread's levels (atomics, wait-free), and the session's state and report (the control
//! thread's, several times a second). The editor reads without waiting: a report that is being
//! written is skipped for a frame, never waited for.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use engine::controller::Report;

use crate::params::PLAYERS;

/// One signal's level since the editor last looked: its peak and its last chunk's mean square.
///
/// The audio thread only does atomic stores and a `fetch_max` (a non-negative `f32` orders like
/// its bits), the editor a `swap`.
#[derive(Debug, Default)]
pub struct Level {
    peak_bits: AtomicU32,
    mean_square_bits: AtomicU32,
}

impl Level {
    /// Folds one chunk of `left` and `right` in.
    ///
    /// Audio thread: atomics only.
    pub fn measure(&self, left: &[f32], right: &[f32]) {
        let mut peak = 0f32;
        let mut energy = 0f32;
        for (&l, &r) in left.iter().zip(right) {
            peak = peak.max(l.abs()).max(r.abs());
            energy += 0.5 * (l * l + r * r);
        }
        if !peak.is_finite() {
            return;
        }
        let mean_square = energy / left.len().max(1) as f32;
        self.peak_bits.fetch_max(peak.to_bits(), Ordering::Relaxed);
        self.mean_square_bits
            .store(mean_square.to_bits(), Ordering::Relaxed);
    }

    /// Marks the signal silent (a player who left).
    pub fn clear(&self) {
        self.peak_bits.store(0, Ordering::Relaxed);
        self.mean_square_bits.store(0, Ordering::Relaxed);
    }

    /// The peak since the last take (linear) and the last chunk's RMS; resets the peak.
    pub fn take(&self) -> (f32, f32) {
        let peak = f32::from_bits(self.peak_bits.swap(0, Ordering::Relaxed));
        let mean_square = f32::from_bits(self.mean_square_bits.load(Ordering::Relaxed));
        (peak, mean_square.max(0.0).sqrt())
    }
}

/// A remote player's slot as the audio thread last saw it.
#[derive(Debug, Default)]
pub struct PlayerLevel {
    /// The player in the slot (0: empty).
    pub user_id: AtomicU32,
    /// What the slot plays, before its gain in the mix.
    pub level: Level,
}

/// The session as the editor describes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum SessionState {
    /// No room set, or the plugin is not processing.
    #[default]
    Off,
    /// In a room (the report says who is there).
    Running {
        /// The room's name.
        room: String,
        /// Peers the settings name.
        peers_called: usize,
        /// The session's codec, as a player reads it ("Opus 128 kb/s, 2.5 ms").
        codec: String,
        /// Samples per packet.
        frame: u32,
    },
    /// The room could not be joined (why).
    Failed(String),
}

/// Everything the editor shows that is not a parameter.
#[derive(Debug, Default)]
pub struct Status {
    /// The player's own signal as sent (after input gain and the chain).
    pub input: Level,
    /// What the player hears.
    pub output: Level,
    /// Each remote slot's level, by slot (the order of the player gain parameters).
    pub players: [PlayerLevel; PLAYERS],
    /// The host's last block, samples.
    pub block: AtomicU32,
    /// The sample rate the plugin runs at, Hz.
    pub sample_rate: AtomicU32,
    /// The session's state.
    state: Mutex<SessionState>,
    /// The session's last report.
    report: Mutex<Option<Report>>,
    /// Reports published so far.
    reports: AtomicU64,
}

impl Status {
    /// A fresh, shared status.
    pub fn new_shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Sets the session's state (activation, the control thread).
    pub fn set_state(&self, state: SessionState) {
        *lock(&self.state) = state;
        if !matches!(*lock(&self.state), SessionState::Running { .. }) {
            *lock(&self.report) = None;
        }
    }

    /// The session's state, unless it is being written right now.
    pub fn state(&self) -> Option<SessionState> {
        self.state.try_lock().ok().map(|state| state.clone())
    }

    /// Publishes the session's report (control thread).
    pub fn publish(&self, report: Report) {
        *lock(&self.report) = Some(report);
        self.reports.fetch_add(1, Ordering::Relaxed);
    }

    /// The last report, unless it is being written right now (then `None` for this frame, as
    /// when there is none).
    pub fn report(&self) -> Option<Option<Report>> {
        self.report.try_lock().ok().map(|report| report.clone())
    }

    /// How many reports were published.
    pub fn reports(&self) -> u64 {
        self.reports.load(Ordering::Relaxed)
    }
}

/// Locks a mutex shared by non-real-time threads, taking the value as it is if a holder
/// panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_holds_its_peak_until_taken_and_reports_rms() {
        let level = Level::default();
        level.measure(&[0.5, -0.5], &[0.5, -0.5]);
        level.measure(&[0.1, -0.1], &[0.1, -0.1]);
        let (peak, rms) = level.take();
        assert_eq!(peak, 0.5);
        assert!((rms - 0.1).abs() < 1e-6, "{rms}");
        assert_eq!(level.take().0, 0.0);
    }
}
