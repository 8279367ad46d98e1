//! The conformance harness (tests only): the properties every effect must have, checked the same
//! way for all of them, so an effect's own tests can concentrate on what it does.
//!
//! An effect opts in by invoking `conformance_tests!` in its test module, which implements
//! [`Subject`] for it and generates one `#[test]` per property:
//!
//! - **silence**: a fresh instance turns silence into exact silence, and after a burst the tail
//!   falls below 1e-20 within [`Subject::TAIL_LIMIT_SECONDS`] (staying there for
//!   [`Subject::TAIL_QUIET_SECONDS`], for echoes and beating reverb modes) and stays there,
//!   with flush-to-zero active inside every process call (docs/effects.md §1 test 26);
//!   switches listed in [`Subject::SUSTAINING`] (freeze) are off for this check;
//! - **hostile input**: full-scale square, full-scale noise and denormal-only input at every
//!   parameter's range extremes and at 200 seeded random parameter sets, with parameters also
//!   jumping while audio plays, give finite output below [`Subject::OUTPUT_BOUND`] (test 27);
//! - **reset**: `set_params` + `reset()` + process equals a fresh instance, bit for bit (test 27);
//! - **block size**: blocks of 1, 32, 64, 1024 and random 1–1024 give the same output, bit for
//!   bit (test 24: every effect here smooths and modulates per sample).
//! - **host parameters**: the effect's `Params` describe themselves to a host
//!   ([`crate::automation::Automatable`]) consistently: every key names a JSON leaf, each value
//!   set by index reaches that leaf and no other parameter (`check::specs_are_consistent`).
//!
//! Every `process`, `reset` and `set_params` call runs under [`rt::guard::no_alloc`], which aborts
//! the test binary on any heap use (test 28; the crate's test allocator is installed in `lib.rs`).
//!
//! The parameter space is discovered from the serde model, so it cannot drift from the effect:
//! the harness serialises the clamped defaults, and for every numeric leaf (nested objects and
//! arrays included) asks `clamp` what ±1e9 become; those are the range ends. String leaves vary
//! over [`Subject::CHOICES`]; booleans flip. Top-level `enabled` is always forced on.

use crate::effect::{Block, Effect, ProcessSpec, process_guarded};
use crate::test_support::{FS, Noise};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Debug;

/// The largest block the harness prepares for (and uses).
pub(crate) const MAX_BLOCK: usize = 1024;

/// Number of seeded random parameter sets in the hostile-input check.
const RANDOM_SETS: usize = 200;

/// Output below this magnitude counts as a finished tail (docs/effects.md §1 test 26).
const TAIL_FLOOR: f32 = 1e-20;

/// An effect under test: how to build it from its parameters, and what it promises.
pub(crate) trait Subject: Effect + Sized {
    /// The effect's serde parameter model.
    type Params: Serialize + DeserializeOwned + Clone + Debug;

    /// String fields (JSON pointers into the serialised parameters) and the values they take.
    const CHOICES: &'static [(&'static str, &'static [&'static str])] = &[];
    /// Output magnitude no parameter set may reach on full-scale input (docs/effects.md §1 test 27:
    /// 10). Effects with large declared gains raise it and say why.
    const OUTPUT_BOUND: f32 = 10.0;
    /// Longest time a tail may take to fall below 1e-20 after a burst, at any parameter set.
    const TAIL_LIMIT_SECONDS: f64 = 10.0;
    /// How long the output must stay below the floor before the tail counts as over. Reverbs
    /// need this: their slowest modes beat, so a decaying tail dips below the floor and rises
    /// above it again until the whole envelope is down.
    const TAIL_QUIET_SECONDS: f64 = 0.0;
    /// Boolean parameters (JSON pointers) that hold sound forever by design (a freeze): held
    /// off in the tail check, exercised by every other check.
    const SUSTAINING: &'static [&'static str] = &[];

    /// A new, unprepared instance.
    fn make(params: &Self::Params) -> Self;
    /// The effect's `set_params`.
    fn set(&mut self, params: &Self::Params);
    /// The effect's `Params::clamped`.
    fn clamp(params: &Self::Params) -> Self::Params;

    /// A prepared instance (48 kHz, blocks up to [`MAX_BLOCK`]).
    fn prepared(params: &Self::Params) -> Self {
        let mut effect = Self::make(params);
        effect.prepare(&ProcessSpec::stereo(FS, MAX_BLOCK));
        effect
    }
}

/// Implements [`Subject`] for an effect with the shape every effect here has (`new(&Params)`,
/// `set_params(&Params)`, `Params::clamped()`, `Params` in scope), with the associated
/// constants given in braces, and generates one `#[test]` per conformance property for it.
macro_rules! conformance_tests {
    ($subject:ty) => {
        $crate::effects::conformance::conformance_tests!($subject {});
    };
    ($subject:ty { $($constants:tt)* }) => {
        impl $crate::effects::conformance::Subject for $subject {
            type Params = Params;
            $($constants)*
            fn make(params: &Params) -> Self {
                Self::new(params)
            }
            fn set(&mut self, params: &Params) {
                self.set_params(params);
            }
            fn clamp(params: &Params) -> Params {
                params.clamped()
            }
        }

        mod conformance_checks {
            use super::*;
            use $crate::effects::conformance as harness;

            #[test]
            fn silence_stays_silent_and_tails_reach_zero() {
                harness::silence_and_tails::<$subject>();
            }

            #[test]
            fn hostile_input_at_extreme_and_random_parameters_stays_finite_and_bounded() {
                harness::hostile_input::<$subject>();
            }

            #[test]
            fn reset_after_parameter_changes_equals_a_fresh_instance() {
                harness::reset_is_fresh::<$subject>();
            }

            #[test]
            fn output_does_not_depend_on_block_size() {
                harness::block_size_invariance::<$subject>();
            }

            #[test]
            fn host_parameters_reach_their_json_fields() {
                $crate::automation::check::specs_are_consistent::<Params>();
            }
        }
    };
}
pub(crate) use conformance_tests;

/// The parameter space of a subject, discovered from its serde model.
pub(crate) struct Space<E: Subject> {
    base: Value,
    leaves: Vec<Leaf>,
    _subject: std::marker::PhantomData<E>,
}

#[derive(Debug)]
struct Leaf {
    pointer: String,
    kind: LeafKind,
}

#[derive(Debug)]
enum LeafKind {
    Number { min: f64, max: f64, integer: bool },
    Bool,
    Choice(&'static [&'static str]),
}

impl<E: Subject> Space<E> {
    /// Walks the clamped defaults and probes every numeric leaf's range.
    pub(crate) fn discover() -> Self {
        let default: E::Params =
            serde_json::from_value(Value::Object(serde_json::Map::new())).expect("{} parses");
        let base = serde_json::to_value(E::clamp(&default)).expect("params serialise");
        let mut pointers = Vec::new();
        collect_leaves(&base, String::new(), &mut pointers);
        let mut space = Self {
            base,
            leaves: Vec::new(),
            _subject: std::marker::PhantomData,
        };
        for pointer in pointers {
            if pointer == "/enabled" {
                continue;
            }
            let value = space.base.pointer(&pointer).expect("collected").clone();
            let kind = match value {
                Value::Bool(_) => LeafKind::Bool,
                Value::String(_) => match E::CHOICES.iter().find(|(p, _)| *p == pointer) {
                    Some((_, values)) => LeafKind::Choice(values),
                    None => continue,
                },
                Value::Number(number) => {
                    let (low, high) = if number.is_u64() {
                        (Value::from(0u64), Value::from(1_000_000_000u64))
                    } else if number.is_i64() {
                        (
                            Value::from(-1_000_000_000i64),
                            Value::from(1_000_000_000i64),
                        )
                    } else {
                        (Value::from(-1e9), Value::from(1e9))
                    };
                    let min = space.probe(&pointer, low);
                    let max = space.probe(&pointer, high);
                    assert!(
                        min.is_finite() && max.is_finite() && min.abs() < 1e6 && max.abs() < 1e6,
                        "{pointer}: clamp leaves the range open ({min}..{max})"
                    );
                    LeafKind::Number {
                        min,
                        max,
                        integer: !number.is_f64(),
                    }
                }
                _ => continue,
            };
            space.leaves.push(Leaf { pointer, kind });
        }
        space
    }

    /// The clamped defaults with `enabled` on.
    pub(crate) fn enabled_default(&self) -> E::Params {
        self.build(self.base.clone())
    }

    /// One set per leaf extreme (each numeric leaf at its minimum, then its maximum; each
    /// boolean flipped; each choice), plus all numbers at their minima and all at their maxima.
    pub(crate) fn extremes(&self) -> Vec<E::Params> {
        let mut sets = Vec::new();
        let mut all_min = self.base.clone();
        let mut all_max = self.base.clone();
        for leaf in &self.leaves {
            let alternatives: Vec<Value> = match &leaf.kind {
                LeafKind::Number { min, max, integer } => {
                    let (min, max) = (number(*min, *integer), number(*max, *integer));
                    *all_min.pointer_mut(&leaf.pointer).expect("leaf") = min.clone();
                    *all_max.pointer_mut(&leaf.pointer).expect("leaf") = max.clone();
                    vec![min, max]
                }
                LeafKind::Bool => {
                    let current = self.base.pointer(&leaf.pointer).and_then(Value::as_bool);
                    vec![Value::Bool(!current.unwrap_or(false))]
                }
                LeafKind::Choice(values) => values.iter().map(|&v| Value::from(v)).collect(),
            };
            for alternative in alternatives {
                let mut value = self.base.clone();
                *value.pointer_mut(&leaf.pointer).expect("leaf") = alternative;
                sets.push(self.build(value));
            }
        }
        sets.push(self.build(all_min));
        sets.push(self.build(all_max));
        sets
    }

    /// A seeded random set: numbers uniform in their range (log-uniform over ranges spanning
    /// two decades or more of positive values), booleans and choices uniform.
    pub(crate) fn random(&self, rng: &mut Noise) -> E::Params {
        let mut value = self.base.clone();
        for leaf in &self.leaves {
            let unit = (rng.next_f64() + 1.0) / 2.0;
            let new = match &leaf.kind {
                LeafKind::Number { min, max, integer } => {
                    let x = if *min > 0.0 && *max / *min >= 100.0 {
                        (min.ln() + unit * (max.ln() - min.ln())).exp()
                    } else {
                        min + unit * (max - min)
                    };
                    number(x.clamp(*min, *max), *integer)
                }
                LeafKind::Bool => Value::Bool(unit < 0.5),
                LeafKind::Choice(values) => Value::from(
                    values[((unit * values.len() as f64) as usize).min(values.len() - 1)],
                ),
            };
            *value.pointer_mut(&leaf.pointer).expect("leaf") = new;
        }
        self.build(value)
    }

    /// `params` with the subject's [`Subject::SUSTAINING`] switches off.
    pub(crate) fn without_sustain(&self, params: &E::Params) -> E::Params {
        if E::SUSTAINING.is_empty() {
            return params.clone();
        }
        let mut value = serde_json::to_value(params).expect("params serialise");
        for pointer in E::SUSTAINING {
            *value.pointer_mut(pointer).expect("sustaining switch") = Value::Bool(false);
        }
        self.build(value)
    }

    /// What `clamp` makes of `value` at `pointer` (in the defaults), read back as a number.
    fn probe(&self, pointer: &str, value: Value) -> f64 {
        let mut probe = self.base.clone();
        *probe.pointer_mut(pointer).expect("leaf") = value;
        let clamped = serde_json::to_value(self.build(probe)).expect("params serialise");
        clamped
            .pointer(pointer)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{pointer}: not a number after clamping"))
    }

    fn build(&self, mut value: Value) -> E::Params {
        if let Some(enabled) = value.pointer_mut("/enabled") {
            *enabled = Value::Bool(true);
        }
        let params: E::Params = serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("{value} does not parse: {e}"));
        E::clamp(&params)
    }
}

fn number(x: f64, integer: bool) -> Value {
    if integer {
        if x < 0.0 {
            Value::from(x.round() as i64)
        } else {
            Value::from(x.round() as u64)
        }
    } else {
        Value::from(x)
    }
}

fn collect_leaves(value: &Value, pointer: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                collect_leaves(child, format!("{pointer}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                collect_leaves(child, format!("{pointer}/{index}"), out);
            }
        }
        _ => out.push(pointer),
    }
}

/// Delegates to an effect, asserting that the denormal guard is active inside `process`.
struct FtzProbe<'a, E>(&'a mut E);

impl<E: Effect> Effect for FtzProbe<'_, E> {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.0.prepare(spec);
    }

    fn reset(&mut self) {
        self.0.reset();
    }

    fn process(&mut self, block: &mut Block<'_>) {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64"))]
        assert!(rt::ftz::is_active(), "process ran without flush-to-zero");
        self.0.process(block);
    }

    fn latency(&self) -> usize {
        self.0.latency()
    }
}

/// Applies `params` under the allocation guard.
pub(crate) fn set_guarded<E: Subject>(effect: &mut E, params: &E::Params) {
    rt::guard::no_alloc(|| effect.set(params));
}

/// Resets under the allocation guard.
pub(crate) fn reset_guarded<E: Effect>(effect: &mut E) {
    rt::guard::no_alloc(|| effect.reset());
}

/// Processes `left`/`right` in place in blocks whose sizes `next_block` chooses, each call
/// guarded against allocation and checked for flush-to-zero.
pub(crate) fn render<E: Effect>(
    effect: &mut E,
    left: &mut [f32],
    right: &mut [f32],
    mut next_block: impl FnMut() -> usize,
) {
    let mut start = 0;
    while start < left.len() {
        let end = (start + next_block().clamp(1, MAX_BLOCK)).min(left.len());
        let mut block = Block::new(&mut left[start..end], &mut right[start..end]);
        rt::guard::no_alloc(|| process_guarded(&mut FtzProbe(&mut *effect), &mut block));
        start = end;
    }
}

/// Random block sizes 1–1024 from a seeded generator.
pub(crate) fn random_blocks(seed: u64) -> impl FnMut() -> usize {
    let mut rng = Noise::new(seed);
    move || 1 + (((rng.next_f64() + 1.0) / 2.0) * MAX_BLOCK as f64) as usize
}

/// A stereo test programme: noise bursts with a decaying envelope on a 220 Hz/331 Hz sine
/// pair, channels different so stereo processing is exercised. Peak about 0.9.
pub(crate) fn programme(len: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Noise::new(seed);
    let burst = 9_000;
    let mut left = Vec::with_capacity(len);
    let mut right = Vec::with_capacity(len);
    for n in 0..len {
        let t = n as f64 / FS;
        let envelope =
            (-((n % burst) as f64) / 2_000.0).exp() * (0.2 + 0.8 * ((n / burst) % 3) as f64 / 2.0);
        let tone = 0.3 * (std::f64::consts::TAU * 220.0 * t).sin();
        left.push((0.6 * envelope * rng.next_f64() + tone) as f32);
        right.push(
            (0.6 * envelope * rng.next_f64() + 0.3 * (std::f64::consts::TAU * 331.0 * t).sin())
                as f32,
        );
    }
    (left, right)
}

fn peak(signal: &[f32]) -> f32 {
    signal.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// Silence in a fresh instance is silence out; after a burst the tail falls below 1e-20 within
/// the subject's limit and stays there.
pub(crate) fn silence_and_tails<E: Subject>() {
    let space = Space::<E>::discover();
    let mut rng = Noise::new(26);
    let mut sets = vec![space.enabled_default()];
    sets.extend((0..20).map(|_| space.random(&mut rng)));
    let chunk = MAX_BLOCK;
    let limit = (E::TAIL_LIMIT_SECONDS * FS) as usize;
    let quiet_needed = (E::TAIL_QUIET_SECONDS * FS) as usize;
    let mut longest_tail = 0usize;
    for (index, params) in sets.iter().enumerate() {
        let params = &space.without_sustain(params);
        let mut effect = E::prepared(params);
        let (mut left, mut right) = (vec![0.0; 9_600], vec![0.0; 9_600]);
        render(
            &mut effect,
            &mut left,
            &mut right,
            random_blocks(index as u64 + 1),
        );
        assert!(
            left.iter().chain(&right).all(|&y| y == 0.0),
            "set {index}: silence in a fresh instance gave sound: {params:?}"
        );

        let (mut left, mut right) = programme(9_600, index as u64 + 7);
        render(
            &mut effect,
            &mut left,
            &mut right,
            random_blocks(index as u64 + 2),
        );
        let (mut left, mut right) = (vec![0.0; chunk], vec![0.0; chunk]);
        let mut elapsed = 0;
        let mut quiet = 0;
        loop {
            left.fill(0.0);
            right.fill(0.0);
            render(&mut effect, &mut left, &mut right, || chunk);
            elapsed += chunk;
            if peak(&left).max(peak(&right)) < TAIL_FLOOR {
                if quiet >= quiet_needed {
                    break;
                }
                quiet += chunk;
            } else {
                quiet = 0;
            }
            assert!(
                elapsed <= limit,
                "set {index}: tail still at {} after {} s: {params:?}",
                peak(&left).max(peak(&right)),
                elapsed as f64 / FS
            );
        }
        longest_tail = longest_tail.max(elapsed);
        for _ in 0..5 {
            left.fill(0.0);
            right.fill(0.0);
            render(&mut effect, &mut left, &mut right, || chunk);
            assert!(
                peak(&left).max(peak(&right)) < TAIL_FLOOR,
                "set {index}: the tail came back: {params:?}"
            );
        }
    }
    println!(
        "{}: longest tail below 1e-20 after {:.3} s",
        std::any::type_name::<E>(),
        longest_tail as f64 / FS
    );
}

/// Full-scale square, noise and denormal-only input at every range extreme and at random
/// parameter sets; also one instance whose parameters jump through all the sets while playing.
pub(crate) fn hostile_input<E: Subject>() {
    let space = Space::<E>::discover();
    let mut rng = Noise::new(27);
    let mut sets = space.extremes();
    sets.extend((0..RANDOM_SETS).map(|_| space.random(&mut rng)));

    let segment = 4_800;
    let mut stimulus_left = Vec::with_capacity(3 * segment);
    let mut stimulus_right = Vec::with_capacity(3 * segment);
    // Full-scale 100 Hz square (opposite polarity on the right), full-scale noise, then
    // denormal-only input (which flush-to-zero reads as silence).
    for n in 0..segment {
        let s = if (n / 240) % 2 == 0 { 1.0 } else { -1.0 };
        stimulus_left.push(s);
        stimulus_right.push(-s);
    }
    for _ in 0..segment {
        stimulus_left.push(
            if rng.next_f64() < 0.0 { -1.0 } else { 1.0 } * ((rng.next_f64() + 1.0) / 2.0) as f32,
        );
        stimulus_right.push(rng.next_f64() as f32);
    }
    for n in 0..segment {
        let tiny = f32::MIN_POSITIVE * (n % 7) as f32 / 8.0;
        stimulus_left.push(tiny);
        stimulus_right.push(-tiny);
    }

    let check = |left: &[f32], right: &[f32], what: &dyn Fn() -> String| {
        for (n, &y) in left.iter().chain(right).enumerate() {
            assert!(
                y.is_finite() && y.abs() < E::OUTPUT_BOUND,
                "sample {n} = {y}: {}",
                what()
            );
        }
    };

    let mut worst = 0.0f32;
    for (index, params) in sets.iter().enumerate() {
        let mut effect = E::prepared(params);
        let (mut left, mut right) = (stimulus_left.clone(), stimulus_right.clone());
        render(
            &mut effect,
            &mut left,
            &mut right,
            random_blocks(index as u64 + 100),
        );
        check(&left, &right, &|| format!("set {index}: {params:?}"));
        worst = worst.max(peak(&left)).max(peak(&right));
    }

    // Parameters jumping between extremes and random sets while full-scale audio plays.
    let mut effect = E::prepared(&sets[0]);
    let mut blocks = random_blocks(5);
    for (index, params) in sets.iter().enumerate() {
        set_guarded(&mut effect, params);
        let range = (index % 3) * segment..(index % 3) * segment + 1_200;
        let (mut left, mut right) = (
            stimulus_left[range.clone()].to_vec(),
            stimulus_right[range].to_vec(),
        );
        render(&mut effect, &mut left, &mut right, &mut blocks);
        check(&left, &right, &|| {
            format!("jump to set {index}: {params:?}")
        });
    }
    println!(
        "{}: {} parameter sets, largest |y| {worst:.3} (bound {})",
        std::any::type_name::<E>(),
        sets.len(),
        E::OUTPUT_BOUND
    );
}

/// Parameters changed, audio played, then `reset()`: the output equals a fresh instance's.
pub(crate) fn reset_is_fresh<E: Subject>() {
    let space = Space::<E>::discover();
    let mut rng = Noise::new(2_427);
    let mut sets = vec![space.enabled_default()];
    sets.extend((0..6).map(|_| space.random(&mut rng)));
    let (input_left, input_right) = programme(24_000, 3);
    for pair in sets.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let mut fresh = E::prepared(after);
        let (mut expected_left, mut expected_right) = (input_left.clone(), input_right.clone());
        render(&mut fresh, &mut expected_left, &mut expected_right, || 512);

        let mut reused = E::prepared(before);
        let (mut left, mut right) = (input_left.clone(), input_right.clone());
        render(&mut reused, &mut left, &mut right, random_blocks(8));
        set_guarded(&mut reused, after);
        let (mut left, mut right) = (input_left[..5_000].to_vec(), input_right[..5_000].to_vec());
        render(&mut reused, &mut left, &mut right, random_blocks(9));
        reset_guarded(&mut reused);
        let (mut left, mut right) = (input_left.clone(), input_right.clone());
        render(&mut reused, &mut left, &mut right, || 512);

        assert!(
            bits(&left) == bits(&expected_left) && bits(&right) == bits(&expected_right),
            "reset is not a fresh instance: {before:?} → {after:?}"
        );
    }
}

/// The same programme and the same parameter change at the same sample, in blocks of 1, 32,
/// 64, 1024 and random sizes: the outputs agree.
pub(crate) fn block_size_invariance<E: Subject>() {
    let space = Space::<E>::discover();
    let mut rng = Noise::new(24);
    let mut sets = vec![space.enabled_default()];
    sets.extend((0..4).map(|_| space.random(&mut rng)));
    let len = 36_000;
    let change_at = 17_000;
    let (input_left, input_right) = programme(len, 24);
    for pair in sets.windows(2) {
        let (first, second) = (&pair[0], &pair[1]);
        let run = |pattern: &mut dyn FnMut() -> usize| {
            let mut effect = E::prepared(first);
            let (mut left, mut right) = (input_left.clone(), input_right.clone());
            let (left_a, left_b) = left.split_at_mut(change_at);
            let (right_a, right_b) = right.split_at_mut(change_at);
            render(&mut effect, left_a, right_a, &mut *pattern);
            set_guarded(&mut effect, second);
            render(&mut effect, left_b, right_b, &mut *pattern);
            (left, right)
        };
        let reference = run(&mut || MAX_BLOCK);
        let mut patterns: Vec<(String, Box<dyn FnMut() -> usize>)> = vec![
            ("1".into(), Box::new(|| 1)),
            ("32".into(), Box::new(|| 32)),
            ("64".into(), Box::new(|| 64)),
            ("random".into(), Box::new(random_blocks(77))),
        ];
        for (name, pattern) in &mut patterns {
            let output = run(pattern.as_mut());
            assert!(
                bits(&output.0) == bits(&reference.0) && bits(&output.1) == bits(&reference.1),
                "blocks of {name} change the output: {first:?} → {second:?}"
            );
        }
    }
}

fn bits(signal: &[f32]) -> Vec<u32> {
    signal.iter().map(|x| x.to_bits()).collect()
}

/// Energy of `output − reference` relative to `reference`'s, in dB.
pub(crate) fn residual_db(output: &[f32], reference: &[f32]) -> f64 {
    let (mut error, mut energy) = (0.0f64, 0.0f64);
    for (&y, &r) in output.iter().zip(reference) {
        error += (f64::from(y) - f64::from(r)).powi(2);
        energy += f64::from(r).powi(2);
    }
    10.0 * (error.max(1e-300) / energy.max(1e-300)).log10()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::dynamics::compressor::Compressor;

    /// The compressor registers itself in its own test module; its ranges are known, so they
    /// check the discovery.
    #[test]
    fn the_space_finds_every_range_of_the_compressor() {
        let space = Space::<Compressor>::discover();
        let ranges: Vec<(String, f64, f64)> = space
            .leaves
            .iter()
            .filter_map(|leaf| match leaf.kind {
                LeafKind::Number { min, max, .. } => Some((leaf.pointer.clone(), min, max)),
                _ => None,
            })
            .collect();
        assert!(ranges.contains(&("/ratio".into(), 1.0, 20.0)), "{ranges:?}");
        assert!(
            ranges.contains(&("/threshold".into(), -60.0, 0.0)),
            "{ranges:?}"
        );
        assert_eq!(ranges.len(), 6);
        assert_eq!(space.extremes().len(), 6 * 2 + 2);
        let mut rng = Noise::new(1);
        for _ in 0..50 {
            let params = space.random(&mut rng);
            assert!(params.enabled);
            assert!((1.0..=20.0).contains(&params.ratio));
        }
    }
}
