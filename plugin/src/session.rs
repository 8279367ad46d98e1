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
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use engine::controller::{Lead, Track};
use engine::transport;
use engine::{Codec, Controller, JitterMode, Processor};

use crate::status::Status;
use serde::{Deserialize, Serialize};

/// What a player sets up: saved in the plugin state (`session` key) as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Settings {
    /// The room; empty means no session (the plugin only passes audio through).
    pub room: String,
    /// The room secret every member shares. Never saved with the project (a shared project
    /// must not share it): the editor keeps it in the user's own file (`secrets`), read back
    /// by room when the session starts. Read from old projects that still carry it.
    #[serde(skip_serializing)]
    pub secret: String,
    /// Local UDP address.
    pub listen: String,
    /// Peers to call (`host:port`).
    pub peers: Vec<String>,
    /// The room server (`host:port`; empty: none): members find each other there.
    pub server: String,
    /// A STUN server (`host:port`; empty: none).
    pub stun: String,
    /// A TURN server, `user:password@host:port` (empty: none).
    pub turn: String,
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
    /// Play a click on the room's beat grid into the output.
    pub click: bool,
    /// Lead the room at this tempo (standalone `--bpm`); without it a standalone follows the
    /// room's transport. A plugin in a DAW always offers its host's transport.
    pub bpm: Option<f64>,
    /// Beats per bar of the tempo led with `bpm`.
    pub beats_per_bar: u8,
    /// Where remote players are heard on the room's grid: `"live"` (as early as possible, the
    /// lag reported), `"beat"` or `"bar"` (a whole beat or bar after they played).
    pub align: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            room: String::new(),
            secret: String::new(),
            listen: "0.0.0.0:48500".to_owned(),
            peers: Vec::new(),
            server: String::new(),
            stun: String::new(),
            turn: String::new(),
            user_id: 0,
            codec: "opus".to_owned(),
            frame_samples: 120,
            bitrate: 128_000,
            jitter_ms: None,
            stats: false,
            click: false,
            bpm: None,
            beats_per_bar: 4,
            align: "live".to_owned(),
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
    /// A server that is not `host:port`.
    #[error("{what} {value:?} is not host:port (like relay.example.org:5100)")]
    Server {
        /// Which server.
        what: &'static str,
        /// Its value.
        value: String,
    },
    /// A TURN server that is not `user:password@host:port`.
    #[error("TURN server {0:?} is not user:password@host:port")]
    Turn(String),
    /// A codec name other than pcm / opus.
    #[error("codec {0:?} is neither \"pcm\" nor \"opus\"")]
    Codec(String),
    /// An Opus frame that is not 2.5, 5, 10 or 20 ms.
    #[error("Opus frames are 120, 240, 480 or 960 samples, not {0}")]
    OpusFrame(u32),
    /// A jitter delay that is negative or not a number.
    #[error("jitter delay {0} ms is not a duration")]
    Jitter(f64),
    /// A tempo outside 20-400 BPM.
    #[error("tempo {0} BPM is outside 20-400")]
    Tempo(f64),
    /// A grid placement other than live / beat / bar.
    #[error("alignment {0:?} is none of \"live\", \"beat\", \"bar\"")]
    Align(String),
}

impl Settings {
    /// Whether a session should run.
    pub fn is_enabled(&self) -> bool {
        !self.room.is_empty()
    }

    /// The codec as a player reads it: "Opus 128 kb/s, 2.5 ms" or "PCM 24-bit, 1.3 ms".
    pub fn codec_description(&self) -> String {
        let frame_ms = f64::from(self.frame_samples) / 48.0;
        match self.codec.as_str() {
            "opus" => format!("Opus {} kb/s, {frame_ms:.1} ms", self.bitrate / 1000),
            "pcm" | "l24" => format!("PCM 24-bit, {frame_ms:.1} ms"),
            other => other.to_owned(),
        }
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
        let align = match self.align.as_str() {
            "live" | "" => engine::Align::Live,
            "beat" => engine::Align::Beat,
            "bar" => engine::Align::Bar,
            other => return Err(SettingsError::Align(other.to_owned())),
        };
        if let Some(bpm) = self.bpm
            && !(20.0..=400.0).contains(&bpm)
        {
            return Err(SettingsError::Tempo(bpm));
        }
        let user_id = if self.user_id != 0 {
            self.user_id
        } else {
            random_user_id()
        };
        let mut config = engine::Config::new(user_id, &self.room, &self.secret, listen);
        config.peers = peers;
        config.server = server_setting("room server", &self.server)?;
        config.stun = server_setting("STUN server", &self.stun)?;
        config.turn = turn_setting(&self.turn)?;
        config.codec = codec;
        config.jitter = jitter;
        config.align = align;
        config.sample_rate = sample_rate;
        config.max_block = max_block;
        config.seed = u64::from(user_id) ^ std::process::id() as u64 ^ nanos();
        Ok(config)
    }
}

/// A `host:port` setting (empty: none); the host is resolved when the session starts.
fn server_setting(what: &'static str, value: &str) -> Result<Option<String>, SettingsError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if is_host_port(value) {
        Ok(Some(value.to_owned()))
    } else {
        Err(SettingsError::Server {
            what,
            value: value.to_owned(),
        })
    }
}

/// `user:password@host:port` (empty: none). The password may hold `:` and `@`: the user
/// ends at the first `:`, the server starts after the last `@`.
fn turn_setting(value: &str) -> Result<Option<engine::Turn>, SettingsError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let bad = || SettingsError::Turn(value.to_owned());
    let (credentials, address) = value.rsplit_once('@').ok_or_else(bad)?;
    let (user, password) = credentials.split_once(':').ok_or_else(bad)?;
    if user.is_empty() || password.is_empty() || !is_host_port(address) {
        return Err(bad());
    }
    Ok(Some(engine::Turn {
        user: user.to_owned(),
        password: password.to_owned(),
        address: address.to_owned(),
    }))
}

/// `host:port` or `[v6]:port` with a port 1..=65535 and a host without spaces.
fn is_host_port(value: &str) -> bool {
    if value.parse::<SocketAddr>().is_ok() {
        return true;
    }
    let Some((host, port)) = value.rsplit_once(':') else {
        return false;
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    host_ok && port.parse::<u16>().is_ok_and(|p| p != 0)
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

/// What the standalone does when its session cannot start (see
/// [`on_standalone_start_failure`]).
static START_FAILURE: OnceLock<fn(&str)> = OnceLock::new();

/// Makes a session that cannot start (the UDP port taken, ...) a failure of the standalone:
/// `hook` gets the reason while the plugin activates, and may end the process. Without a hook
/// (in a DAW) the plugin logs the reason and keeps passing audio.
pub fn on_standalone_start_failure(hook: fn(&str)) {
    let _ = START_FAILURE.set(hook);
}

/// Hands `why` to the standalone's hook; `false` if there is none.
pub(crate) fn standalone_start_failed(why: &str) -> bool {
    START_FAILURE.get().is_some_and(|hook| {
        hook(why);
        true
    })
}

/// The sessions running in this process, by room name: a further plugin instance that joins
/// a room already running here adds a track to that session instead of binding a second
/// socket (the room then sees one member sending several streams).
static RUNNING: Mutex<Vec<(String, Weak<Running>)>> = Mutex::new(Vec::new());

/// One session's control thread and the controller it shares with the instances adding
/// tracks. Dropped with the last instance: the thread stops and the room is left.
struct Running {
    controller: Arc<Mutex<Controller>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // The controller goes with the last reference (this one): it leaves the room.
    }
}

/// One plugin instance's part in a session: the session itself (shared with the other
/// instances in the room) and, for every instance after the first, its own track.
pub struct Session {
    running: Arc<Running>,
    track: Option<Track>,
}

impl Session {
    /// Joins the room `settings` name: starts the engine and its control thread, or, when an
    /// instance in this process already runs that room, adds this instance's track to its
    /// session (whose settings then apply; the first instance also plays the room). Returns
    /// the session and the audio thread's processor.
    ///
    /// # Errors
    /// The engine could not start (bad settings, address in use, eight tracks running).
    pub fn start(
        settings: &Settings,
        sample_rate: f64,
        max_block: usize,
        host_transport: Arc<transport::Shared>,
        status: Arc<Status>,
    ) -> Result<(Self, Processor), String> {
        let mut running = lock(&RUNNING);
        running.retain(|(_, session)| session.strong_count() > 0);
        if let Some(session) = running
            .iter()
            .find(|(room, _)| *room == settings.room)
            .and_then(|(_, session)| session.upgrade())
        {
            let (track, processor) = lock(&session.controller)
                .add_track()
                .map_err(|e| e.to_string())?;
            return Ok((
                Self {
                    running: session,
                    track: Some(track),
                },
                processor,
            ));
        }
        let config = settings
            .engine_config(sample_rate, max_block)
            .map_err(|e| e.to_string())?;
        let (controller, processor) = engine::new(config).map_err(|e| e.to_string())?;
        let controller = Arc::new(Mutex::new(controller));
        let stop = Arc::new(AtomicBool::new(false));
        let lead = match (standalone().is_some(), settings.bpm) {
            (_, Some(bpm)) => Leading::Tempo {
                bpm,
                beats_per_bar: settings.beats_per_bar.max(1),
            },
            (true, None) => Leading::Follow,
            (false, None) => Leading::Host,
        };
        let thread = {
            let (stop, controller) = (Arc::clone(&stop), Arc::clone(&controller));
            let print = Print {
                address: standalone().is_some(),
                stats: settings.stats,
            };
            std::thread::Builder::new()
                .name("osp-jam-session".into())
                .spawn(move || {
                    control_loop(&controller, &stop, &host_transport, lead, print, &status);
                })
                .map_err(|e| e.to_string())?
        };
        let session = Arc::new(Running {
            controller,
            stop,
            thread: Some(thread),
        });
        running.push((settings.room.clone(), Arc::downgrade(&session)));
        Ok((
            Self {
                running: session,
                track: None,
            },
            processor,
        ))
    }

    /// Local tracks the session sends (this instance's included).
    pub fn track_count(&self) -> usize {
        lock(&self.running.controller).track_count()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(track) = self.track.take() {
            lock(&self.running.controller).remove_track(track);
        }
        // The last instance's drop of `running` stops the session.
    }
}

/// Locks a mutex, taking the value as it is if a holder panicked (the data stays usable).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What this session offers the room's transport.
#[derive(Clone, Copy, Debug)]
enum Leading {
    /// The host's transport (a plugin in a DAW).
    Host,
    /// A steady tempo (a standalone with `--bpm`).
    Tempo { bpm: f64, beats_per_bar: u8 },
    /// Nothing: follow the room (a standalone without `--bpm`).
    Follow,
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
    controller: &Mutex<Controller>,
    stop: &AtomicBool,
    host_transport: &transport::Shared,
    leading: Leading,
    print: Print,
    status: &Status,
) {
    // The editor's numbers: five a second reads as live without costing the control thread.
    const PUBLISH: Duration = Duration::from_millis(200);
    // Short enough that the sample-clock fit sees reads soon after block starts, and that a
    // host's tempo change reaches the room within a beat's fraction.
    const TICK: Duration = Duration::from_millis(10);
    if print.address {
        // Flushed at once: whoever reads it through a pipe is waiting for it to dial us.
        let address = lock(controller).local_addr();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {address}");
        let _ = out.flush();
    }
    let mut next_stats = Instant::now() + Duration::from_secs(1);
    let mut next_publish = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
        let host = host_transport.read::<transport::Snapshot>();
        let lead = match (leading, &host) {
            (Leading::Host, Some(host)) => Lead::Host(host),
            (Leading::Tempo { bpm, beats_per_bar }, _) => Lead::Tempo { bpm, beats_per_bar },
            _ => Lead::Follow,
        };
        let mut controller = lock(controller);
        controller.tick(lead);
        if Instant::now() >= next_publish {
            next_publish += PUBLISH;
            status.publish(controller.report());
        }
        if print.stats && Instant::now() >= next_stats {
            next_stats += Duration::from_secs(1);
            println!("{}", controller.report());
        }
    }
}
