//! Loss recovery for one media stream: the sender's [`History`] (resend on NACK) and the
//! receiver's [`Receiver`] (gap tracking, XOR-parity repair, NACK scheduling against playout
//! deadlines, and the `Missing` verdict when nothing arrived in time).
//!
//! Policy (`docs/protocol.md` §4.4): a lost packet is asked for at once, and again after a short
//! repeat interval and then once per round trip, but only while a resend can still arrive before
//! the packet's playout deadline (`deadline − now > RTT + one packet`). Parity repairs any group
//! with exactly one packet missing, whenever the parity arrives. Whatever is still absent at its
//! deadline is reported missing, so the player conceals it (PLC) instead of waiting.
//!
//! Network thread; fixed size after `new` (slots reuse their buffers).

use std::time::Duration;

use crate::ostp::packet::Header;
use crate::ostp::parity::{Parity, Recovered};
use crate::seq::SeqNo;
use crate::time::Instant;

// ---------------------------------------------------------------------------------------------
// Sender
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Receiver
// ---------------------------------------------------------------------------------------------

/// Receiver timing and limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Samples per packet at 48 kHz (from the stream announcement).
    pub frame_ticks: u32,
    /// Playout delay beyond the fastest observed transit: the jitter buffer's target (the
    /// engine updates it as the buffer adapts).
    pub playout_delay: Duration,
    /// Wait before repeating a NACK that got no answer, for the first repeat (later repeats wait
    /// one round trip).
    pub nack_repeat: Duration,
    /// NACKs per missing packet at most.
    pub max_nacks: u8,
    /// A packet not arrived this long after its earliest expected arrival (the minimum transit)
    /// is declared missing without waiting for a later packet to reveal the gap: inside a loss
    /// burst, waiting for the burst's end would spend the resend budget. The floor of the wait:
    /// it grows with the measured spread of transit times (see [`Receiver::overdue_wait`]), so
    /// a jittery path is not flooded with NACKs for packets that are only slow.
    pub overdue_after: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            frame_ticks: 120,
            playout_delay: Duration::from_millis(20),
            nack_repeat: Duration::from_millis(5),
            max_nacks: 3,
            overdue_after: Duration::from_millis(2),
        }
    }
}

/// How a packet reached the receiver. Our senders mark resends (payload type
/// [`RESEND_PAYLOAD_TYPE`](crate::ostp::packet::RESEND_PAYLOAD_TYPE)), so the receiver knows
/// which copy is the original and counts as lost exactly the packets whose original never came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The original transmission.
    Original,
    /// Rebuilt from parity.
    Parity,
    /// A resend answering our NACK.
    Resend,
}

/// What became of one received media packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// New and before its deadline.
    Accepted(Via),
    /// Already held (received or rebuilt): drop.
    Duplicate,
    /// After its playout deadline: drop (counted as late).
    Late,
    /// Too far from the current window (a restart or a forged sequence): the receiver resynced
    /// to it; accepted.
    Resynced,
}

/// Receiver counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets detected missing (a gap in sequence numbers).
    pub lost: u64,
    /// Of those, rebuilt from parity in time.
    pub repaired_parity: u64,
    /// Of those, arrived after a NACK in time.
    pub repaired_resend: u64,
    /// Reported missing at their deadline.
    pub missing: u64,
    /// Counted lost and still awaited now (a gauge): every loss is repaired, undone, missing
    /// or pending, so `lost = repaired_parity + repaired_resend + missing + pending`.
    pub pending: u64,
    /// Originals that arrived after their deadline.
    pub late: u64,
    /// Resends that arrived after the deadline (the budget uses the floor round trip, so a
    /// resend delayed by jitter can miss: it costs bandwidth, never playout).
    pub late_resend: u64,
    /// NACK entries sent.
    pub nacked: u64,
    /// Gaps too large to repair (stream restart or jump).
    pub resyncs: u64,
    /// Parity packets that could not be used (malformed, or no single loss in their group).
    pub parity_unused: u64,
    /// Packets rebuilt from parity whose original arrived afterwards (not lost, only slower
    /// than their parity; not counted in `lost` or `repaired_parity`).
    pub parity_early: u64,
    /// NACKed packets whose original arrived after all: only slow, not counted as lost.
    pub spurious_nacks: u64,
}

/// Packets held for parity repair and duplicate suppression.
const RING: usize = 256;
/// Missing packets tracked at once; a larger gap is a discontinuity.
const MAX_PENDING: usize = 64;
/// Gaps larger than this are a discontinuity, not loss.
pub const MAX_GAP: u64 = 32;
/// Parity packets held while their group completes.
const PARITY_SLOTS: usize = 8;
/// Packets over which the transit excess statistics are smoothed (an exponential average).
const EXCESS_SMOOTHING: f64 = 64.0;
/// Transit minimum window half (two halves: the minimum follows drift and path changes).
const TRANSIT_WINDOW: Duration = Duration::from_millis(250);
/// Buckets of [`TRANSIT_WINDOW`] kept: the oldest and the newest give the floor's rise (4 s).
const TRANSIT_BUCKETS: usize = 16;
/// Newest buckets the floor itself is the minimum of (0.25-0.5 s): a device paced by sleeps
/// runs slow by a varying amount and catches up now and then; an older minimum (a catch-up's
/// short transit) would make every later packet look late.
const FLOOR_BUCKETS: usize = 2;

#[derive(Clone, Debug, Default)]
struct Slot {
    seq: Option<u64>,
    /// How it came; `None` once its original arrived after a repair (the loss undone).
    via: Option<Via>,
    header: Header,
    timestamp: u64,
    payload: Vec<u8>,
}

/// A packet given up as missing, remembered for a while (a slot per sequence number modulo
/// [`RING`]) in case its original turns up late.
#[derive(Clone, Copy, Debug, Default)]
struct Missed {
    seq: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    seq: u64,
    deadline: Instant,
    next_nack: Instant,
    nacks: u8,
    /// When the first NACK for it went out.
    asked: Option<Instant>,
}

#[derive(Clone, Debug, Default)]
struct HeldParity {
    base: u64,
    count: u8,
    bytes: Vec<u8>,
}

/// The receive side of one stream's loss recovery.
#[derive(Debug)]
pub struct Receiver {
    config: Config,
    rtt: Duration,
    slots: Vec<Slot>,
    highest: Option<u64>,
    highest_timestamp: u64,
    /// The highest sequence actually received (`highest` may be ahead of it: declared overdue).
    received_highest: u64,
    pending: Vec<Pending>,
    parities: Vec<HeldParity>,
    next_parity: usize,
    /// Minimum of (arrival − media time) in µs over each of the last [`TRANSIT_BUCKETS`]
    /// stretches of [`TRANSIT_WINDOW`] (newest first), with the arrival (µs) it was seen at.
    transit: [Option<(i64, i64)>; TRANSIT_BUCKETS],
    transit_window_start: Instant,
    /// How fast the transit floor rises (µs per µs, ≥ 0): a sender whose sample clock runs
    /// slower than our clock makes every packet's transit longer than the last (a 1 % slow
    /// device: 10 ms more each second). An old minimum would then call every packet overdue.
    transit_slope: f64,
    /// The latest arrival, µs: where the floor is extrapolated to.
    last_arrival: i64,
    /// Smoothed transit beyond the minimum, and its mean deviation (µs).
    excess_mean: f64,
    excess_deviation: f64,
    ready: Vec<u64>,
    missing: Vec<u64>,
    missed: Vec<Missed>,
    stats: Stats,
    scratch: Vec<u8>,
}

impl Receiver {
    /// An idle receiver.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            rtt: Duration::from_millis(100),
            slots: vec![Slot::default(); RING],
            highest: None,
            highest_timestamp: 0,
            received_highest: 0,
            pending: Vec::with_capacity(MAX_PENDING),
            parities: vec![HeldParity::default(); PARITY_SLOTS],
            next_parity: 0,
            transit: [None; TRANSIT_BUCKETS],
            transit_window_start: Instant::ZERO,
            transit_slope: 0.0,
            last_arrival: 0,
            excess_mean: 0.0,
            excess_deviation: 0.0,
            ready: Vec::with_capacity(RING),
            missing: Vec::with_capacity(MAX_PENDING),
            missed: vec![Missed::default(); RING],
            stats: Stats::default(),
            scratch: vec![0; crate::ostp::MAX_DATAGRAM],
        }
    }

    /// Updates the round-trip estimate used by the NACK budget.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// Updates the playout delay (the jitter buffer's current target).
    pub fn set_playout_delay(&mut self, delay: Duration) {
        self.config.playout_delay = delay;
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            pending: self.pending.len() as u64,
            ..self.stats
        }
    }

    /// The local instant the packet with media timestamp `timestamp` (48 kHz, extended) is due
    /// for playout, once a transit has been observed.
    pub fn deadline(&self, timestamp: u64) -> Option<Instant> {
        let local = self.earliest_arrival(timestamp)?;
        let due = u64::try_from(local).unwrap_or(0);
        Some(Instant::from_micros(due) + self.config.playout_delay)
    }

    /// Takes one media packet that passed the stream's inbound checks: the original
    /// ([`Via::Original`]) or a resend ([`Via::Resend`]; [`Via::Parity`] is never an arrival and
    /// counts as an original).
    pub fn handle_packet(
        &mut self,
        now: Instant,
        seq: SeqNo,
        timestamp: u64,
        header: &Header,
        payload: &[u8],
        via: Via,
    ) -> Received {
        let resend = via == Via::Resend;
        if !resend {
            // Resends left the sender late; only originals measure the path.
            self.observe_transit(now, timestamp);
        }
        let seq = seq.0;
        if self.holds(seq) {
            self.handle_duplicate(SeqNo(seq), via);
            return Received::Duplicate;
        }
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            self.highest_timestamp = timestamp;
            self.received_highest = seq;
            self.store(seq, timestamp, header, payload, via);
            return Received::Accepted(via);
        };
        self.received_highest = self.received_highest.max(seq);
        if highest.saturating_sub(seq) >= RING as u64 / 2 {
            // Far behind the window: long past any deadline.
            self.stats.late += 1;
            return Received::Late;
        }
        if seq > highest {
            let gap = seq - highest - 1;
            if gap > MAX_GAP {
                self.resync(seq, timestamp);
                self.store(seq, timestamp, header, payload, via);
                return Received::Resynced;
            }
            self.advance(now, seq, timestamp);
        }
        let was_pending = self.take_pending(seq);
        if was_pending.is_none() && self.was_missed(seq) {
            // Given up on (its deadline passed): an original undoes the loss, a resend is late.
            if resend {
                self.stats.late_resend += 1;
            } else {
                self.undo_missed(seq);
            }
            return Received::Late;
        }
        if self.deadline(timestamp).is_some_and(|due| now > due) {
            match (was_pending, resend) {
                // A resend after the deadline: the loss stands, and its moment is gone. The
                // caller forwards the packet for the player to judge; the count says missing.
                (Some(_), true) => {
                    self.stats.late_resend += 1;
                    self.stats.missing += 1;
                    self.remember_missed(seq);
                }
                (Some(_), false) => {
                    self.stats.late += 1;
                    self.stats.lost = self.stats.lost.saturating_sub(1);
                }
                (None, true) => self.stats.late_resend += 1,
                (None, false) => self.stats.late += 1,
            }
            return Received::Late;
        }
        self.store(seq, timestamp, header, payload, via);
        match (was_pending, resend) {
            (Some(_), true) => {
                self.stats.repaired_resend += 1;
                Received::Accepted(Via::Resend)
            }
            // Counted lost (revealed by a gap, or overdue), but the original came: only slow.
            (Some(p), false) => {
                self.stats.lost = self.stats.lost.saturating_sub(1);
                if p.asked.is_some() {
                    self.stats.spurious_nacks += 1;
                }
                Received::Accepted(Via::Original)
            }
            (None, _) => Received::Accepted(via),
        }
    }

    /// Another copy of packet `seq` arrived (the caller's duplicate filter saw it, or this
    /// receiver holds it). An original after its resend or its parity repair proves the packet
    /// was never lost: the counters say so and this returns true. Resends and network
    /// duplicates change nothing.
    pub fn handle_duplicate(&mut self, seq: SeqNo, via: Via) -> bool {
        if via == Via::Resend {
            return false;
        }
        let seq = seq.0;
        if self.was_missed(seq) {
            self.undo_missed(seq);
            return true;
        }
        let slot = &mut self.slots[seq as usize % RING];
        if slot.seq != Some(seq) {
            return false;
        }
        match slot.via {
            Some(Via::Resend) => {
                slot.via = None;
                self.stats.repaired_resend = self.stats.repaired_resend.saturating_sub(1);
                self.stats.spurious_nacks += 1;
            }
            Some(Via::Parity) => {
                slot.via = None;
                self.stats.repaired_parity = self.stats.repaired_parity.saturating_sub(1);
                self.stats.parity_early += 1;
            }
            Some(Via::Original) | None => return false,
        }
        self.stats.lost = self.stats.lost.saturating_sub(1);
        true
    }

    /// Takes one parity packet for this stream (already parsed), repairing its group if exactly
    /// one packet is missing. Repaired packets come out of [`Receiver::poll_repaired`].
    pub fn handle_parity(&mut self, now: Instant, parity: &Parity<'_>, raw_payload: &[u8]) {
        let Some(highest) = self.highest else {
            self.stats.parity_unused += 1;
            return;
        };
        // Place the 32-bit base next to our 64-bit window.
        let back = (highest as u32).wrapping_sub(parity.base_seq);
        let Some(base) = highest.checked_sub(u64::from(back)) else {
            self.stats.parity_unused += 1;
            return;
        };
        if back as u64 > RING as u64 / 2 {
            self.stats.parity_unused += 1;
            return;
        }
        // Parity follows its group's last packet: if that packet was lost, the parity is the
        // first sign of it.
        let last = base + u64::from(parity.count) - 1;
        if last > highest && last - highest <= MAX_GAP {
            let frame = u64::from(self.config.frame_ticks);
            let last_ts = self.highest_timestamp + (last - highest) * frame;
            self.advance(now, last, last_ts);
            // `last` itself is missing too.
            self.track_missing(now, last, last_ts);
        }
        let held = &mut self.parities[self.next_parity];
        held.base = base;
        held.count = parity.count;
        held.bytes.clear();
        held.bytes.extend_from_slice(raw_payload);
        let index = self.next_parity;
        self.next_parity = (self.next_parity + 1) % PARITY_SLOTS;
        // If not repairable yet, it stays held: a group whose packets are still in flight may
        // become repairable when they arrive.
        self.try_repair(index);
    }

    /// Advances timers: overdue packets, NACK repeats and deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((seq, timestamp, due)) = self.next_overdue() {
            if now < due {
                break;
            }
            self.track_missing(now, seq, timestamp);
            self.highest = Some(seq);
            self.highest_timestamp = timestamp;
        }
        let mut i = 0;
        while i < self.pending.len() {
            if now >= self.pending[i].deadline {
                let p = self.pending.swap_remove(i);
                self.declare_missing(&p);
            } else {
                i += 1;
            }
        }
    }

    /// The earliest NACK, deadline or overdue packet.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let overdue = self.next_overdue().map(|(_, _, due)| due);
        self.pending
            .iter()
            .map(|p| {
                if p.nacks < self.config.max_nacks {
                    p.next_nack.min(p.deadline)
                } else {
                    p.deadline
                }
            })
            .chain(overdue)
            .min()
    }

    /// The next packet that may be declared overdue: (sequence, expected media timestamp, when).
    fn next_overdue(&self) -> Option<(u64, u64, Instant)> {
        let highest = self.highest?;
        // Declare packets overdue for one playout delay past the last arrival (a loss burst
        // that long is still worth asking for); beyond, the sender has paused (muted, stopped),
        // and nothing it did not send is asked for.
        let frame = ticks_to_duration(self.config.frame_ticks)
            .as_micros()
            .max(1);
        let span = (self.config.playout_delay.as_micros() / frame + 1) as u64;
        if highest - self.received_highest >= span.min(MAX_GAP) {
            return None;
        }
        let timestamp = self.highest_timestamp + u64::from(self.config.frame_ticks);
        let earliest = self.deadline(timestamp)? - self.config.playout_delay;
        Some((highest + 1, timestamp, earliest + self.overdue_wait()))
    }

    /// Writes the 16-bit sequence numbers to NACK now into `out` (increasing order) and returns
    /// how many; each is NACKed only while a resend can still make its deadline.
    pub fn poll_nacks(&mut self, now: Instant, out: &mut [u16; MAX_GAP as usize]) -> usize {
        let budget = self.rtt + ticks_to_duration(self.config.frame_ticks);
        let mut n = 0;
        self.pending.sort_unstable_by_key(|p| p.seq);
        for p in &mut self.pending {
            if n == out.len() || p.nacks >= self.config.max_nacks || now < p.next_nack {
                continue;
            }
            if p.deadline.saturating_since(now) <= budget {
                p.nacks = self.config.max_nacks;
                continue;
            }
            out[n] = p.seq as u16;
            n += 1;
            p.nacks += 1;
            p.asked.get_or_insert(now);
            let wait = if p.nacks == 1 {
                self.config.nack_repeat
            } else {
                self.rtt.max(self.config.nack_repeat)
            };
            p.next_nack = now + wait;
        }
        self.stats.nacked += n as u64;
        n
    }

    /// A packet rebuilt from parity: (sequence, extended media timestamp, header, payload).
    pub fn poll_repaired(&mut self) -> Option<(SeqNo, u64, Header, &[u8])> {
        let seq = self.ready.pop()?;
        let slot = &self.slots[seq as usize % RING];
        (slot.seq == Some(seq))
            .then(|| (SeqNo(seq), slot.timestamp, slot.header, &slot.payload[..]))
    }

    /// A packet whose deadline passed without it: the player conceals it.
    pub fn poll_missing(&mut self) -> Option<SeqNo> {
        self.missing.pop().map(SeqNo)
    }

    fn holds(&self, seq: u64) -> bool {
        self.slots[seq as usize % RING].seq == Some(seq)
    }

    fn store(&mut self, seq: u64, timestamp: u64, header: &Header, payload: &[u8], via: Via) {
        let slot = &mut self.slots[seq as usize % RING];
        slot.seq = Some(seq);
        slot.via = Some(via);
        slot.header = *header;
        slot.timestamp = timestamp;
        slot.payload.clear();
        slot.payload.extend_from_slice(payload);
        // A packet may complete a group whose parity arrived first.
        for index in 0..PARITY_SLOTS {
            let held = &self.parities[index];
            if held.count > 0 && (held.base..held.base + u64::from(held.count)).contains(&seq) {
                self.try_repair(index);
            }
        }
    }

    /// Moves the highest sequence to `seq` (newer than the highest), tracking the packets
    /// in between as missing.
    fn advance(&mut self, now: Instant, seq: u64, timestamp: u64) {
        let Some(highest) = self.highest else {
            return;
        };
        let frame = u64::from(self.config.frame_ticks);
        for lost in highest + 1..seq {
            let lost_ts = timestamp.saturating_sub((seq - lost) * frame);
            self.track_missing(now, lost, lost_ts);
        }
        self.highest = Some(seq);
        self.highest_timestamp = timestamp;
    }

    fn track_missing(&mut self, now: Instant, seq: u64, timestamp: u64) {
        self.stats.lost += 1;
        if self.pending.len() == MAX_PENDING {
            // The oldest has the nearest deadline; it will be concealed.
            let oldest = (0..self.pending.len())
                .min_by_key(|&i| self.pending[i].seq)
                .unwrap_or(0);
            let p = self.pending.swap_remove(oldest);
            self.declare_missing(&p);
        }
        let deadline = self.deadline(timestamp).unwrap_or(now);
        // Ask only once the packet is overdue: one revealed by a reordered later packet (or by
        // its group's parity overtaking it) is usually still in flight.
        let overdue = deadline - self.config.playout_delay + self.overdue_wait();
        self.pending.push(Pending {
            seq,
            deadline,
            next_nack: overdue.max(now),
            nacks: 0,
            asked: None,
        });
    }

    /// Gives up on a pending packet: the player conceals it. Remembered, so that its original
    /// turning up later can still undo the loss.
    fn declare_missing(&mut self, pending: &Pending) {
        self.stats.missing += 1;
        self.missing.push(pending.seq);
        self.remember_missed(pending.seq);
    }

    fn remember_missed(&mut self, seq: u64) {
        self.missed[seq as usize % RING] = Missed { seq: Some(seq) };
    }

    fn was_missed(&self, seq: u64) -> bool {
        self.missed[seq as usize % RING].seq == Some(seq)
    }

    /// The original of a packet given up as missing arrived after all (later than our deadline
    /// estimate said): concealed, but never lost.
    fn undo_missed(&mut self, seq: u64) {
        self.missed[seq as usize % RING].seq = None;
        self.stats.lost = self.stats.lost.saturating_sub(1);
        self.stats.missing = self.stats.missing.saturating_sub(1);
        self.stats.late += 1;
    }

    fn take_pending(&mut self, seq: u64) -> Option<Pending> {
        let i = self.pending.iter().position(|p| p.seq == seq)?;
        Some(self.pending.swap_remove(i))
    }

    fn resync(&mut self, seq: u64, timestamp: u64) {
        self.stats.resyncs += 1;
        while let Some(p) = self.pending.pop() {
            self.declare_missing(&p);
        }
        for held in &mut self.parities {
            held.count = 0;
        }
        self.highest = Some(seq);
        self.highest_timestamp = timestamp;
    }

    /// Repairs the group of held parity `index` if exactly one of its packets is missing and
    /// still wanted. A parity that cannot repair yet stays held.
    fn try_repair(&mut self, index: usize) {
        let held = &self.parities[index];
        if held.count == 0 {
            return;
        }
        let (base, count) = (held.base, u64::from(held.count));
        let mut missing = None;
        for seq in base..base + count {
            if !self.holds(seq) {
                if missing.is_some() {
                    return;
                }
                missing = Some(seq);
            }
        }
        let Some(lost) = missing else {
            self.parities[index].count = 0;
            return;
        };
        let Ok(parity) = Parity::parse(&self.parities[index].bytes) else {
            self.stats.parity_unused += 1;
            self.parities[index].count = 0;
            return;
        };
        let slots = &self.slots;
        let received = (base..base + count)
            .filter(|&s| s != lost)
            .map(|s| &slots[s as usize % RING])
            .map(|slot| (slot.header, &slot.payload[..]));
        let result = parity.recover(received, &mut self.scratch);
        self.parities[index].count = 0;
        let Ok(Recovered { header, len }) = result else {
            self.stats.parity_unused += 1;
            return;
        };
        if self.take_pending(lost).is_none() {
            // Not tracked as missing: already reported missing (too late), or not wanted.
            return;
        }
        let timestamp = extend_timestamp(self.highest_timestamp, header.timestamp);
        let slot = &mut self.slots[lost as usize % RING];
        slot.seq = Some(lost);
        slot.via = Some(Via::Parity);
        slot.header = header;
        slot.timestamp = timestamp;
        slot.payload.clear();
        slot.payload.extend_from_slice(&self.scratch[..len]);
        self.stats.repaired_parity += 1;
        self.ready.push(lost);
    }

    fn observe_transit(&mut self, now: Instant, timestamp: u64) {
        let at = now.as_micros() as i64;
        if now.saturating_since(self.transit_window_start) >= TRANSIT_WINDOW {
            // The floor's rise: from the oldest bucket's minimum to the newest complete one's
            // (on a rising floor each minimum sits at its bucket's start), capped at 10 %,
            // which no working device drifts.
            let complete = self.transit.iter().flatten();
            if let (Some(&(newer, newer_at)), Some(&(older, older_at))) =
                (complete.clone().next(), complete.last())
                && newer_at > older_at
            {
                self.transit_slope =
                    ((newer - older) as f64 / (newer_at - older_at) as f64).clamp(0.0, 0.1);
            }
            self.transit.rotate_right(1);
            self.transit[0] = None;
            self.transit_window_start = now;
        }
        self.last_arrival = self.last_arrival.max(at);
        let transit = at - ticks_to_micros(timestamp) as i64;
        let current = &mut self.transit[0];
        *current = Some(match *current {
            Some((floor, floor_at)) if floor <= transit => (floor, floor_at),
            _ => (transit, at),
        });
        let fastest = self.fastest_transit().unwrap_or(transit);
        let excess = (transit - fastest) as f64;
        self.excess_mean += (excess - self.excess_mean) / EXCESS_SMOOTHING;
        self.excess_deviation +=
            ((excess - self.excess_mean).abs() - self.excess_deviation) / EXCESS_SMOOTHING;
    }

    /// The earliest local time (µs) the packet with media timestamp `timestamp` can arrive: on
    /// the floor, which keeps rising while the packet is on its way, so the time `a` with
    /// `a = media + floor(a)` for each bucket's line, the earliest of them.
    fn earliest_arrival(&self, timestamp: u64) -> Option<i64> {
        let media = ticks_to_micros(timestamp) as f64;
        let slope = self.transit_slope;
        self.transit[..FLOOR_BUCKETS]
            .iter()
            .flatten()
            .map(|&(floor, at)| {
                let on_line = (media + floor as f64 - slope * at as f64) / (1.0 - slope);
                // A packet from before the bucket's minimum is held to that minimum.
                on_line.max(media + floor as f64).ceil() as i64
            })
            .min()
    }

    /// The transit floor (arrival − media time, µs) now: the minimum over the last 4 s, each
    /// window's minimum carried forward at the floor's measured rise to the latest arrival.
    fn fastest_transit(&self) -> Option<i64> {
        self.transit[..FLOOR_BUCKETS]
            .iter()
            .flatten()
            .map(|&(floor, at)| {
                floor + (self.transit_slope * (self.last_arrival - at).max(0) as f64) as i64
            })
            .min()
    }

    /// How long after its earliest possible arrival a packet is declared overdue: the smoothed
    /// transit excess plus four mean deviations (about five standard deviations of a normal
    /// spread, so an on-time packet is almost never asked for) when that still leaves time for
    /// a resend and one repeat before the deadline, with a margin; otherwise (a buffer not much
    /// longer than the round trip) `Config::overdue_after`, accepting spurious NACKs, since a
    /// wasted resend costs bandwidth and a missed one costs audio. Waiting anything between gives the worst
    /// of both: measured on a 30 ms buffer over a 20 ms round trip, 3 ms instead of 2 ms lost
    /// 2 % of the recoveries in Gilbert-Elliott bursts.
    pub fn overdue_wait(&self) -> Duration {
        let spread =
            Duration::from_micros((self.excess_mean + 4.0 * self.excess_deviation).max(0.0) as u64);
        let slack = self
            .config
            .playout_delay
            .saturating_sub(self.rtt + ticks_to_duration(self.config.frame_ticks))
            .saturating_sub(self.config.nack_repeat);
        // The floor again as margin, so the choice does not flap at the edge.
        if spread + self.config.overdue_after <= slack {
            spread.max(self.config.overdue_after)
        } else {
            self.config.overdue_after
        }
    }
}

/// Extends a 32-bit RTP timestamp to 64 bits next to `reference`.
fn extend_timestamp(reference: u64, wire: u32) -> u64 {
    let delta = wire.wrapping_sub(reference as u32) as i32;
    reference.saturating_add_signed(i64::from(delta))
}

fn ticks_to_micros(ticks: u64) -> u64 {
    (u128::from(ticks) * 1000 / 48) as u64
}

fn ticks_to_duration(ticks: u32) -> Duration {
    Duration::from_micros(ticks_to_micros(u64::from(ticks)))
}

#[cfg(test)]
mod tests;
