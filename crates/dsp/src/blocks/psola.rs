//! TD-PSOLA pitch shifting for monophonic voice: an [`Analysis`] (input lines, the YIN
//! detector, pitch marks) shared by any number of [`Voice`]s (the synthesis side).
//!
//! Analysis marks sit one detected period apart (each mark stores the distance to the next
//! one, so marks and grains agree exactly); unvoiced input gets marks every 5 ms. The formant
//! shifter also moves each mark onto the pitch pulse ([`Analysis::with_pulse_marks`]). A voice
//! places synthesis marks (grain centres) `period / pitch` apart and, for each, overlap-adds a
//! Hann-windowed grain read around the analysis mark nearest to `centre − latency`:
//!
//! - `formant = 1` (formant preserving by construction): the grain is two input periods read
//!   at the original speed, so its spectral envelope (the formants) stays while the marks'
//!   spacing sets the new pitch;
//! - `formant = pitch`: the grain is read `pitch` times faster (and is `1/pitch` as long), so
//!   formants move with the pitch, as when resampling (grains overlap exactly twice);
//! - any other `formant` with `pitch = 1` moves the envelope alone (the formant shifter).
//!
//! Every grain covers two input periods (`half = period / formant` output samples each side).
//! Where grains overlap more than twice (upward shifts with formants kept) the sum is divided
//! by the window sum; where they overlap less (downward shifts with formants kept) the gaps
//! stay, which is what TD-PSOLA does and keeps the output periodic at the new pitch. Positions
//! are `f64` sample times and reads are cubic Hermite, so grains taken from a periodic input are
//! identical and the output is exactly periodic: the output pitch is the mark spacing's.
//!
//! Real time: a grain is rendered sample by sample while it plays, so it only needs the input
//! up to the sample being read: with `delay(t) = (centre − mark) + u·(1 − formant)` (u = t −
//! centre), the grain is causal when its smallest delay is ≥ 2 samples. The analysis mark is
//! the one nearest `centre − latency`; if that grain would read the future (large shifts of low
//! voices), the next older marks are tried. The latency is a fixed number of samples chosen
//! per effect (`latency_periods` × the longest period); at `pitch = formant = 1` with a steady
//! period the output is the input delayed by exactly that (the Hann windows sum to one).
//! Each grain is decided when it is due to start (from the current period), so its mark is
//! placed as late as possible; everything runs on the sample count, so the result is the same
//! for any block size.

use super::delay::DelayLine;
use super::yin::{self, Estimate, Yin};

/// Most grains one voice plays at once (formant-preserving shifts up by 4 overlap 8 times).
pub const MAX_GRAINS: usize = 12;
/// Pitch and formant ratios are clamped to this range (two octaves each way).
pub const MAX_RATIO: f64 = 4.0;
/// Pitch marks remembered (enough for the oldest mark a grain may fall back to).
const MARKS: usize = 128;
/// Mark spacing of unvoiced input, seconds.
const UNVOICED_PERIOD_S: f64 = 0.005;
/// Grains widen by at most this factor to close gaps (see [`Voice::decide`]).
const MAX_WIDENING: f64 = 1.25;
/// The smallest delay a grain may read (the Hermite reader needs one newer sample).
const MIN_READ_DELAY: f64 = 2.0;

/// How a voice shifts: the pitch ratio and the rate grains are read at (see the module notes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shift {
    /// Output pitch / input pitch.
    pub pitch: f64,
    /// Spectral envelope factor: 1 keeps formants, `pitch` moves them with the pitch.
    pub formant: f64,
}

impl Shift {
    /// No shift.
    pub const NONE: Self = Self {
        pitch: 1.0,
        formant: 1.0,
    };

    /// A pitch shift by `ratio`, formants kept or moved with the pitch.
    pub fn pitch(ratio: f64, preserve_formants: bool) -> Self {
        Self {
            pitch: ratio,
            formant: if preserve_formants { 1.0 } else { ratio },
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Mark {
    /// Input sample time.
    position: f64,
    /// Distance to the next mark (the period here).
    period: f64,
}

/// The input side: one or two delay lines, the detector and the pitch marks.
#[derive(Clone, Debug)]
pub struct Analysis {
    stereo: bool,
    lines: [DelayLine; 2],
    yin: Yin,
    /// Time of the newest input sample (−1 before the first).
    now: f64,
    marks: [Mark; MARKS],
    /// Index of the newest mark; `None` before the first is placed.
    newest: Option<usize>,
    /// The current period: the detected one while voiced.
    period: f64,
    unvoiced_period: f64,
    longest_period: f64,
    latency_periods: f64,
    latency: usize,
    estimate: Estimate,
    /// Move marks onto the pitch pulses (see [`Analysis::with_pulse_marks`]).
    pulse_marks: bool,
}

impl Analysis {
    /// An analysis of one channel (`stereo` false: feed the mono sum) or two, whose voices
    /// pair grains with marks `latency_periods` longest periods back. [`Analysis::prepare`]
    /// before use.
    pub fn new(stereo: bool, latency_periods: f64) -> Self {
        Self {
            stereo,
            lines: [DelayLine::new(), DelayLine::new()],
            yin: Yin::default(),
            now: -1.0,
            marks: [Mark::default(); MARKS],
            newest: None,
            period: 240.0,
            unvoiced_period: 240.0,
            longest_period: 800.0,
            latency_periods,
            latency: 800,
            estimate: Estimate::UNVOICED,
            pulse_marks: false,
        }
    }

    /// Marks moved onto the largest peak within a quarter period of where the period puts
    /// them, when the input there has arrived and is voiced. Grains centred on pitch pulses
    /// hold one pulse each, which resampled grains (formant shifts) need: two half pulses in
    /// one grain comb the envelope. The grain spacing follows the marks, so the pitch is the
    /// pulses' own; on waveforms with several similar peaks per period the peak may change
    /// from mark to mark, which is why pitch shifting keeps plain period marks.
    pub fn with_pulse_marks(mut self) -> Self {
        self.pulse_marks = true;
        self
    }

    /// Allocates the lines and the detector for `sample_rate`, then resets.
    pub fn prepare(&mut self, sample_rate: f64) {
        self.yin.prepare(sample_rate);
        self.longest_period = (sample_rate / yin::MIN_HZ).ceil();
        self.unvoiced_period = (UNVOICED_PERIOD_S * sample_rate).round();
        self.latency =
            (self.latency_periods * self.longest_period).ceil() as usize + MIN_READ_DELAY as usize;
        // The oldest read: a mark stepped back a few periods, then a grain's far edge read at
        // a quarter speed (3 half-lengths of 4 periods behind).
        let capacity = self.latency + (16.0 * self.longest_period) as usize;
        for line in &mut self.lines {
            line.prepare(capacity);
        }
        self.reset();
    }

    /// Clears the input, the marks and the detector.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        for line in &mut self.lines {
            line.reset();
        }
        self.yin.reset();
        self.now = -1.0;
        self.newest = None;
        self.period = self.unvoiced_period;
        self.estimate = Estimate::UNVOICED;
    }

    /// The latency voices are built around, in samples.
    pub fn latency(&self) -> usize {
        self.latency
    }

    /// The detector's latest estimate.
    pub fn estimate(&self) -> Estimate {
        self.estimate
    }

    /// Feeds one frame (mono analyses take `left` and ignore `right`); returns `true` when the
    /// detector published a new estimate at this sample.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn push(&mut self, left: f32, right: f32) -> bool {
        self.now += 1.0;
        self.lines[0].push(left);
        let mono = if self.stereo {
            self.lines[1].push(right);
            0.5 * (left + right)
        } else {
            left
        };
        if !self.yin.push(mono) {
            return false;
        }
        self.estimate = self.yin.estimate();
        self.period = if self.estimate.voiced {
            self.estimate.period.clamp(2.0, self.longest_period)
        } else {
            self.unvoiced_period
        };
        true
    }

    /// `predicted` moved onto the largest |x| within a quarter period (sub-sample, by a
    /// parabola) when the input there has arrived and is voiced.
    fn align(&self, predicted: f64, period: f64) -> f64 {
        let radius = (0.25 * period).floor();
        if !self.estimate.voiced || radius < 2.0 || predicted + radius + 2.0 > self.now {
            return predicted;
        }
        let level = |position: f64| {
            let delay = (self.now - position) as usize;
            let x = if self.stereo {
                0.5 * (self.lines[0].read(delay) + self.lines[1].read(delay))
            } else {
                self.lines[0].read(delay)
            };
            x.abs()
        };
        let centre = predicted.round();
        let mut best = (centre, level(centre));
        let mut offset = -radius;
        while offset <= radius {
            let position = centre + offset;
            let value = level(position);
            if value > best.1 {
                best = (position, value);
            }
            offset += 1.0;
        }
        let (a, b, c) = (level(best.0 - 1.0), best.1, level(best.0 + 1.0));
        let curvature = a - 2.0 * b + c;
        if curvature < 0.0 {
            best.0 + f64::from((0.5 * (a - c) / curvature).clamp(-0.5, 0.5))
        } else {
            best.0
        }
    }

    /// The `age`-th newest mark (0 = newest).
    fn mark(&self, age: usize) -> Option<Mark> {
        let newest = self.newest?;
        (age < MARKS).then(|| self.marks[(newest + MARKS - age) % MARKS])
    }

    /// Places marks up to `target` and returns the age of the one nearest to it.
    fn mark_near(&mut self, target: f64) -> usize {
        let Some(mut newest) = self.newest else {
            self.marks[0] = Mark {
                position: target,
                period: self.period,
            };
            self.marks[1] = Mark {
                position: target + self.period,
                period: self.period,
            };
            self.newest = Some(1);
            return 1;
        };
        // After a long gap (never in steady use) skip whole periods instead of looping.
        let last = self.marks[newest];
        let behind = target - last.position;
        if behind > 64.0 * last.period {
            let skip = (behind / last.period).floor() - 1.0;
            self.marks[newest].position += skip * last.period;
        }
        // The mark after the nearest one is placed too: a grain's spacing is its mark's
        // distance to the next, which must be final when the grain is decided.
        while self.marks[(newest + MARKS - 1) % MARKS].position < target {
            let previous = self.marks[newest];
            let predicted = previous.position + previous.period;
            let position = if self.pulse_marks {
                self.align(predicted, previous.period)
            } else {
                predicted
            };
            // A mark's period is the distance to the next one.
            self.marks[newest].period = position - previous.position;
            newest = (newest + 1) % MARKS;
            self.marks[newest] = Mark {
                position,
                period: self.period,
            };
        }
        self.newest = Some(newest);
        // The newest mark is past the target; the nearest is it or one of the two before.
        (0..3)
            .min_by(|&a, &b| {
                let distance = |age: usize| {
                    self.mark(age)
                        .map_or(f64::INFINITY, |m| (m.position - target).abs())
                };
                distance(a).total_cmp(&distance(b))
            })
            .unwrap_or(0)
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Grain {
    centre: f64,
    /// centre − mark: the read delay at the centre.
    offset: f64,
    half: f64,
    inverse_half: f64,
    /// 1 − read rate: how the delay changes per output sample.
    slope: f64,
    /// Distance from this grain's centre to the next one's.
    spacing: f64,
}

/// The synthesis side: grains overlap-added at the voice's own marks.
#[derive(Clone, Debug)]
pub struct Voice {
    playing: [Grain; MAX_GRAINS],
    count: usize,
    /// The next grain's centre (`None` before the first) and the time it is decided at, when
    /// it is due to start.
    next_centre: Option<f64>,
    next_start: f64,
}

impl Default for Voice {
    fn default() -> Self {
        Self::new()
    }
}

impl Voice {
    /// A silent voice.
    pub fn new() -> Self {
        Self {
            playing: [Grain::default(); MAX_GRAINS],
            count: 0,
            next_centre: None,
            next_start: 0.0,
        }
    }

    /// Stops every grain.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        self.count = 0;
        self.next_centre = None;
        self.next_start = 0.0;
    }

    /// Decides the grain centred at `centre`.
    fn decide(analysis: &mut Analysis, centre: f64, shift: Shift) -> Grain {
        let (pitch, rate) = Self::ratios(shift);
        let mut age = analysis.mark_near(centre - analysis.latency as f64);
        let mut mark = analysis.mark(age).unwrap_or_default();
        let (spacing, half) = Self::extent(mark.period, pitch, rate);
        let slope = 1.0 - rate;
        // Step back to older marks while the grain would read input not yet arrived.
        while centre - mark.position - half * slope.abs() < MIN_READ_DELAY {
            match analysis.mark(age + 1) {
                Some(older) if age + 1 < MARKS - 1 => {
                    age += 1;
                    mark = older;
                }
                _ => break,
            }
        }
        Grain {
            centre,
            offset: centre - mark.position,
            half,
            inverse_half: 1.0 / half,
            slope,
            spacing,
        }
    }

    /// The pitch and read-rate ratios of `shift`, clamped.
    fn ratios(shift: Shift) -> (f64, f64) {
        (
            shift.pitch.clamp(1.0 / MAX_RATIO, MAX_RATIO),
            shift.formant.clamp(1.0 / MAX_RATIO, MAX_RATIO),
        )
    }

    /// A grain's spacing to the next one and its half length, for a mark `period`.
    ///
    /// Grains span two input periods; where that leaves gaps between grains (small downward
    /// shifts with formants kept, small formant shifts up) they widen to the spacing, by at
    /// most a quarter, so the windows still sum to one (a pitch corrector's few cents down stay
    /// clean) without resolving harmonics (which a wide window would do: an octave down would
    /// then keep the input's pitch). Grains read slower than real time (formant < 1) also stop
    /// at two output periods: longer ones would resolve the stretched harmonics and beat
    /// against the output's.
    fn extent(period: f64, pitch: f64, rate: f64) -> (f64, f64) {
        let spacing = period / pitch;
        let natural = if rate < 1.0 {
            (period / rate).min(spacing)
        } else {
            period / rate
        };
        (spacing, natural.max(spacing.min(MAX_WIDENING * natural)))
    }

    /// One output frame (both channels; a mono analysis gives the same value twice). `shift`
    /// is asked only when a grain is decided. Call after [`Analysis::push`] for the frame.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn render(
        &mut self,
        analysis: &mut Analysis,
        mut shift: impl FnMut() -> Shift,
    ) -> [f32; 2] {
        let now = analysis.now;
        if self.next_centre.is_none() {
            // The first grain is decided now, centred about a half grain ahead.
            let (_, rate) = Self::ratios(shift());
            self.next_centre = Some(now + analysis.period / rate);
            self.next_start = now;
        }
        while now >= self.next_start {
            let centre = self.next_centre.unwrap_or(now);
            let current = shift();
            let grain = Self::decide(analysis, centre, current);
            if self.count < MAX_GRAINS {
                self.playing[self.count] = grain;
                self.count += 1;
            }
            // The next grain is decided when it is due to start, as far as the current
            // period tells (a grain a little longer starts a few samples into its window).
            let (pitch, rate) = Self::ratios(current);
            let (_, half) = Self::extent(analysis.period, pitch, rate);
            let next_centre = grain.centre + grain.spacing;
            self.next_centre = Some(next_centre);
            self.next_start = next_centre - half;
        }

        let stereo = analysis.stereo;
        let mut sum = [0.0f32; 2];
        let mut weight = 0.0f32;
        let mut index = 0;
        while index < self.count {
            let grain = self.playing[index];
            let u = now - grain.centre;
            if u >= grain.half {
                self.count -= 1;
                self.playing[index] = self.playing[self.count];
                continue;
            }
            let w = hann((u * grain.inverse_half) as f32);
            let delay = (grain.offset + u * grain.slope) as f32;
            sum[0] += w * analysis.lines[0].read_hermite(delay);
            if stereo {
                sum[1] += w * analysis.lines[1].read_hermite(delay);
            }
            weight += w;
            index += 1;
        }
        let gain = 1.0 / weight.max(1.0);
        if stereo {
            [sum[0] * gain, sum[1] * gain]
        } else {
            [sum[0] * gain; 2]
        }
    }
}

/// The Hann window cos²(πx/2) for x in −1…1 (a Taylor polynomial: error < 5e-7).
#[inline]
fn hann(x: f32) -> f32 {
    let theta = std::f32::consts::FRAC_PI_2 * x;
    let t2 = theta * theta;
    let c = 1.0
        - t2 * (0.5
            - t2 * (1.0 / 24.0 - t2 * (1.0 / 720.0 - t2 * (1.0 / 40_320.0 - t2 / 3_628_800.0))));
    c * c
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::test_support::FS;
    use std::f64::consts::{PI, TAU};

    #[test]
    fn the_window_is_hann_and_halves_sum_to_one() {
        for i in 0..=1_000 {
            let x = i as f32 / 1_000.0;
            let exact = (0.5 + 0.5 * (PI * f64::from(x)).cos()) as f32;
            assert!((hann(x) - exact).abs() < 1e-6, "{x}");
            assert!((hann(x) + hann(x - 1.0) - 1.0).abs() < 2e-6, "{x}");
        }
    }

    /// The frequency of the strongest spectral peak of `signal` (Hann window, 8× zero-padded
    /// DFT evaluated around the coarse peak, parabolic interpolation on the dB magnitude) and
    /// the energy within ±3 % of `target` against the rest, in dB (docs/effects.md §1 test 11).
    pub(crate) fn peak_and_purity(signal: &[f32], target: f64) -> (f64, f64) {
        let n = signal.len();
        let windowed: Vec<f64> = signal
            .iter()
            .enumerate()
            .map(|(i, &x)| f64::from(x) * (0.5 - 0.5 * (TAU * i as f64 / n as f64).cos()))
            .collect();
        let power = |f: f64| {
            let w = TAU * f / FS;
            let (mut re, mut im) = (0.0, 0.0);
            let (ds, dc) = (-w).sin_cos();
            let (mut s, mut c) = (0.0f64, 1.0f64);
            for &x in &windowed {
                re += x * c;
                im += x * s;
                let next = c * dc - s * ds;
                s = s * dc + c * ds;
                c = next;
            }
            re * re + im * im
        };
        // 8× zero padding: bins of FS / (8n); search ±5 % around the target.
        let step = FS / (8.0 * n as f64);
        let first = ((target * 0.95) / step).floor() as usize;
        let last = ((target * 1.05) / step).ceil() as usize;
        let spectrum: Vec<f64> = (first..=last).map(|k| power(k as f64 * step)).collect();
        let best = (1..spectrum.len() - 1)
            .max_by(|&a, &b| spectrum[a].total_cmp(&spectrum[b]))
            .unwrap();
        let (a, b, c) = (
            spectrum[best - 1].ln(),
            spectrum[best].ln(),
            spectrum[best + 1].ln(),
        );
        let offset = 0.5 * (a - c) / (a - 2.0 * b + c);
        let peak = (first + best) as f64 * step + offset * step;
        // Energy split by a full-length real DFT (Parseval).
        let total: f64 = windowed.iter().map(|x| x * x).sum();
        let in_band: f64 = {
            let low = (target * 0.97 * n as f64 / FS).ceil() as usize;
            let high = (target * 1.03 * n as f64 / FS).floor() as usize;
            (low..=high)
                .map(|k| 2.0 * power(k as f64 * FS / n as f64) / n as f64)
                .sum()
        };
        (
            peak,
            10.0 * (in_band / (total - in_band).max(1e-30)).log10(),
        )
    }

    fn shifted(shift: Shift, input: &[f32]) -> Vec<f32> {
        let mut analysis = Analysis::new(false, 1.0);
        analysis.prepare(FS);
        let mut voice = Voice::new();
        let mut output = vec![0.0; input.len()];
        rt::guard::no_alloc(|| {
            for (y, &x) in output.iter_mut().zip(input) {
                analysis.push(x, x);
                *y = voice.render(&mut analysis, || shift)[0];
            }
        });
        output
    }

    /// docs/effects.md §1 test 11 on the shifter itself: a 220 Hz sine shifted by musical
    /// intervals, formants moving with the pitch: the peak over 1–3 s within ±1 cent of the target,
    /// and ≥ 50 dB between the ±3 % band and everything else.
    #[test]
    fn a_sine_is_shifted_to_the_exact_interval_with_a_clean_spectrum() {
        let input: Vec<f32> = (0..4 * FS as usize)
            .map(|n| (0.5 * (TAU * 220.0 * n as f64 / FS).sin()) as f32)
            .collect();
        for semitones in [-12.0, -5.0, 3.0, 4.0, 7.0, 12.0, 19.0] {
            let ratio = 2f64.powf(semitones / 12.0);
            let output = shifted(Shift::pitch(ratio, false), &input);
            let target = 220.0 * ratio;
            let (peak, purity) = peak_and_purity(&output[FS as usize..3 * FS as usize], target);
            let cents = 1200.0 * (peak / target).log2();
            println!("{semitones:+} st: {peak:.3} Hz ({cents:+.3} ct), purity {purity:.1} dB");
            assert!(cents.abs() <= 1.0, "{semitones}: {cents} ct");
            assert!(purity >= 50.0, "{semitones}: {purity} dB");
        }
    }

    /// Unshifted, a steady periodic input comes out delayed by exactly the latency.
    #[test]
    fn no_shift_is_a_pure_delay_of_the_latency() {
        let input: Vec<f32> = (0..FS as usize)
            .map(|n| {
                let t = n as f64 / FS;
                (0.4 * (TAU * 150.0 * t).sin() + 0.2 * (TAU * 450.0 * t + 1.0).sin()) as f32
            })
            .collect();
        let mut analysis = Analysis::new(true, 0.75);
        analysis.prepare(FS);
        let latency = analysis.latency();
        assert_eq!(latency, 602);
        let mut voice = Voice::new();
        let output: Vec<f32> = input
            .iter()
            .map(|&x| {
                analysis.push(x, -x);
                voice.render(&mut analysis, || Shift::NONE)[0]
            })
            .collect();
        let worst = (FS as usize / 2..input.len())
            .map(|n| (output[n] - input[n - latency]).abs())
            .fold(0.0f32, f32::max);
        println!("worst error against the input delayed by {latency}: {worst:.2e}");
        assert!(worst < 1e-5, "{worst}");
    }
}
