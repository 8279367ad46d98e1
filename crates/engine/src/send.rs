//! Our track on its way out: host-rate audio converted to the 48 kHz wire clock when the host
//! runs at another rate, cut into frames, encoded (Opus or L24) and queued for the network
//! thread. Media timestamps count 48 kHz samples since the engine started; each packet is also
//! stamped with the instant its first sample was captured on the session timeline, so that
//! receivers can place it on the room's grid.

use net::link::{Outbound, OutboundSender};
use rt::packet::Schedule;

use crate::config::Codec;
use crate::resample::{Fifo, Kernel, LOOKAHEAD};

/// Counters of the send path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets queued for the network thread.
    pub packets: u64,
    /// Packets the ring refused (the network thread is not keeping up).
    pub dropped: u64,
    /// Frames the encoder refused.
    pub encode_errors: u64,
}

/// The send path of one local track.
pub struct Send {
    codec: Codec,
    frame: usize,
    opus: Option<codec::opus::Encoder>,
    /// Interleaved stereo frame being filled.
    pending: Box<[f32]>,
    filled: usize,
    timestamp: u64,
    packet: Box<[u8]>,
    /// Host-to-wire conversion (absent at 48 kHz).
    convert: Option<Convert>,
    stats: Stats,
    /// The local stream slot the packets are for.
    stream: u8,
    /// Local 48 kHz ticks of the first sample of the frame being filled.
    frame_start: f64,
    /// Session ticks minus local ticks for the block being taken, once known.
    session_offset: Option<f64>,
}

struct Convert {
    fifo: Fifo,
    kernel: Kernel,
    read: f64,
    step: f64,
    scratch_l: Box<[f32]>,
    scratch_r: Box<[f32]>,
}

impl Send {
    /// The send path for `codec` at host rate `sample_rate`, blocks of up to `max_block`.
    ///
    /// # Errors
    /// The Opus encoder refused the configuration.
    pub fn new(
        codec: Codec,
        sample_rate: f64,
        max_block: usize,
    ) -> Result<Self, codec::opus::Error> {
        let opus = match codec {
            Codec::Opus { frame, bitrate } => {
                Some(codec::opus::Encoder::new(codec::opus::Config {
                    channels: 2,
                    frame,
                    bitrate,
                    complexity: 5,
                    // XOR parity protects equal-length packets best (see codec::opus).
                    constant_bitrate: true,
                })?)
            }
            Codec::PcmL24 { .. } => None,
        };
        let frame = codec.frame_samples() as usize;
        let convert = ((sample_rate - 48_000.0).abs() > 1e-9).then(|| {
            let step = sample_rate / 48_000.0;
            // Downsampling to 48 kHz band-limits to the wire's Nyquist.
            let cutoff = (48_000.0 / sample_rate).min(1.0) * if step > 1.0 { 0.95 } else { 1.0 };
            let chunk = (max_block as f64 / step).ceil() as usize + 4;
            Convert {
                fifo: Fifo::new(max_block * 4 + 4 * LOOKAHEAD),
                kernel: Kernel::new(cutoff),
                read: 0.0,
                step,
                scratch_l: vec![0.0; chunk].into_boxed_slice(),
                scratch_r: vec![0.0; chunk].into_boxed_slice(),
            }
        });
        Ok(Self {
            codec,
            frame,
            opus,
            pending: vec![0.0; frame * 2].into_boxed_slice(),
            filled: 0,
            timestamp: 0,
            packet: vec![0; net::link::MAX_PAYLOAD].into_boxed_slice(),
            convert,
            stats: Stats::default(),
            stream: 0,
            frame_start: 0.0,
            session_offset: None,
        })
    }

    /// Takes one host block (`left`, `right` of equal length, already gain-scaled) that
    /// starts at local time `start` (48 kHz ticks), and queues every packet it completes,
    /// stamped with its capture instant when `session_offset` (session − local ticks) is known.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn process(
        &mut self,
        left: &[f32],
        right: &[f32],
        start: f64,
        session_offset: Option<f64>,
        out: &mut OutboundSender,
    ) {
        self.session_offset = session_offset;
        let frames = left.len().min(right.len());
        self.take(left, right, start, out);
        self.publish_schedule(frames, start, out);
    }

    fn take(&mut self, left: &[f32], right: &[f32], start: f64, out: &mut OutboundSender) {
        let Some(mut convert) = self.convert.take() else {
            for (i, (&l, &r)) in left.iter().zip(right).enumerate() {
                self.push(l, r, start + i as f64, out);
            }
            return;
        };
        // Host sample `fifo.end()` is the block's first: FIFO positions are host samples, and
        // a wire sample read at position p was captured at local tick start + (p − first) / step.
        let first = convert.fifo.end() as f64;
        for (&l, &r) in left.iter().zip(right) {
            convert.fifo.push(l, r);
        }
        // Render every wire sample whose interpolation window the FIFO now covers.
        let available = convert.fifo.end() as f64 - LOOKAHEAD as f64 - convert.read;
        let count =
            ((available / convert.step).floor().max(0.0) as usize).min(convert.scratch_l.len());
        let (l, r) = (
            &mut convert.scratch_l[..count],
            &mut convert.scratch_r[..count],
        );
        let read = convert.read;
        convert.read = convert
            .fifo
            .render(&convert.kernel, convert.read, convert.step, l, r);
        for i in 0..count {
            let at = start + (read + i as f64 * convert.step - first) / convert.step;
            self.push(convert.scratch_l[i], convert.scratch_r[i], at, out);
        }
        self.convert = Some(convert);
    }

    /// Tells the network side, which may not be woken from here, when the next packet comes:
    /// the local tick at this block's end and the ticks to the end of the block that will
    /// complete it, if blocks keep this length. One atomic store.
    fn publish_schedule(&self, frames: usize, start: f64, out: &OutboundSender) {
        if frames == 0 {
            return;
        }
        let step = self.convert.as_ref().map_or(1.0, |c| c.step);
        let block_ticks = frames as f64 / step;
        // A converted block yields a wire sample more or less than its length: count the
        // larger, so the estimate errs early (a wake-up that finds nothing costs a poll, one
        // that comes a block late costs a block of latency).
        let per_block = if self.convert.is_some() {
            block_ticks + 1.0
        } else {
            block_ticks
        };
        let blocks = ((self.frame - self.filled) as f64 / per_block)
            .ceil()
            .max(1.0);
        out.publish_schedule(Schedule {
            position: (start + block_ticks).round() as u64,
            ahead: (blocks * block_ticks).round() as u32,
        });
    }

    fn push(&mut self, left: f32, right: f32, at: f64, out: &mut OutboundSender) {
        if self.filled == 0 {
            self.frame_start = at;
        }
        self.pending[2 * self.filled] = left;
        self.pending[2 * self.filled + 1] = right;
        self.filled += 1;
        if self.filled == self.frame {
            self.emit(out);
            self.filled = 0;
            self.timestamp += self.frame as u64;
        }
    }

    fn emit(&mut self, out: &mut OutboundSender) {
        let len = match (&mut self.opus, self.codec) {
            (Some(encoder), _) => encoder.encode(&self.pending, &mut self.packet).ok(),
            (None, _) => {
                codec::pcm::encode(codec::pcm::Format::L24, &self.pending, &mut self.packet).ok()
            }
        };
        let Some(len) = len else {
            self.stats.encode_errors += 1;
            return;
        };
        let meta = Outbound {
            stream: self.stream,
            timestamp: self.timestamp,
            // The session timeline's ticks, mod 2^32 as on the wire.
            capture: self.session_offset.map(|offset| {
                (self.frame_start + offset)
                    .round()
                    .rem_euclid(4_294_967_296.0) as u32
            }),
        };
        if out.send(meta, &self.packet[..len]) {
            self.stats.packets += 1;
        } else {
            self.stats.dropped += 1;
        }
    }

    /// Sends on local stream slot `stream` (a further track of the session) instead of 0.
    pub fn on_stream(mut self, stream: u8) -> Self {
        self.stream = stream;
        self
    }

    /// Applies the bitrate policy's target (Opus only; clamped to what Opus accepts).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_bitrate(&mut self, bps: u32) {
        if let Some(encoder) = &mut self.opus {
            let bps = bps.clamp(codec::opus::MIN_BITRATE, codec::opus::MAX_BITRATE);
            let _ = encoder.set_bitrate(bps);
        }
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Samples between a sample entering [`Send::process`] and the start of the packet that
    /// carries it leaving, at most (one frame, plus the rate converter's look-ahead).
    pub fn latency_samples(&self) -> usize {
        self.frame + if self.convert.is_some() { LOOKAHEAD } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schedule after each of `blocks` blocks of `frames` host samples at `rate`.
    fn schedules(codec: Codec, rate: f64, frames: usize, blocks: usize) -> Vec<Schedule> {
        let mut send = Send::new(codec, rate, frames).unwrap();
        let (mut out, ring) = rt::packet::ring(net::link::RING_SLOTS);
        let watch = ring.watch();
        let silence = vec![0.0; frames];
        let step = 48_000.0 / rate;
        (0..blocks)
            .map(|block| {
                let start = (block * frames) as f64 * step;
                send.process(&silence, &silence, start, None, &mut out);
                watch.schedule().expect("published")
            })
            .collect()
    }

    #[test]
    fn the_schedule_points_at_the_block_that_completes_the_next_packet() {
        // 64-sample packets at 64-sample blocks: every block hands one over.
        let pcm = schedules(Codec::PcmL24 { frame_samples: 64 }, 48_000.0, 64, 3);
        let ahead: Vec<(u64, u32)> = pcm.iter().map(|s| (s.position, s.ahead)).collect();
        assert_eq!(ahead, [(64, 64), (128, 64), (192, 64)]);
        // 120-sample Opus frames at 64-sample blocks: packets complete at samples 120, 240,
        // 360, 480, in blocks 2, 4, 6, 8 (ending at 128, 256, 384, 512).
        let opus = Codec::Opus {
            frame: codec::opus::FrameDuration::Ms2_5,
            bitrate: 128_000,
        };
        let next: Vec<u64> = schedules(opus, 48_000.0, 64, 7)
            .iter()
            .map(|s| s.position + u64::from(s.ahead))
            .collect();
        assert_eq!(next, [128, 256, 256, 384, 384, 512, 512]);
    }

    #[test]
    fn a_converted_stream_errs_early_by_at_most_a_block() {
        // 44.1 kHz host, 64-sample blocks = 69.7 ticks: a 64-tick packet needs one block.
        let pcm = schedules(Codec::PcmL24 { frame_samples: 64 }, 44_100.0, 64, 50);
        for schedule in &pcm[10..] {
            assert_eq!(schedule.ahead, 70, "{schedule:?}");
        }
    }
}
