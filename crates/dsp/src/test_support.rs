//! Measurement helpers shared by the unit tests: spectra at single frequencies, stimuli, levels.

use std::f64::consts::TAU;

/// The rate every test runs at unless it says otherwise (docs/effects.md: all figures at 48 kHz).
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

/// Level in dB of the `harmonic`-th harmonic of `f0` relative to the fundamental.
pub(crate) fn harmonic_db(signal: &[f32], f0: f64, harmonic: u32, sample_rate: f64) -> f64 {
    let power = |f: f64| {
        let (re, im) = dtft(signal, f, sample_rate);
        re * re + im * im
    };
    10.0 * (power(f0 * f64::from(harmonic)) / power(f0)).log10()
}

/// The strongest alias of a distorted `f0` tone relative to its fundamental (or its 2nd
/// harmonic if that is stronger, as after a rectifier), in dB: harmonics
/// 2…199 are folded into 0…fs/2, and those that land neither on a harmonic nor above 20 kHz (the
/// band the oversampling filters keep clean) are measured. Use a whole second of signal at an
/// integer `f0`: every component is then a whole number of periods and no bin leaks into
/// another.
pub(crate) fn worst_alias_db(signal: &[f32], f0: u32, sample_rate: u32) -> f64 {
    const AUDIO_BAND: u32 = 20_000;
    let level = |f: u32| {
        let (re, im) = dtft(signal, f64::from(f), f64::from(sample_rate));
        (re * re + im * im).sqrt()
    };
    let fundamental = level(f0).max(level(2 * f0));
    (2..200u32)
        .map(|h| {
            let folded = (h * f0) % sample_rate;
            folded.min(sample_rate - folded)
        })
        .filter(|&f| f != 0 && f % f0 != 0 && f <= AUDIO_BAND)
        .map(|f| 20.0 * (level(f) / fundamental).log10())
        .fold(f64::MIN, f64::max)
}

/// Runs `effect` over `left`/`right` in blocks of `block` frames, each block under the
/// allocation guard, and returns the output.
pub(crate) fn render_stereo(
    effect: &mut impl crate::effect::Effect,
    left: &[f32],
    right: &[f32],
    block: usize,
) -> (Vec<f32>, Vec<f32>) {
    let (mut out_left, mut out_right) = (left.to_vec(), right.to_vec());
    for (l, r) in out_left.chunks_mut(block).zip(out_right.chunks_mut(block)) {
        rt::guard::no_alloc(|| effect.process(&mut crate::effect::Block::new(l, r)));
    }
    (out_left, out_right)
}

/// [`render_stereo`] with the same signal on both channels; returns the left output.
pub(crate) fn render_mono(
    effect: &mut impl crate::effect::Effect,
    input: &[f32],
    block: usize,
) -> Vec<f32> {
    render_stereo(effect, input, input, block).0
}

/// |H| in dB at `frequency` of the DC blocker with its corner at `corner` Hz,
/// (1 − z⁻¹)/(1 − R·z⁻¹).
pub(crate) fn dc_blocker_db(corner: f64, frequency: f64) -> f64 {
    let pole = crate::blocks::dc::Blocker::pole_for(corner, FS);
    let w = TAU * frequency / FS;
    let numerator = 2.0 - 2.0 * w.cos();
    let denominator = 1.0 + pole * pole - 2.0 * pole * w.cos();
    10.0 * (numerator / denominator).log10()
}

/// Pearson correlation of two equally long signals.
pub(crate) fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let mean = |x: &[f32]| x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt().max(1e-300)
}

/// `signal` through an octave band-pass around `centre`: a 3rd-order Butterworth high-pass at
/// centre/√2 then a 3rd-order Butterworth low-pass at centre·√2 (each a bilinear first-order
/// section and a Q = 1 biquad, docs/effects.md §1 test 5), in `f64`.
pub(crate) fn octave_band(signal: &[f32], centre: f64, sample_rate: f64) -> Vec<f64> {
    use crate::blocks::biquad::{Biquad, Design, Kind};
    let low = centre / std::f64::consts::SQRT_2;
    let high = (centre * std::f64::consts::SQRT_2).min(0.45 * sample_rate);
    let mut sections = [
        Biquad::from_design(&Design::new(Kind::Highpass, low, 1.0), sample_rate),
        Biquad::from_design(&Design::new(Kind::Lowpass, high, 1.0), sample_rate),
    ];
    // First-order bilinear sections at the same corners: (b0, b1, a1).
    let first_order = |corner: f64, highpass: bool| {
        let k = (std::f64::consts::PI * corner / sample_rate).tan();
        let a1 = (k - 1.0) / (k + 1.0);
        if highpass {
            (1.0 / (1.0 + k), -1.0 / (1.0 + k), a1)
        } else {
            (k / (1.0 + k), k / (1.0 + k), a1)
        }
    };
    let poles = [first_order(low, true), first_order(high, false)];
    let mut state = [(0.0f64, 0.0f64); 2];
    signal
        .iter()
        .map(|&x| {
            let mut y = f64::from(x);
            for ((b0, b1, a1), (x1, y1)) in poles.iter().zip(state.iter_mut()) {
                let out = b0 * y + b1 * *x1 - a1 * *y1;
                *x1 = y;
                *y1 = out;
                y = out;
            }
            for section in &mut sections {
                y = section.process_f64(y);
            }
            y
        })
        .collect()
}

/// T30 in seconds from an energy envelope (squared signal, or a predicted energy decay): the
/// Schroeder backward integral in dB, a least-squares line through its −5…−35 dB part,
/// extrapolated to 60 dB.
pub(crate) fn t30_of(energy: &[f64], sample_rate: f64) -> f64 {
    let mut edc = vec![0.0; energy.len()];
    let mut sum = 0.0;
    for (e, &x) in edc.iter_mut().zip(energy).rev() {
        sum += x;
        *e = sum;
    }
    let total = edc[0];
    let (mut n, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, &e) in edc.iter().enumerate() {
        let db = 10.0 * (e / total).max(1e-300).log10();
        if db <= -35.0 {
            break;
        }
        if db <= -5.0 {
            let t = i as f64 / sample_rate;
            n += 1.0;
            sx += t;
            sy += db;
            sxx += t * t;
            sxy += t * db;
        }
    }
    let slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    -60.0 / slope
}

/// The T30 of an impulse response in the octave band around `centre` (docs/effects.md §1 test 5).
pub(crate) fn octave_band_t30(response: &[f32], centre: f64, sample_rate: f64) -> f64 {
    let band = octave_band(response, centre, sample_rate);
    let energy: Vec<f64> = band.iter().map(|y| y * y).collect();
    t30_of(&energy, sample_rate)
}

/// Runs `body` on its own thread and returns its result, failing the test if it has not
/// finished within a minute (seconds of work at most, so far past any load): for code that must
/// never loop forever, a regression then fails with the sample it stopped at instead of
/// hanging the run. `body` reports its progress (a sample count) through the counter it gets.
pub(crate) fn finishes<T: Send + 'static>(
    body: impl FnOnce(&std::sync::atomic::AtomicUsize) -> T + Send + 'static,
) -> T {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, mpsc};
    let progress = Arc::new(AtomicUsize::new(0));
    let (done, finished) = mpsc::channel();
    let worker = {
        let progress = Arc::clone(&progress);
        std::thread::spawn(move || {
            let result = body(&progress);
            // The receiver only goes away once this test has failed.
            let _ = done.send(());
            result
        })
    };
    if finished.recv_timeout(std::time::Duration::from_secs(60))
        == Err(mpsc::RecvTimeoutError::Timeout)
    {
        panic!(
            "still running after 60 s, stuck at sample {}",
            progress.load(Ordering::Relaxed)
        );
    }
    worker
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
