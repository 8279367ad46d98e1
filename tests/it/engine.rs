//! Two engines in one process talking over real UDP on 127.0.0.1: audio goes in one engine's
//! processor and must come out of the other's, at the level and frequency it went in, with a
//! one-way latency in samples equal to what the receiver's stats report.
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

use crate::support::{dominant_frequency, rms};

const BLOCK: usize = 64;
const RATE: f64 = 48_000.0;
/// Impulse spacing on the right channel (100 ms).
const IMPULSE_EVERY: usize = 4_800;
const LOCALHOST: &str = "127.0.0.1:0";

struct Pair {
    a: (Controller, Processor),
    b: (Controller, Processor),
}

/// A fixed jitter delay: the latency under test must not glide while it is measured, and a
/// loaded 2-core test machine delays the lockstep loop by a few blocks now and then.
const FIXED_DELAY: Duration = Duration::from_millis(4);

fn config(user_id: u32, codec: Codec, peers: Vec<SocketAddr>) -> Config {
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
fn a_input(n: usize) -> (f32, f32) {
    let left = 0.25 * (2.0 * std::f64::consts::PI * 997.0 * n as f64 / RATE).sin() as f32;
    let right = if n.is_multiple_of(IMPULSE_EVERY) {
        0.9
    } else {
        0.0
    };
    (left, right)
}

/// What B sends: 660 Hz at −6 dBFS on both channels.
fn b_input(n: usize) -> f32 {
    0.5 * (2.0 * std::f64::consts::PI * 660.0 * n as f64 / RATE).sin() as f32
}

struct Recording {
    /// B's room output (A's audio), left and right.
    at_b: (Vec<f32>, Vec<f32>),
    /// B's reported playout lag for A's stream at each block.
    lag_at_b: Vec<f64>,
    /// A's room output (B's audio), left.
    at_a: Vec<f32>,
}

/// Runs both processors for `seconds` of real time in lockstep and records their room outputs.
fn run(pair: &mut Pair, seconds: f64) -> Recording {
    let blocks = (seconds * RATE / BLOCK as f64) as usize;
    let period = Duration::from_secs_f64(BLOCK as f64 / RATE);
    let mut rec = Recording {
        at_b: (
            Vec::with_capacity(blocks * BLOCK),
            Vec::with_capacity(blocks * BLOCK),
        ),
        at_a: Vec::with_capacity(blocks * BLOCK),
        lag_at_b: Vec::with_capacity(blocks),
    };
    let (mut al, mut ar, mut bl) = ([0f32; BLOCK], [0f32; BLOCK], [0f32; BLOCK]);
    let start = Instant::now();
    for block in 0..blocks {
        let deadline = start + period * block as u32;
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let first = pair.a.1.sample_clock() as usize;
        for i in 0..BLOCK {
            (al[i], ar[i]) = a_input(first + i);
            bl[i] = b_input(first + i);
        }
        pair.a.1.process(&al, &ar, None);
        pair.b.1.process(&bl, &bl, None);
        let (l, r) = pair.b.1.room();
        rec.at_b.0.extend_from_slice(l);
        rec.at_b.1.extend_from_slice(r);
        rec.at_a.extend_from_slice(pair.a.1.room().0);
        let lag = pair
            .b
            .1
            .remote_stats(0)
            .map_or(f64::NAN, |s| s.playout_lag_ticks);
        rec.lag_at_b.push(lag);
    }
    rec
}

/// Level of a sine of amplitude `amplitude` in `x`, in dB: the median over 10 ms windows, so
/// a few concealed packets on a loaded machine do not move it.
fn level_db(x: &[f32], amplitude: f64) -> f64 {
    let mut levels: Vec<f64> = x.chunks_exact(480).map(|w| rms(w) * 2f64.sqrt()).collect();
    levels.sort_by(f64::total_cmp);
    20.0 * (levels[levels.len() / 2] / amplitude).log10()
}

/// Sample indices of the impulses found in `x` after `from` (local maxima above half the
/// impulse's height, at most one per impulse period).
fn impulse_positions(x: &[f32], from: usize) -> Vec<usize> {
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

fn check_exchange(codec: Codec, level_tolerance_db: f64) -> Vec<(f64, f64)> {
    let mut pair = pair(codec);
    wait_connected(&mut pair);
    // Let the jitter buffers settle, then record 2 s.
    run(&mut pair, 1.0);
    let rec = run(&mut pair, 2.0);
    let clock_end = pair.b.1.sample_clock() as usize;
    let recorded = rec.at_b.0.len();
    let origin = clock_end - recorded; // B's sample clock at the recording's first sample

    eprintln!("{codec:?}: B hears {:?}", pair.b.0.processor().remotes[0]);
    eprintln!("{codec:?}: B's network {:?}", pair.b.0.network());
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
            let sent = if out - sent < 200 {
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
    let stats = pair.b.0.processor().remotes[0];
    let concealed = stats.concealed as f64 / stats.received.max(1) as f64;
    assert!(
        concealed < 0.05,
        "{codec:?}: {:.1} % concealed",
        concealed * 100.0
    );
    measured
}

/// Every impulse's latency equals the reported lag plus `codec_delay`, within a sample and a
/// half (the impulse's peak after the interpolator).
fn assert_latency_reported(codec: &str, measured: &[(f64, f64)], codec_delay: f64) {
    for &(latency, reported) in measured {
        assert!(
            (latency - reported - codec_delay).abs() <= 1.5,
            "{codec}: measured {latency}, reported {reported:.1} + {codec_delay}: {measured:?}"
        );
    }
    let mut latencies: Vec<f64> = measured.iter().map(|m| m.0).collect();
    latencies.sort_by(f64::total_cmp);
    eprintln!(
        "{codec}: one-way latency {:.0}..={:.0} samples, median {:.0}",
        latencies[0],
        latencies[latencies.len() - 1],
        latencies[latencies.len() / 2]
    );
}

#[test]
fn engine_pcm_over_udp_plays_the_senders_audio_with_the_reported_latency() {
    let measured = check_exchange(Codec::PcmL24 { frame_samples: 64 }, 0.1);
    assert_latency_reported("PCM", &measured, 0.0);
}

#[test]
fn engine_opus_over_udp_plays_the_senders_audio_with_the_reported_latency() {
    let measured = check_exchange(
        Codec::Opus {
            frame: codec::opus::FrameDuration::Ms2_5,
            bitrate: 256_000,
        },
        // CELT at 2.5 ms frames codes a sine's band energy to within about half a dB.
        1.0,
    );
    // Opus delays its output by its 2.5 ms look-ahead, which no receiver can see: the reported
    // playout lag covers network, buffer and resampler; the codec's delay comes on top.
    assert_latency_reported("Opus", &measured, codec::opus::LOOKAHEAD_SAMPLES as f64);
}

#[test]
fn engine_keeps_playing_through_an_impaired_link_and_counts_what_was_lost() {
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
    let proxy = crate::proxy::Proxy::start(a.0.local_addr(), model, 7, &[engine::PT_L24]);
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
    let lost = peer.lost;
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
    // their own payload type, which the proxy does not count as media), within 0.5 percentage
    // points of the packets A sent.
    let dropped = truth.to_client.media_lost;
    assert!(dropped > 100, "the proxy dropped {dropped} media packets");
    assert!(
        lost.abs_diff(dropped) * 200 <= peer.expected,
        "counted {lost} lost, the proxy dropped {dropped} originals of {}",
        peer.expected
    );
    // Every counted loss was repaired in time by parity or a resend, given up as missing, or
    // is still awaited at the snapshot; with recovery broken `recovered` is 0.
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
        "recovered {}",
        peer.recovered
    );
    // Bounded: the jitter buffer holds what 5 ms of jitter needs, not an unbounded backlog.
    let buffered_ms = heard.buffer.level_ticks as f64 / 48.0;
    assert!(buffered_ms < 100.0, "{buffered_ms} ms buffered");
    assert_eq!(truth.to_client.overflow + truth.to_upstream.overflow, 0);
}

/// The beat each engine's grid gives at sample `s` (both sample clocks count the same blocks).
fn grid_beat(processor: &Processor, s: u64) -> Option<f64> {
    processor.grid().map(|grid| grid.beat_at(s))
}

/// Runs `blocks` blocks of real time in lockstep while A leads `bpm` in `beats_per_bar` and B
/// follows (the control side ticks every 8 blocks, ~10 ms); `each` processes a block, given
/// its index and first sample.
fn lockstep_on_a_tempo(
    pair: &mut Pair,
    blocks: usize,
    bpm: f64,
    beats_per_bar: u8,
    mut each: impl FnMut(&mut Pair, usize, u64),
) {
    use engine::controller::Lead;
    let period = Duration::from_secs_f64(BLOCK as f64 / RATE);
    let start = Instant::now();
    for block in 0..blocks {
        let deadline = start + period * block as u32;
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if block % 8 == 0 {
            pair.a.0.tick(Lead::Tempo { bpm, beats_per_bar });
            pair.b.0.tick(Lead::Follow);
        }
        let first = pair.a.1.sample_clock();
        assert_eq!(first, pair.b.1.sample_clock());
        each(pair, block, first);
    }
}

#[test]
fn engines_share_the_leaders_beat_grid_and_click_together_on_it() {
    const BPM: f64 = 120.0;
    const SAMPLES_PER_BEAT: f64 = RATE * 60.0 / BPM;
    let mut pair = pair(Codec::PcmL24 { frame_samples: 64 });
    wait_connected(&mut pair);
    let silence = [0f32; BLOCK];
    let (mut click_a, mut click_b) = (
        engine::click::Click::new(RATE),
        engine::click::Click::new(RATE),
    );
    let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
    let mut worst_beats = 0f64;
    let blocks = (4.0 * RATE) as usize / BLOCK;
    // A leads 120 BPM in 3/4; B only follows.
    lockstep_on_a_tempo(&mut pair, blocks, BPM, 3, |pair, block, first| {
        for (processor, click, out) in [
            (&mut pair.a.1, &mut click_a, &mut out_a),
            (&mut pair.b.1, &mut click_b, &mut out_b),
        ] {
            processor.begin_block();
            // B's host runs a quarter beat ahead of the room (on another bar count).
            if let Some(beat) = grid_beat(processor, first) {
                processor.note_host_beat(beat + 0.25 + 30.0);
            }
            processor.process(&silence, &silence, None);
            // Only the last two seconds are compared: the first two let the clock estimate
            // and the sample-clock fit settle.
            if block >= blocks / 2 {
                let (mut left, mut right) = ([0f32; BLOCK], [0f32; BLOCK]);
                click.render(processor.grid(), first, 0.5, &mut left, &mut right);
                out.extend_from_slice(&left);
            }
        }
        if block >= blocks / 2 {
            let (a, b) = (
                grid_beat(&pair.a.1, first).expect("A has the grid"),
                grid_beat(&pair.b.1, first).expect("B has the room's grid"),
            );
            worst_beats = worst_beats.max((a - b).abs());
        }
    });
    let grid = *pair.b.1.grid().unwrap();
    assert!(
        grid.playing && grid.bpm == BPM && grid.beats_per_bar == 3,
        "{grid:?}"
    );
    // Both engines place the grid within half a millisecond of each other (on one machine the
    // only error is the clock-offset estimate and the two sample-clock fits).
    let worst_samples = worst_beats * SAMPLES_PER_BEAT;
    assert!(
        worst_samples < 24.0,
        "grids differ by up to {worst_samples:.1} samples"
    );
    // The clicks land together: four beats in the two seconds, at the same samples within
    // the same bound.
    let onsets = |x: &[f32]| -> Vec<usize> {
        (1..x.len())
            .filter(|&i| x[i] != 0.0 && x[i - 1] == 0.0 && (i < 2 || x[i - 2] == 0.0))
            .collect()
    };
    let (at_a, at_b) = (onsets(&out_a), onsets(&out_b));
    assert_eq!(at_a.len(), 4, "{at_a:?}");
    assert_eq!(at_b.len(), 4, "{at_b:?}");
    for (a, b) in at_a.iter().zip(&at_b) {
        assert!(a.abs_diff(*b) < 24, "clicks at {a} and {b}");
    }
    // A beat apart: 24,000 samples (the fit may move a click by its error, no more).
    for pair in at_a.windows(2) {
        let spacing = (pair[1] - pair[0]) as f64;
        assert!((spacing - SAMPLES_PER_BEAT).abs() < 24.0, "{at_a:?}");
    }
    // Each host's offset from the grid: a quarter beat.
    for controller in [&mut pair.a.0, &mut pair.b.0] {
        let offset = controller.processor().host_offset_beats.expect("offset");
        assert!((offset - 0.25).abs() < 0.002, "host offset {offset}");
        let report = controller.report().to_string();
        assert!(report.contains("grid playing 120.00 bpm"), "{report}");
    }
    println!("grid agreement: {worst_samples:.2} samples; clicks A {at_a:?} B {at_b:?}");
}

/// Sample offsets within this block at which `grid` crosses a beat.
fn beats_in_block(grid: Option<&engine::grid::Grid>, first: u64) -> Vec<usize> {
    let Some(grid) = grid.filter(|g| g.playing) else {
        return Vec::new();
    };
    (0..BLOCK)
        .filter(|&i| {
            let s = first + i as u64;
            s > 0 && grid.beat_at(s).floor() > grid.beat_at(s - 1).floor()
        })
        .collect()
}

#[test]
fn remote_audio_is_placed_on_the_shared_grid_and_its_lag_is_reported() {
    const BPM: f64 = 120.0;
    const SAMPLES_PER_BEAT: f64 = RATE * 60.0 / BPM;
    // A leads and plays what it hears live; B places A a whole beat later. Each sends an
    // impulse on every beat of its own grid.
    let codec = Codec::PcmL24 { frame_samples: 64 };
    let a = engine::new(config(1, codec, Vec::new())).expect("engine A");
    let mut b_config = config(2, codec, vec![a.0.local_addr()]);
    b_config.align = engine::Align::Beat;
    let b = engine::new(b_config).expect("engine B");
    let mut pair = Pair { a, b };
    wait_connected(&mut pair);
    let blocks = (5.0 * RATE) as usize / BLOCK;
    let measured_from = blocks * 3 / 5;
    // (sample, grid beat) of every impulse sent, and each side's room output.
    let (mut sent_a, mut sent_b) = (Vec::new(), Vec::new());
    let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
    // The lag each reports for the other's stream, per block.
    let (mut lag_at_a, mut lag_at_b) = (Vec::new(), Vec::new());
    let mut b_beats = Vec::new();
    // The recordings start here on both sample clocks (the handshake ran blocks before).
    let origin = pair.a.1.sample_clock();
    lockstep_on_a_tempo(&mut pair, blocks, BPM, 4, |pair, _, first| {
        for (processor, sent, out, lags) in [
            (&mut pair.a.1, &mut sent_a, &mut out_a, &mut lag_at_a),
            (&mut pair.b.1, &mut sent_b, &mut out_b, &mut lag_at_b),
        ] {
            processor.begin_block();
            let mut input = [0f32; BLOCK];
            for i in beats_in_block(processor.grid(), first) {
                input[i] = 0.9;
                sent.push(first + i as u64);
            }
            processor.process(&input, &input, None);
            out.extend_from_slice(processor.room().0);
            lags.push(processor.remote_stats(0).and_then(|s| s.grid_lag_ticks));
        }
        b_beats.push(grid_beat(&pair.b.1, first));
    });
    let placed = pair.b.1.remote_stats(0).expect("A's stream at B");
    eprintln!("B plays A {placed:?}");
    eprintln!("A sent on its beats at {sent_a:?}; B at {sent_b:?}");

    // At B, every impulse A played on a beat is heard on a beat of B's grid, one beat later.
    let heard_b = impulse_positions(&out_b, measured_from * BLOCK);
    assert!(heard_b.len() >= 3, "B heard A's beats at {heard_b:?}");
    let mut worst_off_grid = 0f64;
    for &s in &heard_b {
        let beat = b_beats[s / BLOCK].expect("B has the grid");
        let grid = pair.b.1.grid().copied().unwrap();
        let at = beat + (s % BLOCK) as f64 * grid.beats_per_sample();
        let off = (at - at.round()) * SAMPLES_PER_BEAT;
        worst_off_grid = worst_off_grid.max(off.abs());
        let played = sent_a
            .iter()
            .rev()
            // The latest beat A played at least 50 ms before (nothing arrives sooner).
            .find(|&&t| t + 2_400 <= origin + s as u64)
            .expect("an impulse A sent before");
        let delay = (origin + s as u64) as f64 - *played as f64;
        assert!(
            (delay - SAMPLES_PER_BEAT).abs() < 24.0,
            "A's beat at {played} heard at {}: {delay} samples later",
            origin + s as u64
        );
    }
    assert!(
        worst_off_grid < 24.0,
        "A's beats land {worst_off_grid:.1} samples off B's grid"
    );
    assert_eq!(placed.placed_period_ticks, Some(SAMPLES_PER_BEAT));
    let reported = placed.grid_lag_ticks.expect("B knows A's lag");
    assert!(
        (reported - SAMPLES_PER_BEAT).abs() < 24.0,
        "B reports A {reported:.1} ticks behind the grid"
    );

    // At A, B is heard live; the lag A reports for it is the delay measured from B's beats.
    let heard_a = impulse_positions(&out_a, measured_from * BLOCK);
    assert!(heard_a.len() >= 3, "A heard B's beats at {heard_a:?}");
    let mut worst_report = 0f64;
    for &s in &heard_a {
        let played = sent_b
            .iter()
            .rev()
            .find(|&&t| t <= origin + s as u64)
            .expect("an impulse B sent before");
        let measured = (origin + s as u64) as f64 - *played as f64;
        assert!(
            measured < 2_400.0,
            "B's beat at {played} heard {measured} later at A"
        );
        let reported = lag_at_a[s / BLOCK].expect("A knows B's lag");
        worst_report = worst_report.max((reported - measured).abs());
    }
    assert!(
        worst_report < 24.0,
        "A's reported lag is up to {worst_report:.1} samples off the measured one"
    );
    let report = pair.a.0.report().to_string();
    assert!(report.contains(" grid lag "), "{report}");
    println!(
        "placed at B: {} beats heard at most {worst_off_grid:.2} samples off the grid; live at \
         A: lag reported within {worst_report:.2} samples; {report}",
        heard_b.len()
    );
}

#[test]
fn a_second_track_of_a_session_reaches_the_room_as_its_own_stream_and_leaves_it() {
    let mut pair = pair(Codec::PcmL24 { frame_samples: 64 });
    wait_connected(&mut pair);
    let (track, mut second) = pair.a.0.add_track().expect("a second track");
    assert_eq!((track.index(), pair.a.0.track_count()), (1, 2));
    let period = Duration::from_secs_f64(BLOCK as f64 / RATE);
    let silence = [0f32; BLOCK];
    let tone = |hz: f64, n: u64| 0.25 * (std::f64::consts::TAU * hz * n as f64 / RATE).sin() as f32;
    // B's per-stream outputs over the last second, keyed by stream id.
    let mut heard: std::collections::HashMap<u16, Vec<f32>> = Default::default();
    let run = |pair: &mut Pair,
               second: &mut Processor,
               seconds: f64,
               heard: &mut std::collections::HashMap<u16, Vec<f32>>| {
        let blocks = (seconds * RATE) as usize / BLOCK;
        let start = Instant::now();
        let (mut first_track, mut second_track) = ([0f32; BLOCK], [0f32; BLOCK]);
        for block in 0..blocks {
            let deadline = start + period * block as u32;
            if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let n = pair.a.1.sample_clock();
            for i in 0..BLOCK {
                first_track[i] = tone(997.0, n + i as u64);
                second_track[i] = tone(440.0, second.sample_clock() + i as u64);
            }
            pair.a.1.process(&first_track, &first_track, None);
            second.process(&second_track, &second_track, None);
            pair.b.1.process(&silence, &silence, None);
            if block >= blocks / 2 {
                for slot in 0..engine::processor::MAX_REMOTES {
                    if let Some(out) = pair.b.1.remote(slot) {
                        heard
                            .entry(out.stream_id)
                            .or_default()
                            .extend_from_slice(out.left);
                    }
                }
            }
        }
    };
    run(&mut pair, &mut second, 2.0, &mut heard);
    let mut streams: Vec<u16> = heard.keys().copied().collect();
    streams.sort_unstable();
    assert_eq!(streams, [1, 2], "B plays both of A's tracks");
    for (stream, hz) in [(1u16, 997.0), (2, 440.0)] {
        let x = &heard[&stream];
        let found = dominant_frequency(x, RATE, hz);
        assert!((found - hz).abs() < 1.0, "stream {stream}: {found} Hz");
        let level = level_db(x, 0.25);
        assert!(level.abs() < 0.5, "stream {stream}: {level:+.2} dB");
    }
    // The track goes: B frees its slot, the first track plays on.
    pair.a.0.remove_track(track);
    heard.clear();
    run(&mut pair, &mut second, 2.0, &mut heard);
    assert!(
        !heard.contains_key(&2),
        "the removed track still plays at B"
    );
    assert!(level_db(&heard[&1], 0.25).abs() < 0.5);
}
