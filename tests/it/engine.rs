//! Two engines in one process talking over real UDP on 127.0.0.1, the end-to-end check of
//! what `engine_virtual` tests on virtual time: audio goes in one engine's processor and must
//! come out of the other's, at the level and frequency it went in, with a one-way latency in
//! samples equal to what the receiver's stats report. Also the signals and measurements both
//! files use.
//!
//! The latency figures against JackTrip's belong to the `latency` bench; here they are only
//! checked against what the engine reports.
//!
//! Both processors are driven from one thread in real time (one 64-sample block every
//! 1.333 ms by an absolute schedule), so their sample clocks share an origin and the latency
//! is simply output index minus input index.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use engine::{Codec, Config, Controller, JitterMode, Processor};

use crate::room::{BLOCK, RATE};
use crate::support::{dominant_frequency, rms};

/// Impulse spacing on the right channel (100 ms).
pub(crate) const IMPULSE_EVERY: usize = 4_800;
const LOCALHOST: &str = "127.0.0.1:0";

struct Pair {
    a: (Controller, Processor),
    b: (Controller, Processor),
}

/// A fixed jitter delay: the latency under test must not glide while it is measured, and a
/// loaded 2-core test machine delays the lockstep loop by a few blocks now and then.
pub(crate) const FIXED_DELAY: Duration = Duration::from_millis(4);

/// Member `user_id` of the test room, calling `peers`, with a fixed jitter delay.
pub(crate) fn config(user_id: u32, codec: Codec, peers: Vec<SocketAddr>) -> Config {
    let mut config = Config::new(
        user_id,
        "engine-loopback",
        "secret",
        LOCALHOST.parse().unwrap(),
    );
    config.codec = codec;
    config.jitter = JitterMode::Fixed(FIXED_DELAY);
    config.peers = peers;
    config.max_block = BLOCK;
    config
}

fn pair(codec: Codec) -> Pair {
    let a = engine::new(config(1, codec, Vec::new())).expect("engine A");
    let b = engine::new(config(2, codec, vec![a.0.local_addr()])).expect("engine B");
    Pair { a, b }
}

/// What A sends: a 997 Hz sine at −12 dBFS on the left, an impulse every 100 ms on the right.
pub(crate) fn a_input(n: usize) -> (f32, f32) {
    let left = 0.25 * (2.0 * std::f64::consts::PI * 997.0 * n as f64 / RATE).sin() as f32;
    let right = if n.is_multiple_of(IMPULSE_EVERY) {
        0.9
    } else {
        0.0
    };
    (left, right)
}

/// What B sends: 660 Hz at −6 dBFS on both channels.
pub(crate) fn b_input(n: usize) -> f32 {
    0.5 * (2.0 * std::f64::consts::PI * 660.0 * n as f64 / RATE).sin() as f32
}

/// The room outputs of an exchange between A (sender of [`a_input`]) and B ([`b_input`]).
#[derive(Default)]
pub(crate) struct Recording {
    /// B's room output (A's audio), left and right.
    pub(crate) at_b: (Vec<f32>, Vec<f32>),
    /// B's reported playout lag for A's stream at each block.
    pub(crate) lag_at_b: Vec<f64>,
    /// A's room output (B's audio), left.
    pub(crate) at_a: Vec<f32>,
}

/// One block of the exchange on member `index` (0 is A, 1 is B), recorded into `rec`.
pub(crate) fn exchange_block(index: usize, processor: &mut Processor, rec: &mut Recording) {
    let first = processor.sample_clock() as usize;
    let (mut left, mut right) = ([0f32; BLOCK], [0f32; BLOCK]);
    if index == 0 {
        for i in 0..BLOCK {
            (left[i], right[i]) = a_input(first + i);
        }
        processor.process(&left, &right, None);
        rec.at_a.extend_from_slice(processor.room().0);
    } else {
        for (i, x) in left.iter_mut().enumerate() {
            *x = b_input(first + i);
        }
        processor.process(&left, &left, None);
        let (l, r) = processor.room();
        rec.at_b.0.extend_from_slice(l);
        rec.at_b.1.extend_from_slice(r);
        let lag = processor
            .remote_stats(0)
            .map_or(f64::NAN, |s| s.playout_lag_ticks);
        rec.lag_at_b.push(lag);
    }
}

/// Runs both processors for `seconds` of real time in lockstep and records their room outputs.
fn run(pair: &mut Pair, seconds: f64) -> Recording {
    let blocks = (seconds * RATE / BLOCK as f64) as usize;
    let period = Duration::from_secs_f64(BLOCK as f64 / RATE);
    let mut rec = Recording::default();
    let start = Instant::now();
    for block in 0..blocks {
        let deadline = start + period * block as u32;
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        exchange_block(0, &mut pair.a.1, &mut rec);
        exchange_block(1, &mut pair.b.1, &mut rec);
    }
    rec
}

/// Level of a sine of amplitude `amplitude` in `x`, in dB: the median over 10 ms windows, so
/// a few concealed packets do not move it.
pub(crate) fn level_db(x: &[f32], amplitude: f64) -> f64 {
    let mut levels: Vec<f64> = x.chunks_exact(480).map(|w| rms(w) * 2f64.sqrt()).collect();
    levels.sort_by(f64::total_cmp);
    20.0 * (levels[levels.len() / 2] / amplitude).log10()
}

/// Sample indices of the impulses found in `x` after `from` (local maxima above half the
/// impulse's height, at most one per impulse period).
pub(crate) fn impulse_positions(x: &[f32], from: usize) -> Vec<usize> {
    let mut found = Vec::new();
    let mut i = from;
    while i < x.len() {
        if x[i].abs() > 0.3 {
            let end = (i + 64).min(x.len());
            let peak = (i..end)
                .max_by(|&p, &q| x[p].abs().total_cmp(&x[q].abs()))
                .unwrap_or(i);
            found.push(peak);
            i = peak + IMPULSE_EVERY / 2;
        } else {
            i += 1;
        }
    }
    found
}

fn wait_connected(pair: &mut Pair) {
    // Audio flows while the handshake completes; run until both see each other.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        run(pair, 0.05);
        let (a, b) = (pair.a.0.network(), pair.b.0.network());
        if a.peers.len() == 1 && b.peers.len() == 1 {
            return;
        }
        assert!(Instant::now() < deadline, "not connected: {a:?} {b:?}");
    }
}

/// Checks a 2 s recording of the exchange, taken after the buffers settled: A's sine at B and
/// B's at A at their levels (within `level_tolerance_db`) and frequencies, few packets
/// concealed; returns each of A's impulses' (measured latency, lag B reported) in samples.
/// `origin` is B's sample clock at the recording's first sample; `b` is B's controller.
pub(crate) fn assess_exchange(
    codec: Codec,
    level_tolerance_db: f64,
    rec: &Recording,
    origin: usize,
    b: &mut Controller,
) -> Vec<(f64, f64)> {
    eprintln!("{codec:?}: B hears {:?}", b.processor().remotes[0]);
    eprintln!("{codec:?}: B's network {:?}", b.network());
    // Level and frequency of A's sine at B (skip the first 0.2 s of the recording).
    let steady = &rec.at_b.0[9_600..];
    let a_level_db = level_db(steady, 0.25);
    let frequency = dominant_frequency(steady, RATE, 997.0);
    assert!(
        a_level_db.abs() < level_tolerance_db,
        "{codec:?}: A's sine arrives at {a_level_db:+.2} dB"
    );
    // The resampler may be gliding (up to ±0.5 % by design) while the buffer settles.
    assert!((frequency - 997.0).abs() < 1.5, "{codec:?}: {frequency} Hz");
    // And B's 660 Hz at A.
    let at_a = &rec.at_a[9_600..];
    let b_level_db = level_db(at_a, 0.5);
    assert!(
        b_level_db.abs() < level_tolerance_db,
        "{codec:?}: B at A {b_level_db:+.2} dB"
    );
    assert!((dominant_frequency(at_a, RATE, 660.0) - 660.0).abs() < 1.0);

    // Latency of each impulse: B's output index minus the index A put it in at, next to the
    // lag B reported for the block it came out in.
    let measured: Vec<(f64, f64)> = impulse_positions(&rec.at_b.1, 0)
        .into_iter()
        .map(|p| {
            let out = origin + p;
            let sent = out - out % IMPULSE_EVERY; // the impulse A sent most recently before
            // No packet plays sooner than the block after it was sent: an impulse heard
            // within a block of A's latest is the one before it.
            let sent = if out - sent < BLOCK {
                sent - IMPULSE_EVERY
            } else {
                sent
            };
            ((out - sent) as f64, rec.lag_at_b[p / BLOCK])
        })
        .collect();
    assert!(
        measured.len() >= 15,
        "{codec:?}: impulses found {measured:?}"
    );
    let stats = b.processor().remotes[0];
    let concealed = stats.concealed as f64 / stats.received.max(1) as f64;
    assert!(
        concealed < 0.05,
        "{codec:?}: {:.1} % concealed",
        concealed * 100.0
    );
    measured
}

/// Every impulse's latency equals the reported lag plus `codec_delay`, within a sample and a
/// half (the impulse's peak after the interpolator); returns the median latency.
pub(crate) fn assert_latency_reported(
    codec: &str,
    measured: &[(f64, f64)],
    codec_delay: f64,
) -> f64 {
    for &(latency, reported) in measured {
        assert!(
            (latency - reported - codec_delay).abs() <= 1.5,
            "{codec}: measured {latency}, reported {reported:.1} + {codec_delay}: {measured:?}"
        );
    }
    let mut latencies: Vec<f64> = measured.iter().map(|m| m.0).collect();
    latencies.sort_by(f64::total_cmp);
    let median = latencies[latencies.len() / 2];
    eprintln!(
        "{codec}: one-way latency {:.0}..={:.0} samples, median {median:.0}",
        latencies[0],
        latencies[latencies.len() - 1],
    );
    median
}

/// What B counted of A's stream through a link that dropped `dropped` of A's originals: the
/// same count within 0.5 percentage points of the packets expected, every loss repaired in
/// time, given up as missing or still awaited, at least 90 % repaired (with recovery broken
/// `recovered` is 0), and a jitter buffer that holds what the jitter needs rather than a
/// backlog.
pub(crate) fn assert_loss_counted(
    peer: &net::PeerStatus,
    heard: &engine::remote::Stats,
    dropped: u64,
) {
    let lost = peer.lost;
    assert!(dropped > 100, "the link dropped {dropped} media packets");
    assert!(
        lost.abs_diff(dropped) * 200 <= peer.expected,
        "counted {lost} lost, the link dropped {dropped} originals of {}",
        peer.expected
    );
    assert_eq!(
        peer.recovered + peer.missing + peer.pending,
        lost,
        "lost {lost}, recovered {}, missing {}, pending {}",
        peer.recovered,
        peer.missing,
        peer.pending
    );
    assert!(
        peer.recovered * 10 >= dropped * 9,
        "recovered {} of {dropped}",
        peer.recovered
    );
    let buffered_ms = heard.buffer.level_ticks as f64 / 48.0;
    assert!(buffered_ms < 100.0, "{buffered_ms} ms buffered");
}

#[test]
fn engine_pcm_over_udp_plays_the_senders_audio_with_the_reported_latency() {
    let codec = Codec::PcmL24 { frame_samples: 64 };
    let mut pair = pair(codec);
    wait_connected(&mut pair);
    // Let the jitter buffers settle, then record 2 s.
    run(&mut pair, 1.0);
    let rec = run(&mut pair, 2.0);
    let origin = pair.b.1.sample_clock() as usize - rec.at_b.0.len();
    let measured = assess_exchange(codec, 0.1, &rec, origin, &mut pair.b.0);
    assert_latency_reported("PCM", &measured, 0.0);
}

#[test]
fn engine_over_udp_keeps_playing_through_an_impaired_proxy_and_counts_what_was_lost() {
    // The end-to-end check of `engine_virtual`'s impaired link through the real driver.
    // A ← proxy (5 % loss, 5 ms jitter σ, 2 % reordered by 3 ms, both ways) ← B, each with a
    // fixed 40 ms jitter buffer: room for the jitter, so NACKs wait for the measured spread and
    // the loss count is about real loss, not about this machine's scheduling. PCM, so the
    // level check sees the network path alone: under loss the bitrate policy lowers an Opus
    // stream's bitrate, which at 2.5 ms frames costs CELT a few dB on a pure sine.
    let codec = Codec::PcmL24 { frame_samples: 64 };
    let mut a_config = config(1, codec, Vec::new());
    a_config.jitter = JitterMode::Fixed(Duration::from_millis(40));
    let a = engine::new(a_config).expect("engine A");
    let model = netsim::Netem {
        reorder: 0.02,
        reorder_delay: Duration::from_millis(3),
        ..netsim::Netem::latency(Duration::from_micros(500))
            .with_jitter(Duration::from_millis(5))
            .with_loss(netsim::Loss::Random(0.05))
    };
    let proxy = osp_netem::Proxy::start(a.0.local_addr(), model, 7, &[engine::PT_L24]);
    let mut b_config = config(2, codec, vec![proxy.addr()]);
    b_config.jitter = JitterMode::Fixed(Duration::from_millis(40));
    let b = engine::new(b_config).expect("engine B");
    let mut pair = Pair { a, b };
    wait_connected(&mut pair);
    run(&mut pair, 2.0);
    let rec = run(&mut pair, 6.0);
    run(&mut pair, 0.3); // the last packets' fates settle

    let truth = proxy.report();
    let heard = pair.b.0.processor().remotes[0];
    let network = pair.b.0.network();
    let peer = network
        .peers
        .first()
        .expect("B still connected to A")
        .clone();
    eprintln!("proxy {truth:?}");
    eprintln!("B hears {heard:?}");
    eprintln!("B's view of A {peer:?}");

    // It kept playing: A's sine is at B at its level in the median 10 ms window, and nearly
    // every packet was played from real data.
    let level = level_db(&rec.at_b.0, 0.25);

    assert!(level.abs() < 1.0, "A's sine at B: {level:+.2} dB");
    let played = heard.decoded + heard.concealed;
    let concealed = heard.concealed as f64 / played as f64;
    assert!(concealed < 0.01, "{:.2} % concealed", concealed * 100.0);

    // What the receiver counts lost is what the proxy dropped of A's originals (resends carry
    // their own payload type, which the proxy does not count as media).
    assert_loss_counted(&peer, &heard, truth.to_client.media_lost);
    assert_eq!(truth.to_client.overflow + truth.to_upstream.overflow, 0);
}
