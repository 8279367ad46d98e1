//! `cargo bench -p dsp --bench fingerprint`: the time one listener fingerprint takes (32 FFTs
//! of 8,192 points and the band sums over 5 s of audio), and the time to feed 30 s of stereo
//! to a `Fingerprinter` in 64-frame blocks (the ring copy and the one hash due).
//!
//! Wall time is read here on purpose: this is a benchmark on a normal thread, never the audio
//! thread the crate's clock ban protects.
#![allow(clippy::disallowed_methods)]

use dsp::fingerprint::{Fingerprinter, Hasher, INPUT_SAMPLES, SAMPLE_RATE};
use std::hint::black_box;
use std::time::{Duration, Instant};

const RUNS: usize = 50;

/// A deterministic test signal: three tones.
fn signal(len: usize) -> Vec<f32> {
    (0..len)
        .map(|n| {
            let t = n as f64 / f64::from(SAMPLE_RATE);
            let x = (std::f64::consts::TAU * 440.0 * t).sin()
                + 0.5 * (std::f64::consts::TAU * 1_250.0 * t).sin()
                + 0.25 * (std::f64::consts::TAU * 7_000.0 * t).sin();
            (0.3 * x) as f32
        })
        .collect()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let samples = signal(INPUT_SAMPLES);
    let five_seconds: &[f32; INPUT_SAMPLES] = samples[..].try_into().expect("5 s");
    let mut hasher = Hasher::new();
    let hashes: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            black_box(hasher.hash(black_box(five_seconds)));
            start.elapsed()
        })
        .collect();
    let hash = median(hashes.clone());
    println!(
        "hash of 5 s: median {:.2} ms, min {:.2} ms over {RUNS} runs ({:.4} % of one core at one per 30 s)",
        hash.as_secs_f64() * 1e3,
        hashes.iter().min().expect("runs").as_secs_f64() * 1e3,
        hash.as_secs_f64() / 30.0 * 100.0,
    );

    let thirty_seconds = signal(30 * SAMPLE_RATE as usize);
    let mut fingerprinter = Fingerprinter::new();
    let start = Instant::now();
    let mut due = None;
    for block in thirty_seconds.chunks(64) {
        due = fingerprinter.push_planar(&[block, block]).or(due);
    }
    let elapsed = start.elapsed();
    println!(
        "30 s of stereo in 64-frame blocks through a Fingerprinter: {:.2} ms (one fingerprint: {})",
        elapsed.as_secs_f64() * 1e3,
        due.map_or_else(|| "none".to_owned(), |d| d.to_string()),
    );
}
