//! The control thread's half of the engine: the network handle, per-player gain and mute, the
//! transport the room shares, and one report joining what the network and the audio thread
//! measured (the standalone's `--stats` line, the plugin's UI).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::Config;
use crate::processor::{self, MAX_REMOTES};
use crate::remote::LAG_TICKS;
use crate::shared::Shared;

/// The control thread's engine handle. Dropping it leaves the room.
pub struct Controller {
    handle: net::Handle,
    stats: triple_buffer::Output<processor::Stats>,
    shared: Arc<Shared>,
    config: Config,
    /// Samples a sample waits on our side before its packet leaves (frame, conversion).
    send_latency: usize,
}

impl Controller {
    pub(crate) fn new(
        handle: net::Handle,
        stats: triple_buffer::Output<processor::Stats>,
        shared: Arc<Shared>,
        config: Config,
        send_latency: usize,
    ) -> Self {
        Self {
            handle,
            stats,
            shared,
            config,
            send_latency,
        }
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
                for stream in streams {
                    let ticks = stream.buffer.delay_ticks.max(0) as f64 + f64::from(LAG_TICKS);
                    buffer_ms = buffer_ms.max(ticks / 48.0);
                    concealed += stream.concealed;
                    late += stream.buffer.late;
                }
                let rtt_ms = peer.rtt.map(|rtt| rtt.as_secs_f64() * 1e3);
                PeerReport {
                    user_id: peer.user_id,
                    rtt_ms,
                    jitter_ms: peer.jitter.as_secs_f64() * 1e3,
                    loss: peer.loss,
                    recovered: peer.recovered,
                    concealed,
                    late,
                    buffer_ms,
                    one_way_ms: rtt_ms.map(|rtt| rtt / 2.0 + send_ms + buffer_ms + block),
                }
            })
            .collect();
        Report {
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
    /// Our jitter buffer for it, ms (schedule delay plus the resampler's look-ahead).
    pub buffer_ms: f64,
    /// Estimated one-way latency, ms: half the round trip, the sender's frame, our buffer
    /// and one host block.
    pub one_way_ms: Option<f64>,
}

/// The session in one view.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
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
    /// One line: `peers 2 | 7: rtt 0.3 ms jitter 0.1 ms loss 0.0 % buffer 1.2 ms one-way 3.1 ms | ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peers {}", self.peers.len())?;
        for peer in &self.peers {
            write!(f, " | {}:", peer.user_id)?;
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
            write!(
                f,
                " recovered {} concealed {}",
                peer.recovered, peer.concealed
            )?;
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
