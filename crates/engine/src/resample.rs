//! Variable-ratio resampling for the audio thread: a stereo FIFO indexed by absolute sample
//! position and a polyphase windowed-sinc interpolator that reads it at any fractional
//! position. One mechanism serves both jobs the engine has: following a remote sender's clock
//! (ratios within a few hundred ppm of 1, steered by the jitter buffer) and converting between
//! the host's rate and the 48 kHz wire (44.1, 88.2, 96 kHz hosts).
//!
//! Why not `rubato`: its resamplers consume and produce fixed chunk sizes per call, while the
//! engine's consumer must produce exactly one host block per callback from a jitter buffer that
//! delivers whole packets, at a ratio that changes every block. Reading a FIFO at a fractional
//! position is the natural fit, and the kernel table below is all the resampler there is.
//!
//! Kernel: [`TAPS`] taps of a Kaiser-windowed sinc (β = [`KAISER_BETA`]), tabulated at
//! [`PHASES`] fractional positions and linearly interpolated between them; every phase is
//! normalised to unity DC gain. With `cutoff = 1` (no rate change) the zero phase is an exact
//! unit impulse, so a stream played at ratio 1 on the sample grid passes bit-exact.

use std::f64::consts::PI;

/// Taps per output sample.
pub const TAPS: usize = 32;
// The dot product runs in lanes of eight.
const _: () = assert!(TAPS.is_multiple_of(8));
/// Input samples the interpolator reads ahead of the position it renders: its latency.
pub const LOOKAHEAD: usize = TAPS / 2;
/// Fractional positions tabulated.
pub const PHASES: usize = 256;
/// Kaiser window shape: about 80 dB side-lobe rejection.
pub const KAISER_BETA: f64 = 8.0;

/// The tabulated interpolation kernel.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// `(PHASES + 1) × TAPS` coefficients, phase-major.
    table: Box<[f32]>,
}

impl Kernel {
    /// A kernel whose pass band ends at `cutoff` × the input's Nyquist frequency (1 for pure
    /// clock following; `output rate / input rate` below that when the rate drops).
    pub fn new(cutoff: f64) -> Self {
        let cutoff = cutoff.clamp(0.05, 1.0);
        let mut table = vec![0f32; (PHASES + 1) * TAPS];
        for phase in 0..=PHASES {
            let frac = phase as f64 / PHASES as f64;
            let row = &mut table[phase * TAPS..(phase + 1) * TAPS];
            let mut taps = [0f64; TAPS];
            for (k, tap) in taps.iter_mut().enumerate() {
                // Tap k weighs input sample floor(pos) − (LOOKAHEAD − 1) + k.
                let distance = (k as f64 - (LOOKAHEAD as f64 - 1.0)) - frac;
                *tap = cutoff * sinc(cutoff * distance) * kaiser(distance / LOOKAHEAD as f64);
            }
            let sum: f64 = taps.iter().sum();
            for (out, tap) in row.iter_mut().zip(taps) {
                *out = (tap / sum) as f32;
            }
        }
        Self {
            table: table.into_boxed_slice(),
        }
    }

    /// The taps for fraction `frac` (0..1) past `window[LOOKAHEAD − 1]`: the two tabulated
    /// phases around it, blended. Computed once per output frame and applied to both channels.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn taps(&self, frac: f64) -> [f32; TAPS] {
        let scaled = frac.clamp(0.0, 1.0) * PHASES as f64;
        let phase = (scaled as usize).min(PHASES - 1);
        let blend = (scaled - phase as f64) as f32;
        let a = &self.table[phase * TAPS..(phase + 1) * TAPS];
        let b = &self.table[(phase + 1) * TAPS..(phase + 2) * TAPS];
        let mut taps = [0f32; TAPS];
        for ((tap, a), b) in taps.iter_mut().zip(a).zip(b) {
            *tap = a + blend * (b - a);
        }
        taps
    }

    /// The interpolated value at fraction `frac` (0..1) past `window[LOOKAHEAD − 1]`, where
    /// `window` holds the [`TAPS`] input samples around the position.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn interpolate(&self, window: &[f32; TAPS], frac: f64) -> f32 {
        dot(&self.taps(frac), window)
    }
}

/// `taps · window`, summed in eight lanes so the compiler can keep them in one SIMD register
/// (a single running sum is a dependency chain it may not reorder).
#[inline]
fn dot(taps: &[f32; TAPS], window: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    for (taps, window) in taps.chunks_exact(8).zip(window.chunks_exact(8)) {
        for lane in 0..8 {
            lanes[lane] += taps[lane] * window[lane];
        }
    }
    lanes.iter().sum()
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    }
}

/// Kaiser window at `x` in −1..1 (0 outside).
fn kaiser(x: f64) -> f64 {
    if x.abs() > 1.0 {
        return 0.0;
    }
    bessel_i0(KAISER_BETA * (1.0 - x * x).sqrt()) / bessel_i0(KAISER_BETA)
}

/// The zeroth-order modified Bessel function of the first kind (power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..64 {
        term *= (half / k as f64) * (half / k as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// A stereo FIFO addressed by absolute sample position: writes append at [`Fifo::end`], reads
/// address any position still held (the last `capacity` samples).
#[derive(Clone, Debug)]
pub struct Fifo {
    left: Box<[f32]>,
    right: Box<[f32]>,
    mask: usize,
    end: u64,
}

impl Fifo {
    /// A FIFO holding at least `capacity` frames (rounded up to a power of two).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(TAPS * 2).next_power_of_two();
        Self {
            left: vec![0.0; capacity].into_boxed_slice(),
            right: vec![0.0; capacity].into_boxed_slice(),
            mask: capacity - 1,
            end: 0,
        }
    }

    /// Frames held.
    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// The position the next write goes to.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Clears the contents and restarts at `position`, with `TAPS` zeros before it so a read
    /// just after the restart sees silence, not stale audio.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn restart(&mut self, position: u64) {
        self.left.fill(0.0);
        self.right.fill(0.0);
        self.end = position;
    }

    /// Appends one frame.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn push(&mut self, left: f32, right: f32) {
        let i = self.end as usize & self.mask;
        self.left[i] = left;
        self.right[i] = right;
        self.end += 1;
    }

    /// Copies `left.len()` frames starting at the whole sample `position`, unfiltered: what
    /// [`Fifo::render`] gives at ratio 1 on the sample grid, without its look-ahead or cost.
    /// The same bounds apply, with no look-ahead: `end − capacity ..= end − left.len()`.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn copy(&self, position: u64, left: &mut [f32], right: &mut [f32]) {
        let len = left.len().min(right.len());
        let mut done = 0;
        // Contiguous runs up to the ring's wrap: a block is one or two `memcpy`s per channel.
        while done < len {
            let at = (position as usize).wrapping_add(done) & self.mask;
            let run = (len - done).min(self.capacity() - at);
            left[done..done + run].copy_from_slice(&self.left[at..at + run]);
            right[done..done + run].copy_from_slice(&self.right[at..at + run]);
            done += run;
        }
    }

    /// Appends the frames of `samples`: interleaved stereo when `channels` is 2, else mono
    /// played on both sides.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn extend(&mut self, samples: &[f32], channels: usize) {
        let stereo = channels == 2;
        let frames = if stereo {
            samples.len() / 2
        } else {
            samples.len()
        };
        let mut done = 0;
        // Contiguous runs up to the ring's wrap, as `copy`.
        while done < frames {
            let at = self.end as usize & self.mask;
            let run = (frames - done).min(self.capacity() - at);
            let (left, right) = (&mut self.left[at..at + run], &mut self.right[at..at + run]);
            if stereo {
                let frames = samples[2 * done..2 * (done + run)].chunks_exact(2);
                for ((l, r), frame) in left.iter_mut().zip(right.iter_mut()).zip(frames) {
                    *l = frame[0];
                    *r = frame[1];
                }
            } else {
                left.copy_from_slice(&samples[done..done + run]);
                right.copy_from_slice(&samples[done..done + run]);
            }
            done += run;
            self.end += run as u64;
        }
    }

    /// Renders `left.len()` output frames starting at `position`, `step` input samples apart,
    /// through `kernel`. Positions the FIFO no longer (or not yet) holds read as whatever the
    /// ring holds there; callers keep their reads inside `end − capacity + TAPS .. end − LOOKAHEAD`.
    /// Returns the position after the last frame.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn render(
        &self,
        kernel: &Kernel,
        position: f64,
        step: f64,
        left: &mut [f32],
        right: &mut [f32],
    ) -> f64 {
        let mut window_l = [0f32; TAPS];
        let mut window_r = [0f32; TAPS];
        for (i, (l, r)) in left.iter_mut().zip(right.iter_mut()).enumerate() {
            let pos = position + i as f64 * step;
            let base = pos.floor();
            let taps = kernel.taps(pos - base);
            let first = (base as i64 - (LOOKAHEAD as i64 - 1)) as u64 as usize & self.mask;
            if first + TAPS <= self.left.len() {
                // The window does not wrap: read it in place.
                *l = dot(&taps, &self.left[first..first + TAPS]);
                *r = dot(&taps, &self.right[first..first + TAPS]);
            } else {
                for k in 0..TAPS {
                    let index = (first + k) & self.mask;
                    window_l[k] = self.left[index];
                    window_r[k] = self.right[index];
                }
                *l = dot(&taps, &window_l);
                *r = dot(&taps, &window_r);
            }
        }
        position + left.len() as f64 * step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(fifo: &mut Fifo, frequency: f64, rate: f64, frames: usize) {
        for n in 0..frames {
            let x = (2.0 * PI * frequency * n as f64 / rate).sin() as f32 * 0.5;
            fifo.push(x, -x);
        }
    }

    /// Least-squares fit of `a·sin + b·cos` at `frequency`: (amplitude, residual power relative
    /// to the tone in dB).
    fn fit(signal: &[f32], frequency: f64, rate: f64) -> (f64, f64) {
        let (mut ss, mut cc, mut sc, mut xs, mut xc) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (n, &x) in signal.iter().enumerate() {
            let (s, c) = (2.0 * PI * frequency * n as f64 / rate).sin_cos();
            let x = f64::from(x);
            ss += s * s;
            cc += c * c;
            sc += s * c;
            xs += x * s;
            xc += x * c;
        }
        let det = ss * cc - sc * sc;
        let a = (xs * cc - xc * sc) / det;
        let b = (xc * ss - xs * sc) / det;
        let mut error = 0.0;
        for (n, &x) in signal.iter().enumerate() {
            let (s, c) = (2.0 * PI * frequency * n as f64 / rate).sin_cos();
            let e = f64::from(x) - (a * s + b * c);
            error += e * e;
        }
        let amplitude = (a * a + b * b).sqrt();
        let tone = amplitude * amplitude / 2.0 * signal.len() as f64;
        (amplitude, 10.0 * (error / tone).log10())
    }

    #[test]
    fn frames_appended_and_copied_across_the_wrap_come_back_in_order() {
        let mut fifo = Fifo::new(TAPS * 2);
        let capacity = fifo.capacity();
        fifo.restart(capacity as u64 - 5);
        // Stereo frames n = 0..12 as (n, -n), across the wrap, then mono frames 12..15.
        let stereo: Vec<f32> = (0..12).flat_map(|n| [n as f32, -(n as f32)]).collect();
        fifo.extend(&stereo, 2);
        fifo.extend(&[12.0, 13.0, 14.0], 1);
        assert_eq!(fifo.end(), capacity as u64 + 10);
        let (mut left, mut right) = ([0f32; 15], [0f32; 15]);
        fifo.copy(capacity as u64 - 5, &mut left, &mut right);
        let want: Vec<f32> = (0..15).map(|n| n as f32).collect();
        assert_eq!(left.to_vec(), want);
        let want_right: Vec<f32> = (0..15)
            .map(|n| if n < 12 { -(n as f32) } else { n as f32 })
            .collect();
        assert_eq!(right.to_vec(), want_right);
    }

    #[test]
    fn ratio_one_on_the_grid_is_bit_exact() {
        let kernel = Kernel::new(1.0);
        let mut fifo = Fifo::new(4096);
        tone(&mut fifo, 997.0, 48_000.0, 2048);
        let (mut l, mut r) = (vec![0.0; 512], vec![0.0; 512]);
        let end = fifo.render(&kernel, 1000.0, 1.0, &mut l, &mut r);
        assert_eq!(end, 1512.0);
        for (i, (&l, &r)) in l.iter().zip(&r).enumerate() {
            let x = (2.0 * PI * 997.0 * (1000 + i) as f64 / 48_000.0).sin() as f32 * 0.5;
            assert_eq!(l, x);
            assert_eq!(r, -x);
        }
    }

    #[test]
    fn clock_following_keeps_tones_clean_and_moves_them_by_the_ratio() {
        // A sender 200 ppm fast: the consumer reads 1.0002 input samples per output sample.
        let kernel = Kernel::new(1.0);
        let step = 1.0002;
        for (frequency, floor_db) in [(100.0, -105.0), (1_000.0, -90.0), (10_000.0, -85.0)] {
            let mut fifo = Fifo::new(1 << 15);
            tone(&mut fifo, frequency, 48_000.0, 1 << 15);
            let (mut l, mut r) = (vec![0.0; 16_384], vec![0.0; 16_384]);
            fifo.render(&kernel, 100.0, step, &mut l, &mut r);
            let played = frequency * step;
            let (level, residual) = fit(&l, played, 48_000.0);
            assert!((level - 0.5).abs() < 0.5 * 0.002, "{frequency} Hz: {level}");
            assert!(
                residual < floor_db,
                "{frequency} Hz: residual {residual:.1} dB"
            );
        }
    }

    #[test]
    fn rate_conversion_44k1_to_48k_keeps_the_audio_band() {
        // Host at 48 kHz playing a 44.1 kHz source: step 44.1/48 (upsampling, cutoff 1).
        let kernel = Kernel::new(1.0);
        for frequency in [440.0, 5_000.0, 15_000.0] {
            let mut fifo = Fifo::new(1 << 15);
            tone(&mut fifo, frequency, 44_100.0, 1 << 15);
            let (mut l, mut r) = (vec![0.0; 16_384], vec![0.0; 16_384]);
            fifo.render(&kernel, 100.0, 44_100.0 / 48_000.0, &mut l, &mut r);
            let (level, residual) = fit(&l, frequency, 48_000.0);
            assert!(
                (20.0 * (level / 0.5).log10()).abs() < 0.05,
                "{frequency} Hz: {level}"
            );
            assert!(
                residual < -90.0,
                "{frequency} Hz: residual {residual:.1} dB"
            );
        }
    }

    #[test]
    fn every_phase_has_unity_dc_gain() {
        let kernel = Kernel::new(0.9);
        let ones = [1.0f32; TAPS];
        for i in 0..=100 {
            let y = kernel.interpolate(&ones, i as f64 / 100.0);
            assert!((y - 1.0).abs() < 1e-6);
        }
    }
}
