//! A polyphonic delay-line pitch shifter (no pitch detection, so chords and reverb tails shift
//! too): two read taps sweep through a delay window at `ratio − 1` samples per sample, and when
//! the sounding tap reaches the end of the window a second tap takes over through an
//! equal-gain crossfade.
//!
//! The classic two-tap shifter restarts the new tap a fixed half window away, so on tonal
//! input the two taps meet at an arbitrary phase and partly cancel in every crossfade (a
//! 220 Hz sine shifted up an octave with a 50 ms window loses everything at the splice). Here
//! the new tap's delay is chosen within 20 ms of the far end of the window where the input
//! best matches the sounding tap's (least squared difference over 32 points, 16 samples apart,
//! at every fourth lag and then around the best: about 8,000 multiply-adds per splice, a
//! splice every ~30 ms at an octave up), so the taps join in phase and a steady tone passes the
//! splice intact (the idea of SOLA, applied to a delay line). Everything runs on a sample-count
//! schedule; [`Shifter::process`] never allocates.

use super::delay::DelayLine;

/// The sweep window, seconds.
const WINDOW_S: f64 = 0.05;
/// The crossfade, seconds.
const CROSSFADE_S: f64 = 0.01;
/// How far from the window's far end the new tap may start, seconds (one 50 Hz period).
const SEARCH_S: f64 = 0.02;
/// Points compared per candidate, and their spacing in samples.
const MATCH_POINTS: usize = 32;
const MATCH_STEP: usize = 16;
/// The coarse search tries every this many lags.
const COARSE_STEP: usize = 4;
/// The shortest delay read (the Hermite reader needs one newer sample).
const MIN_DELAY: f64 = 2.0;

/// One shifter (mono). [`Shifter::prepare`] before use.
#[derive(Clone, Debug)]
pub struct Shifter {
    line: DelayLine,
    ratio: f64,
    /// Delay of the sounding tap and of the tap fading out, samples.
    delay: f64,
    fading: f64,
    /// Samples left in the crossfade, its length, and the longest crossfade.
    fade_left: usize,
    fade: usize,
    fade_len: usize,
    window: f64,
    search: usize,
    /// The sounding tap's match points, and the searched input (see [`Shifter::splice`]).
    reference: [f32; MATCH_POINTS],
    scratch: Vec<f32>,
}

impl Default for Shifter {
    fn default() -> Self {
        Self::new()
    }
}

impl Shifter {
    /// An unshifted shifter.
    pub fn new() -> Self {
        Self {
            line: DelayLine::new(),
            ratio: 1.0,
            delay: MIN_DELAY,
            fading: MIN_DELAY,
            fade_left: 0,
            fade: 1,
            fade_len: 1,
            window: 2_400.0,
            search: 960,
            reference: [0.0; MATCH_POINTS],
            scratch: Vec::new(),
        }
    }

    /// Sizes the line for `sample_rate`, then resets.
    pub fn prepare(&mut self, sample_rate: f64) {
        self.window = (WINDOW_S * sample_rate).round();
        self.search = (SEARCH_S * sample_rate).round() as usize;
        self.fade_len = ((CROSSFADE_S * sample_rate).round() as usize).max(1);
        let longest = self.window as usize + self.search + MATCH_POINTS * MATCH_STEP + 8;
        self.line.prepare(longest);
        self.scratch = vec![0.0; self.search + (MATCH_POINTS - 1) * MATCH_STEP + 1];
        self.fade = self.fade_for(1.0 - self.ratio);
        self.reset();
    }

    /// Clears the line; the taps restart.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        self.line.reset();
        self.fade = self.fade_for(1.0 - self.ratio);
        self.delay = self.start_delay();
        self.fading = self.delay;
        self.fade_left = 0;
    }

    /// Sets the pitch ratio (¼…4); it takes effect at once, the taps keep their places.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_ratio(&mut self, ratio: f64) {
        self.ratio = ratio.clamp(0.25, 4.0);
        if self.fade_left == 0 {
            self.fade = self.fade_for(1.0 - self.ratio);
        }
    }

    /// The delay a tap starts at: the far end of the window for upward shifts (the delay
    /// shrinks), the near end for downward ones.
    fn start_delay(&self) -> f64 {
        if self.ratio >= 1.0 {
            MIN_DELAY + self.window
        } else {
            MIN_DELAY
        }
    }

    /// Squared difference between the reference points and the scratch copy at `offset`.
    fn mismatch(&self, offset: usize) -> f32 {
        self.reference
            .iter()
            .zip(self.scratch[offset..].iter().step_by(MATCH_STEP))
            .map(|(a, b)| (a - b) * (a - b))
            .sum()
    }

    /// Starts a crossfade to a new tap placed where it matches the sounding one. The searched
    /// stretch of input is copied out once (oldest sample last, so an offset into the copy is
    /// a delay), every fourth lag is tried, then the three either side of the best.
    fn splice(&mut self) {
        let current = self.delay.round() as usize;
        let fraction = self.delay - current as f64;
        let first = if self.ratio >= 1.0 {
            (MIN_DELAY + self.window) as usize - self.search
        } else {
            MIN_DELAY as usize + self.fade_len
        };
        for (j, point) in self.reference.iter_mut().enumerate() {
            *point = self.line.read(current + j * MATCH_STEP);
        }
        for (i, sample) in self.scratch.iter_mut().enumerate() {
            *sample = self.line.read(first + i);
        }
        let mut best = (self.search, f32::INFINITY);
        for offset in (0..=self.search).step_by(COARSE_STEP) {
            let score = self.mismatch(offset);
            if score < best.1 {
                best = (offset, score);
            }
        }
        let around =
            best.0.saturating_sub(COARSE_STEP - 1)..=(best.0 + COARSE_STEP - 1).min(self.search);
        for offset in around {
            let score = self.mismatch(offset);
            if score < best.1 {
                best = (offset, score);
            }
        }
        self.fading = self.delay;
        self.delay = (first + best.0) as f64 + fraction;
        self.fade_left = self.fade;
    }

    /// The crossfade for a tap drifting `drift` samples per sample: the full length, or less
    /// at large ratios, so a tap lives at least two crossfades between splices.
    fn fade_for(&self, drift: f64) -> usize {
        let room = self.window - self.search as f64;
        let longest = (room / (3.0 * drift.abs().max(1e-9))) as usize;
        self.fade_len.min(longest).max(16)
    }

    /// Shifts one sample.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn process(&mut self, x: f32) -> f32 {
        self.line.push(x);
        let drift = 1.0 - self.ratio;
        if drift == 0.0 && self.fade_left == 0 {
            return self.line.read_hermite(self.delay as f32);
        }
        self.delay += drift;
        self.fading += drift;
        // Splice when the sounding tap could not survive a whole crossfade more.
        let margin = self.fade as f64 * drift.abs();
        let ending = if drift < 0.0 {
            self.delay - margin <= MIN_DELAY
        } else {
            self.delay + margin >= MIN_DELAY + self.window + self.search as f64
        };
        if ending && self.fade_left == 0 {
            self.fade = self.fade_for(drift);
            self.splice();
        }
        let y = self.line.read_hermite(self.delay as f32);
        if self.fade_left == 0 {
            return y;
        }
        self.fade_left -= 1;
        // Equal-gain (raised cosine) crossfade: the taps are in phase.
        let t = 1.0 - self.fade_left as f32 / self.fade as f32;
        let fade_in = t * t * (3.0 - 2.0 * t);
        let old = self.line.read_hermite(self.fading as f32);
        old + fade_in * (y - old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::psola::tests::peak_and_purity;
    use crate::test_support::FS;
    use std::f64::consts::TAU;

    /// docs/effects.md §1 test 11 for the delay-line shifter: a 220 Hz sine shifted by the
    /// shimmer's intervals, peak over 1–3 s within ±1 cent, ≥ 30 dB between the ±3 % band and the
    /// rest.
    #[test]
    fn a_sine_is_shifted_cleanly_through_the_splices() {
        let input: Vec<f32> = (0..4 * FS as usize)
            .map(|n| (0.5 * (TAU * 220.0 * n as f64 / FS).sin()) as f32)
            .collect();
        for semitones in [-12.0, -5.0, 5.0, 7.0, 12.0, 19.0, 24.0] {
            let ratio = 2f64.powf(semitones / 12.0);
            let mut shifter = Shifter::new();
            shifter.prepare(FS);
            shifter.set_ratio(ratio);
            let mut output = vec![0.0; input.len()];
            rt::guard::no_alloc(|| {
                for (y, &x) in output.iter_mut().zip(&input) {
                    *y = shifter.process(x);
                }
            });
            let target = 220.0 * ratio;
            let (peak, purity) = peak_and_purity(&output[FS as usize..3 * FS as usize], target);
            let cents = 1200.0 * (peak / target).log2();
            println!("{semitones:+} st: {peak:.3} Hz ({cents:+.3} ct), purity {purity:.1} dB");
            assert!(cents.abs() <= 1.0, "{semitones}: {cents}");
            assert!(purity >= 30.0, "{semitones}: {purity}");
        }
    }

    /// Ratio 1 is a plain delay; a chord shifts whole (polyphonic), each note within a few
    /// cents.
    #[test]
    fn unity_is_a_delay_and_chords_shift_whole() {
        let mut shifter = Shifter::new();
        shifter.prepare(FS);
        let input: Vec<f32> = (0..10_000)
            .map(|n| ((n * 7919) % 113) as f32 / 113.0)
            .collect();
        let output: Vec<f32> = input.iter().map(|&x| shifter.process(x)).collect();
        let delay = 2 + 2_400;
        assert_eq!(&output[delay..], &input[..input.len() - delay]);

        let chord: Vec<f32> = (0..3 * FS as usize)
            .map(|n| {
                let t = n as f64 / FS;
                (0.3 * (TAU * 220.0 * t).sin() + 0.3 * (TAU * 277.18 * t).sin()) as f32
            })
            .collect();
        shifter.set_ratio(2.0);
        let output: Vec<f32> = chord.iter().map(|&x| shifter.process(x)).collect();
        for target in [440.0, 554.36] {
            let (peak, _) = peak_and_purity(&output[FS as usize..], target);
            println!("chord note at {target} Hz → {peak:.2} Hz");
            // No splice lag suits two notes an equal-tempered third apart exactly, so each
            // splice leaves a small phase step that pulls the notes a few cents.
            assert!((1200.0 * (peak / target).log2()).abs() < 6.0);
        }
    }
}
