//! OSP Jam's audio engine, shared by the plugin and the standalone.
//!
//! [`new`] builds a session from a [`Config`]: the network driver (`net`) on its own threads, a
//! [`Controller`] for the control thread and a [`Processor`] for the audio thread. Everything
//! the processor runs per block is real-time safe: no allocation, lock, syscall or log after
//! construction. Host frameworks stay out: the plugin adapter converts the host's view
//! (parameters, transport) into the plain types defined here.
//!
//! - [`config`]: what a session is built from, validated once.
//! - [`processor`]: the audio thread: encode and send our track, receive, buffer, decode,
//!   follow each sender's clock, mix.
//! - [`controller`]: the control thread: network handle, gains, transport, reports.
//! - [`remote`]: one remote stream (jitter buffer, decoder, resampler).
//! - [`send`]: our track's encoder path.
//! - [`resample`]: the FIFO and windowed-sinc interpolator behind clock following and rate
//!   conversion.
//! - [`shared`]: atomics the two halves share.
//! - [`strip`]: the track's signal path around the network: input gain, the monitor balance
//!   between the player's own signal and the room, output gain, and a click-free bypass.
//! - [`transport`]: the host transport as a lock-free snapshot for the rest of the engine.

pub mod click;
pub mod config;
pub mod controller;
pub mod grid;
pub mod processor;
pub mod remote;
pub mod resample;
pub mod send;
pub mod shared;
pub mod strip;
pub mod transport;

use std::sync::Arc;

pub use config::{Align, Codec, Config, ConfigError, JitterMode};
pub use controller::{Controller, Report};
pub use processor::Processor;

use proto::osp::message::{StreamEncoding, StreamInfo};

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range (the caller's fault).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The codec refused its settings.
    #[error("codec: {0}")]
    Codec(#[from] codec::opus::Error),
    /// The network could not start (address in use, no permission).
    #[error(transparent)]
    Net(#[from] net::Error),
    /// The session has stopped, or holds its most tracks already.
    #[error("the session cannot take another track ({0})")]
    Track(&'static str),
}

/// RTP payload type of our Opus streams (the conventional dynamic value).
pub const PT_OPUS: u8 = 111;
/// RTP payload type of our L24 streams (codec::pcm).
pub const PT_L24: u8 = 96;
/// RTP payload type of parity packets.
pub const PT_PARITY: u8 = 127;

/// Builds a session: binds the socket, starts the network driver, preallocates the audio
/// thread's state for `config.max_block`.
///
/// # Errors
/// A bad configuration, a codec refusing it, or a socket that cannot be bound.
pub fn new(config: Config) -> Result<(Controller, Processor), Error> {
    config.validate()?;
    let send = send::Send::new(config.codec, config.sample_rate, config.max_block)?;
    let mut endpoint = proto::endpoint::Config::new(
        config.user_id,
        &config.room,
        config.secret.as_bytes(),
        config.seed,
    );
    endpoint.accept_unknown = config.accept_unknown;
    endpoint.streams = vec![track_stream(config.user_id, 1, config.codec)];
    let mut net_config = net::Config::new(config.listen, endpoint);
    net_config.peers = config.peers.clone();
    let (handle, link) = net::spawn(net_config)?;

    let buffer = jitter_config(&config);
    // Placement keeps up to MAX_ALIGN_DELAY of decoded audio per stream; without it the
    // streams only hold what the resampler reads ahead.
    let held = match config.align {
        Align::Live => 0,
        Align::Beat | Align::Bar => (config::MAX_ALIGN_DELAY.as_secs_f64() * 48_000.0) as usize,
    };
    let remotes = (0..processor::MAX_REMOTES)
        .map(|_| remote::Remote::new(config.max_block, buffer, held))
        .collect();
    let shared = Arc::new(shared::Shared::default());
    let (stats_in, stats_out) = triple_buffer::triple_buffer(&processor::Stats::default());
    let send_latency = send.latency_samples();
    let processor = Processor::new(link, Arc::clone(&shared), stats_in, send, remotes, &config);
    let controller = Controller::new(handle, stats_out, shared, config, send_latency);
    Ok((controller, processor))
}

/// The announcement of one of our tracks: SSRCs derived from our id and the track, so they
/// are stable across restarts and distinct between members.
pub fn track_stream(user_id: u32, stream_id: u16, codec: Codec) -> StreamInfo {
    let ssrc = user_id.rotate_left(8) ^ (u32::from(stream_id) << 1);
    let (encoding, payload_type) = match codec {
        Codec::PcmL24 { .. } => (StreamEncoding::L24, PT_L24),
        Codec::Opus { .. } => (StreamEncoding::Opus, PT_OPUS),
    };
    StreamInfo::stereo(
        ssrc,
        stream_id,
        encoding,
        payload_type,
        codec.frame_samples(),
    )
    .with_parity(ssrc ^ 1, PT_PARITY, 5)
}

/// The jitter buffer every remote stream gets.
fn jitter_config(config: &Config) -> proto::jitter::Config {
    let mut buffer = proto::jitter::Config {
        lag_ticks: remote::LAG_TICKS,
        ..proto::jitter::Config::default()
    };
    if let JitterMode::Fixed(delay) = config.jitter {
        let ticks = (delay.as_secs_f64() * 48_000.0).round() as u32;
        buffer.min_delay_ticks = ticks;
        buffer.max_delay_ticks = ticks;
        buffer.initial_delay_ticks = ticks;
    }
    buffer
}
