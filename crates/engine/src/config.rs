//! What an engine is built from: identity, room, addresses, codec, jitter buffer and the audio
//! format the host runs at. Validated once here, so the audio thread never meets a bad value.

use std::net::SocketAddr;
use std::time::Duration;

use codec::opus::FrameDuration;

/// How our track is encoded on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// Uncompressed 24-bit PCM (RFC 3190 L24): the lowest latency, ~2.3 Mb/s per stereo track.
    PcmL24 {
        /// Samples per channel per packet (16..=240; 64 matches a 64-sample host block).
        frame_samples: u32,
    },
    /// Opus (RFC 7587) in its low-delay mode.
    Opus {
        /// Frame duration.
        frame: FrameDuration,
        /// Bits per second (16,000..=510,000).
        bitrate: u32,
    },
}

impl Codec {
    /// Samples per channel per packet.
    pub fn frame_samples(self) -> u32 {
        match self {
            Self::PcmL24 { frame_samples } => frame_samples,
            Self::Opus { frame, .. } => frame.samples() as u32,
        }
    }
}

impl Default for Codec {
    fn default() -> Self {
        Self::Opus {
            frame: FrameDuration::Ms2_5,
            bitrate: 128_000,
        }
    }
}

/// How the jitter buffer chooses its delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum JitterMode {
    /// Adapt to the measured jitter (0.1 % late-packet budget).
    #[default]
    Auto,
    /// Hold this delay beyond the path's minimum transit.
    Fixed(Duration),
}

/// Where remote audio is placed on the room's beat grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Align {
    /// As early as it can play (the lowest latency); each stream's lag behind the grid is
    /// measured and reported.
    #[default]
    Live,
    /// Delayed so that what a player played on a beat of the grid is heard exactly on a later
    /// beat: for material that repeats each beat, the remote part sits on the grid.
    Beat,
    /// The same a whole bar later (NINJAM-style, on the shared grid rather than an interval).
    Bar,
}

impl Align {
    /// How many beats the placement period holds at `beats_per_bar` (`None` for [`Align::Live`]).
    pub fn period_beats(self, beats_per_bar: f64) -> Option<f64> {
        match self {
            Self::Live => None,
            Self::Beat => Some(1.0),
            Self::Bar => Some(beats_per_bar.max(1.0)),
        }
    }
}

/// The longest delay [`Align`] may add: a 4/4 bar at 60 BPM. Each remote stream holds this much
/// decoded audio when placement is on (1.5 MB per stream at 48 kHz stereo).
pub const MAX_ALIGN_DELAY: Duration = Duration::from_secs(4);

/// Largest PCM frame: 240 stereo L24 samples are 1,440 bytes, the most that fits one
/// Ethernet-sized datagram with headers.
pub const MAX_PCM_FRAME: u32 = 240;
/// Smallest PCM frame worth a packet.
pub const MIN_PCM_FRAME: u32 = 16;

/// The engine's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Our id in the room (unique among its members).
    pub user_id: u32,
    /// The room's name.
    pub room: String,
    /// The room secret (shared by every member; never sent).
    pub secret: String,
    /// Local UDP address to bind.
    pub listen: SocketAddr,
    /// Peers to call.
    pub peers: Vec<SocketAddr>,
    /// Accept members nobody named (they still need the room secret).
    pub accept_unknown: bool,
    /// Our track's encoding.
    pub codec: Codec,
    /// Jitter-buffer policy for every remote stream.
    pub jitter: JitterMode,
    /// Placement of remote audio on the room's beat grid.
    pub align: Align,
    /// The host's sample rate.
    pub sample_rate: f64,
    /// The largest block the host will hand the processor.
    pub max_block: usize,
    /// Seed for every random choice of the protocol core (nonces, initial sequence numbers).
    pub seed: u64,
    /// The room server (`HOST:PORT`, resolved when the session starts): members find each
    /// other there, no peer addresses needed.
    pub server: Option<String>,
    /// A STUN server (`HOST:PORT`) for our address as the internet sees it.
    pub stun: Option<String>,
    /// A TURN server for when no direct path works.
    pub turn: Option<Turn>,
}

/// A TURN server and our long-term credentials on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// `HOST:PORT`, resolved when the session starts.
    pub address: String,
}

impl Config {
    /// A configuration with defaults for everything but identity, room and address.
    pub fn new(user_id: u32, room: &str, secret: &str, listen: SocketAddr) -> Self {
        Self {
            user_id,
            room: room.to_owned(),
            secret: secret.to_owned(),
            listen,
            peers: Vec::new(),
            accept_unknown: true,
            codec: Codec::default(),
            jitter: JitterMode::Auto,
            align: Align::Live,
            sample_rate: 48_000.0,
            max_block: 1024,
            seed: u64::from(user_id) ^ 0x05F5_1A3D_0000_0000,
            server: None,
            stun: None,
            turn: None,
        }
    }

    /// Checks every value the audio thread will rely on.
    ///
    /// # Errors
    /// A description of the first bad value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(8_000.0..=384_000.0).contains(&self.sample_rate) {
            return Err(ConfigError::SampleRate(self.sample_rate));
        }
        if !(1..=8192).contains(&self.max_block) {
            return Err(ConfigError::MaxBlock(self.max_block));
        }
        match self.codec {
            Codec::PcmL24 { frame_samples }
                if !(MIN_PCM_FRAME..=MAX_PCM_FRAME).contains(&frame_samples) =>
            {
                return Err(ConfigError::PcmFrame(frame_samples));
            }
            Codec::Opus { bitrate, .. }
                if !(codec::opus::MIN_BITRATE..=codec::opus::MAX_BITRATE).contains(&bitrate) =>
            {
                return Err(ConfigError::Bitrate(bitrate));
            }
            _ => {}
        }
        if let JitterMode::Fixed(delay) = self.jitter
            && delay > Duration::from_millis(100)
        {
            return Err(ConfigError::JitterDelay(delay));
        }
        if self.room.is_empty() {
            return Err(ConfigError::Room);
        }
        Ok(())
    }
}

/// A configuration value out of range: the caller's fault; fix the value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Host sample rate outside 8–384 kHz.
    #[error("sample rate {0} Hz is outside 8000..=384000")]
    SampleRate(f64),
    /// Block size outside 1..=8192.
    #[error("maximum block {0} is outside 1..=8192")]
    MaxBlock(usize),
    /// PCM frame outside 16..=240 samples.
    #[error("PCM frame of {0} samples is outside 16..=240")]
    PcmFrame(u32),
    /// Opus bitrate outside 16..=510 kb/s.
    #[error("Opus bitrate {0} b/s is outside 16000..=510000")]
    Bitrate(u32),
    /// Fixed jitter delay above 100 ms.
    #[error("fixed jitter delay {0:?} is above 100 ms")]
    JitterDelay(Duration),
    /// Empty room name.
    #[error("the room name is empty")]
    Room,
}
