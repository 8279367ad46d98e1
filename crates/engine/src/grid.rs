//! The room's shared beat grid on the local sample clock.
//!
//! The session master's transport defines the grid on the session timeline (`proto`'s
//! `TransportSync`); the network driver relates that timeline to the control thread's clock
//! (`net::Status::session_micros_at`). What the audio thread needs is the grid on *its* clock,
//! the host sample count, so the control thread also relates the sample clock to its own:
//! [`SampleClockFit`] watches the sample count the audio thread publishes at every block start
//! and keeps the sliding maximum of `samples − rate × elapsed` (a read can only come after the
//! block it sees started, so every observation is at or below the true offset; the maximum
//! converges on it and follows crystal drift within its window). The control thread then
//! publishes a [`Grid`]: the beat at one sample-clock position, and the tempo, in a lock-free
//! slot the audio thread reads once per block.

use std::time::{Duration, Instant};

use rt::snapshot::{Packed, Slot};

/// Words a [`Grid`] packs into.
pub const WORDS: usize = 6;

/// The slot the control thread publishes the grid into.
pub type Shared = Slot<WORDS>;

/// The shared beat grid, anchored on the local sample clock.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Grid {
    /// The room's transport is rolling.
    pub playing: bool,
    /// Tempo, quarter notes per minute.
    pub bpm: f64,
    /// Beats per bar.
    pub beats_per_bar: u8,
    /// Beat unit (4 = quarter note).
    pub beat_unit: u8,
    /// Local sample-clock position of the anchor (fractional: the fit is finer than a sample).
    pub anchor_sample: f64,
    /// Grid beat at the anchor.
    pub anchor_beat: f64,
    /// Host sample rate the sample clock counts at.
    pub sample_rate: f64,
}

impl Grid {
    /// Beats per host sample while playing (0 while stopped: the grid holds its position).
    pub fn beats_per_sample(&self) -> f64 {
        if self.playing && self.sample_rate > 0.0 {
            self.bpm / 60.0 / self.sample_rate
        } else {
            0.0
        }
    }

    /// The grid beat at local sample `sample`.
    pub fn beat_at(&self, sample: u64) -> f64 {
        self.beat_at_position(sample as f64)
    }

    /// The grid beat at a fractional sample-clock position (the fit's estimate of "now").
    pub fn beat_at_position(&self, position: f64) -> f64 {
        self.anchor_beat + (position - self.anchor_sample) * self.beats_per_sample()
    }

    /// Beats per bar as a float (at least one).
    pub fn bar_beats(&self) -> f64 {
        f64::from(self.beats_per_bar.max(1))
    }

    /// `beat` minus the grid beat at `sample`, wrapped into half a bar either side: a host
    /// counting bars from elsewhere is still on the grid when its beats fall on the grid's.
    pub fn offset_of(&self, sample: u64, beat: f64) -> f64 {
        let bar = self.bar_beats();
        let offset = (beat - self.beat_at(sample)).rem_euclid(bar);
        if offset >= bar / 2.0 {
            offset - bar
        } else {
            offset
        }
    }
}

impl Packed<WORDS> for Grid {
    fn pack(&self) -> [u64; WORDS] {
        [
            u64::from(self.playing)
                | u64::from(self.beats_per_bar) << 8
                | u64::from(self.beat_unit) << 16,
            self.bpm.to_bits(),
            self.anchor_sample.to_bits(),
            self.anchor_beat.to_bits(),
            self.sample_rate.to_bits(),
            0,
        ]
    }

    fn unpack(words: [u64; WORDS]) -> Self {
        Self {
            playing: words[0] & 1 != 0,
            beats_per_bar: (words[0] >> 8) as u8,
            beat_unit: (words[0] >> 16) as u8,
            bpm: f64::from_bits(words[1]),
            anchor_sample: f64::from_bits(words[2]),
            anchor_beat: f64::from_bits(words[3]),
            sample_rate: f64::from_bits(words[4]),
        }
    }
}

/// Sub-windows of the sliding maximum.
const BUCKETS: usize = 8;

/// The audio thread's sample clock as a function of the control thread's clock.
#[derive(Clone, Debug)]
pub struct SampleClockFit {
    origin: Instant,
    rate: f64,
    bucket_span: Duration,
    /// Index of the newest bucket (elapsed / span).
    newest: u64,
    maxima: [f64; BUCKETS],
    last_samples: Option<u64>,
}

impl SampleClockFit {
    /// A fit for a clock counting `rate` samples per second, forgetting observations older than
    /// `window`.
    pub fn new(rate: f64, window: Duration, origin: Instant) -> Self {
        Self {
            origin,
            rate,
            bucket_span: (window / BUCKETS as u32).max(Duration::from_millis(1)),
            newest: 0,
            maxima: [f64::NEG_INFINITY; BUCKETS],
            last_samples: None,
        }
    }

    /// Notes that the sample clock read `samples` at `at` (the count at the start of the
    /// newest block the audio thread began before `at`).
    pub fn observe(&mut self, samples: u64, at: Instant) {
        if self.last_samples.is_some_and(|last| samples < last) {
            // The audio side restarted its count: nothing before still holds.
            self.maxima = [f64::NEG_INFINITY; BUCKETS];
        }
        self.last_samples = Some(samples);
        let elapsed = at.saturating_duration_since(self.origin);
        let index = (elapsed.as_nanos() / self.bucket_span.as_nanos().max(1)) as u64;
        if index > self.newest {
            let stale = (index - self.newest).min(BUCKETS as u64);
            for k in 1..=stale {
                self.maxima[((self.newest + k) % BUCKETS as u64) as usize] = f64::NEG_INFINITY;
            }
            self.newest = index;
        }
        let offset = samples as f64 - self.rate * elapsed.as_secs_f64();
        let bucket = &mut self.maxima[(self.newest % BUCKETS as u64) as usize];
        *bucket = bucket.max(offset);
    }

    /// The sample clock's position at `at`, once anything was observed.
    pub fn samples_at(&self, at: Instant) -> Option<f64> {
        let offset = self
            .maxima
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        offset
            .is_finite()
            .then(|| offset + self.rate * at.saturating_duration_since(self.origin).as_secs_f64())
    }
}

/// The grid a room transport gives on our sample clock at control-thread time `at`.
pub fn anchor(
    transport: &proto::osp::message::TransportSync,
    session_micros: f64,
    samples: f64,
    sample_rate: f64,
) -> Grid {
    let beat = transport.beat_at_tick((session_micros * 0.048).max(0.0));
    Grid {
        playing: transport.playing,
        bpm: transport.bpm,
        beats_per_bar: transport.beats_per_bar,
        beat_unit: transport.beat_unit,
        anchor_sample: samples,
        anchor_beat: beat,
        sample_rate,
    }
}

#[cfg(test)]
// The fit is tested against made-up instants; any origin will do.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_survives_the_slot_and_counts_beats() {
        let grid = Grid {
            playing: true,
            bpm: 120.0,
            beats_per_bar: 7,
            beat_unit: 8,
            anchor_sample: 1_000.5,
            anchor_beat: 3.25,
            sample_rate: 48_000.0,
        };
        let slot = Shared::new();
        assert!(slot.publish(&grid));
        assert_eq!(slot.read::<Grid>(), Some(grid));
        // 120 BPM at 48 kHz: one beat per 24,000 samples.
        assert!((grid.beat_at(25_000) - 4.249_979_166).abs() < 1e-9);
        // A host on bar 12 of a 7-beat bar, a quarter beat ahead of the grid, is 0.25 off.
        let host = grid.beat_at(50_000) + 12.0 * 7.0 + 0.25;
        assert!((grid.offset_of(50_000, host) - 0.25).abs() < 1e-9);
        assert!((grid.offset_of(50_000, host - 0.5) + 0.25).abs() < 1e-9);
        let stopped = Grid {
            playing: false,
            ..grid
        };
        assert_eq!(stopped.beat_at(1 << 30), 3.25);
    }

    #[test]
    fn the_fit_converges_on_the_block_starts_from_late_reads() {
        // A 48 kHz clock 37 ppm fast, in 64-sample blocks, started 1,234 samples before the
        // origin; each read lands 0-1.3 ms after the block it sees began (a 97-step pattern).
        let origin = Instant::now();
        let rate = 48_000.0 * (1.0 + 37e-6);
        let mut fit = SampleClockFit::new(48_000.0, Duration::from_secs(2), origin);
        let mut worst = 0f64;
        for read in 0..4_000u64 {
            let t = read as f64 * 0.001_000_7 + (read * 37 % 97) as f64 * 1.3e-5;
            let true_samples = 1_234.0 + t * rate;
            let block_start = (true_samples / 64.0).floor() * 64.0;
            let at = origin + Duration::from_secs_f64(t);
            fit.observe(block_start as u64, at);
            if read > 500 {
                let error = fit.samples_at(at).unwrap() - true_samples;
                worst = worst.max(error.abs());
            }
        }
        // Within a tenth of a block plus the drift one window lets through (37 ppm × 2 s).
        assert!(worst < 6.4 + 3.6, "worst error {worst:.2} samples");
    }

    #[test]
    fn a_restarted_clock_forgets_the_old_fit() {
        let origin = Instant::now();
        let mut fit = SampleClockFit::new(48_000.0, Duration::from_secs(2), origin);
        fit.observe(480_000, origin + Duration::from_secs(1));
        fit.observe(64, origin + Duration::from_millis(1_100));
        let at = origin + Duration::from_millis(1_100);
        assert!((fit.samples_at(at).unwrap() - 64.0).abs() < 1e-6);
    }

    #[test]
    fn the_anchor_extrapolates_the_masters_transport() {
        let transport = proto::osp::message::TransportSync {
            version: 1,
            playing: true,
            bpm: 90.0,
            beats_per_bar: 4,
            beat_unit: 4,
            anchor_tick: 48_000,
            anchor_beat: 8.0,
        };
        // Session time 3 s = tick 144,000: two seconds after the anchor at 1.5 beats/s.
        let grid = anchor(&transport, 3e6, 500.0, 44_100.0);
        assert!((grid.anchor_beat - 11.0).abs() < 1e-9);
        assert!((grid.beat_at(500 + 44_100) - 12.5).abs() < 1e-9);
    }
}
