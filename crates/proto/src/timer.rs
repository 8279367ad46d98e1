//! A fixed table of deadlines indexed by a timer enum: the state machines set and clear named
//! timers, and `poll_timeout` is the minimum of the table (no heap, no timer wheel: a handful of
//! timers per peer).

use crate::time::Instant;

/// A timer enum usable as a [`Table`] index.
pub(crate) trait Kind: Copy + 'static {
    /// Number of timers.
    const COUNT: usize;
    /// Every timer, in index order.
    const ALL: &'static [Self];
    /// This timer's slot.
    fn index(self) -> usize;
}

/// One deadline per timer of `K`; `N` must equal `K::COUNT`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Table<K, const N: usize> {
    deadlines: [Option<Instant>; N],
    kind: std::marker::PhantomData<K>,
}

impl<K: Kind, const N: usize> Table<K, N> {
    /// All timers stopped.
    pub(crate) fn new() -> Self {
        const { assert!(N == K::COUNT) };
        Self {
            deadlines: [None; N],
            kind: std::marker::PhantomData,
        }
    }

    /// Arms `timer` to fire at `at` (replacing any earlier setting).
    pub(crate) fn set(&mut self, timer: K, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    /// Stops `timer`.
    pub(crate) fn stop(&mut self, timer: K) {
        self.deadlines[timer.index()] = None;
    }

    /// Stops every timer.
    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; N];
    }

    /// When `timer` fires, if armed.
    pub(crate) fn get(&self, timer: K) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Stops and returns the first timer (in index order) due at `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<K> {
        let timer = K::ALL
            .iter()
            .copied()
            .find(|t| self.deadlines[t.index()].is_some_and(|at| at <= now))?;
        self.deadlines[timer.index()] = None;
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum T {
        A,
        B,
    }

    impl Kind for T {
        const COUNT: usize = 2;
        const ALL: &'static [Self] = &[Self::A, Self::B];
        fn index(self) -> usize {
            self as usize
        }
    }

    #[test]
    fn the_earliest_deadline_wins_and_fires_once() {
        let mut table = Table::<T, 2>::new();
        assert_eq!(table.next(), None);
        table.set(T::B, Instant::from_micros(5));
        table.set(T::A, Instant::from_micros(9));
        assert_eq!(table.next(), Some(Instant::from_micros(5)));
        assert_eq!(table.pop_expired(Instant::from_micros(4)), None);
        assert_eq!(table.pop_expired(Instant::from_micros(9)), Some(T::A));
        assert_eq!(table.pop_expired(Instant::from_micros(9)), Some(T::B));
        assert_eq!(table.pop_expired(Instant::from_micros(9)), None);
        table.set(T::A, Instant::from_micros(1));
        table.stop(T::A);
        assert_eq!(table.get(T::A), None);
        table.set(T::B, Instant::from_micros(1));
        table.stop_all();
        assert_eq!(table.next(), None);
    }
}
