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
/// The shortest period marks are placed at, samples (the detector's clamp; also the floor of
/// the unvoiced spacing at absurdly low sample rates), so placing marks always advances.
const MIN_PERIOD: f64 = 2.0;
/// The closest two grains of a voice may be, samples: a voice's schedule advances by at
/// least this per grain whatever the marks hold. Real grains are far apart (the shortest
/// detected period over the largest pitch ratio is 12 samples at 48 kHz), so it never binds.
const MIN_SPACING: f64 = 1.0;

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
    /// Counts resets, so a voice notices its grains and schedule belong to an old timeline.
    epoch: u64,
    marks: [Mark; MARKS],
    /// Index of the newest mark (meaningless while `placed` is 0).
    newest: usize,
    /// Marks placed since the last reset, at most [`MARKS`]: the only ages that hold marks of
    /// the current input (older slots are unwritten or from before the reset).
    placed: usize,
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
            epoch: 0,
            marks: [Mark::default(); MARKS],
            newest: 0,
            placed: 0,
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
        self.unvoiced_period = (UNVOICED_PERIOD_S * sample_rate).round().max(MIN_PERIOD);
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

    /// Clears the input, the marks and the detector; voices rendered from this analysis drop
    /// their grains and start afresh at their next sample.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        for line in &mut self.lines {
            line.reset();
        }
        self.yin.reset();
        self.now = -1.0;
        self.epoch = self.epoch.wrapping_add(1);
        self.newest = 0;
        self.placed = 0;
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
        // A non-finite period (NaN input) counts as unvoiced: marks must advance.
        self.period = if self.estimate.voiced && self.estimate.period.is_finite() {
            self.estimate.period.clamp(MIN_PERIOD, self.longest_period)
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

    /// The `age`-th newest mark (0 = newest), if that many have been placed since the reset.
    fn mark(&self, age: usize) -> Option<Mark> {
        (age < self.placed).then(|| self.marks[(self.newest + MARKS - age) % MARKS])
    }

    /// Appends a mark at `position`, one current period long; the previous mark's period
    /// becomes its distance to this one.
    fn place(&mut self, position: f64) {
        if self.placed > 0 {
            let previous = &mut self.marks[self.newest];
            previous.period = position - previous.position;
            self.newest = (self.newest + 1) % MARKS;
        }
        self.marks[self.newest] = Mark {
            position,
            period: self.period,
        };
        self.placed = (self.placed + 1).min(MARKS);
    }

    /// Places marks up to `target` and returns the one nearest to it, with its age.
    ///
    /// Voices reading at different rates (or started at different times) ask for targets in
    /// any order, so a target may lie before marks placed for another voice: the nearest is
    /// searched among every mark placed since the reset, never an unwritten or stale slot.
    fn mark_near(&mut self, target: f64) -> (usize, Mark) {
        if self.placed == 0 {
            self.place(target);
            self.place(target + self.period);
        }
        // After a long gap (a voice rendered again after a pause) skip whole periods instead
        // of looping; the newest mark's period is provisional, so it takes the current one.
        let behind = target - self.marks[self.newest].position;
        if behind > 64.0 * self.period {
            let skip = (behind / self.period).floor() - 1.0;
            let newest = &mut self.marks[self.newest];
            newest.position += skip * self.period;
            newest.period = self.period;
        }
        // The mark after the nearest one is placed too: a grain's spacing is its mark's
        // distance to the next, which must be final when the grain is decided. Every step is
        // a period (≥ `MIN_PERIOD`), less at most a quarter of one and a sample where pulse
        // marks move it, so this ends.
        while self.mark(1).is_none_or(|mark| mark.position < target) {
            let previous = self.marks[self.newest];
            let predicted = previous.position + previous.period;
            let position = if self.pulse_marks {
                self.align(predicted, previous.period)
            } else {
                predicted
            };
            self.place(position);
        }
        // Positions fall with age: the nearest is the newest mark at or before the target or
        // the one after it (the younger on a tie); a target before every mark gets the oldest.
        let mut age = 0;
        let mut mark = self.marks[self.newest];
        while mark.position > target {
            let Some(older) = self.mark(age + 1) else {
                break;
            };
            age += 1;
            mark = older;
        }
        match age.checked_sub(1).and_then(|younger| self.mark(younger)) {
            Some(younger) if younger.position - target <= (target - mark.position).abs() => {
                (age - 1, younger)
            }
            _ => (age, mark),
        }
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
    /// The analysis epoch the grains and the schedule were made in.
    epoch: u64,
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
            epoch: 0,
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
        let (mut age, mut mark) = analysis.mark_near(centre - analysis.latency as f64);
        let (spacing, half) = Self::extent(mark.period, pitch, rate);
        let slope = 1.0 - rate;
        // Step back to older marks while the grain would read input not yet arrived.
        while centre - mark.position - half * slope.abs() < MIN_READ_DELAY {
            let Some(older) = analysis.mark(age + 1) else {
                break;
            };
            age += 1;
            mark = older;
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

    /// The pitch and read-rate ratios of `shift`, clamped (NaN reads as no shift).
    fn ratios(shift: Shift) -> (f64, f64) {
        let clamp = |ratio: f64| {
            if ratio.is_nan() {
                1.0
            } else {
                ratio.clamp(1.0 / MAX_RATIO, MAX_RATIO)
            }
        };
        (clamp(shift.pitch), clamp(shift.formant))
    }

    /// A grain's spacing to the next one and its half length, for a mark `period`.
    ///
    /// Grains span two input periods; where that leaves gaps between grains (small downward
    /// shifts with formants kept, small formant shifts up) they widen to the spacing, by at
    /// most a quarter, so the windows still sum to one (a pitch corrector's few cents down stay
    /// clean) without resolving harmonics (which a wide window would do: an octave down would
    /// then keep the input's pitch). Grains read slower than real time (formant < 1) also stop
    /// at two output periods: longer ones would resolve the stretched harmonics and beat
    /// against the output's. The spacing is at least [`MIN_SPACING`], so a voice's schedule
    /// always moves on.
    fn extent(period: f64, pitch: f64, rate: f64) -> (f64, f64) {
        let spacing = (period / pitch).max(MIN_SPACING);
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
        if self.epoch != analysis.epoch {
            // The analysis was reset: its time restarted, so every time held here is stale.
            self.reset();
            self.epoch = analysis.epoch;
        }
        if self.next_centre.is_none() {
            // The first grain is decided now, centred about a half grain ahead.
            let (_, rate) = Self::ratios(shift());
            self.next_centre = Some(now + analysis.period / rate);
            self.next_start = now;
        }
        let mut decided = 0;
        while now >= self.next_start {
            if decided == MAX_GRAINS {
                // Grains are ≥ `MIN_SPACING` apart, so only a voice left unrendered for a
                // while is this far behind: the grains it owes would end before they play, so
                // its schedule restarts at the next sample, as a new voice's does.
                self.next_centre = None;
                break;
            }
            decided += 1;
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
            if u <= -grain.half {
                // Not started yet: a grain shorter than the current period's is decided a
                // little before its window opens (and the polynomial window is only cos² inside).
                index += 1;
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
pub(crate) mod tests;
