//! Opus in restricted low-delay mode: one encoder per track, one decoder per (peer, track).
//!
//! Restricted low-delay (`OPUS_APPLICATION_RESTRICTED_LOWDELAY`) is CELT only: 2.5 ms of
//! look-ahead, frames of 2.5, 5, 10 or 20 ms, and no in-band FEC. The encoder can run hard CBR
//! so every packet of a stream has the same size, which packet-level XOR parity needs.

use ::opus as libopus;

use crate::WIRE_RATE;

/// Frame durations restricted low-delay Opus supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameDuration {
    /// 2.5 ms, 120 samples per channel.
    Ms2_5,
    /// 5 ms, 240 samples per channel.
    Ms5,
    /// 10 ms, 480 samples per channel.
    Ms10,
    /// 20 ms, 960 samples per channel.
    Ms20,
}

impl FrameDuration {
    /// Samples per channel in one frame at 48 kHz.
    pub const fn samples(self) -> usize {
        match self {
            Self::Ms2_5 => 120,
            Self::Ms5 => 240,
            Self::Ms10 => 480,
            Self::Ms20 => 960,
        }
    }

    /// The duration with this many samples per channel, if Opus allows it.
    pub fn from_samples(samples: usize) -> Option<Self> {
        [Self::Ms2_5, Self::Ms5, Self::Ms10, Self::Ms20]
            .into_iter()
            .find(|d| d.samples() == samples)
    }
}

/// Lowest bitrate we configure, bits per second.
pub const MIN_BITRATE: u32 = 16_000;
/// Highest bitrate Opus supports, bits per second.
pub const MAX_BITRATE: u32 = 510_000;
/// Encoder look-ahead in restricted low-delay mode: 2.5 ms.
pub const LOOKAHEAD_SAMPLES: usize = 120;
/// Largest packet Opus produces for one frame (RFC 6716 §3.4 bound), and our buffer size.
pub const MAX_PACKET: usize = 1275;

/// Encoder settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// 1 or 2.
    pub channels: usize,
    /// Frame duration.
    pub frame: FrameDuration,
    /// Bits per second, [`MIN_BITRATE`]..=[`MAX_BITRATE`].
    pub bitrate: u32,
    /// 0 (fastest) ..= 10 (best).
    pub complexity: u8,
    /// Hard constant bitrate: every packet the same size (needed for XOR parity).
    pub constant_bitrate: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            channels: 2,
            frame: FrameDuration::Ms5,
            bitrate: 128_000,
            complexity: 5,
            constant_bitrate: false,
        }
    }
}

/// What went wrong in the codec. Configuration errors are the caller's fault and do not go
/// away on retry; `Opus` errors on decode mean a corrupt packet (the sender's or the network's
/// fault): conceal that frame instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Channel count other than 1 or 2.
    #[error("unsupported channel count {0}")]
    Channels(usize),
    /// Bitrate outside 16..=510 kb/s.
    #[error("bitrate {0} b/s outside {MIN_BITRATE}..={MAX_BITRATE}")]
    Bitrate(u32),
    /// Complexity above 10.
    #[error("complexity {0} above 10")]
    Complexity(u8),
    /// Input is not exactly one frame, or the output cannot hold one frame.
    #[error("buffer of {got} samples where {expected} are needed")]
    FrameSize {
        /// Interleaved samples required.
        expected: usize,
        /// Interleaved samples given.
        got: usize,
    },
    /// libopus reported an error (its code).
    #[error("libopus error {0}")]
    Opus(i32),
}

impl From<libopus::Error> for Error {
    fn from(e: libopus::Error) -> Self {
        Self::Opus(e.code() as i32)
    }
}

fn channels(n: usize) -> Result<libopus::Channels, Error> {
    match n {
        1 => Ok(libopus::Channels::Mono),
        2 => Ok(libopus::Channels::Stereo),
        other => Err(Error::Channels(other)),
    }
}

/// An Opus encoder for one track.
pub struct Encoder {
    inner: libopus::Encoder,
    config: Config,
}

impl Encoder {
    /// Builds an encoder (allocates; not on the audio thread).
    ///
    /// # Errors
    ///
    /// A configuration outside the ranges of [`Config`], or libopus refusing it.
    pub fn new(config: Config) -> Result<Self, Error> {
        let mut inner = libopus::Encoder::new(
            WIRE_RATE,
            channels(config.channels)?,
            libopus::Application::LowDelay,
        )?;
        if config.complexity > 10 {
            return Err(Error::Complexity(config.complexity));
        }
        inner.set_complexity(i32::from(config.complexity))?;
        inner.set_vbr(!config.constant_bitrate)?;
        let mut encoder = Self { inner, config };
        encoder.set_bitrate(config.bitrate)?;
        Ok(encoder)
    }

    /// Changes the bitrate (adaptive bitrate); takes effect from the next frame.
    ///
    /// Audio thread: must not allocate, lock or block.
    ///
    /// # Errors
    ///
    /// [`Error::Bitrate`] outside 16..=510 kb/s.
    pub fn set_bitrate(&mut self, bitrate: u32) -> Result<(), Error> {
        if !(MIN_BITRATE..=MAX_BITRATE).contains(&bitrate) {
            return Err(Error::Bitrate(bitrate));
        }
        self.inner
            .set_bitrate(libopus::Bitrate::Bits(bitrate as i32))?;
        self.config.bitrate = bitrate;
        Ok(())
    }

    /// Encodes exactly one frame of interleaved samples into `out`; returns the packet length.
    ///
    /// Audio thread: must not allocate, lock or block.
    ///
    /// # Errors
    ///
    /// [`Error::FrameSize`] unless `pcm` holds exactly one frame; [`Error::Opus`] if `out` is
    /// too small ([`MAX_PACKET`] always suffices).
    pub fn encode(&mut self, pcm: &[f32], out: &mut [u8]) -> Result<usize, Error> {
        let expected = self.frame_samples();
        if pcm.len() != expected {
            return Err(Error::FrameSize {
                expected,
                got: pcm.len(),
            });
        }
        Ok(self.inner.encode_float(pcm, out)?)
    }

    /// Interleaved samples in one frame.
    pub fn frame_samples(&self) -> usize {
        self.config.frame.samples() * self.config.channels
    }

    /// The settings in force.
    pub fn config(&self) -> Config {
        self.config
    }
}

/// An Opus decoder for one (peer, track).
pub struct Decoder {
    inner: libopus::Decoder,
    channels: usize,
}

impl Decoder {
    /// Builds a decoder producing `channels` channels (allocates; not on the audio thread).
    ///
    /// # Errors
    ///
    /// [`Error::Channels`] unless 1 or 2.
    pub fn new(channel_count: usize) -> Result<Self, Error> {
        let inner = libopus::Decoder::new(WIRE_RATE, channels(channel_count)?)?;
        Ok(Self {
            inner,
            channels: channel_count,
        })
    }

    /// Decodes one packet into `out` (interleaved); returns samples per channel.
    ///
    /// Audio thread: must not allocate, lock or block.
    ///
    /// # Errors
    ///
    /// [`Error::Opus`] for a corrupt packet or an `out` too small for it (conceal instead).
    pub fn decode(&mut self, packet: &[u8], out: &mut [f32]) -> Result<usize, Error> {
        if packet.is_empty() {
            return Err(Error::Opus(-4)); // OPUS_INVALID_PACKET: an empty packet is loss, not data
        }
        Ok(self.inner.decode_float(packet, out, false)?)
    }

    /// Conceals one lost frame of `frame` duration into `out` (Opus PLC); returns samples per
    /// channel.
    ///
    /// Audio thread: must not allocate, lock or block.
    ///
    /// # Errors
    ///
    /// [`Error::FrameSize`] if `out` is shorter than one frame.
    pub fn conceal(&mut self, frame: FrameDuration, out: &mut [f32]) -> Result<usize, Error> {
        let expected = frame.samples() * self.channels;
        let Some(out) = out.get_mut(..expected) else {
            return Err(Error::FrameSize {
                expected,
                got: out.len(),
            });
        };
        Ok(self.inner.decode_float(&[], out, false)?)
    }

    /// Channels this decoder produces.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Forgets all decoding state, as if freshly built (a new stream reuses the decoder).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        // OPUS_RESET_STATE only clears the preallocated state; it cannot fail on a valid decoder.
        let _ = self.inner.reset_state();
    }
}

#[cfg(test)]
mod tests;
