//! The audio thread's half of the engine: our track out (encode → ring), the room in
//! (ring → per-stream jitter buffer → decode/conceal → drift-following resampler), the room
//! mix with per-player gain and mute, and the per-player outputs a host records on their own
//! tracks. Everything is preallocated when the session is built; nothing here allocates,
//! locks, logs or makes a syscall.

use std::sync::Arc;

use net::link::{AudioLink, Inbound};

use crate::config::{Align, Config};
use crate::grid::Grid;
use crate::remote::{self, Remote, StreamShape, Timing};
use crate::resample::Kernel;
use crate::send::{self, Send};
use crate::shared::Shared;

pub use crate::shared::MAX_REMOTES;

/// How often (in blocks) stats and playout delays are published.
const PUBLISH_EVERY_BLOCKS: u32 = 16;

/// What the processor publishes for the control thread.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Host samples processed.
    pub sample_clock: u64,
    /// Frames in the last block (the host's period, or the plugin's chunk of it).
    pub block: usize,
    /// The send path's counters.
    pub send: send::Stats,
    /// Packets for streams nobody announced (dropped).
    pub unknown_stream: u64,
    /// Announced streams beyond [`MAX_REMOTES`] (not played).
    pub no_free_slot: u64,
    /// Each remote stream slot.
    pub remotes: [remote::Stats; MAX_REMOTES],
    /// The room's grid as the audio thread last saw it.
    pub grid: Option<Grid>,
    /// The host's beat position minus the grid's at the same sample, wrapped to half a bar
    /// either side (what [`Processor::note_host_beat`] last measured).
    pub host_offset_beats: Option<f64>,
}

/// One remote stream's audio of the last block (after its gain), for a per-player output.
#[derive(Clone, Copy, Debug)]
pub struct RemoteOutput<'a> {
    /// The player.
    pub user_id: u32,
    /// Their stream.
    pub stream_id: u16,
    /// Left channel.
    pub left: &'a [f32],
    /// Right channel.
    pub right: &'a [f32],
}

/// The audio thread's engine.
pub struct Processor {
    link: AudioLink,
    shared: Arc<Shared>,
    stats: triple_buffer::Input<Stats>,
    send: Send,
    remotes: Box<[Remote]>,
    kernel: Kernel,
    /// 48 kHz ticks per host sample.
    rate_factor: f64,
    sample_clock: u64,
    mix_left: Box<[f32]>,
    mix_right: Box<[f32]>,
    send_left: Box<[f32]>,
    send_right: Box<[f32]>,
    frames: usize,
    blocks: u32,
    counters: Stats,
    /// The grid at this block's start, if the room has one.
    grid: Option<Grid>,
    /// Session ticks minus local ticks at this block's start, once known.
    session_offset: Option<f64>,
    /// Where remote audio is placed on the grid.
    align: Align,
    /// [`Processor::begin_block`] already ran for the block `process` is about to take.
    block_begun: bool,
}

impl Processor {
    pub(crate) fn new(
        link: AudioLink,
        shared: Arc<Shared>,
        stats: triple_buffer::Input<Stats>,
        send: Send,
        remotes: Box<[Remote]>,
        config: &Config,
    ) -> Self {
        let (sample_rate, max_block) = (config.sample_rate, config.max_block);
        let rate_factor = 48_000.0 / sample_rate;
        // Reading the 48 kHz wire for a slower host is decimation: band-limit to its Nyquist.
        let cutoff = if rate_factor > 1.0 {
            0.95 / rate_factor
        } else {
            1.0
        };
        Self {
            link,
            shared,
            stats,
            send,
            remotes,
            kernel: Kernel::new(cutoff),
            rate_factor,
            sample_clock: 0,
            mix_left: vec![0.0; max_block].into_boxed_slice(),
            mix_right: vec![0.0; max_block].into_boxed_slice(),
            send_left: vec![0.0; max_block].into_boxed_slice(),
            send_right: vec![0.0; max_block].into_boxed_slice(),
            frames: 0,
            blocks: 0,
            counters: Stats::default(),
            grid: None,
            session_offset: None,
            align: config.align,
            block_begun: false,
        }
    }

    /// The largest block [`Processor::process`] takes.
    pub fn max_block(&self) -> usize {
        self.mix_left.len()
    }

    /// One host block: sends `left`/`right` (our track, scaled by `gain` per sample when given)
    /// and renders the room, readable afterwards from [`Processor::room`] and
    /// [`Processor::remote`]. Blocks longer than [`Processor::max_block`] are cut short: the
    /// caller splits long host blocks.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn process(&mut self, left: &[f32], right: &[f32], gain: Option<&[f32]>) {
        let frames = left.len().min(right.len()).min(self.max_block());
        self.frames = frames;
        if !self.block_begun {
            self.begin_block();
        }
        self.block_begun = false;
        let now = self.local_ticks();
        self.receive(now);

        let (send_left, send_right) = (
            &mut self.send_left[..frames],
            &mut self.send_right[..frames],
        );
        send_left.copy_from_slice(&left[..frames]);
        send_right.copy_from_slice(&right[..frames]);
        if let Some(gain) = gain {
            for ((l, r), g) in send_left.iter_mut().zip(send_right.iter_mut()).zip(gain) {
                *l *= g;
                *r *= g;
            }
        }
        self.send.process(
            send_left,
            send_right,
            now as f64,
            self.session_offset,
            &mut self.link.outbound,
        );
        let timing = Timing {
            session_offset: self.session_offset,
            period: self.placement_period(),
        };

        self.mix_left[..frames].fill(0.0);
        self.mix_right[..frames].fill(0.0);
        for (index, remote) in self.remotes.iter_mut().enumerate() {
            if remote.key().is_none() {
                continue;
            }
            let gain = self.shared.gain(index);
            remote.render(now, frames, self.rate_factor, &self.kernel, gain, timing);
            let (l, r) = remote.output(frames);
            for (mix, x) in self.mix_left[..frames].iter_mut().zip(l) {
                *mix += x;
            }
            for (mix, x) in self.mix_right[..frames].iter_mut().zip(r) {
                *mix += x;
            }
        }

        self.sample_clock += frames as u64;
        self.blocks = self.blocks.wrapping_add(1);
        if self.blocks.is_multiple_of(PUBLISH_EVERY_BLOCKS) {
            self.publish();
        }
    }

    /// The room mix of the last block (every remote player, after gain and mute).
    pub fn room(&self) -> (&[f32], &[f32]) {
        (
            &self.mix_left[..self.frames],
            &self.mix_right[..self.frames],
        )
    }

    /// Remote stream slot `index` of the last block, if the slot plays a stream.
    pub fn remote(&self, index: usize) -> Option<RemoteOutput<'_>> {
        let remote = self.remotes.get(index)?;
        let (user_id, stream_id) = remote.key()?;
        let (left, right) = remote.output(self.frames);
        Some(RemoteOutput {
            user_id,
            stream_id,
            left,
            right,
        })
    }

    /// Remote stream slot `index`'s counters and schedule as of the last block (the control
    /// thread reads the published copy; this is for callers on the audio thread and tests).
    pub fn remote_stats(&self, index: usize) -> Option<remote::Stats> {
        self.remotes.get(index).map(Remote::stats)
    }

    /// Sets remote slot `index`'s gain and mute from the audio thread (host parameters); the
    /// slot glides to it over the next block.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_gain(&self, index: usize, gain: f32, mute: bool) {
        self.shared.set_gain(index, gain);
        self.shared.set_mute(index, mute);
    }

    /// Samples processed since the engine started.
    pub fn sample_clock(&self) -> u64 {
        self.sample_clock
    }

    /// Publishes the block start and reads the grid for it. [`Processor::process`] does this
    /// itself unless the caller already did: a caller that needs the grid before processing
    /// (to place a click, or to time its effects to the room) calls it first.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn begin_block(&mut self) {
        self.block_begun = true;
        self.shared.set_sample_clock(self.sample_clock);
        if let Some(grid) = self.shared.grid.read::<Grid>() {
            self.grid = Some(grid);
        }
        self.session_offset = self.shared.session_offset();
    }

    /// The placement period in 48 kHz ticks (a beat or a bar of the room's tempo), when
    /// placement is on and the room has a tempo.
    fn placement_period(&self) -> Option<f64> {
        let grid = self.grid.as_ref().filter(|g| g.bpm > 0.0)?;
        let beats = self.align.period_beats(grid.bar_beats())?;
        Some(beats * 60.0 / grid.bpm * 48_000.0)
    }

    /// The room's beat grid as of the current block (`None` until the room has a transport).
    pub fn grid(&self) -> Option<&Grid> {
        self.grid.as_ref()
    }

    /// Notes the host's beat position at the current block's start; the offset from the grid
    /// is published with the stats.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn note_host_beat(&mut self, beat: f64) {
        if let Some(grid) = &self.grid
            && grid.playing
            && beat.is_finite()
        {
            self.counters.host_offset_beats = Some(grid.offset_of(self.sample_clock, beat));
        }
    }

    fn local_ticks(&self) -> u64 {
        (self.sample_clock as f64 * self.rate_factor).round() as u64
    }

    /// Drains the network's ring: audio into its stream's jitter buffer, stream changes into
    /// the slots. `now` stamps every arrival (block granularity: the earliest the audio could
    /// play).
    fn receive(&mut self, now: u64) {
        while let Some(packet) = self.link.inbound.recv() {
            match packet.meta {
                Inbound::Audio {
                    user_id,
                    stream_id,
                    seq,
                    timestamp,
                    capture,
                } => match self.slot_of(user_id, stream_id) {
                    Some(index) => {
                        self.remotes[index].push(
                            now,
                            seq,
                            timestamp,
                            capture,
                            self.session_offset,
                            packet.payload(),
                        );
                    }
                    None => self.counters.unknown_stream += 1,
                },
                Inbound::StreamUp {
                    user_id,
                    stream_id,
                    encoding,
                    channels,
                    frame_samples,
                } => {
                    let shape = StreamShape {
                        encoding,
                        channels: usize::from(channels),
                        frame_samples,
                    };
                    let slot = self
                        .slot_of(user_id, stream_id)
                        .or_else(|| self.remotes.iter().position(|r| r.key().is_none()));
                    match slot {
                        Some(index) => self.remotes[index].assign(user_id, stream_id, shape),
                        None => self.counters.no_free_slot += 1,
                    }
                }
                Inbound::StreamDown { user_id, stream_id } => {
                    if let Some(index) = self.slot_of(user_id, stream_id) {
                        self.remotes[index].release();
                        self.link.playout.clear(index);
                    }
                }
                Inbound::PeerGone { user_id } => {
                    for (index, remote) in self.remotes.iter_mut().enumerate() {
                        if remote.key().is_some_and(|(user, _)| user == user_id) {
                            remote.release();
                            self.link.playout.clear(index);
                        }
                    }
                }
                Inbound::Bitrate { bps } => self.send.set_bitrate(bps),
            }
        }
    }

    fn slot_of(&self, user_id: u32, stream_id: u16) -> Option<usize> {
        self.remotes
            .iter()
            .position(|r| r.key() == Some((user_id, stream_id)))
    }

    fn publish(&mut self) {
        let mut stats = Stats {
            sample_clock: self.sample_clock,
            block: self.frames,
            send: self.send.stats(),
            grid: self.grid,
            ..self.counters
        };
        for (index, remote) in self.remotes.iter_mut().enumerate() {
            stats.remotes[index] = remote.take_stats();
            if let Some((user_id, stream_id)) = remote.key()
                && remote.is_playing()
            {
                self.link
                    .playout
                    .report(index, user_id, stream_id, remote.playout_delay_us());
            }
        }
        self.stats.write(stats);
    }
}
