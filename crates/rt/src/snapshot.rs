//! Wait-free snapshots of a small `Copy` value, published by the audio thread and read anywhere.
//!
//! A sequence lock built from atomics only: the value is packed into `N` `u64` words, the writer
//! marks the sequence odd while it stores them and even when done, and a reader retries when the
//! sequence moved under it. Every access is atomic, so there is no data race even on a torn read;
//! the sequence check only decides whether a read is kept.
//!
//! Publishing never waits: if another writer is mid-update (two plugin instances reporting into
//! one process-wide slot), the later one skips that update, which for a snapshot refreshed every
//! block is the right trade. Reading is lock-free and meant for non-real-time threads.

use std::sync::atomic::{AtomicU64, Ordering, fence};

/// A value that can travel through a [`Slot`] as `N` 64-bit words.
pub trait Packed<const N: usize>: Copy {
    /// Packs `self` into words.
    fn pack(&self) -> [u64; N];
    /// Rebuilds the value from words produced by [`Packed::pack`].
    fn unpack(words: [u64; N]) -> Self;
}

/// A single snapshot slot: one writer at a time (others skip), any number of readers.
pub struct Slot<const N: usize> {
    /// Even: stable; odd: a write is in progress; 0: never written.
    seq: AtomicU64,
    words: [AtomicU64; N],
}

/// How many times [`Slot::read`] retries before reporting contention.
const READ_RETRIES: usize = 1_000;

impl<const N: usize> Slot<N> {
    /// An empty slot; usable in a `static`.
    #[allow(clippy::declare_interior_mutable_const)] // used only as an array initialiser
    pub const fn new() -> Self {
        const ZERO: AtomicU64 = AtomicU64::new(0);
        Self {
            seq: AtomicU64::new(0),
            words: [ZERO; N],
        }
    }

    /// Publishes `value`. Returns `false` if another writer held the slot and this update was
    /// skipped.
    ///
    /// Audio thread: must not allocate, lock or block (wait-free: one CAS and `N + 1` stores).
    #[inline]
    pub fn publish<T: Packed<N>>(&self, value: &T) -> bool {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1
            || self
                .seq
                .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        // Orders the odd sequence before the data stores, for readers that fence on acquire.
        fence(Ordering::Release);
        for (slot, word) in self.words.iter().zip(value.pack()) {
            slot.store(word, Ordering::Relaxed);
        }
        self.seq.store(seq + 2, Ordering::Release);
        true
    }

    /// Reads the latest published value; `None` if nothing was published yet or a writer kept
    /// the slot busy for every retry.
    pub fn read<T: Packed<N>>(&self) -> Option<T> {
        for _ in 0..READ_RETRIES {
            let before = self.seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut words = [0u64; N];
            for (word, slot) in words.iter_mut().zip(&self.words) {
                *word = slot.load(Ordering::Relaxed);
            }
            // Orders the data loads before the second sequence load.
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == before {
                return Some(T::unpack(words));
            }
        }
        None
    }

    /// How many updates were published so far.
    pub fn updates(&self) -> u64 {
        self.seq.load(Ordering::Acquire) / 2
    }
}

impl<const N: usize> Default for Slot<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Pair(u64, u64);

    impl Packed<2> for Pair {
        fn pack(&self) -> [u64; 2] {
            [self.0, self.1]
        }
        fn unpack(w: [u64; 2]) -> Self {
            Self(w[0], w[1])
        }
    }

    #[test]
    fn empty_slot_reads_none_then_latest_value() {
        let slot = Slot::<2>::new();
        assert_eq!(slot.read::<Pair>(), None);
        assert!(slot.publish(&Pair(1, 2)));
        assert!(slot.publish(&Pair(3, 4)));
        assert_eq!(slot.read::<Pair>(), Some(Pair(3, 4)));
        assert_eq!(slot.updates(), 2);
    }

    /// A writer hammers pairs whose halves must match; a reader must never see a torn pair.
    #[test]
    fn readers_never_see_a_torn_value() {
        let slot = Arc::new(Slot::<2>::new());
        let writer = {
            let slot = Arc::clone(&slot);
            std::thread::spawn(move || {
                for i in 1..=200_000u64 {
                    slot.publish(&Pair(i, !i));
                }
            })
        };
        let mut seen = 0u64;
        while !writer.is_finished() || seen == 0 {
            if let Some(Pair(a, b)) = slot.read::<Pair>() {
                assert_eq!(b, !a, "torn read: {a} / {b}");
                assert!(a >= seen, "went back in time: {a} after {seen}");
                seen = a;
            }
        }
        writer.join().unwrap();
        assert_eq!(slot.read::<Pair>(), Some(Pair(200_000, !200_000)));
    }

    #[test]
    fn a_second_writer_mid_update_skips_instead_of_waiting() {
        let slot = Slot::<2>::new();
        // Simulate a writer that is mid-update.
        slot.seq.store(1, Ordering::Relaxed);
        assert!(!slot.publish(&Pair(9, 9)));
        slot.seq.store(2, Ordering::Relaxed);
        assert!(slot.publish(&Pair(9, 9)));
        assert_eq!(slot.read::<Pair>(), Some(Pair(9, 9)));
    }
}
