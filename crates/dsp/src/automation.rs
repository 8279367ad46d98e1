//! What a host may automate: each effect's parameters described for a plugin host (name, unit,
//! range, kind) and read or written by index as plain `f32`s, without allocating, so automation
//! reaches the effects on the audio thread.
//!
//! An effect's `Params` implements [`Automatable`] with the [`automatable!`](crate::automatable)
//! macro, in the effect's own file beside its ranges (the metadata lives with the DSP it drives).
//! The `enabled` field is not listed: the chain owns every effect's on/off switch and crossfades
//! it. Values cross as `f32` through [`HostValue`]: numbers as they are, toggles as 0/1, choices
//! and note values as indices into their lists.

use crate::effects::param::{Key, Scale, Subdivision};
use std::ops::RangeInclusive;

/// How a host should present and step one parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// A continuous value in `min..=max`, shown with `unit`. `logarithmic` asks the host for a
    /// skewed control (frequencies, times) where an even knob travel is an even ratio.
    Float {
        /// Lowest value.
        min: f32,
        /// Highest value.
        max: f32,
        /// Unit suffix ("Hz", "ms", "dB", "%", "" …).
        unit: &'static str,
        /// Skew the control logarithmically (`min` must then be > 0).
        logarithmic: bool,
    },
    /// A whole number in `min..=max`.
    Int {
        /// Lowest value.
        min: i32,
        /// Highest value.
        max: i32,
    },
    /// Off (0) or on (1).
    Toggle,
    /// One of the named options; the value is its index.
    Choice(&'static [&'static str]),
}

impl Kind {
    /// A linear continuous range.
    pub const fn linear(range: RangeInclusive<f32>, unit: &'static str) -> Self {
        Self::Float {
            min: *range.start(),
            max: *range.end(),
            unit,
            logarithmic: false,
        }
    }

    /// A logarithmically skewed continuous range (frequencies, times, rates).
    pub const fn logarithmic(range: RangeInclusive<f32>, unit: &'static str) -> Self {
        Self::Float {
            min: *range.start(),
            max: *range.end(),
            unit,
            logarithmic: true,
        }
    }

    /// A whole-number range.
    pub const fn int(min: i32, max: i32) -> Self {
        Self::Int { min, max }
    }

    /// The options of a [`Choice`] type.
    pub const fn choice<T: Choice>() -> Self {
        Self::Choice(T::LABELS)
    }

    /// A note value (see [`NOTE_VALUES`]).
    pub const NOTE: Self = Self::Choice(&NOTE_LABELS);

    /// A musical key, C … B.
    pub const KEY: Self = Self::Choice(&[
        "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
    ]);

    /// A scale (docs/effects.md §3.1 order).
    pub const SCALE: Self = Self::Choice(&[
        "Chromatic",
        "Major",
        "Minor",
        "Pentatonic Major",
        "Pentatonic Minor",
        "Blues",
        "Dorian",
        "Mixolydian",
        "Harmonic Minor",
    ]);
}

/// One automatable parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spec {
    /// The reference JSON path ("threshold", "low.threshold", "bands.2.gain"): stable, and the
    /// host parameter id is built from it, so it never changes once released.
    pub key: &'static str,
    /// The name a host shows ("Threshold").
    pub name: &'static str,
    /// Range and presentation.
    pub kind: Kind,
}

/// A parameter set a host can automate: the specs, and get/set by index.
pub trait Automatable {
    /// Every automatable parameter, in a fixed order (indices are stable within a build; hosts
    /// identify parameters by [`Spec::key`]).
    const SPECS: &'static [Spec];

    /// The value of parameter `index` as the host sees it (0.0 for an index out of range).
    fn get(&self, index: usize) -> f32;

    /// Sets parameter `index` from the host's value (out-of-range indices are ignored; values
    /// are clamped by the effect's own `clamped()` when applied).
    ///
    /// Audio thread: must not allocate, lock or block.
    fn set(&mut self, index: usize, value: f32);
}

/// A value that crosses to a host as an `f32`.
pub trait HostValue: Copy {
    /// As the host sees it.
    fn to_host(self) -> f32;
    /// From the host's value (rounded or clamped to something valid; never fails).
    fn from_host(value: f32) -> Self;
}

impl HostValue for f32 {
    fn to_host(self) -> f32 {
        self
    }

    fn from_host(value: f32) -> Self {
        value
    }
}

impl HostValue for bool {
    fn to_host(self) -> f32 {
        if self { 1.0 } else { 0.0 }
    }

    fn from_host(value: f32) -> Self {
        value >= 0.5
    }
}

/// Whole numbers (voices, stages, bits) kept as `f32` in a `Params` use the `f32` impl; this one
/// is for integer fields.
impl HostValue for u32 {
    fn to_host(self) -> f32 {
        self as f32
    }

    fn from_host(value: f32) -> Self {
        if value.is_nan() {
            0
        } else {
            value.round().clamp(0.0, Self::MAX as f32) as Self
        }
    }
}

/// An enum of named options a host shows as a list.
pub trait Choice: Copy + 'static {
    /// What a host shows for each option, in index order.
    const LABELS: &'static [&'static str];
    /// The option's index.
    fn index(self) -> usize;
    /// The option at `index` (clamped into range).
    fn from_index(index: usize) -> Self;
}

/// Index of the option nearest to a host value (NaN reads as the first).
pub fn choice_index(value: f32, options: usize) -> usize {
    if value.is_nan() || options == 0 {
        0
    } else {
        (value.round().max(0.0) as usize).min(options - 1)
    }
}

/// Implements [`Choice`] and [`HostValue`] for a fieldless enum: `host_choice!(Mode { Manual
/// => "Manual", Auto => "Auto" })`. Variants are listed in the order a host shows them.
#[macro_export]
macro_rules! host_choice {
    ($ty:ty { $($variant:ident => $label:literal),+ $(,)? }) => {
        impl $crate::automation::Choice for $ty {
            const LABELS: &'static [&'static str] = &[$($label),+];

            fn index(self) -> usize {
                const VARIANTS: &[$ty] = &[$(<$ty>::$variant),+];
                VARIANTS.iter().position(|v| *v == self).unwrap_or(0)
            }

            fn from_index(index: usize) -> Self {
                const VARIANTS: &[$ty] = &[$(<$ty>::$variant),+];
                VARIANTS[index.min(VARIANTS.len() - 1)]
            }
        }

        impl $crate::automation::HostValue for $ty {
            fn to_host(self) -> f32 {
                $crate::automation::Choice::index(self) as f32
            }

            fn from_host(value: f32) -> Self {
                let count = <Self as $crate::automation::Choice>::LABELS.len();
                $crate::automation::Choice::from_index($crate::automation::choice_index(
                    value, count,
                ))
            }
        }
    };
}

/// Implements [`Automatable`] for a `Params` struct. Each entry names the field's place (in
/// brackets: `[threshold]`, `[low.threshold]`, `[bands[2].gain]`), its JSON key, its host name
/// and its [`Kind`]; the field's type converts through [`HostValue`].
///
/// ```ignore
/// automatable!(Params {
///     [threshold] "threshold", "Threshold", Kind::linear(THRESHOLD_RANGE, "dB");
///     [mode] "mode", "Mode", Kind::choice::<Mode>();
/// });
/// ```
#[macro_export]
macro_rules! automatable {
    ($ty:ty { $([$($place:tt)+] $key:literal, $name:literal, $kind:expr);+ $(;)? }) => {
        impl $crate::automation::Automatable for $ty {
            const SPECS: &'static [$crate::automation::Spec] = &[
                $($crate::automation::Spec { key: $key, name: $name, kind: $kind }),+
            ];

            #[allow(unused_assignments)]
            fn get(&self, index: usize) -> f32 {
                let mut at = 0;
                $(
                    if index == at {
                        return $crate::automation::HostValue::to_host(self.$($place)+);
                    }
                    at += 1;
                )+
                0.0
            }

            #[allow(unused_assignments)]
            fn set(&mut self, index: usize, value: f32) {
                let mut at = 0;
                $(
                    if index == at {
                        self.$($place)+ = $crate::automation::HostValue::from_host(value);
                        return;
                    }
                    at += 1;
                )+
            }
        }
    };
}

/// The note values a host can choose for a tempo-synced parameter: whole to 1/64, each straight,
/// dotted and triplet (what DAWs offer).
pub const NOTE_VALUES: [&str; 21] = [
    "1/1", "1/1D", "1/1T", "1/2", "1/2D", "1/2T", "1/4", "1/4D", "1/4T", "1/8", "1/8D", "1/8T",
    "1/16", "1/16D", "1/16T", "1/32", "1/32D", "1/32T", "1/64", "1/64D", "1/64T",
];

const NOTE_LABELS: [&str; 21] = NOTE_VALUES;

impl HostValue for Subdivision {
    /// The index in [`NOTE_VALUES`]; a value not in the list (e.g. "3/8" from a preset) reads
    /// as the nearest length.
    fn to_host(self) -> f32 {
        let beats = self.beats();
        let mut best = (0, f64::INFINITY);
        for (index, text) in NOTE_VALUES.iter().enumerate() {
            let candidate = Self::parse(text).map_or(1.0, Self::beats);
            let distance = (candidate.ln() - beats.ln()).abs();
            if distance < best.1 {
                best = (index, distance);
            }
        }
        best.0 as f32
    }

    fn from_host(value: f32) -> Self {
        Self::parse(NOTE_VALUES[choice_index(value, NOTE_VALUES.len())]).unwrap_or_default()
    }
}

impl HostValue for Key {
    fn to_host(self) -> f32 {
        f32::from(self.pitch_class())
    }

    fn from_host(value: f32) -> Self {
        Self::new(choice_index(value, 12) as u8)
    }
}

impl HostValue for Scale {
    fn to_host(self) -> f32 {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0) as f32
    }

    fn from_host(value: f32) -> Self {
        Self::ALL[choice_index(value, Self::ALL.len())]
    }
}

/// Test helpers every effect's `Automatable` impl runs through.
#[cfg(test)]
pub(crate) mod check {
    use super::*;

    /// Every spec round-trips its default; keys are unique and name a leaf of the serialised
    /// parameters; choices cover their index range; setting each parameter to its extremes
    /// changes only that parameter, and changes the JSON leaf its key names.
    pub(crate) fn specs_are_consistent<P>()
    where
        P: Automatable + Default + Clone + PartialEq + serde::Serialize,
    {
        let defaults = P::default();
        let json = serde_json::to_value(&defaults).expect("params serialise");
        let pointer = |key: &str| format!("/{}", key.replace('.', "/"));
        let mut keys: Vec<&str> = P::SPECS.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), before, "duplicate keys");
        for (index, spec) in P::SPECS.iter().enumerate() {
            let value = defaults.get(index);
            let mut copy = defaults.clone();
            copy.set(index, value);
            assert!(
                copy == defaults,
                "{}: default does not round-trip",
                spec.key
            );
            let (low, high) = match spec.kind {
                Kind::Float {
                    min,
                    max,
                    logarithmic,
                    ..
                } => {
                    assert!(min < max, "{}: empty range", spec.key);
                    assert!(!logarithmic || min > 0.0, "{}: log range from 0", spec.key);
                    assert!(
                        (min..=max).contains(&value),
                        "{}: default {value} outside {min}..={max}",
                        spec.key
                    );
                    (min, max)
                }
                Kind::Int { min, max } => {
                    assert!((min as f32..=max as f32).contains(&value), "{}", spec.key);
                    (min as f32, max as f32)
                }
                Kind::Toggle => (0.0, 1.0),
                Kind::Choice(labels) => {
                    assert!(value < labels.len() as f32, "{}", spec.key);
                    (0.0, (labels.len() - 1) as f32)
                }
            };
            assert!(
                json.pointer(&pointer(spec.key)).is_some(),
                "{}: not a field of the JSON parameters",
                spec.key
            );
            for extreme in [low, high] {
                let mut copy = defaults.clone();
                copy.set(index, extreme);
                assert_eq!(copy.get(index), extreme, "{}: {extreme} not kept", spec.key);
                if extreme != value {
                    let moved = serde_json::to_value(&copy).expect("params serialise");
                    assert_ne!(
                        moved.pointer(&pointer(spec.key)),
                        json.pointer(&pointer(spec.key)),
                        "{}: the host value does not reach its JSON field",
                        spec.key
                    );
                }
                for other in (0..P::SPECS.len()).filter(|&o| o != index) {
                    assert_eq!(
                        copy.get(other).to_bits(),
                        defaults.get(other).to_bits(),
                        "setting {} moved {}",
                        spec.key,
                        P::SPECS[other].key
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_values_and_keys_cross_as_indices() {
        for (index, text) in NOTE_VALUES.iter().enumerate() {
            let note = Subdivision::parse(text).unwrap();
            assert_eq!(note.to_host(), index as f32, "{text}");
            assert_eq!(Subdivision::from_host(index as f32), note);
        }
        assert_eq!(Subdivision::parse("3/8").unwrap().to_host(), 7.0, "= 1/4D");
        assert_eq!(
            Subdivision::from_host(f32::NAN),
            Subdivision::parse("1/1").unwrap()
        );
        assert_eq!(
            Subdivision::from_host(99.0),
            Subdivision::parse("1/64T").unwrap()
        );
        assert_eq!(Key::from_host(3.0), Key::parse("Eb").unwrap());
        assert_eq!(Scale::from_host(8.4), Scale::HarmonicMinor);
        assert_eq!(Scale::Blues.to_host(), 5.0);
        assert!(bool::from_host(0.5) && !bool::from_host(0.49));
    }
}
