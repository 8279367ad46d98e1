//! Every decoder of untrusted input under random and mutated bytes, on stable, in the normal
//! suite: the cargo-fuzz bodies of `fuzz/src/` over their seeds, the committed corpora in
//! `fuzz/corpus/<target>/`, and seeded mutations of both (bit flips, truncations, extensions,
//! byte overwrites, splices). Bounded: a fixed number of inputs per target.

use std::path::PathBuf;

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod bodies;

/// Mutated inputs per seed.
const MUTATIONS: usize = 2_000;
/// Purely random inputs per target.
const RANDOM: usize = 5_000;

/// xorshift64*: deterministic, so a failure names a reproducible input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let mut inputs = bodies::seeds(target);
    if let Ok(entries) = std::fs::read_dir(corpus_dir(target)) {
        for entry in entries.flatten() {
            let bytes = std::fs::read(entry.path()).expect("corpus file");
            if !inputs.contains(&bytes) {
                inputs.push(bytes);
            }
        }
    }
    inputs
}

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 if !data.is_empty() => {
                let at = rng.below(data.len());
                data[at] ^= 1 << rng.below(8);
            }
            1 => data.truncate(rng.below(data.len() + 1)),
            2 => data.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
            3 if !data.is_empty() => {
                let at = rng.below(data.len());
                data[at] = [0x00, 0xFF, 0x7F, 0x80, 0x01][rng.below(5)];
            }
            4 if !data.is_empty() => {
                // Length-like fields live in the first bytes: hit them often.
                let at = rng.below(data.len().min(16));
                data[at] = rng.next() as u8;
            }
            _ => {
                let cut = rng.below(data.len() + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
        }
    }
    data
}

#[test]
fn every_decoder_survives_random_and_mutated_input() {
    for (target, body) in bodies::TARGETS {
        let inputs = corpus(target);
        assert!(!inputs.is_empty(), "{target}: no seeds");
        if let Some(kind) = bodies::expected_kind(target) {
            for seed in bodies::seeds(target) {
                assert_eq!(proto::demux::classify(&seed, false), kind, "{target}");
            }
        }
        let mut rng = Rng(0x05F1_A7E0 ^ target.len() as u64);
        let mut runs = 0usize;
        for seed in &inputs {
            body(seed);
            for _ in 0..MUTATIONS {
                let other = &inputs[rng.below(inputs.len())];
                let input = mutate(&mut rng, seed, other);
                body(&input);
                runs += 1;
            }
        }
        for _ in 0..RANDOM {
            let len = rng.below(300);
            let input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            body(&input);
            runs += 1;
        }
        eprintln!("{target}: {} corpus inputs, {runs} runs", inputs.len());
    }
}

/// The committed seed files are today's encoders' output, so the corpus the fuzzers start from
/// never drifts from the wire format. After an intended format change, rewrite them with
/// `OSP_REGENERATE_CORPUS=1 scripts/test.sh -p tests seed_corpus`.
///
/// Opus is compared by what does not depend on the machine: libopus' float and SIMD paths give
/// other bytes on another CPU, so its seed must carry the same TOC byte (mode, bandwidth, frame
/// size, stereo, frame count) and decode to the same frame of the same tone within a tolerance.
#[test]
fn committed_seed_corpus_matches_the_encoders() {
    let regenerate = std::env::var_os("OSP_REGENERATE_CORPUS").is_some();
    for (target, _) in bodies::TARGETS {
        let dir = corpus_dir(target);
        for (i, seed) in bodies::seeds(target).iter().enumerate() {
            let path = dir.join(format!("seed-{i}"));
            if regenerate {
                std::fs::create_dir_all(&dir).expect("corpus dir");
                std::fs::write(&path, seed).expect("write seed");
            }
            let committed =
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if *target == "opus" {
                assert_same_opus_frame(&committed, seed, &path);
                continue;
            }
            assert_eq!(
                &committed,
                seed,
                "{} is stale: regenerate (see this test's doc)",
                path.display()
            );
        }
    }
}

/// Two Opus packets of one encoder setting and input: same TOC byte, and decoded audio whose
/// difference is at least 20 dB below the signal (another CPU's rounding is far smaller; another
/// frame size, bandwidth or tone is far larger).
fn assert_same_opus_frame(committed: &[u8], fresh: &[u8], path: &std::path::Path) {
    let stale = format!(
        "{} is stale: regenerate (see the test's doc)",
        path.display()
    );
    assert_eq!(committed.first(), fresh.first(), "TOC byte: {stale}");
    let decode = |packet: &[u8]| {
        let mut decoder = codec::opus::Decoder::new(2).expect("decoder");
        let mut out = vec![0f32; 5_760 * 2];
        let n = decoder.decode(packet, &mut out).expect(&stale);
        out.truncate(n * 2);
        out
    };
    let (a, b) = (decode(committed), decode(fresh));
    assert_eq!(a.len(), b.len(), "{stale}");
    let signal: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum();
    let error: f64 = a
        .iter()
        .zip(&b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum();
    let snr_db = 10.0 * (signal / error.max(1e-30)).log10();
    assert!(snr_db >= 20.0, "decoded {snr_db:.1} dB apart: {stale}");
}
