//! The MACs of accepted charges, each remembered for a fixed time, at most a fixed number.
//!
//! Every entry lives the same time and the server's clock only moves forward, so entries
//! expire in the order they were inserted: a queue in insertion order plus a set for lookups
//! is the whole structure (a general TTL or LRU cache crate would add what this does not
//! need: per-entry lifetimes, recency updates).

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use proto::rendezvous::ChargeMac;
use proto::time::Instant;

/// Accepted MACs of the last `ttl`.
#[derive(Debug)]
pub struct ReplayCache {
    ttl: Duration,
    capacity: usize,
    /// Insertion order, with the instant each one expires.
    queue: VecDeque<(Instant, ChargeMac)>,
    set: HashSet<ChargeMac>,
}

impl ReplayCache {
    /// Remembers up to `capacity` MACs for `ttl` each.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            ttl,
            capacity,
            queue: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    /// MACs remembered now (expired ones may still count until the next call that takes
    /// `now`).
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Whether another MAC cannot be remembered (after [`ReplayCache::expire`]).
    pub fn is_full(&self) -> bool {
        self.set.len() >= self.capacity
    }

    /// Whether `mac` was inserted less than the lifetime before `now`.
    pub fn contains(&mut self, now: Instant, mac: &ChargeMac) -> bool {
        self.expire(now);
        self.set.contains(mac)
    }

    /// Remembers `mac` from `now`; `false` (and nothing remembered) if full.
    pub fn insert(&mut self, now: Instant, mac: ChargeMac) -> bool {
        self.expire(now);
        if self.is_full() || !self.set.insert(mac) {
            return false;
        }
        self.queue.push_back((now + self.ttl, mac));
        true
    }

    /// Forgets the MACs whose lifetime ended at or before `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(expires, mac)) = self.queue.front() {
            if expires > now {
                break;
            }
            self.queue.pop_front();
            self.set.remove(&mac);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Instant {
        Instant::from_micros(secs * 1_000_000)
    }

    #[test]
    fn a_mac_is_remembered_for_its_lifetime_then_forgotten() {
        let mut cache = ReplayCache::new(4, Duration::from_secs(300));
        let mac = ChargeMac([1; 32]);
        assert!(cache.insert(at(10), mac));
        assert!(!cache.insert(at(11), mac), "already there");
        assert!(cache.contains(at(309), &mac));
        assert!(!cache.contains(at(310), &mac));
        assert!(cache.is_empty());
    }

    #[test]
    fn capacity_is_a_hard_bound_until_entries_expire() {
        let mut cache = ReplayCache::new(3, Duration::from_secs(300));
        for i in 0..3 {
            assert!(cache.insert(at(i), ChargeMac([i as u8; 32])));
        }
        assert!(cache.is_full());
        assert!(!cache.insert(at(5), ChargeMac([9; 32])));
        assert_eq!(cache.len(), 3);
        // The first expires at 300 s: room for one.
        assert!(cache.insert(at(300), ChargeMac([9; 32])));
        assert_eq!(cache.len(), 3);
        assert!(!cache.contains(at(300), &ChargeMac([0; 32])));
        assert!(cache.contains(at(300), &ChargeMac([1; 32])));
    }
}
