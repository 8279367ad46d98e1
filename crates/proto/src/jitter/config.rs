//! The jitter buffer's tuning: every delay, window and time constant, in 48 kHz ticks, with
//! the defaults a 64-sample stream on a clean link wants.

/// Tuning of one buffer. All durations are 48 kHz ticks ([`MediaTime`](crate::time::MediaTime) units).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Packet slots (at least 2). Packets more than this many sequence numbers ahead of the
    /// playout head do not fit. 128 slots hold 170 ms of 64-sample packets.
    pub capacity: usize,
    /// Largest payload stored; larger ones are refused as [`Push::TooLarge`](super::Push::TooLarge). The default is
    /// the largest UDP payload in a 1,500-byte Ethernet frame.
    pub max_payload_bytes: usize,
    /// Media ticks per packet assumed until two consecutive packets show the real value.
    pub frame_ticks: u32,
    /// Lower bound of the target delay.
    pub min_delay_ticks: u32,
    /// Upper bound of the target delay; also how far a packet's timestamp may stray from the
    /// value its sequence number predicts before it is treated as a stream discontinuity.
    pub max_delay_ticks: u32,
    /// Target delay before any jitter has been measured.
    pub initial_delay_ticks: u32,
    /// Added to the measured jitter quantile (and to a spike that raises the target).
    pub margin_ticks: u32,
    /// Fraction of packets allowed to arrive after their deadline (0.001 = 0.1 %).
    pub glitch_budget: f64,
    /// Memory of the jitter histogram: the weight of a sample decays by `1/e` after this many
    /// later packets.
    pub history_packets: u32,
    /// The target only falls after this long without a rise. Short (200 ms by default): what
    /// keeps the target up under real jitter is the histogram's quantile, which an isolated late
    /// packet barely moves; the hold only keeps a burst's first spike from being undone before
    /// the rest of the burst arrives. (At 2 s, each rare stall held the buffer 1-2 ms deeper for
    /// about 10 s: the side-by-side probe's readings formed a sawtooth whose median sat 60 frames
    /// above its floor.)
    pub hold_ticks: u32,
    /// Time constant of a falling target (0.5 s by default).
    pub decrease_ticks: u32,
    /// Length of the sliding window whose minimum transit is the base transit.
    pub base_window_ticks: u32,
    /// Time constant with which the scheduled delay glides toward the target.
    pub slew_ticks: u32,
    /// Largest deviation of the suggested rate from 1 (0.005 = ±0.5 %, 8.6 cents): also the
    /// steepest glide of the scheduled delay.
    pub max_rate_deviation: f64,
    /// Time constant with which the suggested rate removes a resampling consumer's error.
    pub rate_feedback_ticks: u32,
    /// Where the rate loop settles a resampling consumer behind the schedule: a packet only
    /// becomes available at its deadline, so a consumer that must hold its block plus its
    /// resampler's look-ahead before playing runs this far behind.
    pub lag_ticks: u32,
    /// Smallest change of the suggested rate worth an [`Event::Rate`](super::Event::Rate).
    pub rate_step: f64,
    /// After this long with nothing to play, the buffer stops reporting missing packets and
    /// waits for the stream to resume (re-priming the schedule on the next packet).
    pub idle_after_ticks: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            capacity: 128,
            max_payload_bytes: 1_472,
            frame_ticks: 64,
            min_delay_ticks: 0,
            max_delay_ticks: 4_800,
            initial_delay_ticks: 96,
            margin_ticks: 12,
            glitch_budget: 0.001,
            history_packets: 20_000,
            hold_ticks: 9_600,
            decrease_ticks: 24_000,
            base_window_ticks: 96_000,
            slew_ticks: 48_000,
            max_rate_deviation: 0.005,
            rate_feedback_ticks: 96_000,
            lag_ticks: 96,
            rate_step: 0.000_01,
            idle_after_ticks: 4_800,
        }
    }
}
