//! Measurement helpers shared by the unit tests: spectra at single frequencies, stimuli, levels.

use std::f64::consts::TAU;

/// The rate every test runs at unless it says otherwise (dsp.md: all figures at 48 kHz).
pub(crate) const FS: f64 = 48_000.0;

/// The DTFT of `signal` at `frequency`, as (re, im). Direct evaluation, exact for any length.
pub(crate) fn dtft(signal: &[f32], frequency: f64, sample_rate: f64) -> (f64, f64) {
    let w = TAU * frequency / sample_rate;
    // The phasor is recomputed from n every 1024 samples so its rounding cannot drift over the
    // 2^17-sample impulse responses.
    let mut re = 0.0;
    let mut im = 0.0;
    for (chunk_index, chunk) in signal.chunks(1024).enumerate() {
        let (mut s, mut c) = (-(w * (chunk_index * 1024) as f64)).sin_cos();
        let (ds, dc) = (-w).sin_cos();
        for &x in chunk {
            re += f64::from(x) * c;
            im += f64::from(x) * s;
            let next_c = c * dc - s * ds;
            s = s * dc + c * ds;
            c = next_c;
        }
    }
    (re, im)
}

/// Magnitude in dB of the DTFT of an impulse response at `frequency`.
pub(crate) fn response_db(ir: &[f32], frequency: f64, sample_rate: f64) -> f64 {
    let (re, im) = dtft(ir, frequency, sample_rate);
    10.0 * (re * re + im * im).log10()
}

/// `amplitude · sin(2π·f·n/fs + phase)` for `len` samples.
pub(crate) fn sine(frequency: f64, amplitude: f64, len: usize, sample_rate: f64) -> Vec<f32> {
    (0..len)
        .map(|n| (amplitude * (TAU * frequency * n as f64 / sample_rate).sin()) as f32)
        .collect()
}

/// A unit impulse followed by `len - 1` zeros.
pub(crate) fn impulse(len: usize) -> Vec<f32> {
    let mut x = vec![0.0; len];
    x[0] = 1.0;
    x
}

/// Seeded uniform white noise in -1..1 (xorshift64*: tests must be reproducible).
pub(crate) struct Noise(u64);

impl Noise {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub(crate) fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        bits as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}
