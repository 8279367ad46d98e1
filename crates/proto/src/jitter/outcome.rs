//! What the jitter buffer tells its caller: the outcome of a push or a pop, the events a
//! consumer acts on, and the counters.

use crate::seq::SeqNo;
use crate::time::MediaTime;

/// What [`Buffer::push`](super::Buffer::push) did with a packet; each outcome is also counted in [`Stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// Stored in its slot by sequence number.
    Stored,
    /// The stream jumped (two consistent packets far from the playout head): the buffer was
    /// flushed and this packet starts a new schedule. [`Event::Resync`] is queued.
    Resynced,
    /// Already stored or already played; dropped.
    Duplicate,
    /// Its slot was already played out as missing; dropped. The target delay rose at once.
    Late,
    /// Larger than [`Config::max_payload_bytes`](super::Config::max_payload_bytes); dropped (the sender's or the config's fault).
    TooLarge,
    /// Sequence number or timestamp far from where the stream is; dropped. A second packet
    /// consistent with it resynchronises the buffer, so a real stream jump costs one packet and
    /// a single hostile packet costs nothing.
    OutOfWindow,
}

/// What [`Buffer::pop`](super::Buffer::pop) returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pop {
    /// The head packet is due; its payload was copied to the front of `out`.
    Packet {
        /// Its sequence number.
        seq: SeqNo,
        /// Its media timestamp.
        media: MediaTime,
        /// Bytes copied to `out` (the payload, truncated if `out` is shorter: counted).
        len: usize,
    },
    /// The head packet's deadline passed and it has not arrived: conceal it (PLC).
    Missing {
        /// Its sequence number.
        seq: SeqNo,
        /// The media timestamp it would have had.
        media: MediaTime,
    },
    /// Nothing is due yet, or the stream has not started (or went idle).
    Wait,
}

/// Something the consumer may act on, from [`Buffer::poll_event`](super::Buffer::poll_event).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// A deadline passed with nothing buffered: the stream starved (once per episode).
    Underrun,
    /// Packets were dropped to make room for newer ones (the consumer is not keeping up).
    Overrun,
    /// The stream was resynchronised to a new sequence or timestamp position.
    Resync,
    /// The target delay changed.
    TargetChanged {
        /// The new target, in ticks.
        ticks: u32,
    },
    /// Media ticks a back-to-back consumer should play per local tick so that its playout
    /// point follows the schedule (glides, skew) and its measured error decays.
    Rate {
        /// Within `1 ± Config::max_rate_deviation`.
        ratio: f64,
    },
}

/// Counters and the current schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Packets stored (including those that resynchronised the stream).
    pub stored: u64,
    /// Duplicates dropped.
    pub duplicate: u64,
    /// Packets that arrived after their slot was played out as missing.
    pub late: u64,
    /// Slots played out as missing (loss and lateness).
    pub missing: u64,
    /// Starvation episodes (a deadline passed with nothing buffered).
    pub underruns: u64,
    /// Stored packets dropped unplayed to make room.
    pub overruns: u64,
    /// Payloads above [`Config::max_payload_bytes`](super::Config::max_payload_bytes).
    pub too_large: u64,
    /// Packets far outside the window (dropped or used to resynchronise).
    pub out_of_window: u64,
    /// Resynchronisations.
    pub resyncs: u64,
    /// Packets truncated because `out` was shorter than the payload.
    pub truncated: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
    /// Target delay, ticks.
    pub target_ticks: u32,
    /// Delay the schedule applies above the floor now (gliding toward the target), ticks.
    pub delay_ticks: i64,
    /// The transit floor (lowest `arrival − media`, along the skew), ticks.
    pub base_ticks: i64,
    /// Media stored ahead of the playout head, ticks.
    pub level_ticks: u64,
    /// Media ticks per packet, as learned.
    pub frame_ticks: u32,
    /// The suggested rate (media ticks per local tick).
    pub ratio: f64,
    /// How fast transit drifts: local ticks per media tick minus one, positive when our clock
    /// runs faster than the sender's (0.1 = our device runs 10 % fast against it).
    pub skew: f64,
}
