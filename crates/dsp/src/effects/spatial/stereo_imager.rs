//! The stereo imager (docs/effects.md §3 #34): mid/side width, mid and side levels, a low/high
//! split of the width, bass mono, centre emphasis and balance.
//!
//! Everything acts on the side signal S = (L − R)/2 except the mid level, centre and balance,
//! so at unity mid level, centre 0 and balance 0 the mono sum L + R is untouched at any width
//! (mono compatibility). The band-limited stages (low/high width, bass mono) split S with an
//! LR4 crossover: low = LP4(S), high = HP4(S), low + high = AP(S), written as
//! `g_high·AP(S) + (g_low − g_high)·LP4(S)`. The mid goes through the same all-pass so mid and
//! side stay phase-aligned (the whole image is phase-shifted coherently, magnitude flat). A
//! stage whose two gains agree is disengaged (plain gain, no all-pass), crossfading over
//! 20 ms between the two paths, so neutral settings are bit exact and engaging a
//! stage cannot click. Every factor glides.

use super::super::{clamp_param, db_to_gain};
use crate::automation::Kind as HostKind;
use crate::blocks::biquad::{Design, Kind, Smoothed};
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use serde::{Deserialize, Serialize};
use std::f64::consts::FRAC_1_SQRT_2;
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "stereoImager";

/// Declared range of the widths (%; 100 = unchanged).
pub const WIDTH_RANGE: RangeInclusive<f32> = 0.0..=200.0;
/// Declared range of the mid and side levels (dB).
pub const LEVEL_RANGE: RangeInclusive<f32> = -12.0..=12.0;
/// Declared range of the bass-mono corner (Hz).
pub const BASS_MONO_FREQ_RANGE: RangeInclusive<f32> = 20.0..=500.0;
/// Declared range of the bass-mono amount (%).
pub const AMOUNT_RANGE: RangeInclusive<f32> = 0.0..=100.0;
/// Declared range of balance and centre (±100).
pub const BIPOLAR_RANGE: RangeInclusive<f32> = -100.0..=100.0;
/// Range of the legacy width crossover (Hz).
pub const CROSSOVER_RANGE: RangeInclusive<f32> = 20.0..=5_000.0;

/// Glide time of every factor.
const GLIDE_SECONDS: f64 = 0.02;

/// The imager's parameters. A partial update fills missing fields from [`Params::default`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Side level in %, 0 (mono) … 200 (default 100 = unchanged).
    pub width: f32,
    /// Mid level, dB ±12 (default 0).
    pub mid_level: f32,
    /// Side level, dB ±12 (default 0).
    pub side_level: f32,
    /// Side below this is made mono by `bassMonoAmount`, Hz (default 100).
    pub bass_mono_freq: f32,
    /// How much of the side below `bassMonoFreq` is removed, % (default 0).
    pub bass_mono_amount: f32,
    /// −100 (left only) … +100 (right only), default 0.
    pub balance: f32,
    /// Legacy: +100 keeps only the mid, −100 only the side (default 0).
    pub center: f32,
    /// Legacy: width of the side below `crossover`, % (default 100).
    pub low_width: f32,
    /// Legacy: width of the side above `crossover`, % (default 100).
    pub high_width: f32,
    /// Legacy: the low/high width split, Hz (default 300).
    pub crossover: f32,
    /// Legacy: bass mono on (used when `bassMonoAmount` is 0).
    pub mono_bass: bool,
    /// Legacy: bass-mono corner for `monoBass`, Hz (default 100).
    pub mono_bass_freq: f32,
}

// The legacy fields (centre, low/high width, crossover, monoBass) are preset compatibility and
// are not offered to hosts (docs/effects.md §3 #34).
crate::automatable!(Params {
    [width] "width", "Width", HostKind::linear(WIDTH_RANGE, "%");
    [mid_level] "midLevel", "Mid Level", HostKind::linear(LEVEL_RANGE, "dB");
    [side_level] "sideLevel", "Side Level", HostKind::linear(LEVEL_RANGE, "dB");
    [bass_mono_freq] "bassMonoFreq", "Bass Mono Frequency", HostKind::logarithmic(BASS_MONO_FREQ_RANGE, "Hz");
    [bass_mono_amount] "bassMonoAmount", "Bass Mono Amount", HostKind::linear(AMOUNT_RANGE, "%");
    [balance] "balance", "Balance", HostKind::linear(BIPOLAR_RANGE, "");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            width: 100.0,
            mid_level: 0.0,
            side_level: 0.0,
            bass_mono_freq: 100.0,
            bass_mono_amount: 0.0,
            balance: 0.0,
            center: 0.0,
            low_width: 100.0,
            high_width: 100.0,
            crossover: 300.0,
            mono_bass: false,
            mono_bass_freq: 100.0,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            width: clamp_param(self.width, WIDTH_RANGE, d.width),
            mid_level: clamp_param(self.mid_level, LEVEL_RANGE, d.mid_level),
            side_level: clamp_param(self.side_level, LEVEL_RANGE, d.side_level),
            bass_mono_freq: clamp_param(
                self.bass_mono_freq,
                BASS_MONO_FREQ_RANGE,
                d.bass_mono_freq,
            ),
            bass_mono_amount: clamp_param(self.bass_mono_amount, AMOUNT_RANGE, d.bass_mono_amount),
            balance: clamp_param(self.balance, BIPOLAR_RANGE, d.balance),
            center: clamp_param(self.center, BIPOLAR_RANGE, d.center),
            low_width: clamp_param(self.low_width, WIDTH_RANGE, d.low_width),
            high_width: clamp_param(self.high_width, WIDTH_RANGE, d.high_width),
            crossover: clamp_param(self.crossover, CROSSOVER_RANGE, d.crossover),
            mono_bass: self.mono_bass,
            mono_bass_freq: clamp_param(
                self.mono_bass_freq,
                BASS_MONO_FREQ_RANGE,
                d.mono_bass_freq,
            ),
        }
    }

    /// (amount 0…1, corner Hz) of bass mono, the legacy switch standing in when the amount is 0.
    fn bass_mono(&self) -> (f32, f32) {
        if self.bass_mono_amount == 0.0 && self.mono_bass {
            (1.0, self.mono_bass_freq)
        } else {
            (self.bass_mono_amount / 100.0, self.bass_mono_freq)
        }
    }
}

/// One band-limited side stage: side gains `g_low` below and `g_high` above an LR4 split, the
/// mid all-passed to match; disengaged (and its filters cleared) while the gains agree.
#[derive(Clone, Debug)]
struct SideSplit {
    mid_allpass: Smoothed,
    side_allpass: Smoothed,
    side_lowpass: [Smoothed; 2],
    /// g_low − g_high.
    difference: OnePole,
    /// 0 = plain path, 1 = split path.
    engaged: OnePole,
}

impl SideSplit {
    fn new(frequency: f32, difference: f32, sample_rate: f64) -> Self {
        let [allpass, lowpass] = Self::designs(frequency);
        let allpass = Smoothed::new(&allpass, sample_rate, GLIDE_SECONDS);
        let lowpass = Smoothed::new(&lowpass, sample_rate, GLIDE_SECONDS);
        let engaged = if difference == 0.0 { 0.0 } else { 1.0 };
        Self {
            mid_allpass: allpass.clone(),
            side_allpass: allpass,
            side_lowpass: [lowpass.clone(), lowpass],
            difference: OnePole::new(difference, GLIDE_SECONDS, sample_rate),
            engaged: OnePole::new(engaged, GLIDE_SECONDS, sample_rate),
        }
    }

    fn designs(frequency: f32) -> [Design; 2] {
        let frequency = f64::from(frequency);
        [
            Design::new(Kind::Allpass, frequency, FRAC_1_SQRT_2),
            Design::new(Kind::Lowpass, frequency, FRAC_1_SQRT_2),
        ]
    }

    fn set(&mut self, frequency: f32, difference: f32) {
        let [allpass, lowpass] = Self::designs(frequency);
        self.mid_allpass.set_target(&allpass);
        self.side_allpass.set_target(&allpass);
        for section in &mut self.side_lowpass {
            section.set_target(&lowpass);
        }
        self.difference.set_target(difference);
        self.engaged
            .set_target(if difference == 0.0 { 0.0 } else { 1.0 });
    }

    fn is_idle(&self) -> bool {
        self.engaged.value() == 0.0 && self.engaged.target() == 0.0
    }

    /// (mid, side) after the stage, `high` being g_high at this sample.
    #[inline]
    fn next(&mut self, mid: f32, side: f32, high: f32) -> (f32, f32) {
        let engaged = self.engaged.next_value();
        let difference = self.difference.next_value();
        if engaged == 0.0 && self.engaged.target() == 0.0 {
            self.mid_allpass.reset();
            self.side_allpass.reset();
            self.side_lowpass.iter_mut().for_each(Smoothed::reset);
            return (mid, high * side);
        }
        let mid_shifted = self.mid_allpass.process_sample(mid);
        let side_shifted = self.side_allpass.process_sample(side);
        let [a, b] = &mut self.side_lowpass;
        let side_low = b.process_sample(a.process_sample(side));
        let plain = 1.0 - engaged;
        (
            plain * mid + engaged * mid_shifted,
            high * (plain * side + engaged * side_shifted) + engaged * difference * side_low,
        )
    }
}

/// The stereo imager.
#[derive(Clone, Debug)]
pub struct StereoImager {
    params: Params,
    sample_rate: f64,
    mid_gain: OnePole,
    side_gain: OnePole,
    high_width: OnePole,
    left_gain: OnePole,
    right_gain: OnePole,
    /// Low/high width split at `crossover`.
    width_split: SideSplit,
    /// Bass mono: side gain 1 − amount below the corner.
    bass_mono: SideSplit,
}

impl StereoImager {
    /// An imager with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let mut imager = Self {
            params: params.clamped(),
            sample_rate: 48_000.0,
            mid_gain: OnePole::new(1.0, GLIDE_SECONDS, 48_000.0),
            side_gain: OnePole::new(1.0, GLIDE_SECONDS, 48_000.0),
            high_width: OnePole::new(1.0, GLIDE_SECONDS, 48_000.0),
            left_gain: OnePole::new(1.0, GLIDE_SECONDS, 48_000.0),
            right_gain: OnePole::new(1.0, GLIDE_SECONDS, 48_000.0),
            width_split: SideSplit::new(300.0, 0.0, 48_000.0),
            bass_mono: SideSplit::new(100.0, 0.0, 48_000.0),
        };
        imager.rebuild();
        imager
    }

    /// Applies new parameters (clamped); every factor glides.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        self.params = params.clamped();
        let t = self.targets();
        self.mid_gain.set_target(t.mid);
        self.side_gain.set_target(t.side);
        self.high_width.set_target(t.high_width);
        self.left_gain.set_target(t.left);
        self.right_gain.set_target(t.right);
        self.width_split.set(self.params.crossover, t.width_split);
        self.bass_mono.set(t.bass_mono_freq, -t.bass_mono);
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }

    fn targets(&self) -> Targets {
        let p = &self.params;
        let center = p.center / 100.0;
        let balance = p.balance / 100.0;
        let (amount, frequency) = p.bass_mono();
        Targets {
            mid: db_to_gain(f64::from(p.mid_level)) as f32 * (1.0 + center).min(1.0),
            side: db_to_gain(f64::from(p.side_level)) as f32 * (1.0 - center).min(1.0) * p.width
                / 100.0,
            high_width: p.high_width / 100.0,
            width_split: (p.low_width - p.high_width) / 100.0,
            left: (1.0 - balance).min(1.0),
            right: (1.0 + balance).min(1.0),
            bass_mono: amount,
            bass_mono_freq: frequency,
        }
    }

    /// Every factor at its target, filters cleared.
    fn rebuild(&mut self) {
        let t = self.targets();
        let rate = self.sample_rate;
        self.mid_gain = OnePole::new(t.mid, GLIDE_SECONDS, rate);
        self.side_gain = OnePole::new(t.side, GLIDE_SECONDS, rate);
        self.high_width = OnePole::new(t.high_width, GLIDE_SECONDS, rate);
        self.left_gain = OnePole::new(t.left, GLIDE_SECONDS, rate);
        self.right_gain = OnePole::new(t.right, GLIDE_SECONDS, rate);
        self.width_split = SideSplit::new(self.params.crossover, t.width_split, rate);
        self.bass_mono = SideSplit::new(t.bass_mono_freq, -t.bass_mono, rate);
    }

    fn is_identity(&self) -> bool {
        [
            &self.mid_gain,
            &self.side_gain,
            &self.high_width,
            &self.left_gain,
            &self.right_gain,
        ]
        .iter()
        .all(|s| s.value() == 1.0 && s.target() == 1.0)
            && self.width_split.is_idle()
            && self.bass_mono.is_idle()
    }
}

struct Targets {
    mid: f32,
    side: f32,
    high_width: f32,
    width_split: f32,
    left: f32,
    right: f32,
    bass_mono: f32,
    bass_mono_freq: f32,
}

impl Effect for StereoImager {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        self.rebuild();
    }

    fn reset(&mut self) {
        self.rebuild();
    }

    fn process(&mut self, block: &mut Block<'_>) {
        // Neutral and settled: exactly the input (M + S would round).
        if !self.params.enabled || self.is_identity() {
            return;
        }
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let mid = 0.5 * (*l + *r);
            let side = 0.5 * (*l - *r);
            let high_width = self.high_width.next_value();
            let (mid, side) = self.width_split.next(mid, side, high_width);
            let (mid, side) = self.bass_mono.next(mid, side, 1.0);
            let side = side * self.side_gain.next_value();
            let mid = mid * self.mid_gain.next_value();
            *l = (mid + side) * self.left_gain.next_value();
            *r = (mid - side) * self.right_gain.next_value();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests, render, residual_db};
    use crate::test_support::{FS, Noise, sine};

    conformance_tests!(StereoImager {
        /// Full-scale side × +12 dB × width 200 × high width 200, plus the mid: about 20.
        const OUTPUT_BOUND: f32 = 40.0;
    });

    fn stereo_noise(seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = Noise::new(seed);
        (0..48_000)
            .map(|_| {
                let common = rng.next_f64() * 0.4;
                (
                    (common + rng.next_f64() * 0.3) as f32,
                    (common + rng.next_f64() * 0.3) as f32,
                )
            })
            .unzip()
    }

    #[test]
    fn width_zero_is_mono_and_width_100_is_the_identity() {
        let (input_left, input_right) = stereo_noise(34);
        let mut imager = StereoImager::prepared(&Params {
            enabled: true,
            width: 0.0,
            ..Params::default()
        });
        let (mut left, mut right) = (input_left.clone(), input_right.clone());
        render(&mut imager, &mut left, &mut right, || 256);
        assert_eq!(left, right, "width 0: L == R");

        let mut imager = StereoImager::prepared(&Params {
            enabled: true,
            ..Params::default()
        });
        let (mut left, mut right) = (input_left.clone(), input_right.clone());
        render(&mut imager, &mut left, &mut right, || 256);
        assert_eq!(
            (left, right),
            (input_left, input_right),
            "width 100: identity"
        );
    }

    /// At unity mid level, centre 0 and balance 0, the mono sum of the output is the input's at
    /// any width and side level (within f32 rounding).
    #[test]
    fn the_mono_sum_does_not_depend_on_width() {
        let (input_left, input_right) = stereo_noise(35);
        let mono_in: Vec<f32> = input_left
            .iter()
            .zip(&input_right)
            .map(|(l, r)| l + r)
            .collect();
        let mut worst = f64::MIN;
        for (width, side_level) in [(0.0f32, 0.0f32), (200.0, 12.0), (150.0, -6.0), (50.0, 3.0)] {
            let mut imager = StereoImager::prepared(&Params {
                enabled: true,
                width,
                side_level,
                ..Params::default()
            });
            let (mut left, mut right) = (input_left.clone(), input_right.clone());
            render(&mut imager, &mut left, &mut right, || 256);
            let mono_out: Vec<f32> = left.iter().zip(&right).map(|(l, r)| l + r).collect();
            worst = worst.max(residual_db(&mono_out, &mono_in));
        }
        println!("mono sum error over widths: worst {worst:.1} dB");
        assert!(worst <= -120.0, "{worst}");
    }

    #[test]
    fn bass_mono_removes_the_side_below_its_corner_only() {
        let side_at = |frequency: f64| {
            let mut imager = StereoImager::prepared(&Params {
                enabled: true,
                bass_mono_amount: 100.0,
                bass_mono_freq: 150.0,
                ..Params::default()
            });
            let tone = sine(frequency, 0.5, 48_000, FS);
            let (mut left, mut right) = (tone.clone(), tone.iter().map(|x| -x).collect::<Vec<_>>());
            render(&mut imager, &mut left, &mut right, || 256);
            let peak = left[24_000..].iter().fold(0.0f32, |m, y| m.max(y.abs()));
            20.0 * f64::from(peak / 0.5).log10()
        };
        let (low, high) = (side_at(30.0), side_at(3_000.0));
        println!("bass mono at 150 Hz: side at 30 Hz {low:.1} dB, at 3 kHz {high:.2} dB");
        assert!(low < -20.0 && high.abs() < 0.1);
    }

    #[test]
    fn params_use_the_reference_keys_and_legacy_mono_bass_stands_in() {
        let json = serde_json::to_value(Params::default()).unwrap();
        for key in [
            "width",
            "midLevel",
            "sideLevel",
            "bassMonoFreq",
            "bassMonoAmount",
            "balance",
            "center",
            "lowWidth",
            "highWidth",
            "crossover",
            "monoBass",
            "monoBassFreq",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        let legacy: Params =
            serde_json::from_str(r#"{"monoBass": true, "monoBassFreq": 200}"#).unwrap();
        assert_eq!(legacy.bass_mono(), (1.0, 200.0));
        let new: Params =
            serde_json::from_str(r#"{"monoBass": true, "bassMonoAmount": 50}"#).unwrap();
        assert_eq!(new.bass_mono(), (0.5, 100.0));
    }
}
