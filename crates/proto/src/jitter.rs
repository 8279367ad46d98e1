//! The per-stream jitter buffer: fixed capacity, allocation-free after `new`, run on the audio
//! thread. It owns reordering by sequence number, the playout schedule (which local sample time
//! each media timestamp plays at), the adaptive target delay, loss and lateness accounting, and
//! the resampling-rate suggestion that lets a consumer glide to a new schedule without clicks.
//!
//! # Playout model
//!
//! Every packet has a *transit* `arrival − media` (local audio clock minus the sender's RTP
//! clock; the absolute value is meaningless, its changes are not). The *floor* (`floor.rs`) is
//! the lowest transit the path allows: the minimum over a sliding window of local time
//! ([`Config::base_window_ticks`]), kept per sub-window and projected to the present along the
//! fitted *skew*, the rate at which transit drifts. A crystal 100 ppm off drifts it by 4.8 ticks
//! a second; a device running 10 % slow, 4,800. A packet's *jitter* is its transit minus the
//! floor. When the fitted skew changes (the device's rate changed), the jitter seen since was
//! the floor running the wrong way, not the network: it is forgotten and the target restored.
//!
//! The *target delay* is the jitter quantile that leaves [`Config::glitch_budget`] of packets
//! late, from a decaying log-linear histogram (`histogram.rs`), plus [`Config::margin_ticks`]
//! when that quantile is above zero (a clean link needs no margin),
//! clamped to [`Config::min_delay_ticks`]..=[`Config::max_delay_ticks`]. It rises at once when
//! a packet's jitter exceeds it and falls only after [`Config::hold_ticks`] without a rise,
//! exponentially.
//!
//! The *schedule* maps media to local time: `deadline(media) = media + floor + delay`. The
//! floor moves with the skew; the *delay* glides toward the target at a bounded slope
//! ([`Config::max_rate_deviation`]), so a consumer that plays back-to-back at the suggested
//! [`Event::Rate`] follows it without a jump. The one exception is a packet that arrived after
//! its slot was played out as missing: the glitch has already happened, and gliding up would
//! make the following packets late as well, so the delay jumps up at once. A skew larger than
//! the rate bound cannot be followed by resampling without being heard; the schedule still
//! follows it (the delay stays bounded), and the consumer skips or repeats audio to keep up.
//!
//! # Consumers
//!
//! [`Buffer::pop`] takes `now`, the local audio clock (a block's start), and returns the head
//! once its deadline has come. A consumer that decodes straight into its current block pops
//! until [`Pop::Wait`] and ignores [`Event::Rate`]; schedule changes reach it as a block with no
//! packet or with two (it counts those slips). A resampling consumer pops when its FIFO runs low,
//! plays at the suggested ratio, and reports what it is playing with [`Buffer::handle_playout`]:
//! the ratio is the schedule's slope (`1 − skew − glide`) plus a correction that settles the
//! consumer [`Config::lag_ticks`] behind the schedule, so it never asks for a packet before it
//! is due.
//!
//! The packet ring and its window rules are in `jitter/slots.rs`, the schedule (floor, target,
//! glide, rate) in `jitter/schedule.rs`. No method allocates, locks, logs or formats after
//! [`Buffer::new`]; every bad input is a counted outcome, never a panic.

mod config;
mod floor;
mod histogram;
mod outcome;
mod schedule;
mod slots;
#[cfg(test)]
mod tests;

use crate::seq::SeqNo;
use crate::time::MediaTime;

pub use config::Config;
use floor::Floor;
use histogram::Histogram;
pub use outcome::{Event, Pop, Push, Stats};
use schedule::transit;
use slots::{Slot, SlotState};

/// Slots in the event queue; more pending events than this are counted and dropped.
const EVENTS: usize = 32;
/// Refits of the floor (125 ms apart) over which the target before a rate change is
/// remembered: a change shows in the fit two or three sub-windows after it happened.
const RECENT_TARGETS: usize = 4;
/// Weight of one [`Buffer::handle_playout`] report in the consumer-error average.
const ERROR_GAIN: f64 = 1.0 / 64.0;
/// A single error measurement is clamped to this, so one starvation does not swing the rate.
const ERROR_CLAMP_TICKS: f64 = 256.0;

/// The per-stream jitter buffer. See the module documentation for the model.
#[derive(Clone, Debug)]
pub struct Buffer {
    config: Config,
    slots: Box<[Slot]>,
    payloads: Box<[u8]>,
    /// Whether a schedule exists (a packet was stored and the stream is not idle).
    started: bool,
    /// Whether the head has been played since the schedule started; before that, an earlier
    /// packet may still move the head back.
    primed: bool,
    /// Sequence number and media timestamp of the next packet to play.
    head_seq: u64,
    head_media: u64,
    /// Packets in `Stored` state.
    stored: usize,
    /// Media ticks per packet.
    frame: u64,
    /// Highest sequence number stored since the schedule started, with its timestamp.
    last_stored: Option<(u64, u64)>,
    /// All transit-space values are relative to this, so that they stay small in f64.
    anchor: i64,
    floor: Floor,
    histogram: Histogram,
    /// The transit floor − anchor at local time `base_at`; it moves along the floor's skew.
    base: f64,
    base_at: u64,
    target: f64,
    /// The target at the floor's last refits while the skew held (newest at
    /// `recent_target_at`): a rate change is seen a few sub-windows late, and the target
    /// returns to what it was before the change inflated it.
    recent_targets: [f64; RECENT_TARGETS],
    recent_target_at: usize,
    /// The skew changed and its new value is not yet measured on enough sub-windows: jitter
    /// is not learnt meanwhile (the floor it is measured from is still moving).
    settling: bool,
    /// The delay the schedule applies above the floor (gliding toward the target), ticks.
    delay: f64,
    /// Current glide of the delay, ticks per local tick.
    velocity: f64,
    /// Local time of the last rise of the target, and of the last target update.
    last_rise: u64,
    last_target_update: u64,
    reported_target: u32,
    /// Local time the delay was last advanced to.
    clock: u64,
    /// Average of `now − deadline` over pops: a resampling consumer's error.
    error: f64,
    ratio: f64,
    reported_ratio: f64,
    last_rate_event: u64,
    /// When the buffer ran dry (for the idle timeout), if it is dry.
    dry_since: Option<u64>,
    /// An out-of-window packet waiting for a second one to confirm a jump.
    candidate: Option<(u64, u64)>,
    events: [Event; EVENTS],
    event_head: usize,
    event_len: usize,
    stats: Stats,
}

impl Buffer {
    /// A buffer with every slot allocated (`capacity × max_payload_bytes` bytes of payload).
    /// Out-of-range settings are clamped: capacity at least 2, `max_delay ≥ min_delay`, the
    /// budget and rate deviation into sane ranges, time constants at least one tick.
    pub fn new(config: Config) -> Self {
        let mut config = config;
        config.capacity = config.capacity.max(2);
        config.frame_ticks = config.frame_ticks.max(1);
        config.max_delay_ticks = config.max_delay_ticks.max(config.min_delay_ticks);
        config.initial_delay_ticks = config
            .initial_delay_ticks
            .clamp(config.min_delay_ticks, config.max_delay_ticks);
        config.glitch_budget = if config.glitch_budget.is_finite() {
            config.glitch_budget.clamp(0.0, 0.5)
        } else {
            0.001
        };
        config.max_rate_deviation = if config.max_rate_deviation.is_finite() {
            config.max_rate_deviation.clamp(0.0, 0.1)
        } else {
            0.005
        };
        config.rate_step = if config.rate_step.is_finite() {
            config.rate_step.max(0.0)
        } else {
            0.000_01
        };
        for ticks in [
            &mut config.decrease_ticks,
            &mut config.slew_ticks,
            &mut config.rate_feedback_ticks,
        ] {
            *ticks = (*ticks).max(1);
        }
        let slots = vec![Slot::default(); config.capacity].into_boxed_slice();
        let payloads = vec![0; config.capacity * config.max_payload_bytes].into_boxed_slice();
        Self::with_storage(config, slots, payloads)
    }

    /// Forgets every packet, the schedule and the statistics, as if freshly built with the same
    /// configuration; the storage is kept (a stream slot reused for a new stream).
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        // Taking a boxed slice leaves an empty one behind, which owns no allocation.
        let mut slots = std::mem::take(&mut self.slots);
        let payloads = std::mem::take(&mut self.payloads);
        slots.fill(Slot::default());
        *self = Self::with_storage(self.config, slots, payloads);
    }

    /// A fresh buffer over `slots` (all empty) and `payloads` sized for `config` (clamped).
    fn with_storage(config: Config, slots: Box<[Slot]>, payloads: Box<[u8]>) -> Self {
        let target = f64::from(config.initial_delay_ticks);
        Self {
            slots,
            payloads,
            started: false,
            primed: false,
            head_seq: 0,
            head_media: 0,
            stored: 0,
            frame: u64::from(config.frame_ticks),
            last_stored: None,
            anchor: 0,
            floor: Floor::new(config.base_window_ticks),
            histogram: Histogram::new(config.history_packets),
            base: 0.0,
            base_at: 0,
            target,
            recent_targets: [target; RECENT_TARGETS],
            recent_target_at: 0,
            settling: false,
            delay: target,
            velocity: 0.0,
            last_rise: 0,
            last_target_update: 0,
            reported_target: config.initial_delay_ticks,
            clock: 0,
            error: f64::from(config.lag_ticks),
            ratio: 1.0,
            reported_ratio: 1.0,
            last_rate_event: 0,
            dry_since: None,
            candidate: None,
            events: [Event::Underrun; EVENTS],
            event_head: 0,
            event_len: 0,
            stats: Stats::default(),
            config,
        }
    }

    /// Takes one packet the network thread received: `arrival` on the local audio sample clock,
    /// `seq` extended to 64 bits, `media` the sender's RTP timestamp extended to 64 bits.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn push(
        &mut self,
        arrival: MediaTime,
        seq: SeqNo,
        media: MediaTime,
        payload: &[u8],
    ) -> Push {
        if payload.len() > self.config.max_payload_bytes {
            self.stats.too_large += 1;
            return Push::TooLarge;
        }
        let (arrival, seq, media) = (arrival.ticks(), seq.0, media.ticks());
        if !self.started {
            self.start(arrival, seq, media);
            self.store(seq, media, payload);
            self.observe(arrival, media, false);
            return Push::Stored;
        }
        if seq < self.head_seq {
            let behind = self.head_seq - seq;
            if behind <= self.config.capacity as u64 && self.media_fits(seq, media) {
                if !self.primed && self.fits_ahead(seq) {
                    // Nothing has played yet: an earlier packet moves the head back.
                    self.head_seq = seq;
                    self.head_media = media;
                    self.store(seq, media, payload);
                    self.observe(arrival, media, false);
                    return Push::Stored;
                }
                let slot = self.slots[self.slot_index(seq)];
                if slot.seq == seq && slot.state == SlotState::Played {
                    self.stats.duplicate += 1;
                    return Push::Duplicate;
                }
                self.stats.late += 1;
                self.observe(arrival, media, true);
                return Push::Late;
            }
            return self.out_of_window(arrival, seq, media, payload);
        }
        if !self.media_fits(seq, media) {
            return self.out_of_window(arrival, seq, media, payload);
        }
        let ahead = seq - self.head_seq;
        let capacity = self.config.capacity as u64;
        if ahead >= capacity {
            if ahead >= 2 * capacity {
                return self.out_of_window(arrival, seq, media, payload);
            }
            self.make_room(seq);
        }
        let slot = self.slots[self.slot_index(seq)];
        if slot.seq == seq && slot.state == SlotState::Stored {
            self.stats.duplicate += 1;
            return Push::Duplicate;
        }
        self.store(seq, media, payload);
        self.observe(arrival, media, false);
        self.candidate = None;
        Push::Stored
    }

    /// Plays out the head if its deadline has come: `now` is the local time at which a packet
    /// returned now would start to play (see the module documentation). The payload is copied
    /// to the front of `out`, which should hold [`Config::max_payload_bytes`].
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn pop(&mut self, now: MediaTime, out: &mut [u8]) -> Pop {
        let now = now.ticks();
        if !self.started {
            return Pop::Wait;
        }
        self.advance(now);
        let index = self.slot_index(self.head_seq);
        let slot = self.slots[index];
        let present = slot.seq == self.head_seq && slot.state == SlotState::Stored;
        let media = if present { slot.media } else { self.head_media };
        if now < self.deadline_ticks(media) {
            return Pop::Wait;
        }
        let seq = self.head_seq;
        let result = if present {
            let len = slot.len.min(out.len());
            if len < slot.len {
                self.stats.truncated += 1;
            }
            let start = index * self.config.max_payload_bytes;
            out[..len].copy_from_slice(&self.payloads[start..start + len]);
            self.slots[index].state = SlotState::Played;
            self.stored -= 1;
            self.dry_since = None;
            Pop::Packet {
                seq: SeqNo(seq),
                media: MediaTime(media),
                len,
            }
        } else {
            if self.stored == 0 {
                match self.dry_since {
                    None => {
                        self.dry_since = Some(now);
                        self.stats.underruns += 1;
                        self.emit(Event::Underrun);
                    }
                    Some(since)
                        if now.saturating_sub(since) >= u64::from(self.config.idle_after_ticks) =>
                    {
                        // The sender stopped: stop concealing and wait for it to resume.
                        self.started = false;
                        self.dry_since = None;
                        return Pop::Wait;
                    }
                    Some(_) => {}
                }
            }
            self.stats.missing += 1;
            self.slots[index] = Slot {
                seq,
                media,
                len: 0,
                state: SlotState::Missed,
            };
            Pop::Missing {
                seq: SeqNo(seq),
                media: MediaTime(media),
            }
        };
        self.primed = true;
        self.head_seq += 1;
        self.head_media = media.saturating_add(self.frame);
        result
    }

    /// A resampling consumer's position: at local time `now` it is playing `media`. The rate
    /// suggestion steers it to [`Config::lag_ticks`] behind the schedule. A consumer that pops
    /// by deadline does not call this; its suggestion is then the schedule's glide alone.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn handle_playout(&mut self, now: MediaTime, media: MediaTime) {
        if !self.started {
            return;
        }
        let error = now.ticks() as i128 - self.deadline_ticks(media.ticks()) as i128;
        let lag = f64::from(self.config.lag_ticks);
        let error = (error as f64).clamp(lag - ERROR_CLAMP_TICKS, lag + ERROR_CLAMP_TICKS);
        self.error += (error - self.error) * ERROR_GAIN;
    }

    /// How far behind the schedule the consumer plays from now on ([`Config::lag_ticks`]): an
    /// interpolating reader its look-ahead, a reader on the sample grid nothing. The rate loop
    /// restarts from the new lag.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_lag(&mut self, lag_ticks: u32) {
        if self.config.lag_ticks != lag_ticks {
            self.config.lag_ticks = lag_ticks;
            self.error = f64::from(lag_ticks);
        }
    }

    /// The drift of the transit floor being followed (local ticks per local tick; 0 while
    /// the sender's clock and ours agree to within what the rate loop absorbs).
    pub fn skew(&self) -> f64 {
        self.floor.skew()
    }

    /// The next pending event, oldest first.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.event_len == 0 {
            return None;
        }
        let event = self.events[self.event_head];
        self.event_head = (self.event_head + 1) % EVENTS;
        self.event_len -= 1;
        Some(event)
    }

    /// The local time at which `media` plays on the current schedule, or `None` before the
    /// stream has started. The network side uses it to decide whether a retransmission can
    /// still arrive in time.
    pub fn deadline(&self, media: MediaTime) -> Option<MediaTime> {
        self.started
            .then(|| MediaTime(self.deadline_ticks(media.ticks())))
    }

    /// The deadline of the head (the next [`Buffer::pop`] that can return something), if the
    /// stream has started.
    pub fn next_deadline(&self) -> Option<MediaTime> {
        if !self.started {
            return None;
        }
        let slot = self.slots[self.slot_index(self.head_seq)];
        let media = if slot.seq == self.head_seq && slot.state == SlotState::Stored {
            slot.media
        } else {
            self.head_media
        };
        Some(MediaTime(self.deadline_ticks(media)))
    }

    /// Counters and the current schedule.
    pub fn stats(&self) -> Stats {
        Stats {
            target_ticks: self.target.round() as u32,
            delay_ticks: self.delay.round() as i64,
            base_ticks: self.anchor.saturating_add(self.base.round() as i64),
            skew: self.floor.skew(),
            level_ticks: self.stored as u64 * self.frame,
            frame_ticks: self.frame as u32,
            ratio: self.ratio,
            ..self.stats
        }
    }

    /// The configuration in use (after clamping).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Starts a schedule at this packet: the transit reference restarts, the jitter statistics
    /// and target carry over.
    fn start(&mut self, arrival: u64, seq: u64, media: u64) {
        self.started = true;
        self.primed = false;
        self.head_seq = seq;
        self.head_media = media;
        self.last_stored = None;
        self.dry_since = None;
        self.candidate = None;
        self.anchor = transit(arrival, media);
        self.floor.clear();
        self.base = 0.0;
        self.base_at = arrival;
        self.delay = self.target;
        self.recent_targets = [self.target; RECENT_TARGETS];
        self.settling = false;
        self.velocity = 0.0;
        self.clock = arrival;
        self.last_rise = arrival;
        self.last_target_update = arrival;
        self.error = f64::from(self.config.lag_ticks);
    }

    fn emit(&mut self, event: Event) {
        if self.event_len == EVENTS {
            self.stats.events_dropped += 1;
            return;
        }
        self.events[(self.event_head + self.event_len) % EVENTS] = event;
        self.event_len += 1;
    }
}
