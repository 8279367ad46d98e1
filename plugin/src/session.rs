//! The plugin's network session: the settings a player chooses (room, secret, addresses,
//! codec, jitter buffer), saved with the project; the standalone's command-line equivalent;
//! and the control thread that owns the engine's `Controller` while the plugin is active.
//!
//! The control thread publishes the host's tempo and transport to the room when they change,
//! prints the standalone's bound address (`listening on ADDR`) as the session starts and the
//! `--stats` line once a second when asked, and leaves the room when the plugin is deactivated
//! or dropped (Ctrl-C in the standalone).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use engine::transport;
use engine::{Codec, Controller, JitterMode, Processor};
use serde::{Deserialize, Serialize};

/// What a player sets up: saved in the plugin state (`session` key) as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Settings {
    /// The room; empty means no session (the plugin only passes audio through).
    pub room: String,
    /// The room secret every member shares.
    pub secret: String,
    /// Local UDP address.
    pub listen: String,
    /// Peers to call (`host:port`).
    pub peers: Vec<String>,
    /// Our id in the room; 0 picks one at random when the session starts.
    pub user_id: u32,
    /// `"pcm"` (L24) or `"opus"`.
    pub codec: String,
    /// Samples per channel per packet (Opus: 120, 240, 480 or 960).
    pub frame_samples: u32,
    /// Opus bitrate, bits per second.
    pub bitrate: u32,
    /// Fixed jitter-buffer delay in ms; `None` adapts.
    pub jitter_ms: Option<f64>,
    /// Print a stats line once a second (standalone).
    pub stats: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            room: String::new(),
            secret: String::new(),
            listen: "0.0.0.0:48500".to_owned(),
            peers: Vec::new(),
            user_id: 0,
            codec: "opus".to_owned(),
            frame_samples: 120,
            bitrate: 128_000,
            jitter_ms: None,
            stats: false,
        }
    }
}

/// A setting that cannot be used: the player's fault; fix the setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// An address that does not parse.
    #[error("{what} {value:?} is not an address like 127.0.0.1:48500")]
    Address {
        /// Which setting.
        what: &'static str,
        /// Its value.
        value: String,
    },
    /// A codec name other than pcm / opus.
    #[error("codec {0:?} is neither \"pcm\" nor \"opus\"")]
    Codec(String),
    /// An Opus frame that is not 2.5, 5, 10 or 20 ms.
    #[error("Opus frames are 120, 240, 480 or 960 samples, not {0}")]
    OpusFrame(u32),
    /// A jitter delay that is negative or not a number.
    #[error("jitter delay {0} ms is not a duration")]
    Jitter(f64),
}

impl Settings {
    /// Whether a session should run.
    pub fn is_enabled(&self) -> bool {
        !self.room.is_empty()
    }

    /// The engine configuration for a host running at `sample_rate` with blocks up to
    /// `max_block`.
    ///
    /// # Errors
    /// A setting that does not parse.
    pub fn engine_config(
        &self,
        sample_rate: f64,
        max_block: usize,
    ) -> Result<engine::Config, SettingsError> {
        let address = |what: &'static str, value: &str| {
            value
                .parse::<SocketAddr>()
                .map_err(|_| SettingsError::Address {
                    what,
                    value: value.to_owned(),
                })
        };
        let listen = address("listen address", &self.listen)?;
        let peers = self
            .peers
            .iter()
            .map(|p| address("peer", p))
            .collect::<Result<Vec<_>, _>>()?;
        let codec = match self.codec.as_str() {
            "pcm" | "l24" => Codec::PcmL24 {
                frame_samples: self.frame_samples,
            },
            "opus" => Codec::Opus {
                frame: codec::opus::FrameDuration::from_samples(self.frame_samples as usize)
                    .ok_or(SettingsError::OpusFrame(self.frame_samples))?,
                bitrate: self.bitrate,
            },
            other => return Err(SettingsError::Codec(other.to_owned())),
        };
        let jitter = match self.jitter_ms {
            None => JitterMode::Auto,
            Some(ms) if ms.is_finite() && ms >= 0.0 => {
                JitterMode::Fixed(Duration::from_secs_f64(ms / 1e3))
            }
            Some(ms) => return Err(SettingsError::Jitter(ms)),
        };
        let user_id = if self.user_id != 0 {
            self.user_id
        } else {
            random_user_id()
        };
        let mut config = engine::Config::new(user_id, &self.room, &self.secret, listen);
        config.peers = peers;
        config.codec = codec;
        config.jitter = jitter;
        config.sample_rate = sample_rate;
        config.max_block = max_block;
        config.seed = u64::from(user_id) ^ std::process::id() as u64 ^ nanos();
        Ok(config)
    }
}

/// A non-zero id unlikely to collide with another member's (std's per-process random hash
/// keys, the time and the process id).
fn random_user_id() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(nanos());
    hasher.write_u32(std::process::id());
    (hasher.finish() as u32).max(1)
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Settings the standalone's command line gave (they win over saved state).
static STANDALONE: OnceLock<Settings> = OnceLock::new();

/// Sets the standalone's session settings (once, before the plugin activates).
pub fn set_standalone(settings: Settings) {
    let _ = STANDALONE.set(settings);
}

/// The standalone's settings, if its command line gave any.
pub fn standalone() -> Option<&'static Settings> {
    STANDALONE.get()
}

/// A running session: the control thread and what it owns.
pub struct Session {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Session {
    /// Starts the engine and its control thread. Returns the session and the audio thread's
    /// processor.
    ///
    /// # Errors
    /// The engine could not start (bad settings, address in use).
    pub fn start(
        settings: &Settings,
        sample_rate: f64,
        max_block: usize,
        host_transport: Arc<transport::Shared>,
    ) -> Result<(Self, Processor), String> {
        let config = settings
            .engine_config(sample_rate, max_block)
            .map_err(|e| e.to_string())?;
        let (controller, processor) = engine::new(config).map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            let print = Print {
                address: standalone().is_some(),
                stats: settings.stats,
            };
            std::thread::Builder::new()
                .name("osp-jam-session".into())
                .spawn(move || control_loop(controller, &stop, &host_transport, print))
                .map_err(|e| e.to_string())?
        };
        Ok((
            Self {
                stop,
                thread: Some(thread),
            },
            processor,
        ))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // The control thread owned the controller: its end dropped it, which left the room.
    }
}

/// What the room was last told of the host transport.
#[derive(Clone, Copy, PartialEq)]
struct Published {
    playing: bool,
    bpm: f64,
    meter: (u16, u16),
}

/// What the control thread prints on stdout.
#[derive(Clone, Copy)]
struct Print {
    /// `listening on ADDR` once, as the session starts (the standalone): with `--listen
    /// 127.0.0.1:0` the OS picks the port, and this line is how a user or a test learns it.
    address: bool,
    /// The `--stats` line once a second.
    stats: bool,
}

fn control_loop(
    mut controller: Controller,
    stop: &AtomicBool,
    host_transport: &transport::Shared,
    print: Print,
) {
    const TICK: Duration = Duration::from_millis(100);
    if print.address {
        // Flushed at once: whoever reads it through a pipe is waiting for it to dial us.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {}", controller.local_addr());
        let _ = out.flush();
    }
    let mut published: Option<Published> = None;
    let mut next_stats = Instant::now() + Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
        if let Some(snapshot) = host_transport.read::<transport::Snapshot>()
            && let Some(bpm) = snapshot.tempo_bpm
        {
            let meter = snapshot.time_signature.unwrap_or((4, 4));
            let now = Published {
                playing: snapshot.playing,
                bpm,
                meter,
            };
            if published != Some(now) {
                published = Some(now);
                controller.set_transport(
                    now.playing,
                    now.bpm,
                    u8::try_from(meter.0).unwrap_or(4),
                    u8::try_from(meter.1).unwrap_or(4),
                    snapshot.pos_beats.unwrap_or(0.0),
                );
            }
        }
        if print.stats && Instant::now() >= next_stats {
            next_stats += Duration::from_secs(1);
            println!("{}", controller.report());
        }
    }
}
