//! The fingerprint against signals built to have known bits: each window of a synthetic piece
//! holds one steady tone per band at levels chosen so that every neighbouring-band comparison
//! is decided by at least [`MIN_MARGIN_DB`], far from a tie that rounding could flip.

use super::listener::DEFAULT_PERIOD;
use super::*;
use crate::test_support::{Noise, dtft};
use std::f64::consts::TAU;

/// Designed energy step between neighbouring bands: 9 dB.
const STEP: f64 = 8.0;
/// Every comparison must win by this much in the implementation's energies.
const MIN_MARGIN_DB: f64 = 3.0;
/// One tone per band, inside it and away from its edges (Hz).
const TONES_HZ: [f64; BANDS] = [283.0, 566.0, 1_131.0, 2_263.0, 4_525.0, 9_051.0, 17_530.0];
/// The committed vector: piece 1's fingerprint over 5 s.
const PIECE_1_HEX: &str = "87cff7ff2fdcf9ec";

/// A synthetic piece: for every 7,500-sample window (counted from the piece's first sample)
/// two bits drawn from `seed`, and band levels that produce them.
struct Piece {
    seed: u64,
}

impl Piece {
    /// The bits window `window` is built to give.
    fn bits(&self, window: usize) -> [bool; 2] {
        let drawn = splitmix64(self.seed << 32 | window as u64);
        [drawn & 1 == 1, drawn & 2 == 2]
    }

    /// Which neighbouring comparisons (E_b > E_b+1) give those bits: a zigzag that gives
    /// bits (1, 0), with the middle comparison of a bit flipped when that bit must change, so
    /// the levels stay within a few steps of each other.
    fn directions(&self, window: usize) -> [bool; BANDS - 1] {
        let [low, high] = self.bits(window);
        let mut above = [true, false, true, false, true, false];
        above[2] ^= !low;
        above[3] ^= high;
        above
    }

    /// Mean power per bin each band should have, relative.
    fn levels(&self, window: usize) -> BandEnergies {
        let mut levels = [1.0; BANDS];
        for (b, above) in self.directions(window).into_iter().enumerate() {
            levels[b + 1] = if above {
                levels[b] / STEP
            } else {
                levels[b] * STEP
            };
        }
        levels
    }

    /// `len` samples: the tones with phase running on across windows and amplitudes that step
    /// at window boundaries. A tone's power lands in its band, spread over the band's bins, so
    /// its amplitude goes with the square root of level × band width.
    fn render(&self, len: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(len);
        let mut amplitudes = [0.0; BANDS];
        for n in 0..len {
            if n.is_multiple_of(WINDOW_SAMPLES) {
                let levels = self.levels(n / WINDOW_SAMPLES);
                for (b, a) in amplitudes.iter_mut().enumerate() {
                    let width = (BAND_EDGE_BINS[b + 1] - BAND_EDGE_BINS[b]) as f64;
                    *a = (levels[b] * width).sqrt();
                }
                let total: f64 = amplitudes.iter().sum();
                amplitudes.iter_mut().for_each(|a| *a *= 0.5 / total);
            }
            let t = n as f64 / f64::from(SAMPLE_RATE);
            let x: f64 = (0..BANDS)
                .map(|b| amplitudes[b] * (TAU * TONES_HZ[b] * t + b as f64).sin())
                .sum();
            out.push(x as f32);
        }
        out
    }

    /// The fingerprint of the 5 s starting at window `first`, by design.
    fn designed(&self, first: usize) -> Fingerprint {
        let mut hash = 0;
        for w in 0..WINDOWS {
            let [low, high] = self.bits(first + w);
            hash |= u64::from(low) << (2 * w) | u64::from(high) << (2 * w + 1);
        }
        Fingerprint(hash)
    }
}

/// SplitMix64's output function: neighbouring inputs give unrelated bits.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn five_seconds(samples: &[f32]) -> &[f32; INPUT_SAMPLES] {
    samples[..INPUT_SAMPLES].try_into().expect("5 s of samples")
}

/// The smallest margin, in dB, by which any comparison of any window wins, and whether all
/// went the designed way.
fn margins(piece: &Piece, first: usize, energies: &[BandEnergies; WINDOWS]) -> f64 {
    let mut smallest = f64::INFINITY;
    for (w, e) in energies.iter().enumerate() {
        for (b, above) in piece.directions(first + w).into_iter().enumerate() {
            let db = 10.0 * (e[b] / e[b + 1]).log10();
            let margin = if above { db } else { -db };
            smallest = smallest.min(margin);
        }
    }
    smallest
}

#[test]
fn band_edges_are_the_rounded_bins_clamped_below_nyquist() {
    assert_eq!(BIN_HZ, 5.859375);
    assert_eq!(WINDOW_SAMPLES, 7_500);
    for (edge, hz) in BAND_EDGE_BINS.iter().zip(BAND_EDGES_HZ) {
        let rounded = (hz / 5.859375).round() as usize;
        assert_eq!(*edge, rounded.min(SPECTRUM_BINS), "{hz} Hz");
    }
    // The unclamped top edge, 25.6 kHz, is bin 4,369.
    assert_eq!((BAND_EDGES_HZ[BANDS] / BIN_HZ).round(), 4_369.0);
}

#[test]
fn prints_and_parses_sixteen_hex_digits() {
    let print = Fingerprint(0x00a1_b2c3_d4e5_f607);
    assert_eq!(print.to_string(), "00a1b2c3d4e5f607");
    assert_eq!("00A1B2C3D4E5F607".parse(), Ok(print));
    assert_eq!(
        "a1b2c3d4e5f607".parse::<Fingerprint>(),
        Err(ParseFingerprintError)
    );
    assert_eq!(
        "+0a1b2c3d4e5f607".parse::<Fingerprint>(),
        Err(ParseFingerprintError)
    );
    assert_eq!(Fingerprint(0b1011).distance(Fingerprint(0b0110)), 3);
}

#[test]
fn window_bits_xor_the_neighbouring_comparisons() {
    // Falling energies: every comparison true, so each bit is the XOR of three trues.
    let falling = [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0];
    assert_eq!(window_bits(&falling), [true, true]);
    // Only E0 > E1: bit 0 alone.
    assert_eq!(
        window_bits(&[2.0, 1.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
        [true, false]
    );
    // Only E5 > E6: bit 1 alone. Ties count as "not above".
    assert_eq!(
        window_bits(&[1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 1.0]),
        [false, true]
    );
    let mut windows = [[1.0; BANDS]; WINDOWS];
    windows[0] = falling;
    windows[31] = [1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 1.0];
    assert_eq!(
        Fingerprint::from_band_energies(&windows),
        Fingerprint(0b11 | 1 << 63)
    );
}

#[test]
fn committed_vector_of_a_piece_with_wide_margins() {
    let piece = Piece { seed: 1 };
    let samples = piece.render(INPUT_SAMPLES);
    let mut hasher = Hasher::new();
    let margin = margins(&piece, 0, hasher.band_energies(five_seconds(&samples)));
    let print = hasher.hash(five_seconds(&samples));
    println!("piece 1: {print}, smallest comparison margin {margin:.1} dB");
    assert!(margin >= MIN_MARGIN_DB, "margin {margin:.2} dB");
    assert_eq!(print, piece.designed(0));
    assert_eq!(print.to_string(), PIECE_1_HEX);
}

#[test]
fn fft_band_energies_match_a_direct_transform() {
    let piece = Piece { seed: 1 };
    let samples = piece.render(INPUT_SAMPLES);
    let mut hasher = Hasher::new();
    let energies = *hasher.band_energies(five_seconds(&samples));
    for w in [0, 17, 31] {
        let frame: Vec<f32> = samples[w * WINDOW_SAMPLES..(w + 1) * WINDOW_SAMPLES]
            .iter()
            .enumerate()
            .map(|(n, &x)| {
                let hann = 0.5 * (1.0 - (TAU * n as f64 / FFT_LEN as f64).cos());
                (f64::from(x) * hann) as f32
            })
            .collect();
        for b in 0..BANDS {
            let bins = BAND_EDGE_BINS[b]..BAND_EDGE_BINS[b + 1];
            let count = bins.len() as f64;
            let direct: f64 = bins
                .map(|k| {
                    let (re, im) = dtft(&frame, k as f64 * BIN_HZ, f64::from(SAMPLE_RATE));
                    re * re + im * im
                })
                .sum::<f64>()
                / count;
            let error = (energies[w][b] - direct).abs() / direct;
            assert!(
                error < 1e-3,
                "window {w} band {b}: relative error {error:e}"
            );
        }
    }
}

/// Feeds `samples` as planar stereo in `block`-frame blocks; the fingerprint due at 30 s.
fn listen_planar(samples: &[f32], block: usize) -> Fingerprint {
    let mut fingerprinter = Fingerprinter::new();
    let mut due = None;
    for chunk in samples.chunks(block) {
        due = fingerprinter.push_planar(&[chunk, chunk]).or(due);
    }
    due.expect("a fingerprint at 30 s")
}

#[test]
fn two_listeners_of_the_same_audio_agree_within_8_bits() {
    const LISTENED: usize = DEFAULT_PERIOD as usize;
    let piece = Piece { seed: 1 };
    let samples = piece.render(LISTENED + 1);
    let a = listen_planar(&samples[..LISTENED], 64);
    // The last 5 s before 30 s start at window 160.
    assert_eq!(a, piece.designed(160));

    // B renders one sample later, 2 dB quieter, with white noise 60 dB below full scale, as
    // interleaved stereo in 1,000-frame blocks.
    let mut noise = Noise::new(7);
    let gain = 10f64.powf(-2.0 / 20.0);
    let noise_amplitude = 1e-3 * 3f64.sqrt();
    let mut interleaved = Vec::with_capacity(2 * LISTENED);
    for &x in std::iter::once(&0.0).chain(&samples[..LISTENED - 1]) {
        let y = (f64::from(x) * gain + noise_amplitude * noise.next_f64()) as f32;
        interleaved.extend([y, y]);
    }
    let mut fingerprinter = Fingerprinter::new();
    let mut b = None;
    for block in interleaved.chunks(2_000) {
        b = fingerprinter.push_interleaved(block, 2).or(b);
    }
    let b = b.expect("a fingerprint at 30 s");
    let distance = a.distance(b);
    println!("same audio: {a} and {b}, Hamming distance {distance}");
    assert!(distance <= 8, "distance {distance}");
}

#[test]
fn different_pieces_differ_by_more_than_16_bits() {
    let mut hasher = Hasher::new();
    let prints: Vec<Fingerprint> = (1..=4)
        .map(|seed| {
            let piece = Piece { seed };
            let samples = piece.render(INPUT_SAMPLES);
            let margin = margins(&piece, 0, hasher.band_energies(five_seconds(&samples)));
            assert!(
                margin >= MIN_MARGIN_DB,
                "piece {seed}: margin {margin:.2} dB"
            );
            hasher.hash(five_seconds(&samples))
        })
        .collect();
    for (i, a) in prints.iter().enumerate() {
        for b in &prints[i + 1..] {
            let distance = a.distance(*b);
            println!("different pieces: {a} and {b}, Hamming distance {distance}");
            assert!(distance > 16, "distance {distance}");
        }
    }
}

#[test]
fn hashing_allocates_nothing_and_gain_changes_nothing() {
    let piece = Piece { seed: 2 };
    let samples = piece.render(INPUT_SAMPLES);
    let quieter: Vec<f32> = samples.iter().map(|x| x * 0.25).collect();
    let mut hasher = Hasher::new();
    let (loud, quiet) = rt::guard::no_alloc(|| {
        (
            hasher.hash(five_seconds(&samples)),
            hasher.hash(five_seconds(&quieter)),
        )
    });
    assert_eq!(loud, piece.designed(0));
    assert_eq!(quiet, loud);
}

#[test]
fn fingerprints_fall_due_every_period_once_five_seconds_are_written() {
    let mut fingerprinter = Fingerprinter::with_period(100_000);
    let piece = Piece { seed: 3 };
    let samples = piece.render(3 * INPUT_SAMPLES);
    // Nothing at 100,000 samples: less than 5 s written; nor on demand.
    assert_eq!(
        fingerprinter.push_mono(samples[..150_000].iter().copied()),
        None
    );
    assert_eq!(fingerprinter.fingerprint_now(), None);
    // Due at 300,000 (the 200,000 boundary still had too little), over samples 60,000..300,000:
    // window 8 onwards.
    let due = fingerprinter.push_mono(samples[150_000..310_000].iter().copied());
    assert_eq!(due, Some(piece.designed(8)));
    assert_eq!(fingerprinter.superseded(), 0);
    // On demand at 720,000 (the ring has wrapped): samples 480,000.., window 64 onwards.
    fingerprinter.push_mono(samples[310_000..].iter().copied());
    assert_eq!(fingerprinter.samples_written(), 720_000);
    assert_eq!(fingerprinter.fingerprint_now(), Some(piece.designed(64)));
    // That call crossed 400,000, 500,000, 600,000 and 700,000: three were superseded.
    assert_eq!(fingerprinter.superseded(), 3);
}

#[test]
fn the_ring_wraps_and_long_blocks_keep_the_newest_fingerprint() {
    let piece = Piece { seed: 4 };
    // 83 windows (12.97 s): the 10 s ring has wrapped.
    let samples = piece.render(83 * WINDOW_SAMPLES);
    let mut fingerprinter = Fingerprinter::with_period(300_000);
    // One call crosses 300,000 and 600,000: the second is returned (samples 360,000..,
    // window 48), the first superseded.
    let due = fingerprinter.push_mono(samples.iter().copied());
    assert_eq!(due, Some(piece.designed(48)));
    assert_eq!(fingerprinter.superseded(), 1);
    // The last 5 s now straddle the ring's end: window 51 onwards.
    assert_eq!(fingerprinter.fingerprint_now(), Some(piece.designed(51)));
}

#[test]
fn listeners_that_joined_at_different_times_hash_the_same_span_on_the_timeline() {
    let piece = Piece { seed: 6 };
    let samples = piece.render(2 * 300_000);
    // Both listeners fingerprint every 300,000 ticks of the session timeline. A hears from
    // tick 0; B joins at tick 123,457 and says so.
    let mut a = Fingerprinter::with_period(300_000);
    let mut b = Fingerprinter::with_period(300_000);
    b.set_position(123_457);
    let from_a = a.push_mono(samples.iter().copied());
    let from_b = b.push_mono(samples[123_457..].iter().copied());
    assert_eq!(b.position(), 600_000);
    // Both hashed ticks 360,000..600,000: window 48 onwards.
    assert_eq!(from_a, Some(piece.designed(48)));
    assert_eq!(from_b, from_a);
    // Without the position, B's schedule is its own: at its 300,000th sample (tick 423,457),
    // a span off the window grid.
    let mut unaligned = Fingerprinter::with_period(300_000);
    let due = unaligned.push_mono(samples[123_457..].iter().copied());
    assert_eq!(unaligned.position(), 476_543);
    assert!(due.is_some_and(|d| d != piece.designed(48)));
}

#[test]
fn the_tap_carries_audio_blocks_to_the_worker_without_allocating() {
    let piece = Piece { seed: 5 };
    let samples = piece.render(2 * INPUT_SAMPLES);
    let (mut tap, mut output) = tap::tap(tap::DEFAULT_CAPACITY);
    let mut fingerprinter = Fingerprinter::with_period(INPUT_SAMPLES as u64 * 2);
    let mut due = None;
    let mut interleaved = [0.0f32; 2 * 128];
    for (i, block) in samples.chunks(128).enumerate() {
        for (frame, &x) in interleaved.chunks_exact_mut(2).zip(block) {
            frame.copy_from_slice(&[x, x]);
        }
        let len = 2 * block.len();
        let pushed = rt::guard::no_alloc(|| {
            if i % 2 == 0 {
                tap.push_planar(&[block, block])
            } else {
                tap.push_interleaved(&interleaved[..len], 2)
            }
        });
        assert!(pushed);
        // The worker wakes every 64 blocks.
        if i % 64 == 63 {
            due = output.drain_into(&mut fingerprinter).or(due);
        }
    }
    due = output.drain_into(&mut fingerprinter).or(due);
    assert_eq!(due, Some(piece.designed(32)));
    assert_eq!(tap.dropped(), 0);

    // A worker that stops draining: the ring fills and whole blocks are dropped and counted.
    let (mut tap, output) = tap::tap(1_000);
    let accepted = (0..10)
        .filter(|_| tap.push_planar(&[&samples[..300]]))
        .count();
    assert_eq!(accepted, 3);
    assert_eq!(tap.dropped(), 7 * 300);
    assert_eq!(output.dropped(), 7 * 300);
}

/// Something closer to music than the designed pieces: a chord every 0.37 s (not on the window
/// grid), each note with six decaying harmonics, and a seeded noise hit on every other chord.
fn song(len: usize) -> Vec<f32> {
    const CHORD: usize = 17_760;
    const ROOTS: [f64; 6] = [110.0, 146.8, 164.8, 123.5, 98.0, 130.8];
    let mut noise = Noise::new(11);
    (0..len)
        .map(|n| {
            let chord = n / CHORD;
            let since = (n % CHORD) as f64 / f64::from(SAMPLE_RATE);
            let root = ROOTS[chord % ROOTS.len()];
            let t = n as f64 / f64::from(SAMPLE_RATE);
            let mut x = 0.0;
            for ratio in [1.0, 1.25, 1.5] {
                for h in 1..=6 {
                    let f = root * ratio * f64::from(h);
                    x += (TAU * f * t).sin() * (-since * 3.0 * f64::from(h)).exp() / f64::from(h);
                }
            }
            if chord.is_multiple_of(2) {
                x += 0.5 * noise.next_f64() * (-since * 40.0).exp();
            }
            (0.1 * x) as f32
        })
        .collect()
}

/// How far apart two listeners' fingerprints land when their 5 s spans are offset: printed,
/// not asserted (a real song has comparisons near a tie, which rounding may decide).
#[test]
fn prints_the_distance_against_the_offset_between_listeners() {
    let audio = song(INPUT_SAMPLES + 24_000);
    let mut hasher = Hasher::new();
    let reference = hasher.hash(five_seconds(&audio));
    let mut line = String::from("song: Hamming distance at offset");
    for offset in [1, 48, 240, 480, 960, 2_400, 7_500, 24_000] {
        let shifted = hasher.hash(five_seconds(&audio[offset..]));
        line += &format!(" {offset}: {}", reference.distance(shifted));
    }
    println!("{line}");
}
