//! OSP Jam's audio engine, shared by the plugin and the standalone.
//!
//! [`new`] builds a session from a [`Config`]: the network driver (`net`) on its own threads, a
//! [`Controller`] for the control thread and a [`Processor`] for the audio thread. [`detached`]
//! builds the same two around a network side without socket or threads, stepped by its caller
//! on a clock it sets (simulated rooms on virtual time). Everything
//! the processor runs per block is real-time safe: no allocation, lock, syscall or log after
//! construction. Host frameworks stay out: the plugin adapter converts the host's view
//! (parameters, transport) into the plain types defined here.
//!
//! - [`config`]: what a session is built from, validated once.
//! - [`announce`]: what peers are told of our tracks (stream announcements, payload types).
//! - [`clock`]: the control thread's clock (the system's, or one a simulation sets).
//! - [`error`]: why a session or a track could not start.
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

pub mod announce;
pub mod click;
pub mod clock;
pub mod config;
pub mod controller;
pub mod error;
pub mod grid;
pub mod processor;
pub mod remote;
pub mod resample;
pub mod send;
pub mod shared;
pub mod strip;
pub mod transport;

use std::sync::Arc;

pub use announce::{PT_L24, PT_OPUS, PT_PARITY, track_stream};
pub use clock::{Clock, ManualClock};
pub use config::{Align, Codec, Config, ConfigError, JitterMode, Turn};
pub use controller::{Controller, Report};
pub use error::Error;
pub use processor::Processor;

/// Builds a session: binds the socket, starts the network driver, preallocates the audio
/// thread's state for `config.max_block`.
///
/// # Errors
/// A bad configuration, a codec refusing it, or a socket that cannot be bound.
pub fn new(config: Config) -> Result<(Controller, Processor), Error> {
    config.validate()?;
    let mut net_config = net_config(&config);
    net_config.traversal = traversal(&config)?;
    let (handle, link) = net::spawn(net_config)?;
    build(config, handle, link, Clock::System)
}

/// Builds a session whose network side runs without socket or threads: the returned
/// [`net::Detached`] carries its datagrams and time (a simulation moves them on virtual time,
/// with `clock` as the controller's clock and `config.listen` as the session's address).
///
/// # Errors
/// A bad configuration or a codec refusing it.
pub fn detached(
    config: Config,
    clock: ManualClock,
) -> Result<(Controller, Processor, net::Detached), Error> {
    config.validate()?;
    let now = proto::time::Instant::from_duration(clock.elapsed());
    let (handle, link, network) = net::detached(&net_config(&config), clock.epoch(), now);
    let (controller, processor) = build(config, handle, link, Clock::Manual(clock))?;
    Ok((controller, processor, network))
}

/// The network side's configuration for a session.
fn net_config(config: &Config) -> net::Config {
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
    net_config
}

/// The room server, STUN and TURN servers of `config`, their host names resolved once (a
/// detached session on virtual time has none of them).
fn traversal(config: &Config) -> Result<Option<net::Traversal>, Error> {
    let Some(server) = &config.server else {
        return Ok(None);
    };
    let stun = config
        .stun
        .as_deref()
        .map(|stun| resolve("STUN server", stun))
        .transpose()?;
    let turn = match &config.turn {
        Some(turn) => Some(proto::connect::TurnServer {
            addr: resolve("TURN server", &turn.address)?,
            username: turn.user.clone(),
            password: turn.password.clone(),
        }),
        None => None,
    };
    Ok(Some(net::Traversal {
        server: resolve("room server", server)?,
        stun,
        turn,
    }))
}

/// The first address `host` (`HOST:PORT`) resolves to.
fn resolve(what: &'static str, host: &str) -> Result<std::net::SocketAddr, Error> {
    use std::net::ToSocketAddrs;
    let error = |reason: String| Error::Resolve {
        what,
        host: host.to_owned(),
        reason,
    };
    host.to_socket_addrs()
        .map_err(|e| error(e.to_string()))?
        .next()
        .ok_or_else(|| error("no address".to_owned()))
}

/// The controller and processor around a running network side.
fn build(
    config: Config,
    handle: net::Handle,
    link: net::link::AudioLink,
    clock: Clock,
) -> Result<(Controller, Processor), Error> {
    let send = send::Send::new(config.codec, config.sample_rate, config.max_block)?;
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
    let controller = Controller::new(handle, stats_out, shared, config, send_latency, clock);
    Ok((controller, processor))
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
