//! The stereo delay (docs/effects.md §3 #29): two delay lines (2 s each) with their own times (ms
//! or tempo-synced note values, dotted and triplet included) and feedbacks, cross-feed between
//! them, a ping-pong mode, a tone control and a dry/wet mix.
//!
//! Each line's output is filtered (high-pass at `lowCut`, low-pass at
//! `min(500 + 15000·tone/100, highCut)` Hz, one-pole each) and fed back: into its own line
//! with weight `1 − crossFeed` and into the other line with weight `crossFeed`, scaled by the
//! receiving line's feedback. Ping-pong feeds the mono sum into the left line only and crosses
//! all feedback, so repeats alternate left, right, left, at the left time, then the right
//! time, and so on.
//!
//! Design choices:
//! - Feedbacks are capped at 0.95 and the cross-feed rows sum to 1, so the loop gain is at
//!   most 0.95 whatever the settings; the filters are one-poles (never above unity), which
//!   also keeps the cost within the delay class's budget.
//! - Legacy fields (docs/effects.md §3 #29): `crossFeedback` stands in for `crossFeed` while
//!   that is 0; `lowCut` and `highCut` shape the feedback together with `tone`.
//! - Times are whole samples when settled (a synced repeat lands exactly on the grid) and a
//!   new time glides with bounded read speed, as in the delay (the same glide).
//! - Feedback, cross-feed, mix and the filters' coefficients glide per sample (10 ms).

use super::delay::{MAX_FEEDBACK, TimeGlide, read_at};
use crate::automation::Kind;
use crate::blocks::delay::DelayLine;
use crate::blocks::smoother::OnePole;
use crate::context::RoomContext;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::param::Subdivision;
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "stereoDelay";

/// Range of [`Params::left_time`] and [`Params::right_time`] (ms): up to the 2 s buffers.
pub const TIME_RANGE: RangeInclusive<f32> = 1.0..=2_000.0;
/// Declared range of the percentages (feedbacks, cross-feed, tone, mix).
pub const PERCENT_RANGE: RangeInclusive<f32> = 0.0..=100.0;
/// Range of the legacy [`Params::low_cut`] (Hz).
pub const LOW_CUT_RANGE: RangeInclusive<f32> = 20.0..=2_000.0;
/// Range of the legacy [`Params::high_cut`] (Hz).
pub const HIGH_CUT_RANGE: RangeInclusive<f32> = 1_000.0..=20_000.0;

/// Smoothing of feedbacks, cross-feed, mix and filters.
const SMOOTHING_S: f64 = 0.01;
/// The tone low-pass: `TONE_BASE_HZ + TONE_SPAN_HZ·tone/100`, as the delay's.
const TONE_BASE_HZ: f64 = 500.0;
const TONE_SPAN_HZ: f64 = 15_000.0;

/// The stereo delay's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Left time in ms, 1…2000 (default 250).
    pub left_time: f32,
    /// Right time in ms, 1…2000 (default 375).
    pub right_time: f32,
    /// Left feedback 0…100 % (default 30), capped at 95 %.
    pub left_feedback: f32,
    /// Right feedback 0…100 % (default 30), capped at 95 %.
    pub right_feedback: f32,
    /// Share of each line's feedback sent to the other line, 0…100 % (default 0).
    pub cross_feed: f32,
    /// Brightness of the repeats 0…100 (default 80).
    pub tone: f32,
    /// Times from the room tempo and the subdivisions (default off).
    pub tempo_sync: bool,
    /// Left note value when synced (default "1/4").
    pub left_subdivision: Subdivision,
    /// Right note value when synced (default "1/4D").
    pub right_subdivision: Subdivision,
    /// Ping-pong routing (default off).
    pub ping_pong: bool,
    /// Wet share 0…100 % (default 30).
    pub mix: f32,
    /// Legacy cross-feed 0…100 % (default 0): used while `crossFeed` is 0.
    pub cross_feedback: f32,
    /// Legacy high-pass of the repeats, Hz (default 100).
    pub low_cut: f32,
    /// Legacy low-pass limit of the repeats, Hz (default 8000).
    pub high_cut: f32,
}

crate::automatable!(Params {
    [left_time] "leftTime", "Left Time", Kind::logarithmic(TIME_RANGE, "ms");
    [right_time] "rightTime", "Right Time", Kind::logarithmic(TIME_RANGE, "ms");
    [left_feedback] "leftFeedback", "Left Feedback", Kind::linear(PERCENT_RANGE, "%");
    [right_feedback] "rightFeedback", "Right Feedback", Kind::linear(PERCENT_RANGE, "%");
    [cross_feed] "crossFeed", "Cross-Feed", Kind::linear(PERCENT_RANGE, "%");
    [tone] "tone", "Tone", Kind::linear(PERCENT_RANGE, "%");
    [tempo_sync] "tempoSync", "Tempo Sync", Kind::Toggle;
    [left_subdivision] "leftSubdivision", "Left Subdivision", Kind::NOTE;
    [right_subdivision] "rightSubdivision", "Right Subdivision", Kind::NOTE;
    [ping_pong] "pingPong", "Ping-Pong", Kind::Toggle;
    [mix] "mix", "Mix", Kind::linear(PERCENT_RANGE, "%");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            left_time: 250.0,
            right_time: 375.0,
            left_feedback: 30.0,
            right_feedback: 30.0,
            cross_feed: 0.0,
            tone: 80.0,
            tempo_sync: false,
            left_subdivision: Subdivision::QUARTER,
            right_subdivision: Subdivision::parse("1/4D").unwrap_or_default(),
            ping_pong: false,
            mix: 30.0,
            cross_feedback: 0.0,
            low_cut: 100.0,
            high_cut: 8_000.0,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        let percent = |value: f32, default: f32| clamp_param(value, PERCENT_RANGE, default);
        Self {
            enabled: self.enabled,
            left_time: clamp_param(self.left_time, TIME_RANGE, d.left_time),
            right_time: clamp_param(self.right_time, TIME_RANGE, d.right_time),
            left_feedback: percent(self.left_feedback, d.left_feedback),
            right_feedback: percent(self.right_feedback, d.right_feedback),
            cross_feed: percent(self.cross_feed, d.cross_feed),
            tone: percent(self.tone, d.tone),
            tempo_sync: self.tempo_sync,
            left_subdivision: self.left_subdivision,
            right_subdivision: self.right_subdivision,
            ping_pong: self.ping_pong,
            mix: percent(self.mix, d.mix),
            cross_feedback: percent(self.cross_feedback, d.cross_feedback),
            low_cut: clamp_param(self.low_cut, LOW_CUT_RANGE, d.low_cut),
            high_cut: clamp_param(self.high_cut, HIGH_CUT_RANGE, d.high_cut),
        }
    }

    /// The cross-feed share 0…1 in effect (the legacy field stands in while `crossFeed` is 0).
    pub fn effective_cross_feed(&self) -> f32 {
        if self.cross_feed == 0.0 {
            self.cross_feedback / 100.0
        } else {
            self.cross_feed / 100.0
        }
    }
}

/// One side: its line, time and feedback filters.
#[derive(Clone, Debug)]
struct Side {
    line: DelayLine,
    time: TimeGlide,
    feedback: OnePole,
    /// One-pole states: the low-pass of the high-pass, and the tone low-pass.
    high_pass_state: f32,
    low_pass_state: f32,
}

impl Side {
    fn new() -> Self {
        Self {
            line: DelayLine::new(),
            time: TimeGlide::new(0.0),
            feedback: OnePole::new(0.0, SMOOTHING_S, 48_000.0),
            high_pass_state: 0.0,
            low_pass_state: 0.0,
        }
    }

    /// The line's output now (its time ago), and the filtered copy that feeds back.
    #[inline]
    fn read(&mut self, high_pass_coef: f32, low_pass_coef: f32) -> (f32, f32) {
        let y = read_at(&self.line, self.time.next_value() - 1.0);
        self.high_pass_state = y + high_pass_coef * (self.high_pass_state - y);
        let high_passed = y - self.high_pass_state;
        self.low_pass_state = high_passed + low_pass_coef * (self.low_pass_state - high_passed);
        (y, self.low_pass_state)
    }
}

/// The stereo delay. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct StereoDelay {
    params: Params,
    sample_rate: f64,
    tempo_bpm: f64,
    sides: [Side; 2],
    cross: OnePole,
    mix: OnePole,
    /// One-pole coefficients `exp(−2π·fc/fs)` of the high- and low-pass.
    high_pass: OnePole,
    low_pass: OnePole,
}

impl StereoDelay {
    /// A stereo delay with `params` at 120 BPM; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut delay = Self {
            params: params.clamped(),
            sample_rate,
            tempo_bpm: 120.0,
            sides: [Side::new(), Side::new()],
            cross: OnePole::new(0.0, SMOOTHING_S, sample_rate),
            mix: OnePole::new(0.0, SMOOTHING_S, sample_rate),
            high_pass: OnePole::new(0.0, SMOOTHING_S, sample_rate),
            low_pass: OnePole::new(0.0, SMOOTHING_S, sample_rate),
        };
        delay.prepare(&ProcessSpec::stereo(sample_rate, 0));
        delay
    }

    /// Applies new parameters (clamped); times glide, the rest is smoothed. Switching on
    /// starts from silence.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        let was_enabled = self.params.enabled;
        self.params = params.clamped();
        self.update();
        if self.params.enabled && !was_enabled {
            self.reset();
        }
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The left and right delay times the effect is heading for, in samples.
    pub fn target_samples(&self) -> [f64; 2] {
        self.sides.each_ref().map(|s| s.time.target())
    }

    fn coef(&self, hz: f64) -> f32 {
        (-TAU * hz.min(0.45 * self.sample_rate) / self.sample_rate).exp() as f32
    }

    /// Smoother targets: [left time, right time] in samples, then the other controls.
    fn targets(&self) -> ([f64; 2], [f32; 2], [f32; 4]) {
        let p = &self.params;
        let seconds = |ms: f32, note: Subdivision| {
            let s = if p.tempo_sync {
                note.beats() * 60.0 / self.tempo_bpm
            } else {
                f64::from(ms) * 1e-3
            };
            let max = f64::from(*TIME_RANGE.end()) * 1e-3;
            (s.clamp(f64::from(*TIME_RANGE.start()) * 1e-3, max) * self.sample_rate).round()
        };
        let tone_hz = TONE_BASE_HZ + TONE_SPAN_HZ * f64::from(p.tone) / 100.0;
        let feedback = |percent: f32| (percent / 100.0).min(MAX_FEEDBACK);
        (
            [
                seconds(p.left_time, p.left_subdivision),
                seconds(p.right_time, p.right_subdivision),
            ],
            [feedback(p.left_feedback), feedback(p.right_feedback)],
            [
                if p.ping_pong {
                    1.0
                } else {
                    p.effective_cross_feed()
                },
                p.mix / 100.0,
                self.coef(f64::from(p.low_cut)),
                self.coef(tone_hz.min(f64::from(p.high_cut))),
            ],
        )
    }

    fn update(&mut self) {
        let (times, feedbacks, [cross, mix, high_pass, low_pass]) = self.targets();
        for ((side, time), feedback) in self.sides.iter_mut().zip(times).zip(feedbacks) {
            side.time.set_target(time);
            side.feedback.set_target(feedback);
        }
        self.cross.set_target(cross);
        self.mix.set_target(mix);
        self.high_pass.set_target(high_pass);
        self.low_pass.set_target(low_pass);
    }
}

impl Effect for StereoDelay {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        let longest = f64::from(*TIME_RANGE.end()) * 1e-3 * spec.sample_rate;
        for side in &mut self.sides {
            side.line.prepare(longest.ceil() as usize + 4);
            side.time.set_rate(spec.sample_rate);
            side.feedback.set_time(SMOOTHING_S, spec.sample_rate);
        }
        for smoother in [
            &mut self.cross,
            &mut self.mix,
            &mut self.high_pass,
            &mut self.low_pass,
        ] {
            smoother.set_time(SMOOTHING_S, spec.sample_rate);
        }
        self.reset();
    }

    fn reset(&mut self) {
        let (times, feedbacks, [cross, mix, high_pass, low_pass]) = self.targets();
        for ((side, time), feedback) in self.sides.iter_mut().zip(times).zip(feedbacks) {
            side.line.reset();
            side.time.set_target(time);
            side.time.reset();
            side.feedback.reset_to(feedback);
            side.high_pass_state = 0.0;
            side.low_pass_state = 0.0;
        }
        self.cross.reset_to(cross);
        self.mix.reset_to(mix);
        self.high_pass.reset_to(high_pass);
        self.low_pass.reset_to(low_pass);
    }

    fn set_context(&mut self, context: &RoomContext) {
        let tempo = context.tempo();
        if tempo != self.tempo_bpm {
            self.tempo_bpm = tempo;
            self.update();
        }
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let ping_pong = self.params.ping_pong;
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let cross = self.cross.next_value();
            let mix = self.mix.next_value();
            let high_pass = self.high_pass.next_value();
            let low_pass = self.low_pass.next_value();
            let [side_l, side_r] = &mut self.sides;
            let (yl, fl) = side_l.read(high_pass, low_pass);
            let (yr, fr) = side_r.read(high_pass, low_pass);
            let (gl, gr) = (side_l.feedback.next_value(), side_r.feedback.next_value());
            let (in_l, in_r) = if ping_pong {
                (0.5 * (*l + *r), 0.0)
            } else {
                (*l, *r)
            };
            side_l
                .line
                .push(in_l + gl * ((1.0 - cross) * fl + cross * fr));
            side_r
                .line
                .push(in_r + gr * ((1.0 - cross) * fr + cross * fl));
            *l = *l * (1.0 - mix) + yl * mix;
            *r = *r * (1.0 - mix) + yr * mix;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::conformance_tests;
    use crate::test_support::{FS, Noise, render_stereo};

    conformance_tests!(StereoDelay {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] = &[
            ("/leftSubdivision", &["1/4", "1/8D", "1/16T", "1/1"]),
            ("/rightSubdivision", &["1/4D", "1/8", "1/2T", "1/32"]),
        ];
        /// Feedback 0.95 at 2 s: 400 dB (to 1e-20) takes 1800 s.
        const TAIL_LIMIT_SECONDS: f64 = 2_000.0;
        /// Up to 2 s of silence between repeats of a short burst.
        const TAIL_QUIET_SECONDS: f64 = 2.5;
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn wet(left_time: f32, right_time: f32, feedback: f32) -> Params {
        Params {
            enabled: true,
            left_time,
            right_time,
            left_feedback: feedback,
            right_feedback: feedback,
            mix: 100.0,
            ..Params::default()
        }
    }

    fn prepared(params: &Params) -> StereoDelay {
        let mut delay = StereoDelay::new(params);
        delay.prepare(&ProcessSpec::stereo(FS, 1024));
        delay
    }

    fn first_echo(signal: &[f32]) -> Option<usize> {
        signal.iter().position(|y| y.abs() > 1e-6)
    }

    /// Each side repeats after its own time, and synced times (dotted and triplet too) are the
    /// note value at the tempo, to the sample.
    #[test]
    fn each_side_keeps_its_time_to_the_sample() {
        let mut input = vec![0.0; 100_000];
        input[0] = 1.0;
        let mut delay = prepared(&wet(250.0, 375.0, 0.0));
        let (left, right) = render_stereo(&mut delay, &input, &input, 64);
        assert_eq!(first_echo(&left), Some(12_000));
        assert_eq!(first_echo(&right), Some(18_000));
        assert_eq!(left[12_000], 1.0);

        for (bpm, left_note, right_note) in [
            (120.0, "1/4", "1/4D"),
            (97.0, "1/8T", "1/16D"),
            (140.0, "1/2T", "1/8"),
        ] {
            let (ln, rn) = (
                Subdivision::parse(left_note).unwrap(),
                Subdivision::parse(right_note).unwrap(),
            );
            let mut delay = prepared(&Params {
                tempo_sync: true,
                left_subdivision: ln,
                right_subdivision: rn,
                ..wet(250.0, 375.0, 0.0)
            });
            delay.set_context(&RoomContext {
                tempo_bpm: bpm,
                ..RoomContext::default()
            });
            delay.reset();
            let expected = |note: Subdivision| (note.beats() * 60.0 / bpm * FS).round() as usize;
            let (left, right) = render_stereo(&mut delay, &input, &input, 64);
            println!(
                "{bpm} BPM {left_note}/{right_note}: echoes at {:?}/{:?}, expected {}/{}",
                first_echo(&left),
                first_echo(&right),
                expected(ln),
                expected(rn)
            );
            assert_eq!(first_echo(&left), Some(expected(ln)));
            assert_eq!(first_echo(&right), Some(expected(rn)));
        }
    }

    /// Full cross-feed sends a left-only impulse's repeat to the right line: the right channel
    /// hears it after the left time plus the right time. The legacy `crossFeedback` does the
    /// same while `crossFeed` is 0.
    #[test]
    fn cross_feed_moves_repeats_across() {
        let mut left_only = vec![0.0; 40_000];
        left_only[0] = 1.0;
        let silence = vec![0.0; 40_000];
        for params in [
            Params {
                cross_feed: 100.0,
                ..wet(100.0, 150.0, 50.0)
            },
            Params {
                cross_feedback: 100.0,
                ..wet(100.0, 150.0, 50.0)
            },
        ] {
            let mut delay = prepared(&params);
            let (left, right) = render_stereo(&mut delay, &left_only, &silence, 64);
            assert_eq!(first_echo(&left), Some(4_800));
            assert_eq!(first_echo(&right), Some(4_800 + 7_200));
            // Nothing of the first repeat went back into the left line.
            assert!(left[9_600].abs() < 1e-6);
        }
    }

    /// Ping-pong: a centred impulse repeats left, then right (left time + right time), then
    /// left again.
    #[test]
    fn ping_pong_alternates() {
        let mut input = vec![0.0; 40_000];
        input[0] = 1.0;
        let mut delay = prepared(&Params {
            ping_pong: true,
            ..wet(100.0, 150.0, 50.0)
        });
        let (left, right) = render_stereo(&mut delay, &input, &input, 64);
        // The strongest sample of each channel within a window (the repeats after the first
        // are filtered, so they spread over a few samples).
        let peak_at = |x: &[f32], from: usize, to: usize| {
            (from..to)
                .max_by(|&a, &b| x[a].abs().total_cmp(&x[b].abs()))
                .unwrap()
        };
        assert_eq!(first_echo(&left), Some(4_800));
        assert_eq!(first_echo(&right), Some(12_000));
        // The filters' group delay moves a filtered repeat's peak by a sample or two.
        assert!(peak_at(&left, 5_000, 20_000).abs_diff(16_800) <= 2);
        assert!(peak_at(&right, 12_100, 30_000).abs_diff(24_000) <= 2);
        assert!(left[5_000..16_790].iter().all(|y| y.abs() < 1e-6));
    }

    /// The largest settings (feedback 100 % on both sides, any cross-feed) decay steadily.
    #[test]
    fn maximum_feedback_never_runs_away() {
        for cross in [0.0, 50.0, 100.0] {
            for ping_pong in [false, true] {
                let mut delay = prepared(&Params {
                    cross_feed: cross,
                    ping_pong,
                    tone: 100.0,
                    high_cut: 20_000.0,
                    low_cut: 20.0,
                    ..wet(300.0, 450.0, 100.0)
                });
                let mut rng = Noise::new(8);
                let second = FS as usize;
                let mut input: Vec<f32> = (0..second).map(|_| rng.next_f64() as f32).collect();
                input.resize(31 * second, 0.0);
                let (left, right) = render_stereo(&mut delay, &input, &input, 256);
                let energy: Vec<f64> = (1..31)
                    .map(|s| {
                        let w = s * second..(s + 1) * second;
                        left[w.clone()]
                            .iter()
                            .chain(&right[w])
                            .map(|&y| f64::from(y).powi(2))
                            .sum()
                    })
                    .collect();
                let fall_db = 10.0 * (energy[29] / energy[0]).log10();
                println!("cross {cross} ping-pong {ping_pong}: 30 s later {fall_db:.1} dB");
                assert!(energy.windows(2).all(|w| w[1] <= w[0] * 1.05), "{energy:?}");
                assert!(fall_db < -10.0, "{fall_db}");
            }
        }
    }
}
