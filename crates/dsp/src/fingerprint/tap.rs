//! The audio thread's side of the fingerprint: [`Tap`] pushes each rendered block, averaged to
//! mono, into a wait-free single-producer ring ([`rtrb`]); a worker thread drains the ring
//! into a [`Fingerprinter`] with [`TapOutput::drain_into`].
//!
//! The hash itself never runs on the audio thread: 32 FFTs of 8,192 points at once would
//! take a whole block's budget or more. The tap costs one channel average and one copy per
//! sample, with no allocation, lock or syscall. A block that does not fit (the worker fell
//! more than the ring's capacity behind) is dropped whole and counted: the audio thread never
//! waits, and the fingerprint that covers the gap is of the audio around it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::listener::{interleaved_mono, planar_mono};
use super::{Fingerprint, Fingerprinter, SAMPLE_RATE};

/// Ring capacity by default: 1 s of audio, so a worker may sleep up to that long between
/// drains.
pub const DEFAULT_CAPACITY: usize = SAMPLE_RATE as usize;

/// A tap and the worker's end of its ring, holding `capacity` mono samples. Allocates here,
/// never afterwards.
pub fn tap(capacity: usize) -> (Tap, TapOutput) {
    let (producer, consumer) = rtrb::RingBuffer::new(capacity);
    let dropped = Arc::new(AtomicU64::new(0));
    (
        Tap {
            producer,
            dropped: Arc::clone(&dropped),
        },
        TapOutput { consumer, dropped },
    )
}

/// The audio thread's end: wait-free, allocation-free.
#[derive(Debug)]
pub struct Tap {
    producer: rtrb::Producer<f32>,
    dropped: Arc<AtomicU64>,
}

impl Tap {
    /// Queues one block, one slice per channel (frames beyond the shortest slice ignored).
    /// False, and the block's frames counted as dropped, if the ring has no room for it.
    pub fn push_planar(&mut self, channels: &[&[f32]]) -> bool {
        let frames = channels.iter().map(|c| c.len()).min().unwrap_or(0);
        self.push(frames, planar_mono(channels))
    }

    /// Queues one interleaved block of `channels` channels.
    pub fn push_interleaved(&mut self, samples: &[f32], channels: usize) -> bool {
        let frames = samples.len().checked_div(channels).unwrap_or(0);
        self.push(frames, interleaved_mono(samples, channels))
    }

    /// Mono samples dropped so far because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn push(&mut self, frames: usize, mono: impl Iterator<Item = f32>) -> bool {
        match self.producer.write_chunk_uninit(frames) {
            Ok(chunk) => {
                chunk.fill_from_iter(mono);
                true
            }
            Err(_) => {
                self.dropped.fetch_add(frames as u64, Ordering::Relaxed);
                false
            }
        }
    }
}

/// The worker's end.
#[derive(Debug)]
pub struct TapOutput {
    consumer: rtrb::Consumer<f32>,
    dropped: Arc<AtomicU64>,
}

impl TapOutput {
    /// Moves everything queued into `fingerprinter`; the fingerprint that fell due, if any.
    pub fn drain_into(&mut self, fingerprinter: &mut Fingerprinter) -> Option<Fingerprint> {
        let queued = self.consumer.slots();
        let Ok(chunk) = self.consumer.read_chunk(queued) else {
            return None;
        };
        let (first, second) = chunk.as_slices();
        let due = fingerprinter.push_mono(first.iter().chain(second).copied());
        chunk.commit_all();
        due
    }

    /// Mono samples the tap dropped so far because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
