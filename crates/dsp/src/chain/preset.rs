//! The preset model: the reference preset JSON (an object keyed by effect key, each value a
//! partial parameter object), read into every effect's parameters in chain order.

use super::registry::{EFFECT_ORDER, UnitParams};
use serde_json::Value;

/// Why a preset was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum PresetError {
    /// The text is not JSON, or not a JSON object (the author's fault; fix the file).
    NotAnObject(String),
    /// An effect's parameters have the wrong types (the author's fault).
    BadParams {
        /// The effect key.
        key: String,
        /// What serde said.
        message: String,
    },
}

impl std::fmt::Display for PresetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAnObject(message) => write!(f, "preset is not a JSON object: {message}"),
            Self::BadParams { key, message } => write!(f, "effect \"{key}\": {message}"),
        }
    }
}

impl std::error::Error for PresetError {}

/// A whole-chain preset: every effect's parameters (defaults where the JSON says nothing),
/// plus the keys the JSON named that are no effect.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// Parameters of every effect, in chain order.
    pub units: Vec<UnitParams>,
    /// Keys that are no effect of docs/effects.md §3.
    pub unknown: Vec<String>,
}

impl Default for Preset {
    /// Every effect at its defaults: all off except the limiter (docs/effects.md §3).
    fn default() -> Self {
        let mut units = UnitParams::all_defaults();
        units.sort_by_key(|p| chain_position(p.key()));
        Self {
            units,
            unknown: Vec::new(),
        }
    }
}

impl Preset {
    /// Parses the reference preset JSON. Effect keys and parameter keys may be snake_case
    /// (docs/effects.md §3.4) or a listed alias.
    ///
    /// # Errors
    /// [`PresetError`] if the text is not a JSON object or an effect's parameters
    /// have the wrong types. Keys that name no effect are listed in `unknown`, not refused.
    pub fn from_json(text: &str) -> Result<Self, PresetError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| PresetError::NotAnObject(e.to_string()))?;
        let Value::Object(map) = value else {
            return Err(PresetError::NotAnObject(
                "top level is not an object".into(),
            ));
        };
        let mut preset = Self::default();
        for (raw_key, params) in map {
            let key = canonical_key(&raw_key);
            let Some(key) = key else {
                preset.unknown.push(raw_key);
                continue;
            };
            match UnitParams::from_json(key, camel_case_keys(params)) {
                Some(Ok(parsed)) => {
                    if let Some(slot) = preset.units.iter_mut().find(|u| u.key() == key) {
                        // Kept as the effect will run them: a number out of range (1e300,
                        // −5 voices) reads as its range end, and writes back as such.
                        *slot = parsed.clamped();
                    }
                }
                Some(Err(e)) => {
                    return Err(PresetError::BadParams {
                        key: key.into(),
                        message: e.to_string(),
                    });
                }
                // Every key of EFFECT_ORDER has a unit (a test holds the two tables together).
                None => {}
            }
        }
        Ok(preset)
    }

    /// A preset with only `key` enabled (at its defaults) and everything else off.
    pub fn single(key: &str) -> Option<Self> {
        let key = canonical_key(key)?;
        let mut map = serde_json::Map::new();
        map.insert("limiter".into(), serde_json::json!({"enabled": false}));
        map.insert(key.into(), serde_json::json!({"enabled": true}));
        Self::from_json(&Value::Object(map).to_string()).ok()
    }

    /// The preset as reference JSON: an object keyed by effect key, every parameter written.
    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, Value> = self
            .units
            .iter()
            .map(|params| (params.key().to_owned(), params.to_json()))
            .collect();
        serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default()
    }

    /// Every effect off (the limiter too): the chain is an exact identity.
    pub fn bypass() -> Self {
        Self::from_json(r#"{"limiter": {"enabled": false}}"#).expect("valid")
    }
}

pub(super) fn chain_position(key: &str) -> usize {
    EFFECT_ORDER
        .iter()
        .position(|info| info.key == key)
        .unwrap_or(usize::MAX)
}

/// The §10 key for `raw` (camelCase, snake_case or an alias), if it names an effect.
fn canonical_key(raw: &str) -> Option<&'static str> {
    let camel = snake_to_camel(raw);
    EFFECT_ORDER
        .iter()
        .find(|info| info.key == camel || info.aliases.contains(&camel.as_str()))
        .map(|info| info.key)
}

fn snake_to_camel(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut upper = false;
    for c in text.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `value` with every object key turned from snake_case into camelCase.
fn camel_case_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (snake_to_camel(&k), camel_case_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_case_keys).collect()),
        other => other,
    }
}
