//! Datagrams in flight between nodes: delivered in order of arrival time, datagrams due at
//! the same instant in the order they were sent (so a run replays exactly).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Duration;

/// One datagram on its way.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Datagram {
    /// When it arrives.
    pub at: Duration,
    /// Send order: ties at the same instant deliver in the order sent.
    order: u64,
    /// The receiving node's index.
    pub to: usize,
    /// The sender's address.
    pub from: SocketAddr,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// The datagrams on their way, earliest arrival first.
#[derive(Debug, Default)]
pub struct InFlight {
    heap: BinaryHeap<Reverse<Datagram>>,
    sent: u64,
}

impl InFlight {
    /// Nothing in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `data` from `from` to node `to`, arriving at `at`.
    pub fn push(&mut self, at: Duration, to: usize, from: SocketAddr, data: Vec<u8>) {
        self.sent += 1;
        self.heap.push(Reverse(Datagram {
            at,
            order: self.sent,
            to,
            from,
            data,
        }));
    }

    /// When the next datagram arrives.
    pub fn next_arrival(&self) -> Option<Duration> {
        self.heap.peek().map(|Reverse(d)| d.at)
    }

    /// The next datagram that has arrived by `now`.
    pub fn pop_arrived(&mut self, now: Duration) -> Option<Datagram> {
        if self.next_arrival()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(d)| d)
    }
}
