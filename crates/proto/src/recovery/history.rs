//! The sender's side of loss recovery: the datagrams recently sent on one stream, by sequence
//! number, for resending when a receiver NACKs them.

use std::time::Duration;

use crate::seq::SeqNo;
use crate::time::Instant;

/// Packets recently sent on one stream, by sequence number, for resending.
#[derive(Debug)]
pub struct History {
    slots: Vec<Sent>,
    highest: Option<u64>,
    /// Resends refused (unknown, too soon, or over the per-packet limit).
    pub refused: u64,
    /// Packets resent.
    pub resent: u64,
}

#[derive(Debug, Default)]
struct Sent {
    seq: Option<u64>,
    bytes: Vec<u8>,
    last_resend: Option<Instant>,
    resends: u8,
}

/// Most resends of one packet (the receiver asks at most this often within its budget).
pub const MAX_RESENDS: u8 = 3;

impl History {
    /// Room for `capacity` packets (rounded up to a power of two, at least 16).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(16, 1 << 15).next_power_of_two();
        Self {
            slots: (0..capacity).map(|_| Sent::default()).collect(),
            highest: None,
            refused: 0,
            resent: 0,
        }
    }

    /// Records the encoded datagram of packet `seq` (sequence numbers increase by one).
    pub fn record(&mut self, seq: SeqNo, datagram: &[u8]) {
        let mask = self.slots.len() as u64 - 1;
        let slot = &mut self.slots[(seq.0 & mask) as usize];
        slot.seq = Some(seq.0);
        slot.bytes.clear();
        slot.bytes.extend_from_slice(datagram);
        slot.last_resend = None;
        slot.resends = 0;
        self.highest = Some(self.highest.map_or(seq.0, |h| h.max(seq.0)));
    }

    /// The datagram to resend for the 16-bit sequence `seq16`, if it is still held, was not
    /// resent within `min_interval`, and has not reached [`MAX_RESENDS`].
    pub fn resend(&mut self, now: Instant, seq16: u16, min_interval: Duration) -> Option<&[u8]> {
        let highest = self.highest?;
        let back = (highest as u16).wrapping_sub(seq16);
        let seq = highest.checked_sub(u64::from(back))?;
        let mask = self.slots.len() as u64 - 1;
        let slot = &mut self.slots[(seq & mask) as usize];
        let too_soon = slot
            .last_resend
            .is_some_and(|at| now.saturating_since(at) < min_interval);
        if slot.seq != Some(seq) || too_soon || slot.resends >= MAX_RESENDS {
            self.refused += 1;
            return None;
        }
        slot.last_resend = Some(now);
        slot.resends += 1;
        self.resent += 1;
        Some(&slot.bytes)
    }
}
