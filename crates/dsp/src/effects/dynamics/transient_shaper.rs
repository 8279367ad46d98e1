//! The transient shaper (docs/effects.md §3 #11 and §2.8): a fast envelope minus a
//! slow one says where the attacks are; `attack` boosts or cuts them, `sustain` the rest.
//!
//! Both followers track max(|L|, |R|) (stereo-linked): the fast one with τ = attackTime·0.1 up
//! and releaseTime·0.5 down, the slow one with attackTime·2 and releaseTime·2 (the reference's
//! ratios). With `d` = fast − slow in dB, the gain is `attack/100 · max(d, 0)` plus
//! `sustain/100 · max(−d, 0)` dB (so ±100 doubles or removes the envelope's own contrast),
//! limited to ±[`MAX_GAIN_DB`]. Attack, sustain and output gain glide, so automation is
//! click-free; with all three neutral the shaper is bit exact.

use super::super::{clamp_param, db_to_gain};
use crate::automation::Kind;
use crate::blocks::envelope::{Detector, Follower};
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "transientShaper";

/// Declared range of [`Params::attack`] and [`Params::sustain`].
pub const AMOUNT_RANGE: RangeInclusive<f32> = -100.0..=100.0;
/// Range of [`Params::attack_time`] (ms).
pub const ATTACK_TIME_RANGE: RangeInclusive<f32> = 0.1..=500.0;
/// Range of [`Params::release_time`] (ms).
pub const RELEASE_TIME_RANGE: RangeInclusive<f32> = 1.0..=5_000.0;
/// Range of [`Params::output_gain`] (dB).
pub const OUTPUT_RANGE: RangeInclusive<f32> = -24.0..=24.0;
/// The shaping gain never exceeds this, either way (dB).
pub const MAX_GAIN_DB: f64 = 24.0;

const GLIDE_SECONDS: f64 = 0.01;
const LEVEL_FLOOR: f64 = 1e-10;

/// The transient shaper's parameters. A partial update fills missing fields from
/// [`Params::default`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Attack emphasis, ±100 (default 0).
    pub attack: f32,
    /// Sustain emphasis, ±100 (default 0).
    pub sustain: f32,
    /// Envelope attack time, ms (default 10).
    pub attack_time: f32,
    /// Envelope release time, ms (default 100).
    pub release_time: f32,
    /// Output gain, dB (default 0; also accepted as `output`).
    #[serde(alias = "output")]
    pub output_gain: f32,
}

crate::automatable!(Params {
    [attack] "attack", "Attack", Kind::linear(AMOUNT_RANGE, "%");
    [sustain] "sustain", "Sustain", Kind::linear(AMOUNT_RANGE, "%");
    [attack_time] "attackTime", "Attack Time", Kind::logarithmic(ATTACK_TIME_RANGE, "ms");
    [release_time] "releaseTime", "Release Time", Kind::logarithmic(RELEASE_TIME_RANGE, "ms");
    [output_gain] "outputGain", "Output Gain", Kind::linear(OUTPUT_RANGE, "dB");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            attack: 0.0,
            sustain: 0.0,
            attack_time: 10.0,
            release_time: 100.0,
            output_gain: 0.0,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let d = Self::default();
        Self {
            enabled: self.enabled,
            attack: clamp_param(self.attack, AMOUNT_RANGE, d.attack),
            sustain: clamp_param(self.sustain, AMOUNT_RANGE, d.sustain),
            attack_time: clamp_param(self.attack_time, ATTACK_TIME_RANGE, d.attack_time),
            release_time: clamp_param(self.release_time, RELEASE_TIME_RANGE, d.release_time),
            output_gain: clamp_param(self.output_gain, OUTPUT_RANGE, d.output_gain),
        }
    }
}

/// The transient shaper.
#[derive(Clone, Debug)]
pub struct TransientShaper {
    params: Params,
    sample_rate: f64,
    fast: Follower,
    slow: Follower,
    attack: OnePole,
    sustain: OnePole,
    output: OnePole,
}

impl TransientShaper {
    /// A shaper with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let follower = Follower::new(Detector::Peak, 0.01, 0.1, 48_000.0);
        let mut effect = Self {
            params: params.clamped(),
            sample_rate: 48_000.0,
            fast: follower.clone(),
            slow: follower,
            attack: OnePole::new(0.0, GLIDE_SECONDS, 48_000.0),
            sustain: OnePole::new(0.0, GLIDE_SECONDS, 48_000.0),
            output: OnePole::new(1.0, GLIDE_SECONDS, 48_000.0),
        };
        effect.rebuild();
        effect
    }

    /// Applies new parameters (clamped); amounts and output gain glide.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        self.params = params.clamped();
        self.set_times();
        self.attack.set_target(self.params.attack / 100.0);
        self.sustain.set_target(self.params.sustain / 100.0);
        self.output
            .set_target(db_to_gain(f64::from(self.params.output_gain)) as f32);
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }

    fn set_times(&mut self) {
        let attack = f64::from(self.params.attack_time) * 1e-3;
        let release = f64::from(self.params.release_time) * 1e-3;
        self.fast
            .set_times(attack * 0.1, release * 0.5, self.sample_rate);
        self.slow
            .set_times(attack * 2.0, release * 2.0, self.sample_rate);
    }

    fn rebuild(&mut self) {
        let rate = self.sample_rate;
        self.set_times();
        self.fast.reset();
        self.slow.reset();
        self.attack = OnePole::new(self.params.attack / 100.0, GLIDE_SECONDS, rate);
        self.sustain = OnePole::new(self.params.sustain / 100.0, GLIDE_SECONDS, rate);
        self.output = OnePole::new(
            db_to_gain(f64::from(self.params.output_gain)) as f32,
            GLIDE_SECONDS,
            rate,
        );
    }
}

impl Effect for TransientShaper {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        self.rebuild();
    }

    fn reset(&mut self) {
        self.rebuild();
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let peak = l.abs().max(r.abs());
            let fast = f64::from(self.fast.process_sample(peak)).max(LEVEL_FLOOR);
            let slow = f64::from(self.slow.process_sample(peak)).max(LEVEL_FLOOR);
            let (attack, sustain) = (self.attack.next_value(), self.sustain.next_value());
            let output = self.output.next_value();
            let gain = if attack == 0.0 && sustain == 0.0 {
                output
            } else {
                let difference = 20.0 * (fast / slow).log10();
                let shaping = f64::from(attack) * difference.max(0.0)
                    + f64::from(sustain) * (-difference).max(0.0);
                db_to_gain(shaping.clamp(-MAX_GAIN_DB, MAX_GAIN_DB)) as f32 * output
            };
            *l *= gain;
            *r *= gain;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{conformance_tests, render};
    use crate::test_support::{FS, Noise};

    conformance_tests!(TransientShaper {
        /// +24 dB of shaping and +24 dB of output gain on full scale: 251.
        const OUTPUT_BOUND: f32 = 10.0 * 251.0;
    });

    /// Decaying noise plucks every 250 ms.
    fn plucks() -> Vec<f32> {
        let mut rng = Noise::new(11);
        (0..48_000)
            .map(|n| (rng.next_f64() * 0.5 * (-((n % 12_000) as f64) / 2_400.0).exp()) as f32)
            .collect()
    }

    /// (onset RMS, tail RMS) of the output, as dB relative to the input's.
    fn shape(params: &Params) -> (f64, f64) {
        let input = plucks();
        let mut effect = TransientShaper::new(params);
        effect.prepare(&ProcessSpec::stereo(FS, 1024));
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut effect, &mut left, &mut right, || 128);
        let rms_db = |part: &[f32]| {
            let power = part.iter().map(|&y| f64::from(y).powi(2)).sum::<f64>() / part.len() as f64;
            10.0 * power.log10()
        };
        // Onset: the first 5 ms of the second pluck; tail: 100–200 ms after it.
        let measure = |signal: &[f32]| {
            (
                rms_db(&signal[12_000..12_000 + 240]),
                rms_db(&signal[12_000 + 4_800..12_000 + 9_600]),
            )
        };
        let (onset_in, tail_in) = measure(&input);
        let (onset_out, tail_out) = measure(&left);
        (onset_out - onset_in, tail_out - tail_in)
    }

    #[test]
    fn attack_and_sustain_move_onsets_and_tails() {
        let on = |attack: f32, sustain: f32| Params {
            enabled: true,
            attack,
            sustain,
            ..Params::default()
        };
        let (onset, tail) = shape(&on(0.0, 0.0));
        assert_eq!((onset, tail), (0.0, 0.0), "neutral is bit exact");
        let (onset_up, _) = shape(&on(100.0, 0.0));
        let (onset_down, _) = shape(&on(-100.0, 0.0));
        let (_, tail_up) = shape(&on(0.0, 100.0));
        let (_, tail_down) = shape(&on(0.0, -100.0));
        println!(
            "attack +100: onset {onset_up:+.2} dB; -100: {onset_down:+.2} dB; sustain +100: tail {tail_up:+.2} dB; -100: {tail_down:+.2} dB"
        );
        assert!(onset_up > 3.0 && onset_down < -3.0);
        assert!(tail_up > 1.0 && tail_down < -1.0);
    }

    #[test]
    fn params_accept_the_output_alias() {
        let p: Params = serde_json::from_str(r#"{"output": -6, "attackTime": 5}"#).unwrap();
        assert_eq!((p.output_gain, p.attack_time), (-6.0, 5.0));
        let json = serde_json::to_value(Params::default()).unwrap();
        assert!(json.get("outputGain").is_some() && json.get("releaseTime").is_some());
    }
}
