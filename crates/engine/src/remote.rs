//! One remote stream on the audio thread: its jitter buffer (clocked by the local sample
//! clock), its decoder and concealment, and the reader that turns packets into exactly one
//! host block per callback.
//!
//! Consumer model (see `proto::jitter`): packets are popped into a FIFO when it runs short of
//! what the block needs, each at the local time it starts to play. Two readers play the FIFO.
//! The direct reader (below) copies whole samples at their deadlines. The interpolating reader
//! reads it at the jitter buffer's suggested ratio (times the wire-to-host rate factor) and
//! reports the position it plays with `handle_playout`, so the rate loop holds it
//! [`LAG_TICKS`] behind the schedule: the interpolator's look-ahead plus a little for the
//! ratio's rounding. It serves a host that does not run at 48 kHz and a sender whose clock is
//! measurably off ours, absorbing the drift by that ratio without a jump.
//!
//! Grid placement: every packet carries its capture instant on the session timeline (the
//! sender's `media_timestamp`), so the slot knows which session tick each media tick was
//! played at, and with the local session clock, how far behind the grid it plays: the lag it
//! reports. With [`Timing::period`] set (alignment to beats or bars), the audio heard is not
//! read at the jitter buffer's schedule but exactly a whole number of periods after it was
//! played: a second reader trails the scheduled one through a FIFO long enough for that delay,
//! steered to its target position by a phase-locked rate (the scheduled reader's ratio plus a
//! bounded correction), and jumping only when it is far off (a start, a tempo change).
//!
//! Direct reading: while the host runs at the wire's 48 kHz, the stream is played live and the
//! sender's clock is not measurably off ours, the scheduled reader does not interpolate at all:
//! it copies whole samples, each at its deadline, so it needs no look-ahead (a packet can play
//! in the block after it arrived, bit-exact for PCM). It follows a moving schedule a whole
//! sample at a time, crossfaded.
//!
//! Where each part lives: the direct reader is `remote/direct.rs`; the reader that follows a
//! device off the sender's rate by skipping or repeating audio is `remote/schedule.rs`; the
//! placing reader is `remote/placement.rs`.

use codec::opus::FrameDuration;
use proto::jitter::{self, Pop};
use proto::osp::message::StreamEncoding;
use proto::seq::SeqNo;
use proto::time::MediaTime;

use crate::resample::{Fifo, Kernel, LOOKAHEAD};

mod direct;
mod placement;
mod schedule;
#[cfg(test)]
mod tests;

use placement::Placed;
use schedule::JUMP_FADE_FRAMES;

/// Largest decoded frame (120 ms of Opus), per channel.
const MAX_DECODED: usize = 5_760;
/// Decoded audio held ahead of the read position, at most (frames at 48 kHz).
const FIFO_FRAMES: usize = 16_384;
/// Where the rate loop settles the reader behind the schedule: the interpolator reads
/// [`LOOKAHEAD`] samples ahead of the position it plays; two more absorb the ratio's rounding.
pub const LAG_TICKS: u32 = LOOKAHEAD as u32 + 2;
/// A gap larger than this between consecutive packets' media restarts the stream.
const MAX_GAP: u64 = 4_800;
/// Capture stamps further than this from the capture-to-media offset so far restart it (the
/// sender restarted its stream or the session's clock moved): 20 ms.
const CAPTURE_JUMP_TICKS: f64 = 960.0;
/// Packets over which the capture-to-media offset is smoothed (the sender stamps from a clock
/// fit that is good to a fraction of a block; its steps average out).
const CAPTURE_SMOOTHING: f64 = 16.0;
/// A capture instant more than this far in our past is no packet of this session (10 s), or
/// this far in our future (0.1 s): the stamp is ignored.
const CAPTURE_MAX_AGE_TICKS: f64 = 480_000.0;
const CAPTURE_MAX_AHEAD_TICKS: f64 = 4_800.0;

/// What the processor knows of time for a block: the session clock and the placement wanted.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timing {
    /// Session-timeline ticks minus local ticks, once known.
    pub session_offset: Option<f64>,
    /// Place the stream a whole number of these periods (48 kHz ticks: a beat or a bar of the
    /// room's tempo) after it was played; `None` plays it live.
    pub period: Option<f64>,
}

/// Counters and the current schedule of one remote stream.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// The slot plays a stream.
    pub active: bool,
    /// Sender.
    pub user_id: u32,
    /// Its stream.
    pub stream_id: u16,
    /// Packets pushed into the jitter buffer.
    pub received: u64,
    /// Packets decoded.
    pub decoded: u64,
    /// Frames concealed (lost, late or undecodable).
    pub concealed: u64,
    /// Blocks that ran out of audio (the FIFO starved).
    pub starved: u64,
    /// The jitter buffer's counters.
    pub buffer: jitter::Stats,
    /// Local time minus the media position being played at the last block start, in 48 kHz
    /// ticks, plus the interpolator's delay: the one-way latency when both sample clocks share
    /// an origin (senders stamp media with their sample clock).
    pub playout_lag_ticks: f64,
    /// The ratio the resampler plays at (media ticks per local tick; exactly 1 on the grid).
    pub ratio: f64,
    /// How far behind the jitter buffer's schedule the reader plays, in ticks: the
    /// interpolator's look-ahead, or 0 while it copies on the sample grid.
    pub reader_lag_ticks: u32,
    /// How long ago, on the session timeline, the audio this slot plays at the last block
    /// start was captured by its sender, in 48 kHz ticks: the lag behind the room's grid (the
    /// audio devices' own input and output latencies not included). `None` until the sender's
    /// capture stamps and our session clock are known.
    pub grid_lag_ticks: Option<f64>,
    /// The placement period the slot plays on (48 kHz ticks), while it places the stream on
    /// the grid; `grid_lag_ticks` is then a whole number of these.
    pub placed_period_ticks: Option<f64>,
    /// Times the placing reader jumped to its target (starts, tempo changes, a jitter buffer
    /// that outgrew the placement).
    pub place_jumps: u64,
    /// Blocks played live because the placement would need more delay than is held.
    pub unplaceable: u64,
    /// Times the reader skipped audio to catch up with the schedule (our device slower than
    /// the sender's by more than the resampler follows), and the 48 kHz ticks skipped.
    pub skips: u64,
    /// Ticks of audio skipped.
    pub skipped_ticks: f64,
    /// Times the reader repeated audio to stay behind the schedule (our device faster than the
    /// sender's by more than the resampler follows), and the ticks repeated.
    pub repeats: u64,
    /// Ticks of audio repeated.
    pub repeated_ticks: f64,
    /// Peak level of the last published interval.
    pub peak: f32,
}

enum Decoder {
    Opus(codec::opus::Decoder),
    Pcm,
}

/// One remote stream slot (preallocated; reused when streams come and go).
pub struct Remote {
    key: Option<(u32, u16)>,
    encoding: StreamEncoding,
    channels: usize,
    frame_samples: u32,
    opus: Decoder,
    buffer: jitter::Buffer,
    fifo: Fifo,
    /// Absolute FIFO position of the next output sample.
    read: f64,
    /// The scheduled reader copies whole samples on the sample grid (see `remote/direct.rs`)
    /// rather than interpolating.
    direct: bool,
    playing: bool,
    ratio: f64,
    payload: Box<[u8]>,
    decoded: Box<[f32]>,
    left: Box<[f32]>,
    right: Box<[f32]>,
    /// The old reader's continuation during a skip's or repeat's crossfade.
    fade_left: Box<[f32]>,
    fade_right: Box<[f32]>,
    gain: f32,
    stats: Stats,
    /// Media (RTP) ticks → the sender's capture instant on the session timeline: capture =
    /// media + this (smoothed over the packets' stamps).
    capture_offset: Option<f64>,
    /// The placing reader's FIFO position and the total lag it holds, while placing.
    placed: Option<Placed>,
}

impl Remote {
    /// A free slot for blocks of up to `max_block` frames, holding `held` more 48 kHz frames
    /// of decoded audio for grid placement (allocates everything it will need).
    pub fn new(max_block: usize, buffer: jitter::Config, held: usize) -> Self {
        let opus = codec::opus::Decoder::new(2).map_or(Decoder::Pcm, Decoder::Opus);
        Self {
            key: None,
            encoding: StreamEncoding::Opus,
            channels: 2,
            frame_samples: 120,
            opus,
            buffer: jitter::Buffer::new(buffer),
            fifo: Fifo::new(FIFO_FRAMES + held),
            read: 0.0,
            direct: false,
            playing: false,
            ratio: 1.0,
            payload: vec![0; net::link::MAX_PAYLOAD].into_boxed_slice(),
            decoded: vec![0.0; MAX_DECODED * 2].into_boxed_slice(),
            left: vec![0.0; max_block].into_boxed_slice(),
            right: vec![0.0; max_block].into_boxed_slice(),
            fade_left: vec![0.0; JUMP_FADE_FRAMES].into_boxed_slice(),
            fade_right: vec![0.0; JUMP_FADE_FRAMES].into_boxed_slice(),
            gain: 1.0,
            stats: Stats::default(),
            capture_offset: None,
            placed: None,
        }
    }

    /// The (user, stream) this slot plays, if any.
    pub fn key(&self) -> Option<(u32, u16)> {
        self.key
    }

    /// Takes this slot for a newly announced stream. The jitter buffer is replaced in place by
    /// a fresh one built from the same (preallocated) configuration without allocating: its
    /// storage is reset, not rebuilt.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn assign(&mut self, user_id: u32, stream_id: u16, info: StreamShape) {
        let same = self.key == Some((user_id, stream_id))
            && self.encoding == info.encoding
            && self.channels == info.channels
            && self.frame_samples == info.frame_samples;
        if same {
            return; // a re-announcement of what we already play
        }
        self.key = Some((user_id, stream_id));
        self.encoding = info.encoding;
        self.channels = info.channels.clamp(1, 2);
        self.frame_samples = info.frame_samples;
        self.restart_stream();
        self.stats = Stats {
            active: true,
            user_id,
            stream_id,
            ratio: 1.0,
            ..Stats::default()
        };
    }

    /// Frees the slot.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn release(&mut self) {
        self.key = None;
        self.restart_stream();
        self.stats.active = false;
    }

    fn restart_stream(&mut self) {
        if let Decoder::Opus(decoder) = &mut self.opus {
            decoder.reset();
        }
        self.buffer.reset();
        self.playing = false;
        self.ratio = 1.0;
        self.capture_offset = None;
        self.placed = None;
    }

    /// Stores a received packet; `arrival` is the local sample clock in 48 kHz ticks,
    /// `capture` the sender's capture stamp (session ticks mod 2^32) and `session_offset` our
    /// session clock (session ticks − local ticks), when known.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn push(
        &mut self,
        arrival: u64,
        seq: u64,
        timestamp: u64,
        capture: Option<u32>,
        session_offset: Option<f64>,
        payload: &[u8],
    ) {
        self.stats.received += 1;
        if let (Some(capture), Some(offset)) = (capture, session_offset) {
            self.note_capture(arrival as f64 + offset, timestamp, capture);
        }
        self.buffer.push(
            MediaTime(arrival),
            SeqNo(seq),
            MediaTime(timestamp),
            payload,
        );
    }

    /// Learns the capture-to-media offset from one packet's stamp, unwrapped around our
    /// session time `session_now` (ticks).
    fn note_capture(&mut self, session_now: f64, timestamp: u64, capture: u32) {
        // The stamp is the low 32 bits of a session tick a little before now.
        let behind = f64::from(
            (session_now.rem_euclid(4_294_967_296.0) as u32).wrapping_sub(capture) as i32,
        );
        if !(-CAPTURE_MAX_AHEAD_TICKS..=CAPTURE_MAX_AGE_TICKS).contains(&behind) {
            return;
        }
        let offset = session_now - behind - timestamp as f64;
        self.capture_offset = Some(match self.capture_offset {
            Some(old) if (offset - old).abs() <= CAPTURE_JUMP_TICKS => {
                old + (offset - old) / CAPTURE_SMOOTHING
            }
            _ => offset,
        });
    }

    /// Renders `frames` host frames starting at local time `now` (48 kHz ticks) into this
    /// slot's output, gliding the gain to `gain`. `rate_factor` is 48 kHz / host rate.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn render(
        &mut self,
        now: u64,
        frames: usize,
        rate_factor: f64,
        kernel: &Kernel,
        gain: f32,
        timing: Timing,
    ) {
        let frames = frames.min(self.left.len());
        self.choose_reader(rate_factor, timing);
        if !self.playing && !self.start(now) {
            self.left[..frames].fill(0.0);
            self.right[..frames].fill(0.0);
            self.gain = gain;
            return;
        }
        let rate = if self.direct { 1.0 } else { self.ratio };
        let step = rate * rate_factor;
        let jumped_from = if self.direct {
            self.keep_on_grid(now)
        } else {
            self.keep_on_schedule(now)
        };
        let lookahead = self.lookahead() as f64;
        let last = self.read + (frames.saturating_sub(1)) as f64 * step;
        // A repeat's fade still plays the old reader's next frames: they must be held too.
        let faded_last = jumped_from.map_or(0.0, |from| from + JUMP_FADE_FRAMES as f64 * step);
        let need = (last.max(faded_last) + lookahead).floor() as u64 + 1;
        while self.fifo.end() < need {
            let pop_at = if self.direct {
                // Packets reach the buffer only between blocks, so whatever is due before
                // this block ends is as final now as at its own deadline; asking at the end
                // also keeps a schedule that glides a fraction of a tick during the block
                // from leaving the reader a sample short.
                MediaTime(now + frames.saturating_sub(1) as u64)
            } else {
                let ahead = (self.fifo.end() as f64 - self.read).max(0.0) / rate;
                MediaTime(now + ahead as u64)
            };
            match self.buffer.pop(pop_at, &mut self.payload) {
                Pop::Packet { media, len, .. } => {
                    let skip = self.align(media.ticks());
                    self.decode(len, skip);
                }
                Pop::Missing { media, .. } => {
                    let skip = self.align(media.ticks());
                    self.conceal(skip);
                }
                Pop::Wait => break,
            }
        }
        // Frames whose interpolation window the FIFO covers. Fewer than the block means the
        // reader got ahead of the schedule (the buffer had nothing due yet): the rest of the
        // block is silence and the read position waits, so no media is skipped; the rate loop
        // and the jitter target move the reader back behind the schedule.
        let covered = self.fifo.end() as f64 - lookahead - 1.0 - self.read;
        // Only the block's own frames count: a jump's fade may want more than is due yet.
        let scheduled_starved = self.fifo.end() < (last + lookahead).floor() as u64 + 1;
        let playable = if scheduled_starved {
            ((covered / step).floor() + 1.0).clamp(0.0, frames as f64) as usize
        } else {
            frames
        };
        let playing_at = self.read;
        let session_now = timing.session_offset.map(|offset| now as f64 + offset);
        let heard_at = match self.place(session_now, timing.period, frames, step) {
            Some((placed_at, behind)) => {
                // The scheduled reader only paces the jitter buffer; the placed one is heard.
                self.read += playable as f64 * step;
                self.render_placed(kernel, placed_at, behind, frames, rate_factor);
                placed_at
            }
            None => {
                // Only the reader that is heard counts its starvation (the placed one counts
                // its own in `render_placed`).
                if scheduled_starved {
                    self.stats.starved += 1;
                }
                self.read = if self.direct {
                    let at = self.read.max(0.0) as u64;
                    let (left, right) = (&mut self.left[..playable], &mut self.right[..playable]);
                    self.fifo.copy(at, left, right);
                    self.read + playable as f64
                } else {
                    self.fifo.render(
                        kernel,
                        self.read,
                        step,
                        &mut self.left[..playable],
                        &mut self.right[..playable],
                    )
                };
                self.left[playable..frames].fill(0.0);
                self.right[playable..frames].fill(0.0);
                if let Some(from) = jumped_from {
                    self.crossfade_from(kernel, from, step, frames);
                }
                playing_at
            }
        };
        self.buffer
            .handle_playout(MediaTime(now), MediaTime(playing_at.max(0.0) as u64));
        // The kernel is centred: the output at position p is the input at p, no extra delay.
        self.stats.playout_lag_ticks = now as f64 - heard_at;
        self.stats.grid_lag_ticks = session_now
            .zip(self.capture_offset)
            .map(|(session, offset)| session - (heard_at + offset));
        self.stats.placed_period_ticks = self.placed.map(|p| p.period);
        while let Some(event) = self.buffer.poll_event() {
            match event {
                jitter::Event::Rate { ratio } => self.ratio = ratio,
                jitter::Event::Resync => self.playing = false,
                _ => {}
            }
        }
        if self.buffer.next_deadline().is_none() {
            // The sender went quiet long enough for the buffer to stop: restart on its return.
            self.playing = false;
        }
        self.apply_gain(frames, gain);
        self.stats.ratio = rate;
        self.stats.reader_lag_ticks = self.lag();
    }

    /// Starts playing once the first packet is due; false while nothing is.
    fn start(&mut self, now: u64) -> bool {
        let Pop::Packet { media, len, .. } = self.buffer.pop(MediaTime(now), &mut self.payload)
        else {
            return false;
        };
        let media = media.ticks();
        // Start exactly where the reader belongs: its lag behind the schedule's place now. The packet was due `past_deadline` ago, so the schedule is that far into
        // it already (a late start skips the packet's beginning rather than carry the delay).
        let past_deadline = self
            .buffer
            .deadline(MediaTime(media))
            .map_or(0, |deadline| now.saturating_sub(deadline.ticks()));
        self.fifo.restart(media);
        self.read = media as f64 + past_deadline as f64 - f64::from(self.lag());
        self.ratio = 1.0;
        self.playing = true;
        self.decode(len, 0);
        true
    }

    /// Brings the FIFO's end to `media` before a frame is appended; returns how many of the
    /// frame's leading samples are already covered (after a starvation filled them with zeros).
    fn align(&mut self, media: u64) -> usize {
        let end = self.fifo.end();
        if media >= end {
            let gap = media - end;
            if gap > MAX_GAP {
                self.fifo.restart(media);
                self.read = media as f64 - f64::from(self.lag());
            } else {
                for _ in 0..gap {
                    self.fifo.push(0.0, 0.0);
                }
            }
            0
        } else {
            (end - media).min(usize::MAX as u64) as usize
        }
    }

    fn decode(&mut self, len: usize, skip: usize) {
        let payload = &self.payload[..len];
        let samples = match (&mut self.opus, self.encoding) {
            (Decoder::Opus(decoder), StreamEncoding::Opus) => decoder
                .decode(payload, &mut self.decoded)
                .ok()
                .map(|n| n * 2),
            (_, StreamEncoding::L24) => {
                codec::pcm::decode(codec::pcm::Format::L24, payload, &mut self.decoded).ok()
            }
            (_, StreamEncoding::L16) => {
                codec::pcm::decode(codec::pcm::Format::L16, payload, &mut self.decoded).ok()
            }
            (Decoder::Pcm, StreamEncoding::Opus) => None,
        };
        let Some(samples) = samples else {
            self.conceal(skip);
            return;
        };
        self.stats.decoded += 1;
        // Opus decodes to our stereo decoder's layout; PCM carries the stream's channels.
        let channels = if self.encoding == StreamEncoding::Opus {
            2
        } else {
            self.channels
        };
        self.append(samples / channels, channels, skip);
    }

    fn conceal(&mut self, skip: usize) {
        self.stats.concealed += 1;
        let frame = self.frame_samples as usize;
        let concealed = match (&mut self.opus, self.encoding) {
            (Decoder::Opus(decoder), StreamEncoding::Opus) => FrameDuration::from_samples(frame)
                .and_then(|duration| decoder.conceal(duration, &mut self.decoded).ok()),
            _ => None,
        };
        match concealed {
            Some(n) => self.append(n, 2, skip),
            None => {
                // PCM has no model to extrapolate from: a lost frame plays as silence.
                let n = frame.min(MAX_DECODED);
                self.decoded[..n * 2].fill(0.0);
                self.append(n, 2, skip);
            }
        }
    }

    fn append(&mut self, frames: usize, channels: usize, skip: usize) {
        let channels = if channels == 2 { 2 } else { 1 };
        let frames = frames.min(self.decoded.len() / channels);
        let samples = &self.decoded[skip.min(frames) * channels..frames * channels];
        self.fifo.extend(samples, channels);
    }

    fn apply_gain(&mut self, frames: usize, gain: f32) {
        let start = self.gain;
        let (left, right) = (&mut self.left[..frames], &mut self.right[..frames]);
        if gain != start {
            let step = (gain - start) / frames.max(1) as f32;
            for (i, (l, r)) in left.iter_mut().zip(right.iter_mut()).enumerate() {
                let g = start + step * (i + 1) as f32;
                *l *= g;
                *r *= g;
            }
        } else if gain != 1.0 {
            // A steady gain (the glide's every step would be `gain` exactly).
            for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                *l *= gain;
                *r *= gain;
            }
        }
        self.gain = gain;
        self.stats.peak = self.stats.peak.max(peak(left)).max(peak(right));
    }

    /// The slot's rendered output of the last block.
    pub fn output(&self, frames: usize) -> (&[f32], &[f32]) {
        let frames = frames.min(self.left.len());
        (&self.left[..frames], &self.right[..frames])
    }

    /// Counters and schedule.
    pub fn stats(&self) -> Stats {
        // The buffer's counters are copied when asked for (every few blocks), not per block.
        Stats {
            buffer: self.buffer.stats(),
            ..self.stats
        }
    }

    /// Counters and schedule; resets the peak meter.
    pub fn take_stats(&mut self) -> Stats {
        let stats = self.stats();
        self.stats.peak = 0.0;
        stats
    }

    /// The jitter buffer's current playout delay beyond the path minimum, plus our lag, in µs.
    pub fn playout_delay_us(&self) -> u32 {
        let stats = self.buffer.stats();
        let ticks = stats.delay_ticks.max(0) as f64 + f64::from(self.lag());
        (ticks * 1e6 / 48_000.0) as u32
    }

    /// Whether the slot is playing audio now.
    pub fn is_playing(&self) -> bool {
        self.playing
    }
}

/// The largest magnitude in `samples` (0 when empty; NaNs ignored). Eight running maxima
/// rather than one, so the loop is not one long chain of dependent `max`es and vectorizes.
fn peak(samples: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = samples.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, x) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(x.abs());
        }
    }
    let peak = tail.iter().fold(0f32, |peak, x| peak.max(x.abs()));
    lanes.iter().fold(peak, |peak, &lane| peak.max(lane))
}

/// What the audio thread needs to know of an announced stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamShape {
    /// Its encoding.
    pub encoding: StreamEncoding,
    /// 1 or 2.
    pub channels: usize,
    /// Samples per channel per packet.
    pub frame_samples: u32,
}
