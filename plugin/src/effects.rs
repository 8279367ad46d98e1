//! The effect chain as host parameters: one group per effect ("Effects/Chorus") holding its
//! on/off switch and every parameter the effect's `dsp::automation` specs list, read once per
//! block on the audio thread into the chain's settings, and the chain's reference-JSON preset
//! written with the plugin state.
//!
//! Ids are `<effect key>.on` and `<effect key>.<json path>` ("eq.bands.2.gain"): they are in
//! saved projects and automation lanes, so they follow the reference JSON, which never renames
//! a field. The parameters are built at run time from the specs (35 effects, a few hundred
//! parameters: a struct per effect written out by hand would repeat what `dsp` already says),
//! hence the hand-written [`Params`] implementation.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use dsp::automation::Kind;
use dsp::chain::{Preset, display_name};
use nice_plug::prelude::*;

/// The preset the standalone was started with (`--preset FILE`), the default of every effect
/// parameter when set. Set once, before the plugin is built.
static STANDALONE_PRESET: OnceLock<Preset> = OnceLock::new();

/// Makes `preset` the default of every effect parameter of plugins built from now on (the
/// standalone's `--preset`). Returns false if a preset was already set.
pub fn set_standalone_preset(preset: Preset) -> bool {
    STANDALONE_PRESET.set(preset).is_ok()
}

/// The state key the chain's reference JSON is saved under.
pub const STATE_KEY: &str = "effects";

/// One host parameter of an effect, typed as the host shows it.
pub enum HostParam {
    /// A continuous value.
    Float(FloatParam),
    /// A whole number, or one of a list of choices.
    Int(IntParam),
    /// A switch.
    Toggle(BoolParam),
}

/// One effect's switch and parameters as the editor shows them.
pub struct EffectView<'a> {
    /// Its display name ("Compressor").
    pub name: &'a str,
    /// Its on switch.
    pub enabled: &'a BoolParam,
    /// Its parameters, in the effect's order.
    pub params: &'a [HostParam],
}

impl HostParam {
    /// A parameter for `spec` at `default` (the effect's value, as `dsp::automation` gives it).
    fn new(name: String, kind: Kind, default: f32) -> Self {
        match kind {
            Kind::Float {
                min,
                max,
                unit,
                logarithmic,
            } => {
                let range = if logarithmic {
                    FloatRange::Skewed {
                        min,
                        max,
                        factor: FloatRange::skew_factor(-2.0),
                    }
                } else {
                    FloatRange::Linear { min, max }
                };
                let mut param = FloatParam::new(name, default.clamp(min, max), range)
                    .with_value_to_string(formatters::v2s_f32_rounded(2));
                if !unit.is_empty() {
                    param = param.with_unit(unit_suffix(unit));
                }
                Self::Float(param)
            }
            Kind::Int { min, max } => Self::Int(IntParam::new(
                name,
                (default.round() as i32).clamp(min, max),
                IntRange::Linear { min, max },
            )),
            Kind::Toggle => Self::Toggle(BoolParam::new(name, default >= 0.5)),
            Kind::Choice(labels) => {
                let last = labels.len().saturating_sub(1) as i32;
                Self::Int(
                    IntParam::new(
                        name,
                        (default.round() as i32).clamp(0, last),
                        IntRange::Linear { min: 0, max: last },
                    )
                    .with_value_to_string(Arc::new(move |index| {
                        labels
                            .get(usize::try_from(index).unwrap_or(0))
                            .copied()
                            .unwrap_or("")
                            .to_owned()
                    }))
                    .with_string_to_value(Arc::new(move |text| {
                        let text = text.trim();
                        labels
                            .iter()
                            .position(|label| label.eq_ignore_ascii_case(text))
                            .and_then(|index| i32::try_from(index).ok())
                    })),
                )
            }
        }
    }

    /// The current value as `dsp::automation` reads it.
    ///
    /// Audio thread: an atomic load.
    fn value(&self) -> f32 {
        match self {
            Self::Float(param) => param.value(),
            Self::Int(param) => param.value() as f32,
            Self::Toggle(param) => {
                if param.value() {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }

    fn ptr(&self) -> ParamPtr {
        match self {
            Self::Float(param) => param.as_ptr(),
            Self::Int(param) => param.as_ptr(),
            Self::Toggle(param) => param.as_ptr(),
        }
    }
}

/// The unit with the space a host shows before it (" Hz").
fn unit_suffix(unit: &'static str) -> &'static str {
    match unit {
        "Hz" => " Hz",
        "kHz" => " kHz",
        "ms" => " ms",
        "s" => " s",
        "dB" => " dB",
        "%" => " %",
        "ct" => " ct",
        "st" => " st",
        "°" => "°",
        "BPM" => " BPM",
        other => other,
    }
}

/// One effect's switch and parameters.
struct Group {
    /// Host ids, parallel to `params` (`<key>.<json path>`).
    ids: Vec<String>,
    /// "Effects/<name>" without the "Effects" the parent adds.
    group: String,
    enabled_id: String,
    enabled: BoolParam,
    params: Vec<HostParam>,
}

/// Every effect's host parameters, in chain order.
pub struct EffectParams {
    groups: Vec<Group>,
}

impl Default for EffectParams {
    /// Defaults from the standalone's preset if it was started with one, else the chain's
    /// defaults (everything off but the limiter).
    fn default() -> Self {
        Self::new(STANDALONE_PRESET.get().unwrap_or(&Preset::default()))
    }
}

impl EffectParams {
    /// Parameters whose defaults are `preset`'s values.
    pub fn new(preset: &Preset) -> Self {
        let groups = preset
            .units
            .iter()
            .map(|unit| {
                let key = unit.key();
                let name = display_name(key);
                let specs = unit.specs();
                Group {
                    ids: specs
                        .iter()
                        .map(|spec| format!("{key}.{}", spec.key))
                        .collect(),
                    group: name.to_owned(),
                    enabled_id: format!("{key}.on"),
                    enabled: BoolParam::new(format!("{name} On"), unit.enabled()),
                    params: specs
                        .iter()
                        .enumerate()
                        .map(|(index, spec)| {
                            // "Amp Type", not "Amp Amp Type".
                            let full = if spec.name.starts_with(name) {
                                spec.name.to_owned()
                            } else {
                                format!("{name} {}", spec.name)
                            };
                            HostParam::new(full, spec.kind, unit.get(index))
                        })
                        .collect(),
                }
            })
            .collect();
        Self { groups }
    }

    /// Copies the host's values into `preset` (built from the same chain), unit by unit, and
    /// calls `changed(index, &unit)` for every unit whose settings moved.
    ///
    /// Audio thread: atomic loads and copies; must not allocate, lock or block.
    pub fn read_into(
        &self,
        preset: &mut Preset,
        mut changed: impl FnMut(usize, &dsp::chain::UnitParams),
    ) {
        for (index, (group, unit)) in self.groups.iter().zip(&mut preset.units).enumerate() {
            let mut moved = false;
            let on = group.enabled.value();
            if on != unit.enabled() {
                unit.set_enabled(on);
                moved = true;
            }
            for (param_index, param) in group.params.iter().enumerate() {
                let value = param.value();
                if value.to_bits() != unit.get(param_index).to_bits() {
                    unit.set(param_index, value);
                    moved = true;
                }
            }
            if moved {
                changed(index, unit);
            }
        }
    }

    /// The host's values as a chain preset (export; off the audio thread).
    pub fn preset(&self) -> Preset {
        let mut preset = Preset::default();
        self.read_into(&mut preset, |_, _| {});
        preset
    }

    /// Sets every parameter whose value differs from `preset`'s through the host, one gesture
    /// each (begin, set, end), so the host records the change, automation sees it and undo
    /// brings the old values back; the audio thread then reads them like any other change.
    /// Returns how many parameters moved.
    ///
    /// GUI thread only.
    pub fn apply(&self, preset: &Preset, setter: &ParamSetter<'_>) -> usize {
        let mut moved = 0;
        for (group, unit) in self.groups.iter().zip(&preset.units) {
            moved += usize::from(set_if_moved(setter, &group.enabled, unit.enabled()));
            for (param_index, param) in group.params.iter().enumerate() {
                let value = unit.get(param_index);
                let changed = match param {
                    HostParam::Float(p) => set_if_moved(setter, p, value),
                    HostParam::Int(p) => set_if_moved(setter, p, value.round() as i32),
                    HostParam::Toggle(p) => set_if_moved(setter, p, value >= 0.5),
                };
                moved += usize::from(changed);
            }
        }
        moved
    }

    /// Every effect, in chain order.
    pub fn effects(&self) -> impl Iterator<Item = EffectView<'_>> {
        self.groups.iter().map(|group| EffectView {
            name: &group.group,
            enabled: &group.enabled,
            params: &group.params,
        })
    }

    /// How many host parameters the chain has, switches included.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| 1 + g.params.len()).sum()
    }

    /// Whether there are none (never: the chain always has its effects).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// Sets `param` to `value` through the host as one gesture, if it holds another value.
fn set_if_moved<P: Param>(setter: &ParamSetter<'_>, param: &P, value: P::Plain) -> bool
where
    P::Plain: PartialEq,
{
    if param.unmodulated_plain_value() == value {
        return false;
    }
    setter.begin_set_parameter(param);
    setter.set_parameter(param, value);
    setter.end_set_parameter(param);
    true
}

// SAFETY: every pointer handed out points at a parameter owned by `self.groups`, whose vectors
// are filled once in `new` and never resized or replaced, so the parameters do not move for as
// long as this object lives; nice-plug dereferences them only while it holds the `Arc` that
// owns this object (the contract of `Params::param_map`).
unsafe impl Params for EffectParams {
    fn param_map(&self) -> Vec<(String, ParamPtr, String)> {
        let mut map = Vec::with_capacity(self.len());
        for group in &self.groups {
            map.push((
                group.enabled_id.clone(),
                group.enabled.as_ptr(),
                group.group.clone(),
            ));
            for (id, param) in group.ids.iter().zip(&group.params) {
                map.push((id.clone(), param.ptr(), group.group.clone()));
            }
        }
        map
    }

    /// The chain as reference JSON, beside the parameters, so a saved project carries a preset
    /// any OSP Jam tool reads (`osp-fx render --preset`).
    fn serialize_fields(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(STATE_KEY.to_owned(), self.preset().to_json())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_effect_parameter_has_a_unique_stable_id_in_its_group() {
        let params = EffectParams::default();
        let map = params.param_map();
        assert_eq!(map.len(), params.len());
        let mut ids: Vec<&str> = map.iter().map(|(id, _, _)| id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), map.len(), "ids are unique");
        assert!(ids.contains(&"compressor.threshold"));
        assert!(ids.contains(&"limiter.on"));
        let (_, _, group) = map
            .iter()
            .find(|(id, _, _)| id == "compressor.makeupGain")
            .unwrap();
        assert_eq!(group, "Compressor");
    }

    #[test]
    fn defaults_are_the_chain_defaults_and_read_back_unchanged() {
        let params = EffectParams::default();
        let mut preset = Preset::default();
        let mut moved = Vec::new();
        params.read_into(&mut preset, |index, _| moved.push(index));
        assert!(moved.is_empty(), "defaults moved units {moved:?}");
        assert_eq!(params.preset().units, Preset::default().units);
    }

    #[test]
    fn a_preset_becomes_the_defaults_and_exports_as_itself() {
        let preset = Preset::from_json(
            r#"{"compressor": {"enabled": true, "threshold": -30, "ratio": 8},
                "limiter": {"enabled": false}}"#,
        )
        .unwrap();
        let params = EffectParams::new(&preset);
        assert_eq!(params.preset().units, preset.units);
        let state = params.serialize_fields();
        let saved = Preset::from_json(&state[STATE_KEY]).unwrap();
        assert_eq!(saved.units, preset.units);
    }
}
