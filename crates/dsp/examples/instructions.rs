//! A deterministic load for instruction counting (docs/effects.md §5 "CI signal": wall time on a
//! shared machine varies, instruction counts do not). Runs one effect (the chain with only it
//! switched on, as the bench does) over a 1 s pluck stimulus `passes` times at `block` frames:
//!
//! ```text
//! cargo build --release -p dsp --example instructions
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/instructions overdrive 64 1
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/instructions overdrive 64 3
//! ```
//!
//! The difference of the two totals divided by 2 × 48,000 is the instructions per stereo frame
//! (set-up cancels). `bypass` runs the all-off chain; a JSON object runs that preset. It prints
//! a checksum of the output's bits.

use dsp::chain::{Chain, Preset};
use dsp::effect::{Block, Effect, ProcessSpec, process_guarded};

const FS: f64 = 48_000.0;

/// The bench's arpeggio, shorter: E2 B2 E3 G3 at 4 notes a second, eight decaying partials,
/// the right channel 11 ms late, −3 dBFS peak.
fn stimulus() -> (Vec<f32>, Vec<f32>) {
    const NOTES_HZ: [f64; 4] = [82.41, 123.47, 164.81, 196.0];
    let frames = FS as usize;
    let note_len = frames / NOTES_HZ.len();
    let mut mono = vec![0.0f64; frames];
    for (i, hz) in NOTES_HZ.iter().enumerate() {
        for (n, out) in mono.iter_mut().enumerate().skip(i * note_len) {
            let t = (n - i * note_len) as f64 / FS;
            for k in 1..=8 {
                let k = f64::from(k);
                *out +=
                    (-t * (2.0 + 1.5 * k)).exp() / k * (std::f64::consts::TAU * hz * k * t).sin();
            }
        }
    }
    let peak = mono.iter().fold(0.0f64, |p, s| p.max(s.abs()));
    let gain = 10f64.powf(-3.0 / 20.0) / peak;
    let delay = (0.011 * FS) as usize;
    let left = mono.iter().map(|s| (s * gain) as f32).collect();
    let right = (0..frames)
        .map(|n| {
            n.checked_sub(delay)
                .map_or(0.0, |m| (mono[m] * gain) as f32)
        })
        .collect();
    (left, right)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "bypass".into());
    let block: usize = args.next().map_or(64, |s| s.parse().expect("block"));
    let passes: usize = args.next().map_or(1, |s| s.parse().expect("passes"));
    let preset = if what == "bypass" {
        Preset::bypass()
    } else if what.starts_with('{') {
        Preset::from_json(&what).expect("preset")
    } else {
        Preset::single(&what).expect("an implemented effect key")
    };
    let mut chain = Chain::new(&preset);
    chain.prepare(&ProcessSpec::stereo(FS, block));
    let input = stimulus();
    let mut work = input.clone();
    for _ in 0..passes {
        work.0.copy_from_slice(&input.0);
        work.1.copy_from_slice(&input.1);
        chain.reset();
        for (l, r) in work.0.chunks_mut(block).zip(work.1.chunks_mut(block)) {
            process_guarded(&mut chain, &mut Block::new(l, r));
        }
    }
    // A checksum of the output's bits, to tell an optimisation that is bit exact from one that
    // is not.
    let checksum = work
        .0
        .iter()
        .chain(&work.1)
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, x| {
            (hash ^ u64::from(x.to_bits())).wrapping_mul(0x0100_0000_01b3)
        });
    println!("{what}: output checksum {checksum:016x}");
}
