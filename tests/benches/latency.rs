//! `cargo bench -p tests --bench latency`: what a player feels on loopback, issue 5's figures.
//!
//! - One-way latency at 64-sample blocks, PCM L24 with 64-sample packets and Opus with 2.5 ms
//!   frames, p50 and p99 over at least 1,000 impulses: sender's input index to receiver's
//!   output index, both engines driven in lockstep on one thread in real time (one block every
//!   1.333 ms by an absolute schedule), so their sample clocks share an origin. Jitter buffers
//!   adaptive (`auto`), as a player runs them. Targets: PCM <= 2 blocks (2.667 ms, JackTrip's
//!   figure here), Opus <= 7.5 ms.
//! - One participant of an 8-performer full mesh (1 encode, 7 decodes, mixing, network):
//!   the process's CPU time (every thread, network included) over 8, as a share of one core;
//!   and participant 0's `process` alone, from its thread CPU clock. Target <= 5 %
//!   (`docs/benchmarks.md` §1). Measured twice: the callbacks back to back from each period's
//!   start (as first measured), and staggered over the period as on eight machines, where
//!   each participant's hand-over keeps its phase and its wake-up thread can lock to it.
//!
//! `cargo bench -p tests --bench latency -- mesh` runs the mesh rows alone.
//!
//! The lockstep thread runs at real-time priority where permitted, above the network threads,
//! as a host's audio callback does: callbacks then come on a regular phase, as from a sound
//! card. Opus encode + decode of one stereo stream as a share of a core is in the `wire` bench.
//! Real time and CPU clocks are read here on purpose: this is a benchmark harness, never an
//! audio thread.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use engine::{Codec, Config, Controller, JitterMode, Processor};

const BLOCK: usize = 64;
const RATE: f64 = 48_000.0;
/// Impulse spacing: 20 ms, so 1,000 impulses take 20 s.
const IMPULSE_EVERY: usize = 960;
const IMPULSES: usize = 1_000;

type Engine = (Controller, Processor);

fn config(user_id: u32, codec: Codec, peers: Vec<SocketAddr>) -> Config {
    let mut config = Config::new(
        user_id,
        "latency-bench",
        "secret",
        "127.0.0.1:0".parse().unwrap(),
    );
    config.codec = codec;
    config.jitter = JitterMode::Auto;
    config.peers = peers;
    config.max_block = BLOCK;
    config
}

/// `count` engines, each calling every engine created before it: a full mesh.
fn mesh(count: usize, codec: Codec) -> Vec<Engine> {
    let mut engines: Vec<Engine> = Vec::with_capacity(count);
    for user in 0..count {
        let peers = engines.iter().map(|(c, _)| c.local_addr()).collect();
        engines.push(engine::new(config(user as u32 + 1, codec, peers)).expect("engine"));
    }
    engines
}

/// Drives every engine one block per period for `blocks` periods; `input(engine, n)` is what
/// engine `engine` plays at its sample `n`; `output` sees each engine's room mix.
fn lockstep(
    engines: &mut [Engine],
    blocks: usize,
    mut input: impl FnMut(usize, usize) -> f32,
    mut output: impl FnMut(usize, u64, &[f32]),
) {
    let period = Duration::from_secs_f64(BLOCK as f64 / RATE);
    let start = Instant::now();
    let mut buffer = [0f32; BLOCK];
    for block in 0..blocks {
        let deadline = start + period * block as u32;
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for (index, (_, processor)) in engines.iter_mut().enumerate() {
            let first = processor.sample_clock();
            for (i, sample) in buffer.iter_mut().enumerate() {
                *sample = input(index, first as usize + i);
            }
            processor.process(&buffer, &buffer, None);
            output(index, first, processor.room().0);
        }
    }
}

fn wait_connected(engines: &mut [Engine]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let want = engines.len() - 1;
    while engines.iter().any(|(c, _)| c.network().peers.len() < want) {
        assert!(
            Instant::now() < deadline,
            "the mesh did not connect in 10 s"
        );
        lockstep(engines, 40, |_, _| 0.0, |_, _, _| {});
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One-way latency in samples of every impulse engine 0 sends to engine 1.
fn one_way_latency(codec: Codec) -> Vec<f64> {
    let mut engines = mesh(2, codec);
    wait_connected(&mut engines);
    // Settle the adaptive buffer on a clean stream first.
    lockstep(
        &mut engines,
        (2.0 * RATE) as usize / BLOCK,
        |_, _| 0.0,
        |_, _, _| {},
    );
    let blocks = (IMPULSES + 2) * IMPULSE_EVERY / BLOCK;
    let mut latencies = Vec::with_capacity(IMPULSES);
    let mut last_found = 0u64;
    lockstep(
        &mut engines,
        blocks,
        |engine, n| {
            if engine == 0 && n % IMPULSE_EVERY == 0 {
                0.9
            } else {
                0.0
            }
        },
        |engine, first, room| {
            if engine != 1 {
                return;
            }
            for (i, &y) in room.iter().enumerate() {
                let n = first + i as u64;
                if y.abs() > 0.3 && n > last_found + IMPULSE_EVERY as u64 / 2 {
                    last_found = n;
                    // The impulse sent most recently before n (at least 8 samples earlier).
                    let sent = (n - 8) / IMPULSE_EVERY as u64 * IMPULSE_EVERY as u64;
                    latencies.push((n - sent) as f64);
                }
            }
        },
    );
    let remote = engines[1].0.processor().remotes[0];
    let buffer = remote.buffer;
    println!(
        "    receiver: target {} ticks, delay {}, level {}, playout lag {:.0}, ratio {:.6}, \
         missing {}, late {}, underruns {}, starved blocks {}",
        buffer.target_ticks,
        buffer.delay_ticks,
        buffer.level_ticks,
        remote.playout_lag_ticks,
        remote.ratio,
        buffer.missing,
        buffer.late,
        buffer.underruns,
        remote.starved,
    );
    latencies
}

fn process_cpu() -> Duration {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn thread_cpu() -> Duration {
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn cpu_clock(clock: libc::clockid_t) -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the call; both clocks exist on Linux.
    let status = unsafe { libc::clock_gettime(clock, &mut now) };
    assert_eq!(status, 0, "clock_gettime failed");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The lockstep thread's real-time priority where permitted: a JACK client's process thread
/// (jackd's default 10, minus 5), above the network threads, as an audio callback runs.
const AUDIO_PRIORITY: i32 = 5;

fn main() {
    let realtime = rt::priority::raise_to_realtime(AUDIO_PRIORITY).is_ok();
    println!(
        "lockstep thread: {}",
        if realtime {
            "real-time (SCHED_FIFO), as an audio callback"
        } else {
            "normal scheduling (real-time refused)"
        }
    );
    if !std::env::args().any(|arg| arg == "mesh") {
        latency_rows();
    }
    mesh_row(Phases::Together);
    mesh_row(Phases::Staggered);
}

/// When the mesh's participants run their callbacks within each period.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phases {
    /// Back to back from the period's start: participant k hands its packet over after the
    /// other k - 1 have run, so its hand-over moves with their work (the first rows measured).
    Together,
    /// Participant k at k/8 of the period, as eight machines with their own sound cards: each
    /// hand-over keeps its phase.
    Staggered,
}

/// One-way latency, PCM and Opus.
fn latency_rows() {
    let period_ms = BLOCK as f64 / RATE * 1e3;
    println!(
        "one-way latency on 127.0.0.1, {BLOCK}-sample blocks ({period_ms:.3} ms), adaptive jitter buffers"
    );
    for (name, codec, target_ms) in [
        (
            "PCM L24, 64-sample packets",
            Codec::PcmL24 { frame_samples: 64 },
            2.667,
        ),
        (
            "Opus 2.5 ms frames, 128 kb/s",
            Codec::Opus {
                frame: codec::opus::FrameDuration::Ms2_5,
                bitrate: 128_000,
            },
            7.5,
        ),
    ] {
        let mut latencies = one_way_latency(codec);
        latencies.sort_by(f64::total_cmp);
        let ms = |samples: f64| samples / RATE * 1e3;
        let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
        println!(
            "  {name:<30} {:>5} impulses: p50 {:>4.0} samples = {:.3} ms, p99 {:>4.0} = {:.3} ms; \
             target {target_ms} ms: p50/target {:.2}, p99/target {:.2}",
            latencies.len(),
            p50,
            ms(p50),
            p99,
            ms(p99),
            ms(p50) / target_ms,
            ms(p99) / target_ms,
        );
    }
}

/// One participant of an 8-performer mesh, its callbacks at `phases`.
fn mesh_row(phases: Phases) {
    const PERFORMERS: usize = 8;
    let seconds = 20.0;
    let codec = Codec::Opus {
        frame: codec::opus::FrameDuration::Ms2_5,
        bitrate: 128_000,
    };
    let mut engines = mesh(PERFORMERS, codec);
    wait_connected(&mut engines);
    let blocks = (seconds * RATE) as usize / BLOCK;
    let switches_start = network_switches();
    let (process_start, thread_start) = (process_cpu(), thread_cpu());
    let mut first_process = Duration::ZERO;
    {
        // Participant 0's processor timed on its own around its process call.
        let period = Duration::from_secs_f64(BLOCK as f64 / RATE);
        let start = Instant::now();
        let mut buffer = [0f32; BLOCK];
        for block in 0..blocks {
            for (index, (_, processor)) in engines.iter_mut().enumerate() {
                let offset = match phases {
                    Phases::Together => Duration::ZERO,
                    Phases::Staggered => period * index as u32 / PERFORMERS as u32,
                };
                let deadline = start + period * block as u32 + offset;
                if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let first = processor.sample_clock() as usize;
                let hz = 110.0 * (index + 1) as f64;
                for (i, sample) in buffer.iter_mut().enumerate() {
                    let t = (first + i) as f64 / RATE;
                    *sample = 0.2 * (std::f64::consts::TAU * hz * t).sin() as f32;
                }
                let before = (index == 0).then(thread_cpu);
                processor.process(&buffer, &buffer, None);
                std::hint::black_box(processor.room());
                if let Some(before) = before {
                    first_process += thread_cpu() - before;
                }
            }
        }
    }
    let wall = seconds;
    let process = (process_cpu() - process_start).as_secs_f64();
    let switches = network_switches();
    let (waits, preempted) = (switches.0 - switches_start.0, switches.1 - switches_start.1);
    let driver = (thread_cpu() - thread_start).as_secs_f64();
    let heard: Vec<usize> = engines
        .iter_mut()
        .map(|(c, _)| {
            c.processor()
                .remotes
                .iter()
                .filter(|r| r.received > 0)
                .count()
        })
        .collect();
    println!(
        "{PERFORMERS}-performer full mesh, Opus 2.5 ms 128 kb/s, {seconds} s, callbacks {phases:?}; remote streams heard per participant: {heard:?}"
    );
    println!(
        "  one participant (process CPU / {PERFORMERS}, network threads included): {:.2} % of a core (target <= 5 %)",
        100.0 * process / PERFORMERS as f64 / wall
    );
    println!(
        "  participant 0's audio-thread process() alone: {:.2} % of a core; network threads of all {PERFORMERS}: {:.2} % together",
        100.0 * first_process.as_secs_f64() / wall,
        100.0 * (process - driver) / wall
    );
    let per_session = |count: u64| count as f64 / PERFORMERS as f64 / wall;
    println!(
        "  network threads per session: {:.0} wake-ups a second (voluntary context switches), \
         {:.0} preemptions",
        per_session(waits),
        per_session(preempted)
    );
}

/// Context switches of this process's network threads so far, summed: voluntary (each a
/// sleep and its wake-up) and involuntary (preempted). Threads that ended are not counted, so
/// the mesh must stay up between two readings.
fn network_switches() -> (u64, u64) {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    let mut total = (0, 0);
    for task in tasks.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with("osp-net") {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        let count = |field: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|value| value.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        total.0 += count("voluntary_ctxt_switches:");
        total.1 += count("nonvoluntary_ctxt_switches:");
    }
    total
}
