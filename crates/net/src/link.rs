//! The audio link: what crosses between the driver thread and the audio thread, in fixed-size
//! slots (`rt::packet` rings) and atomics, so the audio thread never allocates, locks or waits.
//!
//! - [`Outbound`] (audio → network): one encoded packet of a local stream.
//! - [`Inbound`] (network → audio): received audio and the session facts the audio thread needs
//!   to interpret it (a peer's stream came up or went away, a new bitrate target).
//! - [`PlayoutDelays`] (audio → network): each remote stream's current jitter-buffer delay, so
//!   the network side knows how long a resend can still arrive in time.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use proto::osp::message::StreamEncoding;

/// Largest payload a slot holds: the largest UDP payload in a 1,500-byte Ethernet frame.
pub const MAX_PAYLOAD: usize = 1_472;

/// Slots per ring: 256 packets is 340 ms of 64-sample packets, 640 ms of 2.5 ms Opus frames
/// (the most either side can fall behind before the ring drops and counts).
pub const RING_SLOTS: usize = 256;

/// Remote streams whose playout delay can be reported (7 peers × 8 tracks, plus room).
pub const MAX_REPORTED_STREAMS: usize = 64;

/// An encoded packet of one of our streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outbound {
    /// Index into the endpoint's configured streams.
    pub stream: u8,
    /// RTP timestamp of the packet's first sample (the stream's 48 kHz clock).
    pub timestamp: u64,
    /// When that sample was captured, in 48 kHz ticks of the session timeline (mod 2^32), once
    /// the audio side knows the timeline.
    pub capture: Option<u32>,
}

/// What an [`Inbound`] slot carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// An audio packet (the slot's payload is the codec payload).
    Audio {
        /// Sender.
        user_id: u32,
        /// Its stream.
        stream_id: u16,
        /// Extended sequence number.
        seq: u64,
        /// Extended RTP timestamp (48 kHz).
        timestamp: u64,
        /// The sender's capture instant on the session timeline (48 kHz ticks mod 2^32).
        capture: Option<u32>,
    },
    /// A peer's stream is announced (sent before its first audio, again on re-announcement).
    StreamUp {
        /// The peer.
        user_id: u32,
        /// The stream.
        stream_id: u16,
        /// Its encoding.
        encoding: StreamEncoding,
        /// 1 or 2.
        channels: u8,
        /// Samples per channel per packet.
        frame_samples: u32,
    },
    /// A peer stopped one of its streams (a track removed): free its slot.
    StreamDown {
        /// The peer.
        user_id: u32,
        /// The stream.
        stream_id: u16,
    },
    /// A peer is gone (left, timed out or forgotten): free its streams.
    PeerGone {
        /// The peer.
        user_id: u32,
    },
    /// The bitrate policy's new target for our Opus streams.
    Bitrate {
        /// Bits per second.
        bps: u32,
    },
}

/// Audio thread → network thread ring.
pub type OutboundSender = rt::packet::Sender<Outbound, MAX_PAYLOAD>;
/// Network side of [`OutboundSender`].
pub type OutboundReceiver = rt::packet::Receiver<Outbound, MAX_PAYLOAD>;
/// Network thread → audio thread ring.
pub type InboundSender = rt::packet::Sender<Inbound, MAX_PAYLOAD>;
/// Audio side of [`InboundSender`].
pub type InboundReceiver = rt::packet::Receiver<Inbound, MAX_PAYLOAD>;

/// The audio thread's ends of the link.
#[derive(Debug)]
pub struct AudioLink {
    /// Encoded packets to send.
    pub outbound: OutboundSender,
    /// Received audio and session facts.
    pub inbound: InboundReceiver,
    /// Where the audio thread reports its playout delays.
    pub playout: std::sync::Arc<PlayoutDelays>,
}

/// Per-stream playout delays, written by the audio thread, read by the driver. Each entry packs
/// (user id, stream id) into one word and the delay in microseconds into another; an entry is
/// published by writing the delay first and the key last, so a reader that sees a key sees a
/// delay at least as new as the one written with it.
#[derive(Debug)]
pub struct PlayoutDelays {
    keys: [AtomicU64; MAX_REPORTED_STREAMS],
    delays_us: [AtomicU32; MAX_REPORTED_STREAMS],
}

/// Key of an unused entry.
const NO_KEY: u64 = 0;

impl Default for PlayoutDelays {
    fn default() -> Self {
        Self {
            keys: std::array::from_fn(|_| AtomicU64::new(NO_KEY)),
            delays_us: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }
}

impl PlayoutDelays {
    fn key(user_id: u32, stream_id: u16) -> u64 {
        // Bit 63 marks the entry used, so user 0 / stream 0 is not the empty key.
        (1 << 63) | (u64::from(user_id) << 16) | u64::from(stream_id)
    }

    /// Reports the delay of entry `index` (the audio thread's stream slot).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn report(&self, index: usize, user_id: u32, stream_id: u16, delay_us: u32) {
        if index < MAX_REPORTED_STREAMS {
            self.delays_us[index].store(delay_us, Ordering::Relaxed);
            self.keys[index].store(Self::key(user_id, stream_id), Ordering::Release);
        }
    }

    /// Clears entry `index` (its stream is gone).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn clear(&self, index: usize) {
        if index < MAX_REPORTED_STREAMS {
            self.keys[index].store(NO_KEY, Ordering::Release);
        }
    }

    /// Every reported (user id, stream id, delay µs).
    pub fn entries(&self) -> impl Iterator<Item = (u32, u16, u32)> + '_ {
        (0..MAX_REPORTED_STREAMS).filter_map(|i| {
            let key = self.keys[i].load(Ordering::Acquire);
            (key != NO_KEY).then(|| {
                let delay = self.delays_us[i].load(Ordering::Relaxed);
                ((key >> 16) as u32, key as u16, delay)
            })
        })
    }
}

/// Creates both ends of the link: the audio thread's [`AudioLink`] and the driver's
/// [`DriverLink`].
pub fn pair() -> (AudioLink, DriverLink) {
    let (outbound, outbound_rx) = rt::packet::ring(RING_SLOTS);
    let (inbound_tx, inbound) = rt::packet::ring(RING_SLOTS);
    let playout = std::sync::Arc::new(PlayoutDelays::default());
    (
        AudioLink {
            outbound,
            inbound,
            playout: std::sync::Arc::clone(&playout),
        },
        DriverLink {
            outbound: outbound_rx,
            inbound: inbound_tx,
            playout,
        },
    )
}

/// The driver's ends of the link.
#[derive(Debug)]
pub struct DriverLink {
    /// Packets from the audio thread.
    pub outbound: OutboundReceiver,
    /// To the audio thread.
    pub inbound: InboundSender,
    /// The audio thread's playout delays.
    pub playout: std::sync::Arc<PlayoutDelays>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playout_entries_round_trip_and_clear() {
        let delays = PlayoutDelays::default();
        delays.report(3, 0, 0, 1_500);
        delays.report(5, 0xDEAD_BEEF, 0x0FFF, 20_000);
        let mut seen: Vec<_> = delays.entries().collect();
        seen.sort_unstable();
        assert_eq!(seen, [(0, 0, 1_500), (0xDEAD_BEEF, 0x0FFF, 20_000)]);
        delays.clear(3);
        delays.report(MAX_REPORTED_STREAMS, 1, 1, 1); // out of range: ignored
        assert_eq!(delays.entries().count(), 1);
    }
}
