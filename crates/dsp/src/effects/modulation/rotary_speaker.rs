//! The rotary speaker (docs/effects.md §3 #20): a Leslie cabinet. The mono sum is (optionally)
//! driven, split at 800 Hz (LR4) into a treble horn and a bass drum that rotate, each heard by
//! two microphones on opposite sides (left and right 180° apart): every rotor moves its sound
//! towards and away from each microphone (Doppler) and turns its beam past it (amplitude
//! modulation).
//!
//! Constants from setBfree (docs/effects.md §2.9): horn radius 19.2 cm, drum 22 cm, c = 340 m/s;
//! speed-change time constants horn 0.161 s up / 0.321 s down, drum 4.127 s up / 1.371 s down
//! (at `acceleration` 50; each 50 points away scales them by 4, so 0 is four times slower and
//! 100 four times faster). The horn turns at `slowRate` or `fastRate`; the drum at 0.85× the
//! horn's target (setBfree's drum/horn ratio is 0.84–0.89), each gliding there
//! exponentially with its own time constant, so on a switch the horn arrives in about half a
//! second and the drum takes seconds, the Leslie's signature.
//!
//! Doppler: with the microphone far compared to the radius, the path from a rotor at angle θ is
//! d − r·cos θ, so each microphone reads its rotor's line at a delay of (r/c)·(1 − cos θ) plus
//! two samples: a swing of ±r/c = ±0.56 ms (horn) and ±0.65 ms (drum), inside the ≤ 1.5 ms and
//! ≤ 3 ms of docs/effects.md §3 #20, and a peak frequency deviation of 2π·f_rot·r/c (2.5 % at 7
//! Hz). The beam faces a microphone when the rotor is closest to it: gain 1 − m·½·(1 − cos θ), m
//! the AM depth, 0.8 → 0.3 for the horn and 0.5 → 0.2 for the drum as `distance` goes 0 → 100 (a
//! far microphone hears more of the room and less of the beam). Reads are cubic Hermite.
//!
//! Speeds: `slow` and `fast` as above; `stop` switches the motors off, and the rotors coast
//! down with the deceleration time constants; `brake` stops them within ~0.1 s (τ = 30 ms). A
//! stopped rotor stays where it stopped. `drive` (0…100) saturates the input before the
//! crossover ((1 − d)·x + d·tanh((1 + 9d)·x)), the overdriven Leslie preamp; it runs at the base
//! rate (a colour, not a distortion effect). Horn and drum levels and the mix glide over 20 ms.

use crate::automation::Kind;
use crate::blocks::crossover::TwoBand;
use crate::blocks::delay::DelayLine;
use crate::blocks::envelope::time_constant_coef;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use crate::effects::drive::shaper;
use crate::effects::modulation::{sine, wrap};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "rotarySpeaker";

/// Declared range of [`Params::slow_rate`] (Hz).
pub const SLOW_RATE_RANGE: RangeInclusive<f32> = 0.5..=2.0;
/// Declared range of [`Params::fast_rate`] (Hz).
pub const FAST_RATE_RANGE: RangeInclusive<f32> = 5.0..=10.0;
/// Declared range of the 0…100 parameters (%).
pub const PERCENT_RANGE: RangeInclusive<f32> = 0.0..=100.0;

/// Crossover between drum and horn (Hz).
pub const CROSSOVER_HZ: f64 = 800.0;
/// Horn radius (m).
pub const HORN_RADIUS_M: f64 = 0.192;
/// Drum radius (m).
pub const DRUM_RADIUS_M: f64 = 0.22;
/// Speed of sound (m/s).
pub const SPEED_OF_SOUND: f64 = 340.0;
/// The drum's rate relative to the horn's.
pub const DRUM_RATIO: f64 = 0.85;
/// Horn acceleration time constant (s, setBfree).
pub const HORN_ACCEL_S: f64 = 0.161;
/// Horn deceleration time constant (s).
pub const HORN_DECEL_S: f64 = 0.321;
/// Drum acceleration time constant (s).
pub const DRUM_ACCEL_S: f64 = 4.127;
/// Drum deceleration time constant (s).
pub const DRUM_DECEL_S: f64 = 1.371;
/// The brake's time constant (s).
const BRAKE_S: f64 = 0.03;
/// The delay at the rotor's closest point, in samples.
const MIN_DELAY_SAMPLES: f64 = 2.0;
/// Levels, mix and drive glide over this time constant.
const LEVEL_SMOOTHING_S: f64 = 0.02;

/// The rotors' speed setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speed {
    /// Motors off: the rotors coast to a stop.
    Stop,
    /// Chorale: `slowRate`.
    #[default]
    Slow,
    /// Tremolo: `fastRate`.
    Fast,
    /// Braked: the rotors stop at once.
    Brake,
}

crate::host_choice!(Speed {
    Stop => "Stop",
    Slow => "Slow",
    Fast => "Fast",
    Brake => "Brake",
});

/// The rotary speaker's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Speed setting (default slow).
    pub speed: Speed,
    /// Horn rate when slow, Hz, 0.5…2 (default 0.8).
    pub slow_rate: f32,
    /// Horn rate when fast, Hz, 5…10 (default 6).
    pub fast_rate: f32,
    /// Speed-change briskness 0…100 (default 50: setBfree's time constants).
    pub acceleration: f32,
    /// Horn level in %, 0…100 (default 100).
    pub horn_level: f32,
    /// Drum level in %, 0…100 (default 100).
    pub drum_level: f32,
    /// Microphone distance 0…100 (default 50): farther is less amplitude modulation.
    pub distance: f32,
    /// Preamp drive 0…100 (default 0).
    pub drive: f32,
    /// Wet share in %, 0…100 (default 100).
    pub mix: f32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            speed: Speed::Slow,
            slow_rate: 0.8,
            fast_rate: 6.0,
            acceleration: 50.0,
            horn_level: 100.0,
            drum_level: 100.0,
            distance: 50.0,
            drive: 0.0,
            mix: 100.0,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            speed: self.speed,
            slow_rate: clamp_param(self.slow_rate, SLOW_RATE_RANGE, d.slow_rate),
            fast_rate: clamp_param(self.fast_rate, FAST_RATE_RANGE, d.fast_rate),
            acceleration: clamp_param(self.acceleration, PERCENT_RANGE, d.acceleration),
            horn_level: clamp_param(self.horn_level, PERCENT_RANGE, d.horn_level),
            drum_level: clamp_param(self.drum_level, PERCENT_RANGE, d.drum_level),
            distance: clamp_param(self.distance, PERCENT_RANGE, d.distance),
            drive: clamp_param(self.drive, PERCENT_RANGE, d.drive),
            mix: clamp_param(self.mix, PERCENT_RANGE, d.mix),
        }
    }

    /// The horn's target rate in Hz (0 when stopping or braked).
    pub fn horn_target_hz(&self) -> f64 {
        match self.speed {
            Speed::Slow => f64::from(self.slow_rate),
            Speed::Fast => f64::from(self.fast_rate),
            Speed::Stop | Speed::Brake => 0.0,
        }
    }

    /// The factor on setBfree's time constants: 4^((50 − acceleration)/50).
    pub fn time_scale(&self) -> f64 {
        4f64.powf((50.0 - f64::from(self.acceleration)) / 50.0)
    }
}

crate::automatable!(Params {
    [speed] "speed", "Speed", Kind::choice::<Speed>();
    [slow_rate] "slowRate", "Slow Rate", Kind::linear(SLOW_RATE_RANGE, "Hz");
    [fast_rate] "fastRate", "Fast Rate", Kind::linear(FAST_RATE_RANGE, "Hz");
    [acceleration] "acceleration", "Acceleration", Kind::linear(PERCENT_RANGE, "%");
    [horn_level] "hornLevel", "Horn Level", Kind::linear(PERCENT_RANGE, "%");
    [drum_level] "drumLevel", "Drum Level", Kind::linear(PERCENT_RANGE, "%");
    [distance] "distance", "Distance", Kind::linear(PERCENT_RANGE, "%");
    [drive] "drive", "Drive", Kind::linear(PERCENT_RANGE, "%");
    [mix] "mix", "Mix", Kind::linear(PERCENT_RANGE, "%");
});

/// One rotor: its line, its rate and angle, and how it speeds up and slows down.
#[derive(Clone, Debug)]
struct Rotor {
    line: DelayLine,
    /// Turns per second, and the target.
    rate: f64,
    target: f64,
    /// Angle in turns, 0…1.
    phase: f64,
    /// Per-sample approach coefficients (1 − e^(−1/τfs)) up and down.
    accel: f64,
    decel: f64,
    /// The delay swing r/c in samples.
    swing: f64,
}

impl Rotor {
    fn new(radius: f64, sample_rate: f64) -> Self {
        Self {
            line: DelayLine::new(),
            rate: 0.0,
            target: 0.0,
            phase: 0.0,
            accel: 0.0,
            decel: 0.0,
            swing: radius / SPEED_OF_SOUND * sample_rate,
        }
    }

    fn set_times(&mut self, accel_s: f64, decel_s: f64, sample_rate: f64) {
        self.accel = 1.0 - time_constant_coef(accel_s, sample_rate);
        self.decel = 1.0 - time_constant_coef(decel_s, sample_rate);
    }

    /// Advances the rate and angle one sample (`period` = 1/fs); returns cos θ at this sample.
    #[inline]
    fn turn(&mut self, period: f64) -> f32 {
        let cos = sine(wrap(self.phase + 0.25));
        let step = if self.target > self.rate {
            self.accel
        } else {
            self.decel
        };
        self.rate += step * (self.target - self.rate);
        self.phase += self.rate * period;
        if self.phase >= 1.0 {
            self.phase -= 1.0;
        }
        cos
    }

    /// The two microphones' samples (before AM), θ and θ + π.
    #[inline]
    fn hear(&self, cos: f32) -> (f32, f32) {
        let swing = self.swing as f32;
        let centre = MIN_DELAY_SAMPLES as f32 + swing;
        (
            self.line.read_hermite(centre - swing * cos),
            self.line.read_hermite(centre + swing * cos),
        )
    }
}

/// The rotary speaker. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct RotarySpeaker {
    params: Params,
    sample_rate: f64,
    crossover: TwoBand,
    horn: Rotor,
    drum: Rotor,
    horn_level: OnePole,
    drum_level: OnePole,
    mix: OnePole,
    drive: OnePole,
}

impl RotarySpeaker {
    /// A rotary speaker with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let sample_rate = 48_000.0;
        let mut rotary = Self {
            params: params.clamped(),
            sample_rate,
            crossover: TwoBand::new(CROSSOVER_HZ, sample_rate),
            horn: Rotor::new(HORN_RADIUS_M, sample_rate),
            drum: Rotor::new(DRUM_RADIUS_M, sample_rate),
            horn_level: OnePole::new(0.0, LEVEL_SMOOTHING_S, sample_rate),
            drum_level: OnePole::new(0.0, LEVEL_SMOOTHING_S, sample_rate),
            mix: OnePole::new(0.0, LEVEL_SMOOTHING_S, sample_rate),
            drive: OnePole::new(0.0, LEVEL_SMOOTHING_S, sample_rate),
        };
        rotary.prepare(&ProcessSpec::stereo(sample_rate, 1));
        rotary
    }

    /// Applies new parameters (clamped): a speed change accelerates or decelerates the
    /// rotors with their time constants, levels glide. Switching on starts at the set speed.
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

    /// The horn's rate now (turns per second).
    pub fn horn_rate_hz(&self) -> f64 {
        self.horn.rate
    }

    /// The drum's rate now (turns per second).
    pub fn drum_rate_hz(&self) -> f64 {
        self.drum.rate
    }

    fn levels(&self) -> [f32; 4] {
        let p = &self.params;
        [
            p.horn_level / 100.0,
            p.drum_level / 100.0,
            p.mix / 100.0,
            p.drive / 100.0,
        ]
    }

    fn update(&mut self) {
        let fs = self.sample_rate;
        let horn_target = self.params.horn_target_hz();
        self.horn.target = horn_target;
        self.drum.target = DRUM_RATIO * horn_target;
        if self.params.speed == Speed::Brake {
            self.horn.set_times(BRAKE_S, BRAKE_S, fs);
            self.drum.set_times(BRAKE_S, BRAKE_S, fs);
        } else {
            let scale = self.params.time_scale();
            self.horn
                .set_times(HORN_ACCEL_S * scale, HORN_DECEL_S * scale, fs);
            self.drum
                .set_times(DRUM_ACCEL_S * scale, DRUM_DECEL_S * scale, fs);
        }
        let [horn, drum, mix, drive] = self.levels();
        self.horn_level.set_target(horn);
        self.drum_level.set_target(drum);
        self.mix.set_target(mix);
        self.drive.set_target(drive);
    }

    /// AM depths (horn, drum) at the set distance.
    fn am_depths(&self) -> (f32, f32) {
        let distance = self.params.distance / 100.0;
        (0.8 - 0.5 * distance, 0.5 - 0.3 * distance)
    }
}

impl Effect for RotarySpeaker {
    fn prepare(&mut self, spec: &ProcessSpec) {
        let fs = spec.sample_rate;
        self.sample_rate = fs;
        self.crossover = TwoBand::new(CROSSOVER_HZ, fs);
        self.horn = Rotor::new(HORN_RADIUS_M, fs);
        self.drum = Rotor::new(DRUM_RADIUS_M, fs);
        for rotor in [&mut self.horn, &mut self.drum] {
            rotor
                .line
                .prepare((2.0 * rotor.swing + MIN_DELAY_SAMPLES).ceil() as usize + 4);
        }
        for smoother in [
            &mut self.horn_level,
            &mut self.drum_level,
            &mut self.mix,
            &mut self.drive,
        ] {
            smoother.set_time(LEVEL_SMOOTHING_S, fs);
        }
        self.update();
        self.reset();
    }

    fn reset(&mut self) {
        self.crossover.reset();
        for rotor in [&mut self.horn, &mut self.drum] {
            rotor.line.reset();
            rotor.rate = rotor.target;
            rotor.phase = 0.0;
        }
        let [horn, drum, mix, drive] = self.levels();
        self.horn_level.reset_to(horn);
        self.drum_level.reset_to(drum);
        self.mix.reset_to(mix);
        self.drive.reset_to(drive);
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let period = 1.0 / self.sample_rate;
        let (am_horn, am_drum) = self.am_depths();
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let drive = self.drive.next_value();
            let mut mono = 0.5 * (*l + *r);
            if drive > 0.0 {
                mono = (1.0 - drive) * mono + drive * shaper::tanh((1.0 + 9.0 * drive) * mono);
            }
            let [low, high] = self.crossover.process_sample(mono);
            self.horn.line.push(high);
            self.drum.line.push(low);
            let cos_horn = self.horn.turn(period);
            let cos_drum = self.drum.turn(period);
            let (horn_l, horn_r) = self.horn.hear(cos_horn);
            let (drum_l, drum_r) = self.drum.hear(cos_drum);
            let horn_level = self.horn_level.next_value();
            let drum_level = self.drum_level.next_value();
            let (am_h, am_d) = (0.5 * am_horn, 0.5 * am_drum);
            let wet_l = horn_level * (1.0 - am_h * (1.0 - cos_horn)) * horn_l
                + drum_level * (1.0 - am_d * (1.0 - cos_drum)) * drum_l;
            let wet_r = horn_level * (1.0 - am_h * (1.0 + cos_horn)) * horn_r
                + drum_level * (1.0 - am_d * (1.0 + cos_drum)) * drum_r;
            let mix = self.mix.next_value();
            *l = mix * wet_l + (1.0 - mix) * *l;
            *r = mix * wet_r + (1.0 - mix) * *r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::effects::modulation::measure::{
        frame_peaks, instantaneous_frequency, period, sinusoid_fit, swing_rate,
    };
    use crate::test_support::{FS, render_mono, render_stereo, sine as tone};
    use std::f64::consts::TAU;

    conformance_tests!(RotarySpeaker {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] =
            &[("/speed", &["stop", "slow", "fast", "brake"])];
    });

    #[test]
    fn host_parameters_reach_their_json_fields() {
        crate::automation::check::specs_are_consistent::<Params>();
    }

    fn enabled(speed: Speed, horn_level: f32, drum_level: f32) -> Params {
        Params {
            enabled: true,
            speed,
            horn_level,
            drum_level,
            ..Params::default()
        }
    }

    /// The rotation rate of one rotor from the left channel's envelope on a tone in its band.
    fn envelope_rate(params: &Params, tone_hz: f64, expected: f64, seconds: usize) -> f64 {
        let mut rotary = RotarySpeaker::prepared(params);
        let input = tone(tone_hz, 0.5, seconds * FS as usize, FS);
        let left = render_mono(&mut rotary, &input, 256);
        // Frames of whole periods of the tone, so each frame's peak follows the AM.
        let frame = (FS / tone_hz).round() as usize;
        let envelope = frame_peaks(&left, frame);
        let frames_per_turn = FS / frame as f64 / expected;
        let lag = period(
            &envelope,
            (frames_per_turn * 0.8) as usize,
            (frames_per_turn * 1.2) as usize,
        );
        FS / frame as f64 / lag
    }

    /// docs/effects.md §1 #22: the horn turns at slowRate/fastRate and the drum at 0.85× that, ±1
    /// %, measured on the amplitude modulation of a tone in each band (4 kHz horn, 150 Hz drum).
    #[test]
    fn rotors_turn_at_their_rates() {
        for (speed, slow, fast) in [
            (Speed::Slow, 0.8, 6.0),
            (Speed::Fast, 0.8, 6.0),
            (Speed::Fast, 1.5, 9.0),
            (Speed::Slow, 2.0, 5.0),
        ] {
            let params = Params {
                slow_rate: slow,
                fast_rate: fast,
                ..enabled(speed, 100.0, 0.0)
            };
            let horn = params.horn_target_hz();
            let seconds = (8.0 / (DRUM_RATIO * horn)).ceil() as usize + 1;
            let horn_measured = envelope_rate(&params, 4_000.0, horn, seconds);
            let drum_params = Params {
                horn_level: 0.0,
                drum_level: 100.0,
                ..params
            };
            let drum = DRUM_RATIO * horn;
            let drum_measured = envelope_rate(&drum_params, 150.0, drum, seconds);
            println!(
                "rotary {speed:?}: horn {horn_measured:.4} Hz (set {horn}), drum \
                 {drum_measured:.4} Hz (expected {drum:.3})"
            );
            assert!((horn_measured / horn - 1.0).abs() < 0.01);
            assert!((drum_measured / drum - 1.0).abs() < 0.01);
        }
    }

    /// The time a rotor takes to cover 63 % of a speed change (s).
    fn time_constant(from: Speed, to: Speed, acceleration: f32, drum: bool) -> f64 {
        let params = Params {
            acceleration,
            ..enabled(from, 100.0, 100.0)
        };
        let mut rotary = RotarySpeaker::prepared(&params);
        let rate = |r: &RotarySpeaker| {
            if drum {
                r.drum_rate_hz()
            } else {
                r.horn_rate_hz()
            }
        };
        let start = rate(&rotary);
        rotary.set_params(&Params {
            speed: to,
            ..params
        });
        let end = if drum { DRUM_RATIO } else { 1.0 } * rotary.params().horn_target_hz();
        let goal = start + (1.0 - (-1.0f64).exp()) * (end - start);
        let block = [0.0f32; 16];
        for n in 0..(40.0 * FS) as usize / 16 {
            render_mono(&mut rotary, &block, 16);
            let now = rate(&rotary);
            if (end - goal) * (now - goal) >= 0.0 {
                return (n + 1) as f64 * 16.0 / FS;
            }
        }
        f64::INFINITY
    }

    /// docs/effects.md §1 #22: speed changes follow setBfree's time constants ±10 % at acceleration
    /// 50 (horn 0.161/0.321 s, drum 4.127/1.371 s), four times faster at 100.
    #[test]
    fn speed_changes_follow_the_setbfree_time_constants() {
        for (acceleration, scale) in [(50.0, 1.0), (100.0, 0.25)] {
            for (drum, up, down) in [
                (false, HORN_ACCEL_S, HORN_DECEL_S),
                (true, DRUM_ACCEL_S, DRUM_DECEL_S),
            ] {
                let measured_up = time_constant(Speed::Slow, Speed::Fast, acceleration, drum);
                let measured_down = time_constant(Speed::Fast, Speed::Slow, acceleration, drum);
                let (up, down) = (up * scale, down * scale);
                println!(
                    "rotary {} acceleration {acceleration}: τ up {measured_up:.4} s (setBfree \
                     {up:.4}), down {measured_down:.4} s ({down:.4})",
                    if drum { "drum" } else { "horn" }
                );
                assert!((measured_up / up - 1.0).abs() < 0.1);
                assert!((measured_down / down - 1.0).abs() < 0.1);
            }
        }
        // Stop coasts with the deceleration constant; the brake halts within 0.15 s.
        let coast = time_constant(Speed::Fast, Speed::Stop, 50.0, false);
        assert!((coast / HORN_DECEL_S - 1.0).abs() < 0.1, "{coast}");
        let braked = time_constant(Speed::Fast, Speed::Brake, 50.0, true);
        assert!(braked < 0.05, "{braked}");
    }

    /// docs/effects.md §1 #22, Doppler consistent with the radius: a 4 kHz tone through the horn at
    /// fast speed swings by f₀·2π·f_rot·r/c (±5 %) at the rotation rate; the right
    /// microphone hears the opposite swing.
    #[test]
    fn the_horn_doppler_matches_its_radius() {
        for fast in [6.0, 9.0] {
            let params = Params {
                fast_rate: fast,
                ..enabled(Speed::Fast, 100.0, 0.0)
            };
            let mut rotary = RotarySpeaker::prepared(&params);
            let input = tone(4_000.0, 0.5, 4 * FS as usize, FS);
            let (left, right) = render_stereo(&mut rotary, &input, &input, 256);
            let series = instantaneous_frequency(&left[4_800..], FS);
            let rate = swing_rate(&series);
            let (mean, amplitude) = sinusoid_fit(&series, rate);
            let expected = 4_000.0 * TAU * f64::from(fast) * HORN_RADIUS_M / SPEED_OF_SOUND;
            println!(
                "rotary horn {fast} Hz: rate {rate:.4} Hz, Doppler ±{amplitude:.2} Hz (radius \
                 19.2 cm predicts ±{expected:.2}), mean {mean:.2} Hz"
            );
            assert!((rate / f64::from(fast) - 1.0).abs() < 0.01);
            assert!((amplitude / expected - 1.0).abs() < 0.05);
            // Left and right swing in opposition: their sum stays near 2·f₀.
            let right_series = instantaneous_frequency(&right[4_800..], FS);
            let n = series.len().min(right_series.len());
            let worst = (0..n)
                .map(|i| (series[i].1 + right_series[i].1 - 8_000.0).abs())
                .fold(0.0, f64::max);
            assert!(worst < 0.2 * amplitude, "{worst}");
        }
    }

    /// Distance lowers the amplitude modulation; the drive saturates; mix 0 and disabled are
    /// the input itself.
    #[test]
    fn distance_drive_mix_and_bypass() {
        let am = |distance: f32| {
            let params = Params {
                distance,
                ..enabled(Speed::Fast, 100.0, 0.0)
            };
            let mut rotary = RotarySpeaker::prepared(&params);
            let input = tone(4_000.0, 0.5, FS as usize, FS);
            let envelope = frame_peaks(&render_mono(&mut rotary, &input, 256)[4_800..], 12);
            let max = envelope.iter().cloned().fold(0.0, f64::max);
            let min = envelope.iter().cloned().fold(1.0, f64::min);
            1.0 - min / max
        };
        let (near, far) = (am(0.0), am(100.0));
        println!("rotary horn AM depth: near {near:.3}, far {far:.3}");
        assert!((near - 0.8).abs() < 0.03 && (far - 0.3).abs() < 0.03);

        let input = tone(440.0, 0.8, 4_800, FS);
        let mut dry = RotarySpeaker::prepared(&Params {
            mix: 0.0,
            drive: 100.0,
            ..enabled(Speed::Fast, 100.0, 100.0)
        });
        assert_eq!(render_mono(&mut dry, &input, 64), input);
        let mut disabled = RotarySpeaker::prepared(&Params::default());
        assert_eq!(render_mono(&mut disabled, &input, 64), input);
    }

    #[test]
    fn params_use_the_reference_json_keys_and_clamp() {
        let json = serde_json::to_value(Params::default()).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "acceleration",
                "distance",
                "drive",
                "drumLevel",
                "enabled",
                "fastRate",
                "hornLevel",
                "mix",
                "slowRate",
                "speed"
            ]
        );
        let parsed: Params = serde_json::from_str(r#"{"speed": "brake"}"#).unwrap();
        assert_eq!(parsed.speed, Speed::Brake);
        let wild = Params {
            slow_rate: 9.0,
            fast_rate: f32::NAN,
            acceleration: -5.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!(
            (wild.slow_rate, wild.fast_rate, wild.acceleration),
            (2.0, 6.0, 0.0)
        );
    }
}
