//! `cargo bench -p dsp --bench effects`: ns per stereo frame of every effect the chain
//! implements (docs/effects.md §5, per effect, in process, no I/O), at 64- and 1024-frame blocks,
//! stereo 48 kHz, on a 2-second seeded pluck arpeggio, next to its docs/effects.md §4 target.
//!
//! The effect list comes from `chain::Preset`, so an effect added to the chain's table is
//! benchmarked without touching this file. Each effect runs as a whole chain with only it
//! switched on (`Preset::single`), which is how the plugin runs it; the all-off chain is timed
//! too, and the table subtracts it so "net" is the effect's own cost (the disabled units' early
//! returns and the disabled limiter's constant delay are the chain's, not the effect's).
//!
//! Wall time is read here on purpose: this is a benchmark harness on a normal thread, never the
//! audio thread the crate's clock ban protects.
#![allow(clippy::disallowed_methods)]

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use dsp::chain::{Chain, Preset};
use dsp::effect::{Block, Effect, ProcessSpec, process_guarded};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod support;

const FS: f64 = 48_000.0;
const SECONDS: f64 = 2.0;
const BLOCKS: [usize; 2] = [64, 1024];
/// The row name of the all-off chain, the baseline "net" subtracts.
const BYPASS: &str = "(bypass chain)";
/// The baseline's second run (criterion wants unique names; the table pools it with the first).
const BYPASS_AGAIN: &str = "(bypass chain again)";

/// Effects whose defaults do little work, again with settings that do (docs/effects.md §5
/// "heavy"): the EQ's default bands are all 0 dB, which it skips entirely; the granular delay's
/// default density sounds 4.5 grains of its 8; the delay's default skips the modulated read; the
/// phaser, doubler and harmonizer at their most stages and voices.
const HEAVY: &[(&str, &str)] = &[
    (
        "eq 5 bands +6 dB",
        r#"{"limiter": {"enabled": false}, "eq": {"enabled": true, "bands": [
        {"frequency": 80, "gain": 6, "q": 0.7, "type": "lowshelf"},
        {"frequency": 240, "gain": 6, "q": 1, "type": "peak"},
        {"frequency": 750, "gain": 6, "q": 1, "type": "peak"},
        {"frequency": 2200, "gain": 6, "q": 1, "type": "peak"},
        {"frequency": 6000, "gain": 6, "q": 0.7, "type": "highshelf"}]}}"#,
    ),
    (
        "phaser 12 stages",
        r#"{"limiter": {"enabled": false}, "phaser": {"enabled": true, "stages": 12}}"#,
    ),
    (
        "vocalDoubler 4 voices",
        r#"{"limiter": {"enabled": false}, "vocalDoubler": {"enabled": true, "voices": 4}}"#,
    ),
    (
        "granularDelay 8 grains",
        r#"{"limiter": {"enabled": false}, "granularDelay": {"enabled": true, "density": 100,
        "pitchRandom": 30, "reverse": 30}}"#,
    ),
    (
        "delay tape modulated",
        r#"{"limiter": {"enabled": false}, "delay": {"enabled": true, "type": "tape",
        "modulation": 0.5, "feedback": 0.6}}"#,
    ),
    (
        "harmonizer 4 voices",
        r#"{"limiter": {"enabled": false}, "harmonizer": {"enabled": true,
        "harmonyType": "majorChord", "voices": 4}}"#,
    ),
];

/// docs/effects.md §4 targets, net ns per stereo frame, by effect key ("–" where §4 names none).
const TARGETS: &[(&str, f64)] = &[
    ("pitchCorrection", 300.0),
    ("harmonizer", 200.0),
    // Both shape at 4× the rate: the "drive oversampled" class of docs/effects.md §4, not "no
    // oversampling".
    ("overdrive", 150.0),
    ("distortion", 150.0),
    ("harmonizer 4 voices", 800.0),
    ("formantShifter", 200.0),
    ("overdrive", 15.0),
    ("distortion", 15.0),
    ("amp", 300.0),
    ("cabinet", 130.0),
    ("noiseGate", 25.0),
    ("deEsser", 40.0),
    ("transientShaper", 25.0),
    ("eq", 35.0),
    ("eq 5 bands +6 dB", 35.0),
    ("exciter", 50.0),
    ("compressor", 30.0),
    ("multibandCompressor", 150.0),
    ("bitcrusher", 15.0),
    ("ringModulator", 15.0),
    ("frequencyShifter", 100.0),
    ("rotarySpeaker", 80.0),
    ("chorus", 30.0),
    ("flanger", 30.0),
    ("phaser", 40.0),
    ("phaser 12 stages", 40.0),
    ("vibrato", 30.0),
    ("tremolo", 15.0),
    ("autoPan", 15.0),
    ("vocalDoubler", 30.0),
    ("vocalDoubler 4 voices", 30.0),
    ("delay", 20.0),
    ("stereoDelay", 20.0),
    ("granularDelay", 50.0),
    ("granularDelay 8 grains", 50.0),
    ("delay tape modulated", 20.0),
    ("roomSimulator", 60.0),
    ("reverb", 55.0),
    ("shimmerReverb", 110.0),
    ("stereoImager", 10.0),
    ("limiter", 20.0),
];

/// Processes the whole stimulus `passes` times at `block`, timing only the `process` calls
/// (the copy-in and reset between passes are outside the clock).
fn time_passes(
    chain: &mut Chain,
    input: &(Vec<f32>, Vec<f32>),
    work: &mut (Vec<f32>, Vec<f32>),
    block: usize,
    passes: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..passes {
        work.0.copy_from_slice(&input.0);
        work.1.copy_from_slice(&input.1);
        chain.reset();
        let start = Instant::now();
        for (l, r) in work.0.chunks_mut(block).zip(work.1.chunks_mut(block)) {
            process_guarded(chain, &mut Block::new(l, r));
        }
        total += start.elapsed();
        std::hint::black_box(&work);
    }
    total
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500))
        // The bootstrap's default 100,000 resamples take longer than the measurement itself.
        .nresamples(5_000)
        .configure_from_args();
    let input = support::stimulus(FS, SECONDS);
    let frames = input.0.len();
    let mut work = input.clone();

    let mut rows: Vec<(String, Preset)> = vec![(BYPASS.into(), Preset::bypass())];
    rows.extend(Preset::default().units.iter().map(|unit| {
        let key = unit.key();
        (
            key.to_string(),
            Preset::single(key).expect("every chain key"),
        )
    }));
    for &(name, json) in HEAVY {
        match Preset::from_json(json) {
            Ok(preset) => rows.push((name.into(), preset)),
            _ => eprintln!("skipping \"{name}\": its preset no longer parses"),
        }
    }
    // The baseline is timed again last and both runs pooled, so slow drift of a shared machine
    // (turbo, other jobs) over the run does not land on the effects measured first or last.
    rows.push((BYPASS_AGAIN.into(), Preset::bypass()));

    // (row, block) → ns per stereo frame of every sample criterion took.
    let samples: RefCell<BTreeMap<(String, usize), Vec<f64>>> = RefCell::default();
    for (name, preset) in &rows {
        let mut group = criterion.benchmark_group(format!("effects/{name}"));
        group
            .throughput(Throughput::Elements(frames as u64))
            .sampling_mode(SamplingMode::Flat);
        for block in BLOCKS {
            let mut chain = Chain::new(preset);
            chain.prepare(&ProcessSpec::stereo(FS, block));
            group.bench_function(BenchmarkId::from_parameter(block), |b| {
                b.iter_custom(|passes| {
                    let elapsed = time_passes(&mut chain, &input, &mut work, block, passes);
                    let ns = elapsed.as_nanos() as f64 / (passes as f64 * frames as f64);
                    let row = if name == BYPASS_AGAIN { BYPASS } else { name };
                    samples
                        .borrow_mut()
                        .entry((row.to_string(), block))
                        .or_default()
                        .push(ns);
                    elapsed
                });
            });
        }
        group.finish();
    }
    criterion.final_summary();
    print_table(&rows, &samples.into_inner());
}

/// The fastest of `values`. On a shared machine other jobs only ever add time, so the best
/// sample is the stablest estimate of the effect's own cost (criterion's own report beside it
/// shows the spread).
fn best(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::min)
}

fn print_table(rows: &[(String, Preset)], samples: &BTreeMap<(String, usize), Vec<f64>>) {
    let ns = |name: &str, block: usize| {
        samples
            .get(&(name.to_string(), block))
            .map_or(f64::NAN, |v| best(v))
    };
    println!();
    println!(
        "ns per stereo frame, best sample; net = minus the all-off chain (limiter: gross); 48 kHz \
         stereo, {SECONDS} s pluck stimulus; real-time budget 20,833"
    );
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "effect", "net @64", "net @1024", "gross @64", "gross@1024", "target"
    );
    for (name, _) in rows.iter().filter(|(name, _)| name != BYPASS_AGAIN) {
        let (gross64, gross1024) = (ns(name, 64), ns(name, 1024));
        // The all-off chain is mostly the disabled limiter's constant delay, so subtracting it
        // from the limiter would remove part of the limiter itself: its row stays gross.
        let (net64, net1024) = if name == BYPASS || name == "limiter" {
            (gross64, gross1024)
        } else {
            (gross64 - ns(BYPASS, 64), gross1024 - ns(BYPASS, 1024))
        };
        let target = TARGETS
            .iter()
            .find(|(key, _)| key == name)
            .map_or_else(|| "–".to_string(), |(_, t)| format!("≤ {t}"));
        println!(
            "{name:<22} {net64:>10.1} {net1024:>10.1} {gross64:>10.1} {gross1024:>10.1} {target:>8}"
        );
    }
}
