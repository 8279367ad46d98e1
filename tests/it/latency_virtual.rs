//! The one-way latency a clean link allows, on virtual time ([`crate::room`]): two members on
//! one sample-clock grid (as two JACK clients of one server), PCM packets of one 64-sample
//! block, the jitter buffer adaptive. A packet that reaches the receiver before its next block
//! starts must play in that block: one block of latency, no look-ahead or margin on top, and
//! the samples exactly as sent. With jitter on the link the buffer must grow to cover it and
//! keep glitches within its 0.1 % budget.

use std::time::Duration;

use engine::{Codec, JitterMode};
use netsim::Netem;

use crate::engine::{a_input, config, impulse_positions};
use crate::engine_virtual::record;
use crate::room::{BLOCK, Room};

const PCM: Codec = Codec::PcmL24 { frame_samples: 64 };
/// Half the step of a 24-bit sample: PCM L24 may move a sample this much, nothing more.
const L24_HALF_STEP: f32 = 0.5 / 8_388_608.0;

/// A (user 1) and B (user 2, calling A), both adaptive, over `link`.
fn pair(link: Netem, seed: u64) -> Room {
    let mut room = Room::new(link, seed);
    let mut a = config(1, PCM, Vec::new());
    a.jitter = JitterMode::Auto;
    let a = room.join(a);
    let mut b = config(2, PCM, vec![room.addr(a)]);
    b.jitter = JitterMode::Auto;
    room.join(b);
    room
}

#[test]
fn a_packet_that_arrives_before_the_next_block_plays_in_it_exactly_as_sent() {
    // 0.5 ms one way: well inside the 1.33 ms block.
    let mut room = pair(Netem::latency(Duration::from_micros(500)), 3);
    // A clean link converges within 10 s (the product's bound); 8 s of it here.
    record(&mut room, 8.0);
    let rec = record(&mut room, 2.0);
    let origin = room.member(1).processor.sample_clock() as usize - rec.at_b.0.len();

    // Every impulse A sent comes out of B exactly one block later.
    let impulses = impulse_positions(&rec.at_b.1, 0);
    assert!(impulses.len() >= 19, "impulses heard: {impulses:?}");
    for p in &impulses {
        let sent = origin + p - BLOCK;
        assert_eq!(
            a_input(sent).1,
            0.9,
            "B's impulse at {p} is not A's, one block back"
        );
    }
    // And every sample in between: the direct reader copies, it does not interpolate.
    let worst = rec
        .at_b
        .0
        .iter()
        .enumerate()
        .map(|(k, &y)| (y - a_input(origin + k - BLOCK).0).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= L24_HALF_STEP * 1.01,
        "worst difference from A's samples one block back: {worst:e}"
    );
    let lag = rec.lag_at_b.iter().copied().fold(f64::NAN, f64::max);
    assert_eq!(lag, BLOCK as f64, "reported playout lag");
    let stats = room.member(1).controller.processor().remotes[0];
    eprintln!("clean link: {stats:?}");
    assert_eq!((stats.concealed, stats.starved), (0, 0));
}

#[test]
fn with_jitter_on_the_link_the_buffer_grows_and_glitches_stay_within_budget() {
    // 0.5 ms + |N(0, 1 ms)|: late by more than a block now and then.
    let link = Netem::latency(Duration::from_micros(500)).with_jitter(Duration::from_millis(1));
    let mut room = pair(link, 5);
    record(&mut room, 5.0);
    let before = room.member(1).controller.processor().remotes[0];
    let rec = record(&mut room, 20.0);
    let after = room.member(1).controller.processor().remotes[0];
    let received = after.received - before.received;
    let glitches = (after.concealed - before.concealed) + (after.starved - before.starved);
    let lags: Vec<f64> = rec
        .lag_at_b
        .iter()
        .copied()
        .filter(|l| l.is_finite())
        .collect();
    let mean_lag = lags.iter().sum::<f64>() / lags.len() as f64;
    eprintln!(
        "1 ms jitter: {glitches} glitches in {received} packets, mean lag {mean_lag:.1} ticks, \
         target {} ticks",
        after.buffer.target_ticks
    );
    assert!(received > 14_000, "received {received}");
    assert!(
        glitches as f64 <= 0.001 * received as f64,
        "{glitches} glitches in {received} packets"
    );
    // The buffer holds more than the clean link's block, and not absurdly more: the jitter's
    // 99.9th percentile is about 3.3 ms (158 ticks) past the 0.5 ms path.
    assert!(
        (BLOCK as f64 + 48.0..=BLOCK as f64 + 400.0).contains(&mean_lag),
        "mean lag {mean_lag}"
    );
}
