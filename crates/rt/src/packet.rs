//! Packet rings: datagram-sized payloads crossing between the audio thread and the network
//! thread in fixed-size slots, so neither side allocates, locks or waits.
//!
//! One ring per direction, single producer and single consumer (an [`rtrb`] ring underneath).
//! A slot holds a small `Copy` header of the caller's choosing (stream, timestamp, sequence..)
//! and up to `N` payload bytes inline. A full ring drops the packet and counts it: the audio
//! thread must never wait for the network, and a network thread that falls behind loses the
//! oldest audio's successors rather than delaying everything after them. The counters are
//! atomics both sides (and a stats reader) can read.
//!
//! The producer may also publish its [`Schedule`]: where its own clock stood at its last
//! hand-over and where it will stand when it hands over the next packet. A consumer that may
//! not be woken by the producer (an audio thread makes no syscalls) plans its own wake-ups from
//! it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One packet in a slot: the caller's header and up to `N` payload bytes.
#[derive(Clone, Copy, Debug)]
pub struct Packet<M: Copy, const N: usize> {
    /// What the payload is (the caller's type).
    pub meta: M,
    len: usize,
    bytes: [u8; N],
}

impl<M: Copy, const N: usize> Packet<M, N> {
    /// A packet carrying a copy of `payload`, or `None` if it is longer than `N` bytes.
    pub fn new(meta: M, payload: &[u8]) -> Option<Self> {
        let mut bytes = [0; N];
        bytes.get_mut(..payload.len())?.copy_from_slice(payload);
        Some(Self {
            meta,
            len: payload.len(),
            bytes,
        })
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// What a ring has refused so far.
#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    full: AtomicU64,
    too_long: AtomicU64,
    /// The producer's [`Schedule`], packed by [`Schedule::pack`] (0: none yet).
    schedule: AtomicU64,
}

/// When the producer hands over packets, on its own clock (any unit; the audio thread counts
/// 48 kHz ticks): it stood at `position` at its last hand-over point and expects to hand over
/// the next packet `ahead` units later.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// The producer's clock at its last hand-over point (below 2^44).
    pub position: u64,
    /// Units from `position` to the hand-over of the next packet (below 2^20; 0: none planned).
    pub ahead: u32,
}

impl Schedule {
    const AHEAD_BITS: u32 = 20;
    const AHEAD_MAX: u32 = (1 << Self::AHEAD_BITS) - 1;
    const POSITION_MAX: u64 = (1 << (64 - Self::AHEAD_BITS)) - 1;

    /// One word, so producer and consumer exchange it with one atomic store and load. The
    /// position wraps at 2^44 (a year of 48 kHz ticks); `ahead` saturates.
    fn pack(self) -> u64 {
        ((self.position & Self::POSITION_MAX) << Self::AHEAD_BITS)
            | u64::from(self.ahead.min(Self::AHEAD_MAX))
    }

    fn unpack(word: u64) -> Self {
        Self {
            position: word >> Self::AHEAD_BITS,
            ahead: (word & u64::from(Self::AHEAD_MAX)) as u32,
        }
    }
}

/// A snapshot of a ring's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets that entered the ring.
    pub sent: u64,
    /// Packets dropped because the ring was full.
    pub full: u64,
    /// Packets dropped because their payload did not fit a slot.
    pub too_long: u64,
}

/// Creates a ring of `capacity` slots. Allocates here, never afterwards.
pub fn ring<M: Copy, const N: usize>(capacity: usize) -> (Sender<M, N>, Receiver<M, N>) {
    let (producer, consumer) = rtrb::RingBuffer::new(capacity);
    let counters = Arc::new(Counters::default());
    (
        Sender {
            producer,
            counters: Arc::clone(&counters),
        },
        Receiver { consumer, counters },
    )
}

/// The sending end. Real-time safe: [`Sender::send`] never allocates, locks or blocks.
#[derive(Debug)]
pub struct Sender<M: Copy, const N: usize> {
    producer: rtrb::Producer<Packet<M, N>>,
    counters: Arc<Counters>,
}

impl<M: Copy, const N: usize> Sender<M, N> {
    /// Queues a copy of `payload` with `meta`; false (and counted) if the ring is full or the
    /// payload does not fit a slot.
    pub fn send(&mut self, meta: M, payload: &[u8]) -> bool {
        let Some(packet) = Packet::new(meta, payload) else {
            self.counters.too_long.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        if self.producer.push(packet).is_err() {
            self.counters.full.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.counters.sent.fetch_add(1, Ordering::Release);
        true
    }

    /// Publishes the producer's [`Schedule`] for [`Watch::schedule`]: one atomic store.
    pub fn publish_schedule(&self, schedule: Schedule) {
        // Never 0, the word of "nothing published".
        let word = schedule.pack().max(1);
        self.counters.schedule.store(word, Ordering::Release);
    }

    /// Free slots now.
    pub fn free(&self) -> usize {
        self.producer.slots()
    }

    /// The ring's counters.
    pub fn stats(&self) -> Stats {
        snapshot(&self.counters)
    }
}

/// The receiving end. Real-time safe: [`Receiver::recv`] never allocates, locks or blocks.
#[derive(Debug)]
pub struct Receiver<M: Copy, const N: usize> {
    consumer: rtrb::Consumer<Packet<M, N>>,
    counters: Arc<Counters>,
}

impl<M: Copy, const N: usize> Receiver<M, N> {
    /// The oldest queued packet, if any.
    pub fn recv(&mut self) -> Option<Packet<M, N>> {
        self.consumer.pop().ok()
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.consumer.slots()
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.consumer.is_empty()
    }

    /// The ring's counters.
    pub fn stats(&self) -> Stats {
        snapshot(&self.counters)
    }

    /// A handle any thread can poll to learn that packets arrived, without owning the
    /// consumer: a driver's wake-up thread watches the audio thread's ring this way, since the
    /// audio thread itself may not make the syscall a wake-up needs.
    pub fn watch(&self) -> Watch {
        Watch {
            counters: Arc::clone(&self.counters),
        }
    }
}

/// Read-only view of a ring's counters, for any thread (see [`Receiver::watch`]).
#[derive(Clone, Debug)]
pub struct Watch {
    counters: Arc<Counters>,
}

impl Watch {
    /// Packets that have entered the ring so far: a change means new packets.
    pub fn sent(&self) -> u64 {
        self.counters.sent.load(Ordering::Acquire)
    }

    /// The producer's latest [`Schedule`], if it published one.
    pub fn schedule(&self) -> Option<Schedule> {
        match self.counters.schedule.load(Ordering::Acquire) {
            0 => None,
            word => Some(Schedule::unpack(word)),
        }
    }

    /// Both watch the same ring.
    pub fn same_ring(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.counters, &other.counters)
    }

    /// The ring's counters.
    pub fn stats(&self) -> Stats {
        snapshot(&self.counters)
    }
}

fn snapshot(counters: &Counters) -> Stats {
    Stats {
        sent: counters.sent.load(Ordering::Relaxed),
        full: counters.full.load(Ordering::Relaxed),
        too_long: counters.too_long.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Meta {
        seq: u32,
    }

    #[test]
    fn packets_come_out_in_order_with_their_payloads() {
        let (mut tx, mut rx) = ring::<Meta, 64>(8);
        for seq in 0..5u32 {
            assert!(tx.send(Meta { seq }, &[seq as u8; 3][..seq as usize % 4]));
        }
        for seq in 0..5u32 {
            let p = rx.recv().expect("queued");
            assert_eq!(p.meta, Meta { seq });
            assert_eq!(p.payload(), &[seq as u8; 3][..seq as usize % 4]);
        }
        assert!(rx.recv().is_none());
    }

    #[test]
    fn a_full_ring_or_an_oversized_payload_drops_and_counts() {
        let (mut tx, mut rx) = ring::<Meta, 16>(4);
        for seq in 0..6u32 {
            tx.send(Meta { seq }, &[1; 16]);
        }
        assert!(!tx.send(Meta { seq: 99 }, &[0; 17]));
        assert_eq!(
            rx.stats(),
            Stats {
                sent: 4,
                full: 2,
                too_long: 1
            }
        );
        // The oldest four survive: a full ring refuses the newest.
        let seqs: Vec<u32> = std::iter::from_fn(|| rx.recv())
            .map(|p| p.meta.seq)
            .collect();
        assert_eq!(seqs, [0, 1, 2, 3]);
        assert_eq!(tx.free(), 4);
    }

    #[test]
    fn a_published_schedule_reaches_the_watch() {
        let (tx, rx) = ring::<Meta, 8>(4);
        let watch = rx.watch();
        assert_eq!(watch.schedule(), None);
        let schedule = Schedule {
            position: 48_000 * 3_600,
            ahead: 128,
        };
        tx.publish_schedule(schedule);
        assert_eq!(watch.schedule(), Some(schedule));
        // Out-of-range fields wrap (position) and saturate (ahead) instead of mixing.
        tx.publish_schedule(Schedule {
            position: (1 << 44) + 5,
            ahead: u32::MAX,
        });
        assert_eq!(
            watch.schedule(),
            Some(Schedule {
                position: 5,
                ahead: (1 << 20) - 1
            })
        );
        assert!(watch.same_ring(&rx.watch()));
        assert!(!watch.same_ring(&ring::<Meta, 8>(4).1.watch()));
    }

    #[test]
    fn send_and_receive_do_not_allocate() {
        let (mut tx, mut rx) = ring::<Meta, 1500>(64);
        let payload = [7u8; 1200];
        crate::guard::no_alloc(|| {
            for seq in 0..1_000u32 {
                tx.send(Meta { seq }, &payload);
                let p = rx.recv().expect("queued");
                assert_eq!(p.payload().len(), 1200);
            }
            for seq in 0..100u32 {
                tx.send(Meta { seq }, &payload);
            }
        });
        assert_eq!(tx.stats().full, 36);
    }

    #[test]
    fn a_producer_thread_and_a_consumer_thread_lose_nothing_they_do_not_count() {
        const PACKETS: u32 = 200_000;
        let (mut tx, mut rx) = ring::<Meta, 8>(256);
        let producer = std::thread::spawn(move || {
            for seq in 0..PACKETS {
                tx.send(Meta { seq }, &seq.to_le_bytes());
            }
            tx
        });
        let mut received = 0u64;
        let mut last = None;
        loop {
            while let Some(p) = rx.recv() {
                assert_eq!(p.payload(), p.meta.seq.to_le_bytes());
                assert!(last < Some(p.meta.seq), "out of order");
                last = Some(p.meta.seq);
                received += 1;
            }
            if producer.is_finished() && rx.is_empty() {
                break;
            }
            std::thread::yield_now();
        }
        let tx = producer.join().expect("producer");
        let stats = tx.stats();
        assert_eq!(received, stats.sent);
        assert_eq!(stats.sent + stats.full, u64::from(PACKETS));
    }
}
