//! Engines in a room on virtual time ([`crate::room`]): the engine's behaviour from packet to
//! mix (levels and pitch at the receiver, latency against what is reported, loss and its
//! recovery, the shared beat grid and placement on it, further tracks, gains and mutes,
//! members joining and leaving, sample clocks that drift), each run deterministic for its
//! seed and much faster than real time. `engine.rs` keeps the same exchange over real UDP.

use std::time::Duration;

use engine::controller::Lead;
use engine::{Codec, JitterMode, Processor};
use netsim::{Loss, Netem};

use crate::engine::{
    FIXED_DELAY, Recording, assert_latency_reported, assert_loss_counted, assess_exchange, config,
    exchange_block, impulse_positions, level_db,
};
use crate::room::{BLOCK, RATE, Room};
use crate::support::{dominant_frequency, rms};

const PCM: Codec = Codec::PcmL24 { frame_samples: 64 };

/// One way over a quiet LAN: 1 ms, with 0.2 ms of jitter σ.
fn lan() -> Netem {
    Netem::latency(Duration::from_millis(1)).with_jitter(Duration::from_micros(200))
}

/// A (user 1) and B (user 2, calling A) in a room whose links are `link`.
fn pair(codec: Codec, link: Netem, seed: u64) -> Room {
    let mut room = Room::new(link, seed);
    let a = room.join(config(1, codec, Vec::new()));
    room.join(config(2, codec, vec![room.addr(a)]));
    room
}

/// Runs the exchange (A sends [`crate::engine::a_input`], B [`crate::engine::b_input`]) for `seconds`.
pub(crate) fn record(room: &mut Room, seconds: f64) -> Recording {
    let mut rec = Recording::default();
    room.run_for(Duration::from_secs_f64(seconds), |index, member| {
        exchange_block(index, &mut member.processor, &mut rec);
    });
    rec
}

/// Runs the exchange until every member sees every other; returns the virtual time it took.
fn connect(room: &mut Room, members: usize) -> Duration {
    let start = room.now();
    loop {
        let connected = (0..members).all(|i| {
            let network = room.member(i).controller.network();
            network.peers.len() == members - 1
        });
        if connected {
            return room.now() - start;
        }
        assert!(room.now() - start < Duration::from_secs(5), "not connected");
        record(room, 0.01);
    }
}

/// The exchange of `engine.rs` on virtual time: settle 1 s, record 2 s, check levels,
/// pitches and every impulse's latency against the reported lag; returns the median latency.
fn exchange(codec: Codec, level_tolerance_db: f64, codec_delay: f64, name: &str) -> f64 {
    let mut room = pair(codec, lan(), 1);
    connect(&mut room, 2);
    record(&mut room, 1.0);
    let rec = record(&mut room, 2.0);
    let origin = room.member(1).processor.sample_clock() as usize - rec.at_b.0.len();
    let measured = assess_exchange(
        codec,
        level_tolerance_db,
        &rec,
        origin,
        &mut room.member(1).controller,
    );
    let stats = room.member(1).controller.processor().remotes[0];
    assert_eq!(stats.concealed, 0, "{name}: concealed on a clean link");
    assert_latency_reported(name, &measured, codec_delay)
}

/// The latency a clean 1 ms link with a fixed 4 ms buffer allows, in samples: the network's
/// 1 ms and the buffer's 4 ms, plus at most the block a packet waits to be read, the packet's
/// own frame and the interpolator's look-ahead.
fn assert_latency_budget(name: &str, median: f64, frame: f64) {
    let floor = (0.001 + FIXED_DELAY.as_secs_f64()) * RATE;
    let ceiling = floor + BLOCK as f64 + frame + 64.0;
    assert!(
        (floor..=ceiling).contains(&median),
        "{name}: median one-way latency {median} samples, expected {floor}..={ceiling}"
    );
}

#[test]
fn engine_pcm_plays_the_senders_audio_with_the_reported_latency() {
    let median = exchange(PCM, 0.1, 0.0, "PCM");
    assert_latency_budget("PCM", median, 64.0);
}

#[test]
fn engine_opus_plays_the_senders_audio_with_the_reported_latency() {
    let codec = Codec::Opus {
        frame: codec::opus::FrameDuration::Ms2_5,
        bitrate: 256_000,
    };
    // CELT at 2.5 ms frames codes a sine's band energy to within about half a dB. Opus delays
    // its output by its 2.5 ms look-ahead, which no receiver can see: the reported playout
    // lag covers network, buffer and resampler; the codec's delay comes on top.
    let lookahead = codec::opus::LOOKAHEAD_SAMPLES as f64;
    let median = exchange(codec, 1.0, lookahead, "Opus");
    assert_latency_budget("Opus", median - lookahead, 120.0);
}

#[test]
fn engine_room_replays_sample_for_sample_from_its_seed() {
    let run = |seed| {
        let mut room = pair(PCM, lan().with_loss(Loss::Random(0.02)), seed);
        connect(&mut room, 2);
        let rec = record(&mut room, 1.0);
        let status = room.member(1).controller.network();
        (rec.at_b.0, rec.at_a, status.peers[0].lost, status.received)
    };
    let (first, again, other) = (run(7), run(7), run(8));
    assert!(first.2 > 0, "the lossy link lost nothing");
    assert!(first == again, "the same seed gave another run");
    assert!(first != other, "another seed gave the same run");
}

#[test]
fn engine_keeps_playing_through_an_impaired_link_and_counts_what_was_lost() {
    // 5 % loss, 5 ms jitter σ, 2 % reordered by 3 ms, both ways, each side with a fixed 40 ms
    // jitter buffer: room for the jitter, so NACKs wait for the measured spread. PCM, so the
    // level check sees the network path alone (under loss the bitrate policy lowers an Opus
    // stream's bitrate, which at 2.5 ms frames costs CELT a few dB on a pure sine).
    let link = Netem {
        reorder: 0.02,
        reorder_delay: Duration::from_millis(3),
        ..Netem::latency(Duration::from_micros(500))
            .with_jitter(Duration::from_millis(5))
            .with_loss(Loss::Random(0.05))
    };
    let mut room = Room::new(lan(), 7);
    let mut a_config = config(1, PCM, Vec::new());
    a_config.jitter = JitterMode::Fixed(Duration::from_millis(40));
    let a = room.join(a_config);
    let mut b_config = config(2, PCM, vec![room.addr(a)]);
    b_config.jitter = JitterMode::Fixed(Duration::from_millis(40));
    let b = room.join(b_config);
    room.set_link(a, b, link);
    room.set_link(b, a, link);
    connect(&mut room, 2);
    record(&mut room, 2.0);
    let before = room.traffic(0, 1);
    let rec = record(&mut room, 6.0);
    record(&mut room, 0.3); // the last packets' fates settle

    let truth = room.traffic(0, 1);
    let b = &mut room.member(1).controller;
    let heard = b.processor().remotes[0];
    let peer = b.network().peers[0].clone();
    eprintln!(
        "A to B {truth:?} (6 s: {} originals lost)",
        truth.media_lost - before.media_lost
    );
    eprintln!("B hears {heard:?}");
    eprintln!("B's view of A {peer:?}");

    // It kept playing: A's sine is at B at its level in the median 10 ms window, and nearly
    // every packet was played from real data.
    let level = level_db(&rec.at_b.0, 0.25);
    assert!(level.abs() < 0.1, "A's sine at B: {level:+.2} dB");
    let played = heard.decoded + heard.concealed;
    let concealed = heard.concealed as f64 / played as f64;
    assert!(concealed < 0.005, "{:.2} % concealed", concealed * 100.0);

    // What the receiver counts lost is what the links dropped of A's originals.
    assert_loss_counted(&peer, &heard, truth.media_lost);
}

#[test]
fn engine_plays_a_sender_whose_sample_clock_runs_100_ppm_slow_without_a_gap() {
    // B's audio interface runs 100 ppm fast against A's: B plays A's 48,000 samples a second
    // in 48,004.8 of its own, 4.8 samples a second more than arrive.
    let mut room = pair(PCM, lan(), 3);
    room.set_clock_error(1, 100.0);
    connect(&mut room, 2);
    record(&mut room, 5.0);
    let rec = record(&mut room, 20.0);
    let stats = room.member(1).controller.processor().remotes[0];
    let now = room.member(1).processor.remote_stats(0).unwrap();
    eprintln!("B plays A {now:?}");
    // Never starved, nothing concealed, the buffer at its target: the deficit is made up by
    // repeats (each crossfaded over 1 ms), what they inserted is the 4.8 ticks a second B
    // plays more than A sends, give or take the reader's window (4 ahead .. 64 behind its
    // place) and one step of the schedule (a 64-tick packet).
    assert_eq!((stats.concealed, stats.starved, stats.skips), (0, 0, 0));
    assert_eq!(now.buffer.delay_ticks, i64::from(now.buffer.target_ticks));
    let deficit = room.now().as_secs_f64() * RATE * 100e-6;
    let inserted = now.repeated_ticks - now.skipped_ticks;
    assert!(
        (inserted - deficit).abs() <= 68.0 + 64.0,
        "repeats inserted {inserted:.1} ticks for a deficit of {deficit:.1}"
    );
    let level = level_db(&rec.at_b.0, 0.25);
    assert!(level.abs() < 0.1, "A's sine at B {level:+.2} dB");
    // A's 997 Hz in B's samples is 996.90 Hz; a one-second scan resolves it to about 0.5 Hz
    // (a repeat in the window shifts its phase).
    let pitch = dominant_frequency(&rec.at_b.0[..48_000], RATE, 997.0);
    assert!((pitch - 996.9).abs() <= 0.5, "A's sine at B is {pitch} Hz");
    println!(
        "100 ppm: {} repeats inserted {inserted:.1} ticks in {:.1} s (deficit {deficit:.1}); \
         resampler ratio {:.6}",
        now.repeats,
        room.now().as_secs_f64(),
        now.ratio
    );
}

#[test]
fn engine_plays_each_player_at_its_gain_and_mutes_it() {
    let mut room = pair(PCM, lan(), 4);
    connect(&mut room, 2);
    record(&mut room, 1.0);
    room.member(1).controller.set_gain(0, 0.5);
    let half = record(&mut room, 1.0);
    let level = level_db(&half.at_b.0[4_800..], 0.25);
    assert!(
        (level - 20.0 * 0.5f64.log10()).abs() < 0.05,
        "A at gain 0.5: {level:+.2} dB"
    );
    room.member(1).controller.set_mute(0, true);
    let muted = record(&mut room, 0.5);
    let residue = rms(&muted.at_b.0[BLOCK * 2..]);
    assert!(residue < 1e-6, "A muted still plays at rms {residue}");
    // A hears B at full level throughout: B's gains are B's own.
    assert!(level_db(&muted.at_a, 0.5).abs() < 0.1);
    room.member(1).controller.set_mute(0, false);
    let back = record(&mut room, 0.5);
    let level = level_db(&back.at_b.0[4_800..], 0.25);
    assert!((level + 6.02).abs() < 0.05, "A unmuted: {level:+.2} dB");
}

/// Each member's tone: user `u` sends a sine of `tone(u)` Hz at −12 dBFS.
fn tone(user_id: u32) -> f64 {
    [
        0.0, 997.0, 660.0, 440.0, 1_250.0, 550.0, 880.0, 1_100.0, 330.0,
    ][user_id as usize]
}

/// One block of member `index`'s tone; returns what its slots played this block, by user.
fn tone_block(user_id: u32, processor: &mut Processor, heard: &mut Vec<(u32, Vec<f32>)>) {
    let first = processor.sample_clock();
    let hz = tone(user_id);
    let mut input = [0f32; BLOCK];
    for (i, x) in input.iter_mut().enumerate() {
        *x = 0.25 * (std::f64::consts::TAU * hz * (first + i as u64) as f64 / RATE).sin() as f32;
    }
    processor.process(&input, &input, None);
    for slot in 0..engine::processor::MAX_REMOTES {
        if let Some(out) = processor.remote(slot) {
            match heard.iter_mut().find(|(u, _)| *u == out.user_id) {
                Some((_, x)) => x.extend_from_slice(out.left),
                None => heard.push((out.user_id, out.left.to_vec())),
            }
        }
    }
}

/// Runs every member's tone for `seconds`; returns what member 0 heard, by user, sorted.
fn tones(room: &mut Room, seconds: f64) -> Vec<(u32, Vec<f32>)> {
    tones_at_every_member(room, seconds).swap_remove(0)
}

/// Runs every member's tone for `seconds`; returns what each member heard, by user, sorted.
fn tones_at_every_member(room: &mut Room, seconds: f64) -> Vec<Vec<(u32, Vec<f32>)>> {
    let mut heard: Vec<Vec<(u32, Vec<f32>)>> = Vec::new();
    room.run_for(Duration::from_secs_f64(seconds), |index, member| {
        if heard.len() <= index {
            heard.resize_with(index + 1, Vec::new);
        }
        tone_block(index as u32 + 1, &mut member.processor, &mut heard[index]);
    });
    for member in &mut heard {
        member.sort_by_key(|(u, _)| *u);
    }
    heard
}

#[test]
fn engine_room_members_join_and_leave_and_each_is_heard_at_its_pitch() {
    let mut room = Room::new(lan(), 5);
    let a = room.join(config(1, PCM, Vec::new()));
    let b = room.join(config(2, PCM, vec![room.addr(a)]));
    room.join(config(3, PCM, vec![room.addr(a), room.addr(b)]));
    let took = tones_until_connected(&mut room, 3);
    eprintln!("three connected after {took:?}");
    tones(&mut room, 0.5);
    let heard = tones(&mut room, 1.0);
    assert_hears(&heard, &[2, 3]);

    // C leaves: A and B let it go at once (it said goodbye), A plays B on.
    room.leave(2);
    tones(&mut room, 0.2);
    for i in [0, 1] {
        let peers: Vec<u32> = room
            .member(i)
            .controller
            .network()
            .peers
            .iter()
            .map(|p| p.user_id)
            .collect();
        assert_eq!(peers.len(), 1, "member {i} still has {peers:?}");
    }
    let heard = tones(&mut room, 0.5);
    assert_hears(&heard, &[2]);

    // D joins the two: heard at A with B.
    room.join(config(4, PCM, vec![room.addr(0), room.addr(1)]));
    let took = tones_until(&mut room, |room| {
        (0..2).all(|i| room.member(i).controller.network().peers.len() == 2)
    });
    eprintln!("D connected after {took:?}");
    tones(&mut room, 0.5);
    let heard = tones(&mut room, 1.0);
    assert_hears(&heard, &[2, 4]);
}

#[test]
fn engine_room_of_eight_hears_every_other_member_at_its_level() {
    // Eight members, each calling those before it, on links of 5 ms ± 1 ms σ.
    let link = Netem::latency(Duration::from_millis(5)).with_jitter(Duration::from_millis(1));
    let mut room = Room::new(link, 11);
    for user_id in 1..=8 {
        let peers = (0..room.len()).map(|i| room.addr(i)).collect();
        let mut config = config(user_id, PCM, peers);
        config.jitter = JitterMode::Auto;
        room.join(config);
    }
    let took = tones_until_connected(&mut room, 8);
    eprintln!("eight connected after {took:?}");
    tones(&mut room, 2.0);
    // Packets received and concealed by each member so far: the buffers' settling.
    let counts = |room: &mut Room| -> Vec<(u64, u64)> {
        (0..8)
            .map(|index| {
                let stats = room.member(index).controller.processor();
                let concealed = stats.remotes.iter().map(|r| r.concealed).sum();
                let received = stats.remotes.iter().map(|r| r.received).sum();
                (concealed, received)
            })
            .collect()
    };
    let settled = counts(&mut room);
    tones(&mut room, 2.0);
    let heard = tones_at_every_member(&mut room, 1.0);
    // A hears the seven others at their pitches and levels; every member hears seven at theirs.
    assert_hears(&heard[0], &[2, 3, 4, 5, 6, 7, 8]);
    for (index, member) in heard.iter().enumerate() {
        let user_id = index as u32 + 1;
        let others: Vec<u32> = (1..=8).filter(|&u| u != user_id).collect();
        let who: Vec<u32> = member.iter().map(|(u, _)| *u).collect();
        assert_eq!(who, others, "member {user_id} hears");
        for (from, x) in member {
            let level = level_db(&x[4_800..], 0.25);
            assert!(
                level.abs() < 0.1,
                "{user_id} hears {from} at {level:+.2} dB"
            );
        }
    }
    // Once settled, the adaptive buffers keep to their budget of 0.1 % late packets
    // (concealed); while they learn the link's jitter (the first 2 s) they may spend more.
    for (index, ((concealed, received), (settling, settling_received))) in
        counts(&mut room).into_iter().zip(settled).enumerate()
    {
        let (concealed, received) = (concealed - settling, received - settling_received);
        eprintln!(
            "member {}: {concealed} of {received} concealed once settled, {settling} of \
             {settling_received} while settling",
            index + 1
        );
        assert!(
            concealed * 1_000 <= received,
            "member {}: {concealed} of {received} concealed",
            index + 1
        );
        assert!(
            settling * 500 <= settling_received,
            "member {}: settling",
            index + 1
        );
    }
}

/// Runs tones until every one of `members` sees all the others.
fn tones_until_connected(room: &mut Room, members: usize) -> Duration {
    tones_until(room, |room| {
        (0..members).all(|i| room.member(i).controller.network().peers.len() == members - 1)
    })
}

/// Runs tones until `done`, at most 5 s of virtual time; returns how long it took.
fn tones_until(room: &mut Room, mut done: impl FnMut(&mut Room) -> bool) -> Duration {
    let start = room.now();
    while !done(room) {
        assert!(room.now() - start < Duration::from_secs(5), "not connected");
        tones(room, 0.01);
    }
    room.now() - start
}

/// A heard exactly `users`, each at its pitch and level.
fn assert_hears(heard: &[(u32, Vec<f32>)], users: &[u32]) {
    let who: Vec<u32> = heard.iter().map(|(u, _)| *u).collect();
    assert_eq!(who, users, "A hears");
    for (user_id, x) in heard {
        let hz = tone(*user_id);
        // The scan's 0.1 Hz step, and 1,000 ppm (1.7 cents) of the resampler's glide while
        // an adaptive buffer settles: the schedule glides at the gap to its target over 1 s
        // (`jitter::Config::slew_ticks`, at most 0.5 % by design), and a target that falls
        // 0.5 s after a spike leaves gaps of 50-100 ticks to glide (measured 795 ppm).
        let found = dominant_frequency(&x[4_800..], RATE, hz);
        assert!(
            (found - hz).abs() <= 0.1 + hz * 1e-3,
            "user {user_id}: {found} Hz"
        );
        let level = level_db(&x[4_800..], 0.25);
        assert!(level.abs() < 0.1, "user {user_id}: {level:+.2} dB");
    }
}

/// The beat `processor`'s grid gives at sample `s`.
fn grid_beat(processor: &Processor, s: u64) -> Option<f64> {
    processor.grid().map(|grid| grid.beat_at(s))
}

/// Runs `blocks` blocks of the pair while A leads `bpm` in `beats_per_bar` and B follows (the
/// control side ticks every 8 blocks, 10.7 ms); `each` processes one member's block, given the
/// member's index, the block's index and its first sample.
fn on_a_tempo(
    room: &mut Room,
    blocks: usize,
    bpm: f64,
    beats_per_bar: u8,
    mut each: impl FnMut(usize, &mut Processor, usize, u64),
) {
    let origin = room.member(0).processor.sample_clock();
    let end = origin + (blocks * BLOCK) as u64;
    while room.member(1).processor.sample_clock() < end {
        room.step(|index, member| {
            let first = member.processor.sample_clock();
            let block = ((first - origin) / BLOCK as u64) as usize;
            if block.is_multiple_of(8) {
                let lead = if index == 0 {
                    Lead::Tempo { bpm, beats_per_bar }
                } else {
                    Lead::Follow
                };
                member.controller.tick(lead);
            }
            each(index, &mut member.processor, block, first);
        });
    }
}

#[test]
fn engines_share_the_leaders_beat_grid_and_click_together_on_it() {
    const BPM: f64 = 120.0;
    const SAMPLES_PER_BEAT: f64 = RATE * 60.0 / BPM;
    let mut room = pair(PCM, lan(), 6);
    connect(&mut room, 2);
    let silence = [0f32; BLOCK];
    let mut clicks = [
        engine::click::Click::new(RATE),
        engine::click::Click::new(RATE),
    ];
    let mut out: [Vec<f32>; 2] = Default::default();
    // Each member's grid beat at the first sample of every block of the last two seconds.
    let mut beats: [Vec<f64>; 2] = Default::default();
    let blocks = (4.0 * RATE) as usize / BLOCK;
    // A leads 120 BPM in 3/4; B only follows.
    on_a_tempo(
        &mut room,
        blocks,
        BPM,
        3,
        |index, processor, block, first| {
            processor.begin_block();
            // Each host runs a quarter beat ahead of the room (on another bar count).
            if let Some(beat) = grid_beat(processor, first) {
                processor.note_host_beat(beat + 0.25 + 30.0);
            }
            processor.process(&silence, &silence, None);
            // Only the last two seconds are compared: the first two let the clock estimate and
            // the sample-clock fit settle.
            if block >= blocks / 2 {
                let (mut left, mut right) = ([0f32; BLOCK], [0f32; BLOCK]);
                clicks[index].render(processor.grid(), first, 0.5, &mut left, &mut right);
                out[index].extend_from_slice(&left);
                beats[index].push(grid_beat(processor, first).expect("the room's grid"));
            }
        },
    );
    let grid = *room.member(1).processor.grid().unwrap();
    assert!(
        grid.playing && grid.bpm == BPM && grid.beats_per_bar == 3,
        "{grid:?}"
    );
    // Both engines place the grid within a quarter millisecond of each other: the only error
    // is the clock-offset estimate over a 1 ms link with 0.2 ms of jitter.
    let worst_beats = beats[0]
        .iter()
        .zip(&beats[1])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let worst_samples = worst_beats * SAMPLES_PER_BEAT;
    assert!(
        worst_samples < 12.0,
        "grids differ by up to {worst_samples:.1} samples"
    );
    // The clicks land together: four beats in the two seconds, at the same samples within
    // the same bound, a beat (24,000 samples) apart.
    let onsets = |x: &[f32]| -> Vec<usize> {
        (1..x.len())
            .filter(|&i| x[i] != 0.0 && x[i - 1] == 0.0 && (i < 2 || x[i - 2] == 0.0))
            .collect()
    };
    let (at_a, at_b) = (onsets(&out[0]), onsets(&out[1]));
    assert_eq!(at_a.len(), 4, "{at_a:?}");
    assert_eq!(at_b.len(), 4, "{at_b:?}");
    for (a, b) in at_a.iter().zip(&at_b) {
        assert!(a.abs_diff(*b) < 12, "clicks at {a} and {b}");
    }
    for pair in at_a.windows(2) {
        let spacing = (pair[1] - pair[0]) as f64;
        assert!((spacing - SAMPLES_PER_BEAT).abs() < 2.0, "{at_a:?}");
    }
    // Each host's offset from the grid: a quarter beat.
    for index in [0, 1] {
        let controller = &mut room.member(index).controller;
        let offset = controller.processor().host_offset_beats.expect("offset");
        assert!((offset - 0.25).abs() < 0.001, "host offset {offset}");
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
    let mut room = Room::new(lan(), 9);
    let a = room.join(config(1, PCM, Vec::new()));
    let mut b_config = config(2, PCM, vec![room.addr(a)]);
    b_config.align = engine::Align::Beat;
    room.join(b_config);
    connect(&mut room, 2);
    let blocks = (5.0 * RATE) as usize / BLOCK;
    let measured_from = blocks * 3 / 5;
    // Per member: (sample) of every impulse sent, the room output, the lag it reports for
    // the other's stream per block, its grid beat per block.
    let mut sent: [Vec<u64>; 2] = Default::default();
    let mut out: [Vec<f32>; 2] = Default::default();
    let mut lags: [Vec<Option<f64>>; 2] = Default::default();
    let mut beats: [Vec<Option<f64>>; 2] = Default::default();
    // The recordings start here on both sample clocks (the handshake ran blocks before).
    let origin = room.member(0).processor.sample_clock();
    on_a_tempo(&mut room, blocks, BPM, 4, |index, processor, _, first| {
        processor.begin_block();
        let mut input = [0f32; BLOCK];
        for i in beats_in_block(processor.grid(), first) {
            input[i] = 0.9;
            sent[index].push(first + i as u64);
        }
        processor.process(&input, &input, None);
        out[index].extend_from_slice(processor.room().0);
        lags[index].push(processor.remote_stats(0).and_then(|s| s.grid_lag_ticks));
        beats[index].push(grid_beat(processor, first));
    });
    let b = &room.member(1).processor;
    let placed = b.remote_stats(0).expect("A's stream at B");
    let grid = b.grid().copied().expect("B has the grid");
    eprintln!("B plays A {placed:?}");

    // At B, every impulse A played on a beat is heard on a beat of B's grid, one beat later.
    let heard_b = impulse_positions(&out[1], measured_from * BLOCK);
    assert!(heard_b.len() >= 3, "B heard A's beats at {heard_b:?}");
    let mut worst_off_grid = 0f64;
    for &s in &heard_b {
        let beat = beats[1][s / BLOCK].expect("B has the grid");
        let at = beat + (s % BLOCK) as f64 * grid.beats_per_sample();
        let off = (at - at.round()) * SAMPLES_PER_BEAT;
        worst_off_grid = worst_off_grid.max(off.abs());
        let heard_at = origin + s as u64;
        let played = sent[0]
            .iter()
            .rev()
            // The latest beat A played at least 50 ms before (nothing arrives sooner).
            .find(|&&t| t + 2_400 <= heard_at)
            .expect("an impulse A sent before");
        let delay = heard_at as f64 - *played as f64;
        assert!(
            (delay - SAMPLES_PER_BEAT).abs() < 12.0,
            "A's beat at {played} heard at {heard_at}: {delay} samples later"
        );
    }
    assert!(
        worst_off_grid < 12.0,
        "A's beats land {worst_off_grid:.1} samples off B's grid"
    );
    assert_eq!(placed.placed_period_ticks, Some(SAMPLES_PER_BEAT));
    let reported = placed.grid_lag_ticks.expect("B knows A's lag");
    assert!(
        (reported - SAMPLES_PER_BEAT).abs() < 12.0,
        "B reports A {reported:.1} ticks behind the grid"
    );

    // At A, B is heard live; the lag A reports for it is the delay measured from B's beats.
    let heard_a = impulse_positions(&out[0], measured_from * BLOCK);
    assert!(heard_a.len() >= 3, "A heard B's beats at {heard_a:?}");
    let mut worst_report = 0f64;
    for &s in &heard_a {
        let heard_at = origin + s as u64;
        let played = sent[1]
            .iter()
            .rev()
            .find(|&&t| t <= heard_at)
            .expect("an impulse B sent before");
        let measured = heard_at as f64 - *played as f64;
        assert!(
            measured < 2_400.0,
            "B's beat at {played} heard {measured} later at A"
        );
        let reported = lags[0][s / BLOCK].expect("A knows B's lag");
        worst_report = worst_report.max((reported - measured).abs());
    }
    assert!(
        worst_report < 12.0,
        "A's reported lag is up to {worst_report:.1} samples off the measured one"
    );
    let report = room.member(0).controller.report().to_string();
    assert!(report.contains(" grid lag "), "{report}");
    println!(
        "placed at B: {} beats heard at most {worst_off_grid:.2} samples off the grid; live at \
         A: lag reported within {worst_report:.2} samples; {report}",
        heard_b.len()
    );
}

#[test]
fn a_second_track_of_a_session_reaches_the_room_as_its_own_stream_and_leaves_it() {
    let mut room = pair(PCM, lan(), 10);
    connect(&mut room, 2);
    let (track, mut second) = room
        .member(0)
        .controller
        .add_track()
        .expect("a second track");
    assert_eq!(
        (track.index(), room.member(0).controller.track_count()),
        (1, 2)
    );
    let silence = [0f32; BLOCK];
    let tone = |hz: f64, n: u64| 0.25 * (std::f64::consts::TAU * hz * n as f64 / RATE).sin() as f32;
    // Runs 2 s; returns B's per-stream outputs over the last second, by stream id.
    let run = |room: &mut Room, second: &mut Processor| {
        let mut heard: Vec<(u16, Vec<f32>)> = Vec::new();
        let from = room.member(1).processor.sample_clock() + RATE as u64;
        room.run_for(Duration::from_secs(2), |index, member| {
            let processor = &mut member.processor;
            if index == 0 {
                let (mut first_track, mut second_track) = ([0f32; BLOCK], [0f32; BLOCK]);
                let (n, m) = (processor.sample_clock(), second.sample_clock());
                for i in 0..BLOCK {
                    first_track[i] = tone(997.0, n + i as u64);
                    second_track[i] = tone(440.0, m + i as u64);
                }
                processor.process(&first_track, &first_track, None);
                second.process(&second_track, &second_track, None);
                return;
            }
            processor.process(&silence, &silence, None);
            if processor.sample_clock() <= from {
                return;
            }
            for slot in 0..engine::processor::MAX_REMOTES {
                if let Some(out) = processor.remote(slot) {
                    match heard.iter_mut().find(|(s, _)| *s == out.stream_id) {
                        Some((_, x)) => x.extend_from_slice(out.left),
                        None => heard.push((out.stream_id, out.left.to_vec())),
                    }
                }
            }
        });
        heard.sort_by_key(|(s, _)| *s);
        heard
    };
    let heard = run(&mut room, &mut second);
    let streams: Vec<u16> = heard.iter().map(|(s, _)| *s).collect();
    assert_eq!(streams, [1, 2], "B plays both of A's tracks");
    for ((stream, x), hz) in heard.iter().zip([997.0, 440.0]) {
        let found = dominant_frequency(x, RATE, hz);
        assert!((found - hz).abs() < 0.2, "stream {stream}: {found} Hz");
        let level = level_db(x, 0.25);
        assert!(level.abs() < 0.1, "stream {stream}: {level:+.2} dB");
    }
    // The track goes: B frees its slot, the first track plays on.
    room.member(0).controller.remove_track(track);
    let heard = run(&mut room, &mut second);
    let streams: Vec<u16> = heard.iter().map(|(s, _)| *s).collect();
    assert_eq!(streams, [1], "the removed track still plays at B");
    assert!(level_db(&heard[0].1, 0.25).abs() < 0.1);
}
