//! Our track on its way out: host-rate audio converted to the 48 kHz wire clock when the host
//! runs at another rate, cut into frames, encoded (Opus or L24) and queued for the network
//! thread. Media timestamps count 48 kHz samples since the engine started; each packet is also
//! stamped with the instant its first sample was captured on the session timeline, so that
//! receivers can place it on the room's grid.

use net::link::{Outbound, OutboundSender};

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
