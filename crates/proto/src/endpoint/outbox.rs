//! What the endpoint has to hand out: datagrams to send (now, or held until a moment), events,
//! and the pool of datagram buffers they travel in, all bounded by [`Limits`].
//!
//! A buffer leaves the pool for each datagram or payload and comes back when the caller has
//! copied it out, so a steady session allocates nothing per packet.

use std::collections::VecDeque;

use super::{Event, Limits, Transmit};
use crate::path::Path;
use crate::time::Instant;

/// Queued outputs and the buffer pool.
#[derive(Debug)]
pub(super) struct Outbox {
    limits: Limits,
    transmits: VecDeque<(Path, Vec<u8>)>,
    /// Datagrams held until their time, in time order (second resend copies): (due, user id,
    /// bytes); sent on the peer's path of that moment, so a copy never follows a path the peer
    /// has left.
    delayed: VecDeque<(Instant, u32, Vec<u8>)>,
    events: VecDeque<Event>,
    spare: Vec<Vec<u8>>,
    /// Transmits dropped (queue full, or larger than the caller's buffer).
    pub(super) transmit_overflow: u64,
    /// Events dropped: queue full.
    pub(super) event_overflow: u64,
}

impl Outbox {
    pub(super) fn new(limits: Limits) -> Self {
        Self {
            limits,
            transmits: VecDeque::new(),
            delayed: VecDeque::new(),
            events: VecDeque::new(),
            spare: Vec::new(),
            transmit_overflow: 0,
            event_overflow: 0,
        }
    }

    /// An empty buffer from the pool.
    pub(super) fn buffer(&mut self) -> Vec<u8> {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf
    }

    /// A pooled buffer holding a copy of `bytes`.
    pub(super) fn copy_of(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut buf = self.buffer();
        buf.extend_from_slice(bytes);
        buf
    }

    /// Returns a buffer to the pool, which holds at most as many as the transmit queue
    /// (buffers enter it from resends, delayed copies and the caller's payloads too; unbounded,
    /// it would grow with every one).
    pub(super) fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < self.limits.max_transmits {
            self.spare.push(buf);
        }
    }

    /// Buffers in the pool.
    #[cfg(test)]
    pub(super) fn pooled(&self) -> usize {
        self.spare.len()
    }

    /// Queues a datagram for `dest` (dropped and counted when the queue is full).
    pub(super) fn send(&mut self, dest: Path, bytes: Vec<u8>) {
        if self.transmits.len() >= self.limits.max_transmits {
            self.transmit_overflow += 1;
            self.recycle(bytes);
            return;
        }
        self.transmits.push_back((dest, bytes));
    }

    /// Holds a copy of a datagram for `user_id` until `at`; false if the hold is full. Holds
    /// are made in time order (a fixed delay after now), so the queue stays sorted.
    pub(super) fn send_later(&mut self, at: Instant, user_id: u32, bytes: &[u8]) -> bool {
        if self.delayed.len() >= self.limits.max_transmits {
            return false;
        }
        let copy = self.copy_of(bytes);
        self.delayed.push_back((at, user_id, copy));
        true
    }

    /// The next held datagram due at `now`: (user id, bytes).
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(u32, Vec<u8>)> {
        if self.delayed.front()?.0 > now {
            return None;
        }
        self.delayed
            .pop_front()
            .map(|(_, user_id, bytes)| (user_id, bytes))
    }

    /// When the next held datagram is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.delayed.front().map(|(at, _, _)| *at)
    }

    pub(super) fn push_event(&mut self, event: Event) {
        if self.events.len() >= self.limits.max_events {
            self.event_overflow += 1;
            if let Event::Audio(audio) = event {
                self.recycle(audio.payload);
            }
            return;
        }
        self.events.push_back(event);
    }

    pub(super) fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next datagram, copied into `buf` (one longer than `buf` is dropped and counted).
    pub(super) fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        loop {
            let (dest, bytes) = self.transmits.pop_front()?;
            let len = bytes.len();
            let fits = buf.len() >= len;
            if fits {
                buf[..len].copy_from_slice(&bytes);
            } else {
                self.transmit_overflow += 1;
            }
            self.recycle(bytes);
            if fits {
                return Some(Transmit { dest, len });
            }
        }
    }
}
