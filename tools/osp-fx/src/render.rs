//! Runs the effect chain over decoded audio: picks the preset (`--preset`, `--effect`,
//! `--bypass`), prepares the chain at the file's rate, processes block by block under the
//! denormal guard, and optionally removes the chain's latency.

use crate::wav::Audio;
use anyhow::{Context, Result, anyhow, bail};
use dsp::chain::{Chain, Preset};
use dsp::effect::{Block, ProcessSpec, process_guarded};
use serde_json::{Map, Value};
use std::time::{Duration, Instant};

/// Which preset to render with.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    /// The preset file's text, if one was given.
    pub(crate) preset_text: Option<String>,
    /// Only this effect enabled (with the preset file's parameters for it, if any).
    pub(crate) effect: Option<String>,
    /// Every effect off.
    pub(crate) bypass: bool,
}

/// What a render measured.
#[derive(Debug)]
pub(crate) struct Report {
    /// Frames processed (including the flushed tail when compensating).
    pub(crate) frames: usize,
    /// Time spent in `process` calls only.
    pub(crate) elapsed: Duration,
    /// The chain's latency in samples.
    pub(crate) latency: usize,
}

/// The reference keys of every effect this build implements, in chain order.
pub(crate) fn effect_keys() -> Vec<&'static str> {
    Preset::default().units.iter().map(|u| u.key()).collect()
}

/// The implemented effect `raw` names (camelCase, snake_case or alias), if any.
fn canonical_key(raw: &str) -> Option<&'static str> {
    // `Preset::single` already knows the spelling rules; the one unit it switches on is `raw`.
    Preset::single(raw)?
        .units
        .iter()
        .find(|u| u.enabled())
        .map(|u| u.key())
}

/// Builds the preset and prints the chain's warnings (unknown, not implemented) to stderr.
pub(crate) fn preset(selection: &Selection) -> Result<Preset> {
    let from_file = match &selection.preset_text {
        Some(text) => Some(Preset::from_json(text).map_err(|e| anyhow!("bad preset: {e}"))?),
        None => None,
    };
    if let Some(file) = &from_file {
        for key in &file.unknown {
            eprintln!("warning: preset: \"{key}\" is no OSP effect; ignored");
        }
    }
    if selection.bypass {
        return Ok(Preset::bypass());
    }
    let Some(raw) = &selection.effect else {
        return from_file
            .ok_or_else(|| anyhow!("nothing to render: give --preset, --effect or --bypass"));
    };
    let key = canonical_key(raw).ok_or_else(|| {
        anyhow!(
            "unknown or not implemented effect \"{raw}\"; available: {}",
            effect_keys().join(", ")
        )
    })?;
    let Some(text) = &selection.preset_text else {
        return Preset::single(key).context("effect vanished");
    };
    // The file's parameters for `key`, switched on, and every other effect off (the limiter
    // defaults on, so it is named explicitly).
    let Ok(Value::Object(file)) = serde_json::from_str::<Value>(text) else {
        bail!("bad preset: not a JSON object");
    };
    let mut params = file
        .into_iter()
        .find(|(k, _)| canonical_key(k) == Some(key))
        .map_or_else(|| Value::Object(Map::new()), |(_, v)| v);
    let Value::Object(fields) = &mut params else {
        bail!("bad preset: \"{key}\" is not an object");
    };
    fields.insert("enabled".into(), Value::Bool(true));
    let mut only = Map::new();
    only.insert("limiter".into(), serde_json::json!({"enabled": false}));
    only.insert(key.into(), params);
    Preset::from_json(&Value::Object(only).to_string()).map_err(|e| anyhow!("bad preset: {e}"))
}

/// Renders `audio` through a chain built from `preset`, in place, `block` frames at a time.
/// With `compensate`, the chain's latency is flushed with zeros and removed from the start, so
/// the output lines up with the input and has its length.
pub(crate) fn render(preset: &Preset, audio: &mut Audio, block: usize, compensate: bool) -> Report {
    let mut chain = Chain::new(preset);
    chain.prepare(&ProcessSpec::stereo(f64::from(audio.sample_rate), block));
    let latency = chain.latency();
    let frames = audio.frames();
    let tail = if compensate { latency } else { 0 };

    // The chain is stereo: a mono file runs as two equal channels (dual mono), one written back.
    let mono = audio.channels.len() == 1;
    let mut left = std::mem::take(&mut audio.channels[0]);
    let mut right = if mono {
        left.clone()
    } else {
        std::mem::take(&mut audio.channels[1])
    };
    left.resize(frames + tail, 0.0);
    right.resize(frames + tail, 0.0);

    let start = Instant::now();
    for (l, r) in left.chunks_mut(block).zip(right.chunks_mut(block)) {
        process_guarded(&mut chain, &mut Block::new(l, r));
    }
    let elapsed = start.elapsed();

    left.drain(..tail);
    right.drain(..tail);
    audio.channels = if mono { vec![left] } else { vec![left, right] };
    Report {
        frames: frames + tail,
        elapsed,
        latency,
    }
}
