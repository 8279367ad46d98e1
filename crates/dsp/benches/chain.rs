//! `cargo bench -p dsp --bench chain`: the full chain, every effect on, stereo 48 kHz, as a
//! share of one core (docs/effects.md §5 "Full chain"): mean CPU, and each block's thread CPU time
//! against the block period (p50/p99/p99.9/max), at 64-frame blocks with the default and a
//! heavy preset, plus CPU at 32-frame blocks over CPU at 1024 (per-block overhead).
//!
//! Thread CPU time (CLOCK_THREAD_CPUTIME_ID), not wall time: on a shared machine wall time
//! includes other processes' slices; the audio thread's budget is its own CPU. The clock is
//! read here, in a benchmark on a normal thread, never on an audio thread.
#![allow(clippy::disallowed_methods)]

use dsp::chain::{Chain, Preset};
use dsp::effect::{Block, Effect, ProcessSpec, process_guarded};
use std::time::Duration;

mod support;

const FS: f64 = 48_000.0;
const SECONDS: f64 = 10.0;

/// Settings where cost grows with the parameters (docs/effects.md §5 "heavy"): most voices, longest
/// grains, largest rooms, every EQ band boosted.
const HEAVY: &str = r#"{
    "harmonizer": {"voices": 4, "harmonyType": "majorChord"},
    "vocalDoubler": {"voices": 4},
    "eq": {"bands": [
        {"frequency": 80, "gain": 6, "q": 0.7, "type": "lowshelf"},
        {"frequency": 240, "gain": 6, "q": 1, "type": "peak"},
        {"frequency": 750, "gain": 6, "q": 1, "type": "peak"},
        {"frequency": 2200, "gain": 6, "q": 1, "type": "peak"},
        {"frequency": 6000, "gain": 6, "q": 0.7, "type": "highshelf"},
        {"frequency": 9000, "gain": 3, "q": 1, "type": "peak"},
        {"frequency": 12000, "gain": 3, "q": 1, "type": "peak"},
        {"frequency": 15000, "gain": 3, "q": 1, "type": "peak"}]},
    "phaser": {"stages": 12},
    "granularDelay": {"density": 100, "grainSize": 500},
    "roomSimulator": {"size": "hall"},
    "reverb": {"reverbType": "hall", "decay": 10},
    "shimmerReverb": {"decay": 10, "shimmer": 100}
}"#;

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call, and
    // CLOCK_THREAD_CPUTIME_ID is a clock every Linux kernel since 2.6.12 provides.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Every effect switched on, with `overrides` (reference JSON) applied first.
fn everything_on(overrides: &str) -> Preset {
    let mut preset = Preset::from_json(overrides).expect("bench preset parses");
    for unit in &mut preset.units {
        unit.set_enabled(true);
    }
    preset
}

/// Per-block thread CPU times (ns) of `passes` runs over the stimulus at `block` frames.
fn block_times(preset: &Preset, input: &(Vec<f32>, Vec<f32>), block: usize) -> Vec<f64> {
    let mut chain = Chain::new(preset);
    chain.prepare(&ProcessSpec::stereo(FS, block));
    let mut work = input.clone();
    // Warm-up: 2 s through, so caches, branch predictors and the effects' tails are in their
    // running state (docs/effects.md §5).
    let warm = (2.0 * FS) as usize;
    for (l, r) in work.0[..warm]
        .chunks_mut(block)
        .zip(work.1[..warm].chunks_mut(block))
    {
        process_guarded(&mut chain, &mut Block::new(l, r));
    }
    work = input.clone();
    let mut times = Vec::with_capacity(input.0.len() / block + 1);
    for (l, r) in work.0.chunks_mut(block).zip(work.1.chunks_mut(block)) {
        let start = thread_cpu();
        process_guarded(&mut chain, &mut Block::new(l, r));
        times.push((thread_cpu() - start).as_nanos() as f64);
    }
    std::hint::black_box(&work);
    chain.reset();
    times
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

/// Prints one row; returns the mean CPU share in percent.
fn report(name: &str, times: &[f64], block: usize) -> f64 {
    let period_ns = block as f64 / FS * 1e9;
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let share = |ns: f64| 100.0 * ns / period_ns;
    println!(
        "{name:<28} block {block:>4}: mean {:>5.1} %  ({:>6.0} ns/frame)  p50 {:>5.1} %  p99 {:>5.1} %  \
         p99.9 {:>5.1} %  max {:>6.1} %",
        share(mean),
        mean / block as f64,
        share(percentile(&sorted, 0.5)),
        share(percentile(&sorted, 0.99)),
        share(percentile(&sorted, 0.999)),
        share(sorted[sorted.len() - 1]),
    );
    share(mean)
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no options.
    let input = support::stimulus(FS, SECONDS);
    let default = everything_on("{}");
    let heavy = everything_on(HEAVY);
    let latency = {
        let mut chain = Chain::new(&default);
        chain.prepare(&ProcessSpec::stereo(FS, 64));
        chain.latency()
    };
    println!(
        "full chain, {} effects on, 48 kHz stereo, {SECONDS} s stimulus, latency {latency} samples",
        default.units.len()
    );
    println!(
        "targets (docs/effects.md §5): default mean <= 15 %, p99.9 <= 40 %, max < 100 %; \
         heavy mean <= 30 %"
    );
    report("default", &block_times(&default, &input, 64), 64);
    report("heavy", &block_times(&heavy, &input, 64), 64);
    let small = report("default", &block_times(&default, &input, 32), 32);
    let large = report("default", &block_times(&default, &input, 1024), 1024);
    println!(
        "CPU(block 32) / CPU(block 1024) = {:.2} (target <= 1.3)",
        small / large
    );
}
