//! The shifter's tests: exact intervals, pure delay, and schedules that always move on.

use super::*;
use crate::test_support::{FS, Noise, finishes};
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

/// A 220 Hz tone with harmonics 1, ½, ⅓ at 48 kHz: grains of it keep energy at any output
/// harmonic when formants are kept (a pure sine's envelope is one narrow peak).
fn rich_tone(len: usize) -> Vec<f32> {
    (0..len)
        .map(|n| {
            let phase = TAU * 220.0 * n as f64 / FS;
            (0.3 * (phase.sin() + 0.5 * (2.0 * phase).sin() + (3.0 * phase).sin() / 3.0)) as f32
        })
        .collect()
}

/// Marks are read only from those placed since the reset: a target before every placed mark
/// gets the oldest (never an unwritten slot), a target among many gets its nearest (not just
/// one of the newest three), the ring keeps the last `MARKS`, and a reset forgets them all.
#[test]
fn marks_come_only_from_those_placed_since_the_reset() {
    let mut analysis = Analysis::new(false, 1.0);
    analysis.prepare(FS);
    let period = analysis.period;
    assert_eq!(period, 240.0, "unvoiced marks 5 ms apart");
    assert_eq!(analysis.mark(0), None);

    // The first marks: at the target and a period on.
    let (age, mark) = analysis.mark_near(1_000.0);
    assert_eq!((age, mark.position, mark.period), (1, 1_000.0, period));
    assert_eq!(analysis.placed, 2);
    // A later voice's target before both: the oldest placed mark, a whole period long.
    let (age, mark) = analysis.mark_near(-700.0);
    assert_eq!((age, mark.position, mark.period), (1, 1_000.0, period));
    assert_eq!(analysis.mark(2), None);

    // Marks up to 1000 + 11 periods; a target 3.4 periods in is nearest the fourth (age 8).
    analysis.mark_near(1_000.0 + 10.0 * period);
    assert_eq!(analysis.placed, 12);
    let (age, mark) = analysis.mark_near(1_000.0 + 3.4 * period);
    assert_eq!(
        (age, mark.position, mark.period),
        (8, 1_000.0 + 3.0 * period, period)
    );
    // Half-way between two marks the later one wins.
    let (age, mark) = analysis.mark_near(1_000.0 + 3.5 * period);
    assert_eq!((age, mark.position), (7, 1_000.0 + 4.0 * period));

    // 200 periods on, ten at a time: the ring holds the newest `MARKS`, all placed.
    for step in 2..=20 {
        analysis.mark_near(1_000.0 + f64::from(step) * 10.0 * period);
    }
    assert_eq!(analysis.placed, MARKS);
    let newest = analysis.mark(0).unwrap().position;
    let oldest = analysis.mark(MARKS - 1).unwrap();
    assert_eq!(oldest.position, newest - (MARKS - 1) as f64 * period);
    assert_eq!(oldest.period, period);
    assert_eq!(analysis.mark(MARKS), None);

    analysis.reset();
    assert_eq!((analysis.placed, analysis.mark(0)), (0, None));
    let (age, mark) = analysis.mark_near(-500.0);
    assert_eq!((age, mark.position), (1, -500.0));
    assert_eq!(
        analysis.mark(2),
        None,
        "marks from before the reset are gone"
    );
}

/// The hang pluginval found: two voices on one analysis, the second started 32 samples later,
/// its target before the two marks the first placed (it once paired with an unwritten mark of
/// period 0, and its schedule stopped). Both voices run to the end without the restart safety
/// net and sit on their intervals over 1–3 s.
#[test]
fn a_voice_started_late_on_a_shared_analysis_keeps_its_interval() {
    const LATE: usize = 32;
    const RATIO: f64 = 1.842_428;
    let (early, late, closest, restarted) = finishes(|progress| {
        let input = rich_tone(3 * FS as usize);
        let mut analysis = Analysis::new(false, 1.0);
        analysis.prepare(FS);
        let (mut early, mut late) = (Voice::new(), Voice::new());
        let mut outputs = (vec![0.0; input.len()], vec![0.0; input.len()]);
        // The closest grains of each voice, in output periods of the highest detectable pitch
        // (a real spacing is at least one), and the first sample a schedule restarted at.
        let mut closest = [f64::INFINITY; 2];
        let mut restarted = None;
        rt::guard::no_alloc(|| {
            for (n, &x) in input.iter().enumerate() {
                analysis.push(x, x);
                let down = Shift {
                    pitch: 0.25,
                    formant: 0.25,
                };
                outputs.0[n] = early.render(&mut analysis, || down)[0];
                if n >= LATE {
                    outputs.1[n] = late.render(&mut analysis, || Shift::pitch(RATIO, true))[0];
                }
                for ((voice, pitch), closest) in [(&early, 0.25), (&late, RATIO)]
                    .into_iter()
                    .zip(&mut closest)
                {
                    if n >= LATE && voice.next_centre.is_none() {
                        restarted = restarted.or(Some(n));
                    }
                    for grain in &voice.playing[..voice.count] {
                        *closest = closest.min(grain.spacing / (FS / yin::MAX_HZ / pitch));
                    }
                }
                progress.store(n + 1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        (outputs.0, outputs.1, closest, restarted)
    });
    assert_eq!(restarted, None, "a schedule restarted");
    assert!(
        closest.iter().all(|&c| c >= 1.0),
        "grains closer than a period: {closest:?}"
    );
    assert!(early.iter().chain(&late).all(|y| y.is_finite()));
    let second = FS as usize;
    for (name, output, target) in [("early", &early, 55.0), ("late", &late, 220.0 * RATIO)] {
        let (peak, _) = peak_and_purity(&output[second..3 * second], target);
        let cents = 1200.0 * (peak / target).log2();
        println!("{name}: {peak:.3} Hz ({cents:+.3} ct from {target:.3})");
        assert!(cents.abs() <= 1.0, "{name}: {cents} ct");
    }
}

/// Seeded random use of one analysis by 1–4 voices, each run under the watchdog: voices start
/// at random times and ask for a random shift at every grain (beyond the clamp, zero,
/// negative, infinite and NaN too), pause unrendered for up to half a second, and the analysis
/// and the voices reset at random; the input switches between tones from 40 Hz to 2 kHz,
/// noise, full-scale squares, denormals and silence; the rate is 8 to 192 kHz, mono or stereo,
/// with and without pulse marks. Every output is finite and within ±2 (the input stays within
/// ±1; Hermite reads overshoot a little).
#[test]
fn no_input_or_parameter_sequence_stalls_a_voice() {
    const SEEDS: u64 = 200;
    const SAMPLES: usize = 40_000;
    let (pauses, restarts) = finishes(|progress| {
        let mut totals = (0, 0);
        for seed in 1..=SEEDS {
            let (paused, restarted) = RandomRun::new(seed).play(SAMPLES, progress);
            totals = (totals.0 + paused, totals.1 + restarted);
        }
        totals
    });
    println!("{SEEDS} runs of {SAMPLES} samples: {pauses} pauses, {restarts} schedule restarts");
}

/// Seeded dice for [`no_input_or_parameter_sequence_stalls_a_voice`].
struct Dice(Noise);

impl Dice {
    fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * 0.5 * (self.0.next_f64() + 1.0)
    }

    fn chance(&mut self, probability: f64) -> bool {
        self.uniform(0.0, 1.0) < probability
    }

    /// One of `choices`.
    fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[(self.uniform(0.0, choices.len() as f64) as usize).min(choices.len() - 1)]
    }

    /// A ratio from a quarter to four and a bit beyond, sometimes one no shift should get.
    fn ratio(&mut self) -> f64 {
        if self.chance(0.05) {
            self.pick(&[
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                0.0,
                -1.0,
                1e-300,
            ])
        } else {
            self.uniform(-2.5, 2.5).exp2()
        }
    }

    fn shift(&mut self) -> Shift {
        let pitch = self.ratio();
        let formant = match self.uniform(0.0, 3.0) as u32 {
            0 => 1.0,
            1 => pitch,
            _ => self.ratio(),
        };
        Shift { pitch, formant }
    }
}

/// What the input plays for a while.
#[derive(Clone, Copy, Debug)]
enum Stimulus {
    Tone { hz: f64, level: f64 },
    Square { hz: f64 },
    Noise,
    Denormal,
    Silence,
}

/// One seeded run: an analysis, its voices and what happens to them.
struct RandomRun {
    dice: Dice,
    seed: u64,
    rate: f64,
    analysis: Analysis,
    voices: Vec<Voice>,
    /// Each voice is rendered from this sample on (its start, then the end of each pause).
    resume: Vec<usize>,
    /// Each voice's current shift, redrawn now and then when a grain is decided.
    shifts: Vec<Shift>,
}

impl RandomRun {
    fn new(seed: u64) -> Self {
        let mut dice = Dice(Noise::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        let rate = dice.pick(&[8_000.0, 22_050.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0]);
        let mut analysis = Analysis::new(dice.chance(0.5), dice.uniform(0.5, 2.0));
        if dice.chance(0.5) {
            analysis = analysis.with_pulse_marks();
        }
        analysis.prepare(rate);
        let count = dice.pick(&[1, 2, 3, 4]);
        let resume = (0..count)
            .map(|_| dice.uniform(0.0, 2_000.0) as usize)
            .collect();
        let shifts = (0..count).map(|_| dice.shift()).collect();
        Self {
            dice,
            seed,
            rate,
            analysis,
            voices: vec![Voice::new(); count],
            resume,
            shifts,
        }
    }

    fn stimulus(&mut self) -> Stimulus {
        let dice = &mut self.dice;
        match dice.uniform(0.0, 5.0) as u32 {
            0 => Stimulus::Tone {
                hz: dice.uniform(40.0, 2_000.0),
                level: dice.uniform(0.0, 1.0),
            },
            1 => Stimulus::Square {
                hz: dice.uniform(40.0, 2_000.0),
            },
            2 => Stimulus::Noise,
            3 => Stimulus::Denormal,
            _ => Stimulus::Silence,
        }
    }

    /// Plays `samples` frames; returns how many pauses there were and how many times a
    /// voice's schedule restarted.
    fn play(mut self, samples: usize, progress: &std::sync::atomic::AtomicUsize) -> (usize, usize) {
        let (mut pauses, mut restarts) = (0, 0);
        let mut stimulus = Stimulus::Silence;
        let mut phase = 0.0;
        for n in 0..samples {
            if self.dice.chance(1.0 / 2_000.0) {
                stimulus = self.stimulus();
            }
            let x = match stimulus {
                Stimulus::Tone { level, .. } => level * (TAU * phase).sin(),
                Stimulus::Square { .. } => {
                    if phase < 0.5 {
                        1.0
                    } else {
                        -1.0
                    }
                }
                Stimulus::Noise => self.dice.uniform(-1.0, 1.0),
                Stimulus::Denormal => 1e-40 * self.dice.uniform(-1.0, 1.0),
                Stimulus::Silence => 0.0,
            };
            if let Stimulus::Tone { hz, .. } | Stimulus::Square { hz } = stimulus {
                phase = (phase + hz / self.rate).fract();
            }
            if self.dice.chance(1.0 / 8_000.0) {
                self.analysis.reset();
            }
            self.analysis.push(x as f32, -x as f32);
            for index in 0..self.voices.len() {
                if self.dice.chance(1.0 / 8_000.0) {
                    self.voices[index].reset();
                }
                if self.dice.chance(1.0 / 8_000.0) {
                    pauses += 1;
                    self.resume[index] = n + self.dice.uniform(0.0, 0.5 * self.rate) as usize;
                }
                if n < self.resume[index] {
                    continue;
                }
                let (dice, shift) = (&mut self.dice, &mut self.shifts[index]);
                let voice = &mut self.voices[index];
                let output = rt::guard::no_alloc(|| {
                    voice.render(&mut self.analysis, || {
                        if dice.chance(0.05) {
                            *shift = dice.shift();
                        }
                        *shift
                    })
                });
                let seed = self.seed;
                assert!(
                    output.iter().all(|y| y.is_finite() && y.abs() <= 2.0),
                    "seed {seed}, sample {n}, voice {index}: {output:?}"
                );
                restarts += usize::from(voice.next_centre.is_none());
            }
            progress.store(n, std::sync::atomic::Ordering::Relaxed);
        }
        (pauses, restarts)
    }
}
