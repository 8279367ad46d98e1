//! The 64-bit listener fingerprint (docs/fingerprint.md): which music is playing, from 5 s of
//! what a listener renders, bit-compatible with the deployed listener hash.
//!
//! Input is mono at 48 kHz (channels averaged). The last [`INPUT_SAMPLES`] samples (5 s) are cut
//! into [`WINDOWS`] windows of [`WINDOW_SAMPLES`], oldest first. Each window is multiplied by the
//! first 7,500 points of a periodic Hann window of length [`FFT_LEN`], zero-padded to
//! [`FFT_LEN`] and transformed; the power spectrum below bin 4,096 is averaged over seven
//! octave bands ([`BAND_EDGE_BINS`]). Window `w` then gives two bits, each the XOR of three
//! comparisons of neighbouring bands: bit `2w` from bands 0>1, 2>3, 4>5 and bit `2w + 1` from
//! 1>2, 3>4, 5>6. Only comparisons enter the hash, so overall gain does not matter; a
//! comparison whose two energies are nearly equal may flip between implementations.
//!
//! - [`Hasher`]: the pure function over 240,000 samples; plans its FFT and owns every buffer
//!   when built, then never allocates.
//! - [`listener`]: [`Fingerprinter`], fed rendered blocks (any channel count, any block size)
//!   on an ordinary thread; a fingerprint every 30 s of audio.
//! - [`tap`]: the audio thread's side: a wait-free mono ring into a [`Fingerprinter`] on a
//!   worker thread.

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub mod listener;
pub mod tap;

pub use listener::Fingerprinter;
pub use tap::{Tap, TapOutput};

/// The sample rate the fingerprint is defined at.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples one fingerprint covers: 5 s.
pub const INPUT_SAMPLES: usize = 240_000;
/// Analysis windows per fingerprint (two bits each).
pub const WINDOWS: usize = 32;
/// Samples per window.
pub const WINDOW_SAMPLES: usize = INPUT_SAMPLES / WINDOWS;
/// The FFT length; also the Hann window's length, of which only the first
/// [`WINDOW_SAMPLES`] points are used.
pub const FFT_LEN: usize = 8_192;
/// Power-spectrum bins looked at: k < 4,096 (the Nyquist bin is left out).
pub const SPECTRUM_BINS: usize = FFT_LEN / 2;
/// Hz per bin: 48,000 / 8,192 = 5.859375.
pub const BIN_HZ: f64 = SAMPLE_RATE as f64 / FFT_LEN as f64;
/// Octave bands compared.
pub const BANDS: usize = 7;
/// Band edges in Hz; the last lies above Nyquist.
pub const BAND_EDGES_HZ: [f64; BANDS + 1] = [
    200.0, 400.0, 800.0, 1_600.0, 3_200.0, 6_400.0, 12_800.0, 25_600.0,
];
/// Band edges in bins: round(edge / [`BIN_HZ`]) clamped to [`SPECTRUM_BINS`]. Band b averages
/// bins `BAND_EDGE_BINS[b]..BAND_EDGE_BINS[b + 1]`.
pub const BAND_EDGE_BINS: [usize; BANDS + 1] = [34, 68, 137, 273, 546, 1_092, 2_185, 4_096];

/// Mean power per bin of the seven bands of one window.
pub type BandEnergies = [f64; BANDS];

/// A 64-bit listener fingerprint. Displays (and parses) as 16 lowercase hex digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// The fingerprint of 32 windows' band energies, window 0 the oldest.
    pub fn from_band_energies(windows: &[BandEnergies; WINDOWS]) -> Self {
        let mut hash = 0u64;
        for (w, e) in windows.iter().enumerate() {
            let [low, high] = window_bits(e);
            hash |= u64::from(low) << (2 * w);
            hash |= u64::from(high) << (2 * w + 1);
        }
        Self(hash)
    }

    /// Bits in which two fingerprints differ.
    pub fn distance(self, other: Self) -> u32 {
        (self.0 ^ other.0).count_ones()
    }
}

/// The two bits of one window: (E0>E1)⊕(E2>E3)⊕(E4>E5) and (E1>E2)⊕(E3>E4)⊕(E5>E6).
pub fn window_bits(e: &BandEnergies) -> [bool; 2] {
    let above = |b: usize| e[b] > e[b + 1];
    [
        above(0) ^ above(2) ^ above(4),
        above(1) ^ above(3) ^ above(5),
    ]
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Why a string is not a fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseFingerprintError;

impl fmt::Display for ParseFingerprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a fingerprint is 16 hex digits")
    }
}

impl std::error::Error for ParseFingerprintError {}

impl FromStr for Fingerprint {
    type Err = ParseFingerprintError;

    /// 16 hex digits, either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseFingerprintError);
        }
        u64::from_str_radix(s, 16)
            .map(Self)
            .map_err(|_| ParseFingerprintError)
    }
}

/// The fingerprint as a function of 240,000 samples. Building it plans the FFT and allocates
/// every buffer; [`Hasher::hash`] and [`Hasher::band_energies`] never allocate.
pub struct Hasher {
    fft: Arc<dyn RealToComplex<f32>>,
    /// The first [`WINDOW_SAMPLES`] points of the periodic Hann window of length [`FFT_LEN`].
    hann: Box<[f32]>,
    frame: Box<[f32]>,
    spectrum: Box<[Complex<f32>]>,
    scratch: Box<[Complex<f32>]>,
    energies: Box<[BandEnergies; WINDOWS]>,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher").finish_non_exhaustive()
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher {
    /// Plans the FFT and allocates the buffers (about 100 KiB).
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FFT_LEN);
        // w[n] = 0.5·(1 − cos(2πn/N)), N = 8,192: the periodic ("DENORM") form, computed in
        // f64 and stored as the f32 the transform multiplies by.
        let hann = (0..WINDOW_SAMPLES)
            .map(|n| {
                let phase = std::f64::consts::TAU * n as f64 / FFT_LEN as f64;
                (0.5 * (1.0 - phase.cos())) as f32
            })
            .collect();
        Self {
            frame: vec![0.0; FFT_LEN].into_boxed_slice(),
            spectrum: fft.make_output_vec().into_boxed_slice(),
            scratch: vec![Complex::default(); fft.get_scratch_len().max(1)].into_boxed_slice(),
            energies: Box::new([[0.0; BANDS]; WINDOWS]),
            hann,
            fft,
        }
    }

    /// The fingerprint of `samples` (mono, 48 kHz, oldest first).
    pub fn hash(&mut self, samples: &[f32; INPUT_SAMPLES]) -> Fingerprint {
        Fingerprint::from_band_energies(self.band_energies(samples))
    }

    /// The band energies the fingerprint compares, per window, oldest first.
    pub fn band_energies(&mut self, samples: &[f32; INPUT_SAMPLES]) -> &[BandEnergies; WINDOWS] {
        for (window, energies) in samples
            .chunks_exact(WINDOW_SAMPLES)
            .zip(self.energies.iter_mut())
        {
            for ((x, &s), &w) in self.frame.iter_mut().zip(window).zip(self.hann.iter()) {
                *x = s * w;
            }
            self.frame[WINDOW_SAMPLES..].fill(0.0);
            // The lengths were fixed when the plan was made, so the transform cannot fail.
            let _ = self.fft.process_with_scratch(
                &mut self.frame,
                &mut self.spectrum,
                &mut self.scratch,
            );
            for (band, energy) in energies.iter_mut().enumerate() {
                let bins = &self.spectrum[BAND_EDGE_BINS[band]..BAND_EDGE_BINS[band + 1]];
                let sum: f64 = bins.iter().map(|c| f64::from(c.norm_sqr())).sum();
                *energy = sum / bins.len() as f64;
            }
        }
        &self.energies
    }
}

#[cfg(test)]
mod tests;
