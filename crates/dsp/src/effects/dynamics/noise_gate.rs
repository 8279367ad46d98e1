//! The noise gate (docs/effects.md §3 #9 and §2.8): a closed → attack → open → hold →
//! release state machine driven by the level of mean(|L|, |R|), with hysteresis so a signal
//! hovering at the threshold cannot make it chatter.
//!
//! Detector: the sliding maximum of mean(|L|, |R|) over [`DETECTOR_WINDOW_MS`], which holds a
//! waveform's peak through its cycle (down to 50 Hz), so a steady tone reads as one steady
//! level instead of falling to zero at every crossing. The gate opens when the level rises
//! above `threshold` and may close only once it falls below `threshold −` [`HYSTERESIS_DB`].
//! The window also delays the moment a level is seen to fall, so the hold counter is shortened
//! by it: the gain starts to fall `hold` after the signal ends (holds shorter than the window
//! act as the window).
//!
//! Gain paths, each arriving exactly on time: the attack rises linearly in amplitude from the
//! floor to unity in `attack` ms; the release falls linearly in dB from unity to the floor
//! (`range`) in `release` ms, which sounds like a natural decay. When closed, the gain glides
//! to a changed `range` along the same paths, so no parameter change clicks.

use super::super::{clamp_param, db_to_gain};
use crate::automation::Kind;
use crate::blocks::peak_hold::SlidingMax;
use crate::effect::{Block, Effect, ProcessSpec};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "noiseGate";

/// Declared range of [`Params::threshold`] (dB).
pub const THRESHOLD_RANGE: RangeInclusive<f32> = -96.0..=0.0;
/// Range of [`Params::attack`] (ms); undeclared in the reference.
pub const ATTACK_RANGE: RangeInclusive<f32> = 0.01..=500.0;
/// Range of [`Params::hold`] (ms); undeclared in the reference.
pub const HOLD_RANGE: RangeInclusive<f32> = 0.0..=5_000.0;
/// Range of [`Params::release`] (ms); undeclared in the reference.
pub const RELEASE_RANGE: RangeInclusive<f32> = 1.0..=5_000.0;
/// Range of [`Params::range`] (dB of attenuation when closed); undeclared in the reference.
pub const RANGE_RANGE: RangeInclusive<f32> = -120.0..=0.0;

/// The close threshold sits this far below the open threshold (docs/effects.md §2.8: 3–10 dB).
pub const HYSTERESIS_DB: f64 = 6.0;
/// Window of the peak detector: half a period of 50 Hz.
pub const DETECTOR_WINDOW_MS: f64 = 10.0;

/// The gate's parameters. Field names are the reference JSON keys; a partial update fills
/// missing fields from [`Params::default`] (docs/effects.md §3.4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Open threshold in dBFS, −96…0 (default −40).
    pub threshold: f32,
    /// Time from closed to fully open, ms (default 0.1).
    pub attack: f32,
    /// Time the gate stays open after the signal falls, ms (default 50).
    pub hold: f32,
    /// Time from open to fully closed, ms (default 100).
    pub release: f32,
    /// Gain when closed, dB (default −80).
    pub range: f32,
}

// Hold starts at 0 ms, so its control is linear.
crate::automatable!(Params {
    [threshold] "threshold", "Threshold", Kind::linear(THRESHOLD_RANGE, "dB");
    [attack] "attack", "Attack", Kind::logarithmic(ATTACK_RANGE, "ms");
    [hold] "hold", "Hold", Kind::linear(HOLD_RANGE, "ms");
    [release] "release", "Release", Kind::logarithmic(RELEASE_RANGE, "ms");
    [range] "range", "Range", Kind::linear(RANGE_RANGE, "dB");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            threshold: -40.0,
            attack: 0.1,
            hold: 50.0,
            release: 100.0,
            range: -80.0,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let defaults = Self::default();
        Self {
            enabled: self.enabled,
            threshold: clamp_param(self.threshold, THRESHOLD_RANGE, defaults.threshold),
            attack: clamp_param(self.attack, ATTACK_RANGE, defaults.attack),
            hold: clamp_param(self.hold, HOLD_RANGE, defaults.hold),
            release: clamp_param(self.release, RELEASE_RANGE, defaults.release),
            range: clamp_param(self.range, RANGE_RANGE, defaults.range),
        }
    }
}

/// Where the gate's state machine is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// At the floor (or gliding to a changed floor).
    Closed,
    /// Rising to unity.
    Attack,
    /// At unity, signal above the close threshold.
    Open,
    /// At unity, signal below the close threshold, counting down the hold.
    Hold,
    /// Falling to the floor.
    Release,
}

/// The noise gate.
#[derive(Clone, Debug)]
pub struct NoiseGate {
    params: Params,
    sample_rate: f64,
    detector: SlidingMax,
    window: usize,
    open_level: f32,
    close_level: f32,
    floor: f64,
    attack_step: f64,
    release_factor: f64,
    hold_samples: usize,
    state: State,
    hold_left: usize,
    gain: f64,
}

impl NoiseGate {
    /// A gate with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let mut gate = Self {
            params: params.clamped(),
            sample_rate: 48_000.0,
            detector: SlidingMax::new(),
            window: 1,
            open_level: 0.0,
            close_level: 0.0,
            floor: 0.0,
            attack_step: 1.0,
            release_factor: 0.0,
            hold_samples: 0,
            state: State::Closed,
            hold_left: 0,
            gain: 0.0,
        };
        gate.update_coefficients();
        gate.gain = gate.floor;
        gate
    }

    /// Applies new parameters (clamped); the state machine carries on from where it is.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        self.params = params.clamped();
        self.update_coefficients();
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The state after the latest sample.
    pub fn state(&self) -> State {
        self.state
    }

    /// The gain applied to the latest sample (linear).
    pub fn gain(&self) -> f64 {
        self.gain
    }

    fn update_coefficients(&mut self) {
        let samples = |ms: f32| (f64::from(ms) * 1e-3 * self.sample_rate).max(1.0);
        let threshold = f64::from(self.params.threshold);
        self.open_level = db_to_gain(threshold) as f32;
        self.close_level = db_to_gain(threshold - HYSTERESIS_DB) as f32;
        self.floor = db_to_gain(f64::from(self.params.range));
        self.attack_step = (1.0 - self.floor) / samples(self.params.attack);
        self.release_factor = self.floor.powf(1.0 / samples(self.params.release));
        let hold = (f64::from(self.params.hold) * 1e-3 * self.sample_rate).round() as usize;
        self.hold_samples = hold.saturating_sub(self.window);
    }

    /// One step of the state machine for a detector `level`; returns the gain.
    #[inline]
    fn step(&mut self, level: f32) -> f64 {
        self.state = match self.state {
            State::Closed | State::Release if level > self.open_level => State::Attack,
            State::Open if level < self.close_level => self.start_hold(),
            State::Hold if level >= self.close_level => State::Open,
            State::Hold => {
                self.hold_left -= 1;
                if self.hold_left == 0 {
                    State::Release
                } else {
                    State::Hold
                }
            }
            state => state,
        };
        match self.state {
            State::Attack => {
                self.gain += self.attack_step;
                if self.gain >= 1.0 {
                    self.gain = 1.0;
                    self.state = State::Open;
                }
            }
            State::Open | State::Hold => self.gain = 1.0,
            State::Release => {
                if self.gain > self.floor {
                    self.gain = (self.gain * self.release_factor).max(self.floor);
                }
                if self.gain <= self.floor {
                    self.state = State::Closed;
                }
            }
            State::Closed => {
                // Glide to a changed floor along the attack or release path.
                if self.gain > self.floor {
                    self.gain = (self.gain * self.release_factor).max(self.floor);
                } else if self.gain < self.floor {
                    self.gain = (self.gain + self.attack_step).min(self.floor);
                }
            }
        }
        self.gain
    }

    fn start_hold(&mut self) -> State {
        if self.hold_samples == 0 {
            State::Release
        } else {
            self.hold_left = self.hold_samples;
            State::Hold
        }
    }
}

impl Effect for NoiseGate {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        self.window = spec.samples_for_ms(DETECTOR_WINDOW_MS);
        self.detector.prepare(self.window);
        self.update_coefficients();
        self.reset();
    }

    fn reset(&mut self) {
        self.detector.reset();
        self.state = State::Closed;
        self.hold_left = 0;
        self.gain = self.floor;
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let level = self.detector.push(0.5 * (l.abs() + r.abs()));
            let gain = self.step(level) as f32;
            *l *= gain;
            *r *= gain;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::test_support::{FS, Noise, sine};

    conformance_tests!(NoiseGate);

    /// Runs sample by sample, recording the state and gain after each.
    fn trace(gate: &mut NoiseGate, input: &[f32]) -> Vec<(State, f64)> {
        input
            .iter()
            .map(|&x| {
                let (mut l, mut r) = ([x], [x]);
                rt::guard::no_alloc(|| gate.process(&mut Block::new(&mut l, &mut r)));
                assert_eq!(l[0], x * gate.gain() as f32);
                (gate.state(), gate.gain())
            })
            .collect()
    }

    fn noise_tone_noise() -> (Vec<f32>, usize, usize) {
        let mut rng = Noise::new(10);
        let quiet = 10f64.powf(-70.0 / 20.0);
        let lead = 24_000;
        let tone_len = FS as usize;
        let mut input: Vec<f32> = (0..lead).map(|_| (rng.next_f64() * quiet) as f32).collect();
        input.extend(sine(1_000.0, 0.1, tone_len, FS));
        input.extend((0..FS as usize).map(|_| (rng.next_f64() * quiet) as f32));
        (input, lead, lead + tone_len)
    }

    /// docs/effects.md §1 test 10, first part: −70 dBFS noise, a −20 dBFS tone for 1 s, noise
    /// again.
    #[test]
    fn opens_holds_and_releases_on_time() {
        for (attack, hold, release) in [
            (0.1f32, 50.0f32, 100.0f32),
            (1.0, 20.0, 300.0),
            (5.0, 200.0, 30.0),
        ] {
            let params = Params {
                enabled: true,
                attack,
                hold,
                release,
                ..Params::default()
            };
            let mut gate = NoiseGate::prepared(&params);
            let (input, onset, end) = noise_tone_noise();
            let states = trace(&mut gate, &input);
            let ms = |n: usize| n as f64 / FS * 1e3;
            let open_at = (onset..end)
                .find(|&n| states[n].1 > db_to_gain(-1.0))
                .expect("gate opened");
            let falls_at = (end..input.len())
                .find(|&n| states[n].1 < 1.0)
                .expect("gate released");
            let floor = db_to_gain(f64::from(params.range));
            let closed_at = (falls_at..input.len())
                .find(|&n| states[n].0 == State::Closed)
                .expect("gate closed");
            assert!((states[closed_at].1 / floor - 1.0).abs() < 1e-9);
            let opened_ms = ms(open_at - onset);
            let hold_ms = ms(falls_at - end);
            let release_ms = ms(closed_at - falls_at + 1);
            println!(
                "attack {attack} ms: open (> -1 dB) after {opened_ms:.3} ms; hold {hold} ms: {hold_ms:.3} ms; release {release} ms: range reached after {release_ms:.3} ms"
            );
            assert!(opened_ms <= f64::from(attack) + 1.0, "{opened_ms}");
            assert!(
                (hold_ms - f64::from(hold.max(DETECTOR_WINDOW_MS as f32))).abs() <= 1.0,
                "{hold_ms}"
            );
            assert!(
                (release_ms / f64::from(release) - 1.0).abs() <= 0.1,
                "{release_ms}"
            );
            // Noise alone never opens it.
            assert!(states[..onset].iter().all(|&(s, _)| s == State::Closed));
            assert!(states[closed_at..].iter().all(|&(s, _)| s == State::Closed));
        }
    }

    /// docs/effects.md §1 test 10, second part: a tone wobbling ±1.5 dB around the threshold at 6
    /// Hz makes at most two state changes (closed → attack → open), thanks to the hysteresis.
    #[test]
    fn a_tone_wobbling_at_the_threshold_does_not_chatter() {
        for threshold in [-40.0f32, -20.0, -60.0] {
            let mut gate = NoiseGate::prepared(&Params {
                enabled: true,
                threshold,
                ..Params::default()
            });
            let input: Vec<f32> = (0..2 * FS as usize)
                .map(|n| {
                    let t = n as f64 / FS;
                    let db = f64::from(threshold) + 1.5 * (std::f64::consts::TAU * 6.0 * t).sin();
                    (db_to_gain(db) * (std::f64::consts::TAU * 440.0 * t).sin()) as f32
                })
                .collect();
            let states = trace(&mut gate, &input);
            let changes = states.windows(2).filter(|w| w[0].0 != w[1].0).count();
            println!("threshold {threshold} dB: {changes} state changes in the ±1.5 dB wobble");
            assert!(changes <= 2, "{changes}");
        }
        const { assert!(HYSTERESIS_DB >= 3.0) };
    }

    /// A plain model of the specified machine (naive sliding maximum, explicit timers),
    /// compared sample by sample on a programme that visits every state, with parameter changes.
    #[test]
    fn state_machine_matches_a_per_sample_model() {
        struct Model {
            history: Vec<f32>,
            window: usize,
            state: State,
            gain: f64,
            hold_left: usize,
        }
        impl Model {
            fn step(&mut self, x: f32, params: &Params) -> (State, f64) {
                self.history.push(0.5 * (x.abs() + x.abs()));
                let start = self.history.len().saturating_sub(self.window);
                let level = self.history[start..]
                    .iter()
                    .fold(f32::MIN, |m, &v| m.max(v));
                let open = db_to_gain(f64::from(params.threshold)) as f32;
                let close = db_to_gain(f64::from(params.threshold) - HYSTERESIS_DB) as f32;
                let floor = db_to_gain(f64::from(params.range));
                let samples = |ms: f32| (f64::from(ms) * 1e-3 * FS).max(1.0);
                let hold = ((f64::from(params.hold) * 1e-3 * FS).round() as usize)
                    .saturating_sub(self.window);
                use State::*;
                match self.state {
                    Closed | Release if level > open => self.state = Attack,
                    Open if level < close => {
                        self.hold_left = hold;
                        self.state = if hold == 0 { Release } else { Hold };
                    }
                    Hold if level >= close => self.state = Open,
                    Hold => {
                        self.hold_left -= 1;
                        if self.hold_left == 0 {
                            self.state = Release;
                        }
                    }
                    _ => {}
                }
                let factor = floor.powf(1.0 / samples(params.release));
                let step = (1.0 - floor) / samples(params.attack);
                match self.state {
                    Attack => {
                        self.gain = (self.gain + step).min(1.0);
                        if self.gain == 1.0 {
                            self.state = Open;
                        }
                    }
                    Open | Hold => self.gain = 1.0,
                    Release | Closed => {
                        if self.gain > floor {
                            self.gain = (self.gain * factor).max(floor);
                        } else if self.state == Closed && self.gain < floor {
                            self.gain = (self.gain + step).min(floor);
                        }
                        if self.gain <= floor {
                            self.state = Closed;
                        }
                    }
                }
                (self.state, self.gain)
            }
        }

        let first = Params {
            enabled: true,
            threshold: -30.0,
            attack: 2.0,
            hold: 15.0,
            release: 40.0,
            range: -60.0,
        };
        let second = Params {
            range: -20.0,
            hold: 5.0,
            ..first.clone()
        };
        let mut rng = Noise::new(11);
        let input: Vec<f32> = (0..48_000)
            .map(|n| {
                let burst = (n / 3_000) % 4;
                let level = [0.001, 0.2, 0.02, 0.05][burst];
                (rng.next_f64() * level) as f32
            })
            .collect();
        let mut gate = NoiseGate::prepared(&first);
        let mut model = Model {
            history: Vec::new(),
            window: (DETECTOR_WINDOW_MS * 1e-3 * FS).round() as usize,
            state: State::Closed,
            gain: db_to_gain(-60.0),
            hold_left: 0,
        };
        let mut visited = [false; 5];
        for (n, &x) in input.iter().enumerate() {
            let params = if n < 24_000 { &first } else { &second };
            if n == 24_000 {
                gate.set_params(&second);
            }
            let (mut l, mut r) = ([x], [x]);
            gate.process(&mut Block::new(&mut l, &mut r));
            let (state, gain) = model.step(x, params);
            assert_eq!(gate.state(), state, "sample {n}");
            assert!((gate.gain() - gain).abs() <= 1e-12, "sample {n}");
            visited[state as usize] = true;
        }
        assert_eq!(visited, [true; 5], "the programme visits every state");
    }

    #[test]
    fn disabled_is_bit_exact_bypass_and_params_use_the_reference_keys() {
        let input = sine(440.0, 0.001, 4_800, FS);
        let mut gate = NoiseGate::prepared(&Params::default());
        let (mut l, mut r) = (input.clone(), input.clone());
        gate.process(&mut Block::new(&mut l, &mut r));
        assert_eq!(l, input);

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
            ["attack", "enabled", "hold", "range", "release", "threshold"]
        );
        let partial: Params = serde_json::from_str(r#"{"enabled": true, "hold": 10}"#).unwrap();
        assert_eq!(partial.hold, 10.0);
        assert_eq!(partial.release, 100.0);
        let wild = Params {
            threshold: -200.0,
            attack: f32::NAN,
            range: 10.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!((wild.threshold, wild.attack, wild.range), (-96.0, 0.1, 0.0));
    }
}
