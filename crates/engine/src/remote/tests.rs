//! One remote stream on virtual time, fed by a simulated sender whose packets cross a jittery
//! link to a receiver whose device runs off its nominal rate: 10 % slow, 10 % fast, 5 % slow,
//! then exact, 60 s each. The delay stays bounded, the target stays the link's, and the audio
//! skipped or repeated is what the rate error leaves beyond the resampler's glide.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use proto::osp::message::StreamEncoding;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64;

use super::*;

const BLOCK: usize = 64;
const FRAME: u64 = 64;
/// The path's fixed one-way delay (5 ms) and its jitter, σ of |N(0, σ)| per packet (0.5 ms).
const PATH_TICKS: f64 = 240.0;
const JITTER_SIGMA_TICKS: f64 = 24.0;
const SEGMENT_SECONDS: f64 = 60.0;
/// After a change of rate, the bounds hold from this long on (2 s).
const SETTLE_TICKS: f64 = 96_000.0;
const TONE_HZ: f64 = 220.0;
const TONE_AMP: f64 = 0.5;
/// A second difference this large in the output is a click (a hard cut in a 0.5-amplitude
/// tone reaches ~1; the tone itself 4e-4, a crossfade's corners ~0.02).
const CLICK: f32 = 0.05;

/// What one segment of a run measured.
#[derive(Clone, Copy, Debug, Default)]
struct Segment {
    /// Local device ticks per real tick.
    rate: f64,
    /// Largest one-way delay beyond the path (real ticks), from `SETTLE_TICKS` after the change
    /// on, minus the target then in force: must stay within a block + 2 ms.
    worst_over_target: f64,
    /// Largest and smallest target after settling.
    target_max: f64,
    target_min: f64,
    skipped: f64,
    repeated: f64,
    skips: u64,
    repeats: u64,
    /// Blocks that starved after settling.
    starved: u64,
    /// Media ticks the sender produced and local ticks the device ran in the segment.
    media: f64,
    local: f64,
    clicks: u64,
    concealed: u64,
}

/// Runs the stream through the segments' device rates (local ticks per real tick).
fn run(rates: &[f64], seed: u64) -> Vec<Segment> {
    let config = jitter::Config {
        lag_ticks: LAG_TICKS,
        ..jitter::Config::default()
    };
    let mut remote = Remote::new(BLOCK, config, 0);
    remote.assign(
        1,
        1,
        StreamShape {
            encoding: StreamEncoding::L24,
            channels: 1,
            frame_samples: FRAME as u32,
        },
    );
    let kernel = Kernel::new(1.0);
    let mut rng = Pcg64::seed_from_u64(seed);
    let jitter = Normal::new(0.0, JITTER_SIGMA_TICKS).expect("σ");
    // Packets on the wire: (real arrival in ticks ×1000 for ordering, seq).
    let mut wire: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let mut next_send = 0u64;
    let mut payload = [0u8; 3 * FRAME as usize];
    let mut tone = [0f32; FRAME as usize];
    // Real time at the block start, local ticks, and the segment bookkeeping.
    let (mut real, mut local) = (0f64, 0u64);
    let mut previous = [0f32; 2];
    let mut last_glitches = (0, 0);
    let mut glitch_blocks = 0usize;
    let mut segments = Vec::new();
    for &rate in rates {
        let mut segment = Segment {
            rate,
            target_min: f64::MAX,
            ..Segment::default()
        };
        let changed_at = real;
        let end = real + SEGMENT_SECONDS * 48_000.0;
        // Counters from the settling point on: the jumps while the new rate is being learnt
        // are the change's, not the rate's.
        let mut start: Option<(f64, f64, Stats)> = None;
        while real < end {
            // The sender: a packet every FRAME media ticks, media = real time.
            while (next_send as f64) <= real {
                let arrival =
                    next_send as f64 + FRAME as f64 + PATH_TICKS + jitter.sample(&mut rng).abs();
                wire.push(Reverse(((arrival * 1000.0) as u64, next_send / FRAME)));
                next_send += FRAME;
            }
            // The receiver's block: everything that arrived by its start, stamped with it.
            while let Some(&Reverse((at, seq))) = wire.peek() {
                if at as f64 / 1000.0 > real {
                    break;
                }
                wire.pop();
                let media = seq * FRAME;
                for (i, sample) in tone.iter_mut().enumerate() {
                    let t = (media + i as u64) as f64 / 48_000.0;
                    *sample = (TONE_AMP * (std::f64::consts::TAU * TONE_HZ * t).sin()) as f32;
                }
                let n = codec::pcm::encode(codec::pcm::Format::L24, &tone, &mut payload)
                    .expect("encode");
                remote.push(local, seq, media, None, None, &payload[..n]);
            }
            remote.render(local, BLOCK, 1.0, &kernel, 1.0, Timing::default());
            let stats = remote.stats();
            if stats.active && remote.is_playing() {
                // The receiving side's share of the one-way delay: from the packet's send (its
                // frame captured, the path crossed) to the moment it is heard.
                let heard = local as f64 - stats.playout_lag_ticks;
                let one_way = real - heard - PATH_TICKS - FRAME as f64;
                let target = f64::from(stats.buffer.target_ticks);
                if real - changed_at >= SETTLE_TICKS {
                    segment.worst_over_target = segment.worst_over_target.max(one_way - target);
                    segment.target_max = segment.target_max.max(target);
                    segment.target_min = segment.target_min.min(target);
                }
            }
            // A click within a packet of a frame concealed or a starved block is that
            // glitch's (a lost PCM frame plays as silence); any other is a jump's. A frame is
            // decoded when the reader's look-ahead first reaches it and heard up to the
            // interpolating reader's lag plus its largest lag behind the schedule later
            // (82 ticks: up to two more blocks).
            if (stats.concealed, stats.starved) != last_glitches {
                glitch_blocks = 1 + FRAME as usize / BLOCK + 2;
            }
            last_glitches = (stats.concealed, stats.starved);
            let glitched = glitch_blocks > 0;
            glitch_blocks = glitch_blocks.saturating_sub(1);
            let (left, _) = remote.output(BLOCK);
            for &y in left {
                let click = (y - 2.0 * previous[1] + previous[0]).abs() > CLICK;
                if start.is_some() && click && !glitched {
                    segment.clicks += 1;
                }
                previous = [previous[1], y];
            }
            local += BLOCK as u64;
            real += BLOCK as f64 / rate;
            if start.is_none() && real - changed_at >= SETTLE_TICKS {
                start = Some((real, local as f64, remote.stats()));
            }
        }
        let start = start.expect("segments outlast the settling time");
        let stats = remote.stats();
        segment.skipped = stats.skipped_ticks - start.2.skipped_ticks;
        segment.repeated = stats.repeated_ticks - start.2.repeated_ticks;
        segment.skips = stats.skips - start.2.skips;
        segment.repeats = stats.repeats - start.2.repeats;
        segment.concealed = stats.concealed - start.2.concealed;
        segment.starved = stats.starved - start.2.starved;
        segment.media = real - start.0;
        segment.local = local as f64 - start.1;
        segments.push(segment);
    }
    segments
}

#[test]
fn the_delay_stays_bounded_when_the_device_runs_off_its_rate() {
    const MAX_DEVIATION: f64 = 0.005;
    let reference = run(&[1.0; 4], 7);
    let drifting = run(&[0.9, 1.1, 0.95, 1.0], 7);
    let (ref_min, ref_max) = reference.iter().fold((f64::MAX, 0.0f64), |(lo, hi), s| {
        (lo.min(s.target_min), hi.max(s.target_max))
    });
    let reference_jumps = reference
        .iter()
        .fold((0, 0), |(_, most), s| (0, most.max(s.skips + s.repeats)));
    eprintln!(
        "no rate error: target {ref_min}..{ref_max} ticks, at most {} jumps a segment (late \
         packets), clicks {}",
        reference_jumps.1,
        reference.iter().map(|s| s.clicks).sum::<u64>()
    );
    for s in &drifting {
        // Media the device could not play at the resampler's bounded rate: skipped when slow,
        // repeated when fast.
        let surplus = s.media - s.local * (1.0 + MAX_DEVIATION);
        let shortfall = s.local * (1.0 - MAX_DEVIATION) - s.media;
        eprintln!(
            "device at {:.2}: one-way beyond the path at most target + {:.1} ticks; target \
             {}..{} ticks; skipped {:.1} ms in {} skips (expected {:.1} ms), repeated {:.1} ms \
             in {} repeats (expected {:.1} ms); {:.1} jumps/s; clicks {}; concealed {}; starved {}",
            s.rate,
            s.worst_over_target,
            s.target_min,
            s.target_max,
            s.skipped / 48.0,
            s.skips,
            surplus.max(0.0) / 48.0,
            s.repeated / 48.0,
            s.repeats,
            shortfall.max(0.0) / 48.0,
            (s.skips + s.repeats) as f64 / SEGMENT_SECONDS,
            s.clicks,
            s.concealed,
            s.starved,
        );
        // One block of arrival quantisation plus 2 ms.
        assert!(
            s.worst_over_target <= BLOCK as f64 + 96.0,
            "device at {}: one-way {} ticks over the target",
            s.rate,
            s.worst_over_target
        );
        assert!(
            s.target_max <= ref_max + 96.0 && s.target_min >= ref_min - 96.0,
            "device at {}: target {}..{} against {ref_min}..{ref_max} without rate error",
            s.rate,
            s.target_min,
            s.target_max
        );
        // Jumps the other way come from the link (a late packet moves the schedule), as in
        // the run without rate error: a few, not a rate's worth.
        let (_, reference_jumps) = reference_jumps;
        if surplus > 0.0 {
            assert!((s.skipped / surplus - 1.0).abs() <= 0.05, "{s:?}");
            assert!(s.repeats <= reference_jumps + 2, "{s:?}");
        } else if shortfall > 0.0 {
            assert!((s.repeated / shortfall - 1.0).abs() <= 0.05, "{s:?}");
            assert!(s.skips <= reference_jumps + 2, "{s:?}");
        } else {
            assert!(s.skips + s.repeats <= reference_jumps + 2, "{s:?}");
        }
    }
    // The crossfaded jumps click nowhere; what clicks is the link's own glitches (a late PCM
    // frame concealed as silence, and the schedule jumping after it), as often as without any
    // rate error.
    let link_clicks = reference.iter().map(|s| s.clicks).max().unwrap_or(0);
    for s in &drifting {
        assert!(
            s.clicks <= link_clicks,
            "{s:?}: more clicks than the link's {link_clicks}"
        );
    }
}

#[test]
fn the_peak_is_the_largest_magnitude_wherever_it_lies_and_ignores_nan() {
    assert_eq!(peak(&[]), 0.0);
    for at in 0..19 {
        let mut samples = [0.25f32; 19];
        samples[(at + 7) % 19] = f32::NAN;
        samples[at] = -0.75;
        assert_eq!(peak(&samples), 0.75, "peak at {at}");
    }
}
