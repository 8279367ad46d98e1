//! [`Fingerprinter`]: a listener's fingerprint every 30 s of what it renders.
//!
//! It keeps the last 10 s of mono audio in a ring and a sample position: each time the
//! position reaches a multiple of the period (30 s by default) it hashes the 5 s that end
//! exactly there. The schedule runs on samples, not a wall clock, so the result does not
//! depend on how the audio was cut into blocks. The position starts at 0 (the first sample
//! fed); a listener that knows where its audio sits on the session's timeline sets it
//! ([`Fingerprinter::set_position`]) so that every listener hashes the same 5 s: listeners
//! whose spans are offset by tens of milliseconds already disagree in a few bits. A caller
//! driven by a wall clock instead asks [`Fingerprinter::fingerprint_now`].
//!
//! Each hash costs 32 FFTs of 8,192 points: milliseconds in one burst, more than an audio
//! block's budget. So the fingerprinter runs on an ordinary thread, fed either directly (a
//! renderer that is not real-time, a recorder) or from the audio thread through
//! [`super::tap`]. It allocates only when built.

use super::{Fingerprint, Hasher, INPUT_SAMPLES, SAMPLE_RATE};

/// Seconds of audio the ring keeps.
pub const RING_SECONDS: usize = 10;
/// Samples between fingerprints by default: 30 s.
pub const DEFAULT_PERIOD: u64 = 30 * SAMPLE_RATE as u64;

/// Mono samples of one block: the mean of its channels, frame by frame. `channels` holds one
/// slice per channel; frames beyond the shortest slice are ignored.
pub fn planar_mono<'a>(channels: &'a [&'a [f32]]) -> impl Iterator<Item = f32> + 'a {
    let frames = channels.iter().map(|c| c.len()).min().unwrap_or(0);
    let scale = 1.0 / channels.len().max(1) as f32;
    (0..frames).map(move |i| channels.iter().map(|c| c[i]).sum::<f32>() * scale)
}

/// Mono samples of an interleaved block of `channels` channels (a trailing partial frame is
/// ignored; zero channels give nothing).
pub fn interleaved_mono(samples: &[f32], channels: usize) -> impl Iterator<Item = f32> + '_ {
    let usable = if channels == 0 {
        &samples[..0]
    } else {
        samples
    };
    let scale = 1.0 / channels.max(1) as f32;
    usable
        .chunks_exact(channels.max(1))
        .map(move |frame| frame.iter().sum::<f32>() * scale)
}

/// A listener's fingerprinter: feed it everything rendered, 48 kHz, in any blocks.
#[derive(Debug)]
pub struct Fingerprinter {
    hasher: Hasher,
    /// The last [`RING_SECONDS`] of mono audio; `write` is the next slot.
    ring: Box<[f32]>,
    write: usize,
    /// Samples fed since start.
    written: u64,
    /// Where the next sample sits on the caller's timeline (48 kHz ticks).
    position: u64,
    period: u64,
    /// The last 5 s laid out in order for the hasher.
    linear: Box<[f32; INPUT_SAMPLES]>,
    /// Fingerprints due while a single call already had one to return: the older is lost.
    superseded: u64,
}

impl Default for Fingerprinter {
    fn default() -> Self {
        Self::new()
    }
}

impl Fingerprinter {
    /// A fingerprint every 30 s of audio.
    pub fn new() -> Self {
        Self::with_period(DEFAULT_PERIOD)
    }

    /// A fingerprint every `period` samples (at least 1).
    pub fn with_period(period: u64) -> Self {
        let linear: Box<[f32; INPUT_SAMPLES]> = vec![0.0; INPUT_SAMPLES]
            .into_boxed_slice()
            .try_into()
            .unwrap_or_else(|_| unreachable!("the vector has INPUT_SAMPLES elements"));
        Self {
            hasher: Hasher::new(),
            ring: vec![0.0; RING_SECONDS * SAMPLE_RATE as usize].into_boxed_slice(),
            write: 0,
            written: 0,
            position: 0,
            period: period.max(1),
            linear,
            superseded: 0,
        }
    }

    /// Samples fed since start.
    pub fn samples_written(&self) -> u64 {
        self.written
    }

    /// Places the next sample at `position` on the caller's timeline (48 kHz ticks, e.g. the
    /// session timeline of the stream being rendered): fingerprints fall due where the
    /// timeline reaches a multiple of the period. Samples already fed stay in the ring.
    pub fn set_position(&mut self, position: u64) {
        self.position = position;
    }

    /// Where the next sample sits on the timeline.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Fingerprints lost because one call crossed two period boundaries (a block longer than
    /// the period) and returned only the newer.
    pub fn superseded(&self) -> u64 {
        self.superseded
    }

    /// Feeds one block, one slice per channel. Returns the fingerprint that fell due inside it.
    pub fn push_planar(&mut self, channels: &[&[f32]]) -> Option<Fingerprint> {
        self.push_mono(planar_mono(channels))
    }

    /// Feeds one interleaved block of `channels` channels.
    pub fn push_interleaved(&mut self, samples: &[f32], channels: usize) -> Option<Fingerprint> {
        self.push_mono(interleaved_mono(samples, channels))
    }

    /// Feeds mono samples. Returns the fingerprint that fell due among them (the newest, if
    /// more than one did).
    pub fn push_mono(&mut self, samples: impl IntoIterator<Item = f32>) -> Option<Fingerprint> {
        let mut due = None;
        for sample in samples {
            self.ring[self.write] = sample;
            self.write = (self.write + 1) % self.ring.len();
            self.written += 1;
            self.position = self.position.wrapping_add(1);
            if self.position.is_multiple_of(self.period) {
                if due.is_some() {
                    self.superseded += 1;
                }
                due = self.fingerprint_now();
            }
        }
        due
    }

    /// The fingerprint of the last 5 s now, if 5 s have been written.
    pub fn fingerprint_now(&mut self) -> Option<Fingerprint> {
        if self.written < INPUT_SAMPLES as u64 {
            return None;
        }
        // The oldest of the last INPUT_SAMPLES sits INPUT_SAMPLES behind the write slot.
        let start = (self.write + self.ring.len() - INPUT_SAMPLES) % self.ring.len();
        let first = (self.ring.len() - start).min(INPUT_SAMPLES);
        self.linear[..first].copy_from_slice(&self.ring[start..start + first]);
        self.linear[first..].copy_from_slice(&self.ring[..INPUT_SAMPLES - first]);
        Some(self.hasher.hash(&self.linear))
    }
}
