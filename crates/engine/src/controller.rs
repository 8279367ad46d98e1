//! The control thread's half of the engine: the network handle, per-player gain and mute, the
//! transport the room shares, and one report joining what the network and the audio thread
//! measured (the standalone's `--stats` line, the plugin's UI).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A peer's path and streams, as a [`PeerReport`] carries them.
pub use net::status::{Path, PathKind, RemoteStream};

use crate::announce::track_stream;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::Error;
use crate::grid::{self, SampleClockFit};
use crate::processor::{self, MAX_REMOTES, Processor};
use crate::shared::Shared;
use crate::transport;

/// The control thread's engine handle. Dropping it leaves the room.
pub struct Controller {
    handle: net::Handle,
    stats: triple_buffer::Output<processor::Stats>,
    shared: Arc<Shared>,
    config: Config,
    /// Samples a sample waits on our side before its packet leaves (frame, conversion).
    send_latency: usize,
    /// The audio thread's sample clock on ours.
    fit: SampleClockFit,
    /// Further tracks of this session (other plugin instances in the same process).
    tracks: Vec<TrackClock>,
    /// What the room was last told of our transport, and the beat it was told at.
    published: Option<(Published, f64, Instant)>,
    /// The control thread's clock; relating the audio thread's sample clock to it is the
    /// controller's job.
    clock: Clock,
}

/// Local tracks a session sends at most (one per plugin instance; `proto`'s local stream slots).
pub const MAX_TRACKS: usize = proto::endpoint::MAX_LOCAL_STREAMS;

/// A further local track of a session, from [`Controller::add_track`]; give it back to
/// [`Controller::remove_track`] when its instance goes.
#[derive(Debug, PartialEq, Eq)]
pub struct Track {
    index: u8,
}

impl Track {
    /// Its local stream slot (1..8); its stream id is one more.
    pub fn index(&self) -> u8 {
        self.index
    }
}

/// A further track's audio thread clock and grid slot.
struct TrackClock {
    index: u8,
    shared: Arc<Shared>,
    fit: SampleClockFit,
}

/// How long the sample-clock fit remembers: long enough for a read right after a block start
/// to be among its observations, short enough to follow crystal drift (100 ppm moves 9.6
/// samples in 2 s at 48 kHz).
const FIT_WINDOW: Duration = Duration::from_secs(2);

/// A host playhead this far (beats) from where the published transport predicts it is a
/// relocation: the room is told again.
const RELOCATE_BEATS: f64 = 0.02;

/// Our transport as the room was last told of it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Published {
    playing: bool,
    bpm: f64,
    meter: (u8, u8),
}

/// What the local side contributes to the room's transport on each [`Controller::tick`].
#[derive(Clone, Copy, Debug)]
pub enum Lead<'a> {
    /// Publish this host transport (a plugin in a DAW): the master's is the room's grid.
    Host(&'a transport::Snapshot),
    /// Publish a steady tempo of our own, rolling from beat 0 (a standalone with `--bpm`).
    Tempo {
        /// Quarter notes per minute.
        bpm: f64,
        /// Beats per bar.
        beats_per_bar: u8,
    },
    /// Publish nothing: follow the room.
    Follow,
}

impl Controller {
    pub(crate) fn new(
        handle: net::Handle,
        stats: triple_buffer::Output<processor::Stats>,
        shared: Arc<Shared>,
        config: Config,
        send_latency: usize,
        clock: Clock,
    ) -> Self {
        Self {
            handle,
            stats,
            shared,
            send_latency,
            fit: SampleClockFit::new(config.sample_rate, FIT_WINDOW, clock.now()),
            tracks: Vec::new(),
            config,
            published: None,
            clock,
        }
    }

    /// Adds a further local track to the session: another plugin instance in this process that
    /// joined the same room. It is announced to every peer as its own stream (ids 2..=8) and
    /// sent from the returned [`Processor`], which plays no remote audio (the room is heard
    /// through the session's first processor) but sees the room's grid like the first.
    ///
    /// # Errors
    /// [`Error::Track`] when eight tracks are running or the session stopped;
    /// [`Error::Codec`] if the encoder refuses the session's codec.
    pub fn add_track(&mut self) -> Result<(Track, Processor), Error> {
        let index = (1..MAX_TRACKS as u8)
            .find(|i| self.tracks.iter().all(|t| t.index != *i))
            .ok_or(Error::Track("eight tracks are running"))?;
        let config = &self.config;
        let send = crate::send::Send::new(config.codec, config.sample_rate, config.max_block)?
            .on_stream(index);
        let info = track_stream(config.user_id, u16::from(index) + 1, config.codec);
        let outbound = self
            .handle
            .add_track(index, info)
            .ok_or(Error::Track("the session has stopped"))?;
        // Nothing arrives here: the room plays in the first track's processor.
        let (_, inbound) = rt::packet::ring(1);
        let link = net::link::AudioLink {
            outbound,
            inbound,
            playout: Arc::new(net::link::PlayoutDelays::default()),
        };
        let shared = Arc::new(Shared::default());
        let (stats_in, _) = triple_buffer::triple_buffer(&processor::Stats::default());
        let processor = Processor::new(
            link,
            Arc::clone(&shared),
            stats_in,
            send,
            // No remote streams: the room's placement does not apply.
            Box::new([]),
            config,
        );
        self.tracks.push(TrackClock {
            index,
            shared,
            fit: SampleClockFit::new(config.sample_rate, FIT_WINDOW, self.clock.now()),
        });
        Ok((Track { index }, processor))
    }

    /// Stops a track [`Controller::add_track`] started (peers are told).
    pub fn remove_track(&mut self, track: Track) {
        self.tracks.retain(|t| t.index != track.index);
        self.handle
            .request(net::Request::RemoveTrack { index: track.index });
    }

    /// Local tracks running, the first included.
    pub fn track_count(&self) -> usize {
        1 + self.tracks.len()
    }

    /// Runs the transport sync; call it every 10-20 ms from the control thread. Relates the
    /// audio thread's sample clock to ours, publishes our transport when `lead` says so (again
    /// whenever it changes or the host relocates), and hands the audio thread the room's grid
    /// on its sample clock.
    pub fn tick(&mut self, lead: Lead<'_>) {
        let now = self.clock.now();
        self.fit.observe(self.shared.sample_clock(), now);
        // Every track's fit learns all the time, so its grid is right from the room's first
        // transport on.
        for track in &mut self.tracks {
            track.fit.observe(track.shared.sample_clock(), now);
        }
        let samples_now = self.fit.samples_at(now);
        match lead {
            Lead::Host(host) => {
                if let (Some(bpm), Some(beat), Some(samples_now)) =
                    (host.tempo_bpm, host.pos_beats, samples_now)
                {
                    // The snapshot is of a block start; the beat *now* is further on.
                    let since = (samples_now - host.sample_clock as f64).max(0.0);
                    let rate = if host.sample_rate > 0.0 {
                        host.sample_rate
                    } else {
                        self.config.sample_rate
                    };
                    let beat_now = if host.playing {
                        beat + since / rate * bpm / 60.0
                    } else {
                        beat
                    };
                    let (num, den) = host.time_signature.unwrap_or((4, 4));
                    let wanted = Published {
                        playing: host.playing,
                        bpm,
                        meter: (
                            u8::try_from(num).unwrap_or(4),
                            u8::try_from(den).unwrap_or(4),
                        ),
                    };
                    self.publish_if_changed(wanted, beat_now, now);
                }
            }
            Lead::Tempo { bpm, beats_per_bar } => {
                let wanted = Published {
                    playing: true,
                    bpm,
                    meter: (beats_per_bar, 4),
                };
                if self.published.is_none_or(|(p, ..)| p != wanted) {
                    self.publish(wanted, 0.0, now);
                }
            }
            Lead::Follow => {}
        }
        let network = self.handle.status();
        let session = network.session_micros_at(now);
        // Where the session timeline is on each track's clock: its packets' capture stamps and
        // (on the first) where remote audio plays relative to the grid.
        if let (Some(session), Some(samples)) = (session, samples_now) {
            self.shared
                .set_session_offset(self.session_offset(session, samples));
        }
        for track in &self.tracks {
            if let (Some(session), Some(samples)) = (session, track.fit.samples_at(now)) {
                track
                    .shared
                    .set_session_offset(self.session_offset(session, samples));
            }
        }
        if let (Some(transport), Some(session), Some(samples)) =
            (network.transport, session, samples_now)
        {
            let grid = grid::anchor(&transport, session, samples, self.config.sample_rate);
            self.shared.grid.publish(&grid);
            for track in &self.tracks {
                if let Some(samples) = track.fit.samples_at(now) {
                    let grid = grid::anchor(&transport, session, samples, self.config.sample_rate);
                    track.shared.grid.publish(&grid);
                }
            }
        }
    }

    /// Session ticks minus local 48 kHz ticks, given the session time (µs) and the sample
    /// clock at the same instant.
    fn session_offset(&self, session_micros: f64, samples: f64) -> f64 {
        session_micros * 0.048 - samples * 48_000.0 / self.config.sample_rate
    }

    fn publish_if_changed(&mut self, wanted: Published, beat_now: f64, now: Instant) {
        let relocated = self.published.is_none_or(|(published, beat, at)| {
            let expected = if published.playing {
                beat + now.duration_since(at).as_secs_f64() * published.bpm / 60.0
            } else {
                beat
            };
            published != wanted || (beat_now - expected).abs() > RELOCATE_BEATS
        });
        if relocated {
            self.publish(wanted, beat_now, now);
        }
    }

    fn publish(&mut self, wanted: Published, beat: f64, now: Instant) {
        self.set_transport(
            wanted.playing,
            wanted.bpm,
            wanted.meter.0,
            wanted.meter.1,
            beat,
        );
        self.published = Some((wanted, beat, now));
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Calls a peer.
    pub fn add_peer(&self, addr: SocketAddr) {
        self.handle.request(net::Request::AddPeer(addr));
    }

    /// Publishes our tempo and transport (the master's is the room's); beat `beat` is now.
    pub fn set_transport(
        &self,
        playing: bool,
        bpm: f64,
        beats_per_bar: u8,
        beat_unit: u8,
        beat: f64,
    ) {
        self.handle.request(net::Request::SetTransport {
            playing,
            bpm,
            beats_per_bar,
            beat_unit,
            beat,
        });
    }

    /// Linear gain of remote slot `index` (0..=4).
    pub fn set_gain(&self, index: usize, gain: f32) {
        self.shared.set_gain(index, gain);
    }

    /// Mutes remote slot `index`.
    pub fn set_mute(&self, index: usize, mute: bool) {
        self.shared.set_mute(index, mute);
    }

    /// The network side's latest status.
    pub fn network(&self) -> net::Status {
        self.handle.status()
    }

    /// The audio thread's latest published stats.
    pub fn processor(&mut self) -> processor::Stats {
        *self.stats.read()
    }

    /// Everything about the session in one view.
    pub fn report(&mut self) -> Report {
        let network = self.network();
        let audio = self.processor();
        let block = audio.block as f64 / self.config.sample_rate * 1e3;
        let send_ms = self.send_latency as f64 / 48.0;
        let peers = network
            .peers
            .iter()
            .map(|peer| {
                let streams = audio
                    .remotes
                    .iter()
                    .filter(|r| r.active && r.user_id == peer.user_id);
                let (mut buffer_ms, mut concealed, mut late) = (0f64, 0u64, 0u64);
                let (mut skipped_ticks, mut repeated_ticks) = (0f64, 0f64);
                let mut grid_lag_ticks: Option<f64> = None;
                for stream in streams {
                    let ticks = stream.buffer.delay_ticks.max(0) as f64
                        + f64::from(stream.reader_lag_ticks);
                    buffer_ms = buffer_ms.max(ticks / 48.0);
                    concealed += stream.concealed;
                    late += stream.buffer.late;
                    skipped_ticks += stream.skipped_ticks;
                    repeated_ticks += stream.repeated_ticks;
                    if let Some(lag) = stream.grid_lag_ticks {
                        grid_lag_ticks = Some(grid_lag_ticks.map_or(lag, |l| l.max(lag)));
                    }
                }
                let grid_lag_ms = grid_lag_ticks.map(|ticks| ticks / 48.0);
                let rtt_ms = peer.rtt.map(|rtt| rtt.as_secs_f64() * 1e3);
                PeerReport {
                    user_id: peer.user_id,
                    rtt_ms,
                    jitter_ms: peer.jitter.as_secs_f64() * 1e3,
                    loss: peer.loss,
                    recovered: peer.recovered,
                    concealed,
                    late,
                    skipped_ms: skipped_ticks / 48.0,
                    inserted_ms: repeated_ticks / 48.0,
                    buffer_ms,
                    one_way_ms: rtt_ms.map(|rtt| rtt / 2.0 + send_ms + buffer_ms + block),
                    grid_lag_ms,
                    grid_lag_beats: grid_lag_ms
                        .zip(audio.grid.filter(|g| g.bpm > 0.0))
                        .map(|(ms, grid)| ms / 60_000.0 * grid.bpm),
                    path: peer.path,
                    path_kind: peer.path_kind,
                    path_selections: peer.path_selections,
                    streams: peer.streams.clone(),
                }
            })
            .collect();
        let samples_now = self.fit.samples_at(self.clock.now());
        Report {
            grid: audio.grid.map(|grid| GridReport {
                playing: grid.playing,
                bpm: grid.bpm,
                beats_per_bar: grid.beats_per_bar,
                beat: samples_now.map_or(grid.anchor_beat, |s| grid.beat_at_position(s)),
                host_offset_beats: audio.host_offset_beats,
            }),
            local: network.local,
            master: network.master,
            peers,
            sent: network.sent.0,
            received: network.received.0,
            dropped: audio.send.dropped
                + network.outbound_ring.full
                + network.inbound_ring.full
                + network.send_errors,
        }
    }

    /// Leaves the room (peers are told) and stops the network driver.
    pub fn leave(self) {
        self.handle.leave();
    }
}

/// One remote player in a [`Report`].
#[derive(Clone, Debug, PartialEq)]
pub struct PeerReport {
    /// Its id.
    pub user_id: u32,
    /// Smoothed round trip, ms.
    pub rtt_ms: Option<f64>,
    /// Interarrival jitter, ms.
    pub jitter_ms: f64,
    /// Fraction lost before recovery.
    pub loss: f64,
    /// Losses repaired by parity or resend.
    pub recovered: u64,
    /// Frames concealed on our side.
    pub concealed: u64,
    /// Packets that came after their deadline.
    pub late: u64,
    /// Audio skipped to keep up with it, ms in total: our device runs slower than its by more
    /// than the resampler follows (a broken clock, a dummy device under load).
    pub skipped_ms: f64,
    /// Audio repeated to stay behind it, ms in total: our device runs faster than its.
    pub inserted_ms: f64,
    /// Our jitter buffer for it, ms (schedule delay plus the resampler's look-ahead).
    pub buffer_ms: f64,
    /// Estimated one-way latency, ms: half the round trip, the sender's frame, our buffer
    /// and one host block.
    pub one_way_ms: Option<f64>,
    /// How long ago its audio we hear now was played, ms, measured on the session timeline
    /// from its capture stamps (the devices' own latencies aside): its lag behind the grid.
    /// The longest of its streams.
    pub grid_lag_ms: Option<f64>,
    /// The same in beats of the room's tempo.
    pub grid_lag_beats: Option<f64>,
    /// The path its media takes: direct today (a relay track once relays exist).
    pub path: Option<Path>,
    /// `direct` or `turn` when NAT traversal chose the path (`None`: given by address).
    pub path_kind: Option<PathKind>,
    /// Paths NAT traversal selected to it so far: 1 once connected, one more per change.
    pub path_selections: u64,
    /// What it sends us, stream by stream, as it announced it (codec, payload type, frame).
    pub streams: Vec<RemoteStream>,
}

/// The room's beat grid in a [`Report`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridReport {
    /// Rolling.
    pub playing: bool,
    /// Tempo.
    pub bpm: f64,
    /// Beats per bar.
    pub beats_per_bar: u8,
    /// The grid's beat now.
    pub beat: f64,
    /// Our host's offset from the grid, beats (a DAW instance; `None` for a follower).
    pub host_offset_beats: Option<f64>,
}

/// The session in one view.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The room's grid, once the room has a transport.
    pub grid: Option<GridReport>,
    /// Our address.
    pub local: Option<SocketAddr>,
    /// The session master.
    pub master: Option<u32>,
    /// Connected players.
    pub peers: Vec<PeerReport>,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams received.
    pub received: u64,
    /// Packets dropped on our side (rings full, socket refused).
    pub dropped: u64,
}

impl fmt::Display for Report {
    /// One line: `peers 2 | 7: [path direct|turn] rtt 0.3 ms jitter 0.1 ms loss 0.0 % buffer 1.2 ms one-way 3.1 ms | ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peers {}", self.peers.len())?;
        for peer in &self.peers {
            write!(f, " | {}:", peer.user_id)?;
            if let Some(kind) = peer.path_kind {
                write!(f, " path {kind}")?;
            }
            match peer.rtt_ms {
                Some(rtt) => write!(f, " rtt {rtt:.2} ms")?,
                None => write!(f, " rtt -")?,
            }
            write!(
                f,
                " jitter {:.2} ms loss {:.2} % buffer {:.2} ms",
                peer.jitter_ms,
                peer.loss * 100.0,
                peer.buffer_ms
            )?;
            match peer.one_way_ms {
                Some(ms) => write!(f, " one-way {ms:.2} ms")?,
                None => write!(f, " one-way -")?,
            }
            if let Some(ms) = peer.grid_lag_ms {
                write!(f, " grid lag {ms:.2} ms")?;
                if let Some(beats) = peer.grid_lag_beats {
                    write!(f, " ({beats:.3} beats)")?;
                }
            }
            write!(
                f,
                " recovered {} concealed {} late {} skipped {:.1} ms inserted {:.1} ms",
                peer.recovered, peer.concealed, peer.late, peer.skipped_ms, peer.inserted_ms
            )?;
        }
        if let Some(grid) = &self.grid {
            let bar = f64::from(grid.beats_per_bar.max(1));
            write!(
                f,
                " | grid {} {:.2} bpm bar {} beat {:.2}",
                if grid.playing { "playing" } else { "stopped" },
                grid.bpm,
                (grid.beat / bar).floor() as i64 + 1,
                grid.beat.rem_euclid(bar) + 1.0,
            )?;
            if let Some(offset) = grid.host_offset_beats {
                write!(f, " host offset {offset:+.3} beats")?;
            }
        }
        write!(
            f,
            " | sent {} received {} dropped {}",
            self.sent, self.received, self.dropped
        )
    }
}

/// Remote slots a host can give their own outputs (7 other players).
pub const AUX_PLAYERS: usize = 7;
const _: () = assert!(AUX_PLAYERS <= MAX_REMOTES);
