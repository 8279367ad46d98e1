//! The chain and its presets: defaults, aliases, switching without clicks, latency.

use super::*;
use crate::chain::preset::chain_position;
use crate::effects::conformance::render;
use crate::test_support::{FS, Noise};

#[test]
fn presets_fill_defaults_and_list_unknown_effects() {
    let preset = Preset::from_json(
        r#"{"compressor": {"enabled": true, "threshold": -20},
            "noise_gate": {"enabled": true, "hold_ms": 1, "hold": 20},
            "shimmerReverb": {"enabled": true}, "ampSimulator": {}, "sparkles": {}}"#,
    )
    .unwrap();
    let keys: Vec<&str> = preset.units.iter().map(UnitParams::key).collect();
    assert_eq!(preset.unknown, ["sparkles"]);
    assert!(
        keys.windows(2)
            .all(|pair| chain_position(pair[0]) < chain_position(pair[1])),
        "units in chain order: {keys:?}"
    );
    assert_eq!(
        keys.len(),
        EFFECT_ORDER.len(),
        "all 35 effects are in the chain"
    );
    let unit = |key: &str| preset.units.iter().find(|u| u.key() == key).unwrap();
    let UnitParams::Compressor(compressor) = unit("compressor") else {
        panic!("order")
    };
    assert_eq!(
        (compressor.enabled, compressor.threshold, compressor.ratio),
        (true, -20.0, 4.0)
    );
    let UnitParams::NoiseGate(gate) = unit("noiseGate") else {
        panic!("order")
    };
    assert_eq!(gate.hold, 20.0);
    assert!(unit("limiter").enabled(), "the limiter defaults on");
    assert!(matches!(unit("amp"), UnitParams::Amp(amp) if !amp.enabled));
    assert!(matches!(
        Preset::from_json(r#"{"limiter": {"ceiling": "loud"}}"#),
        Err(PresetError::BadParams { .. })
    ));
    assert!(matches!(
        Preset::from_json("[1]"),
        Err(PresetError::NotAnObject(_))
    ));
    assert!(Preset::single("multiband_compressor").is_some());
    assert!(Preset::single("reverb").is_some());
}

/// Everything off: the output is the input, bit for bit, with no latency; a preset change on
/// the audio thread does not allocate.
#[test]
fn bypass_is_exact_and_preset_changes_do_not_allocate() {
    let mut chain = Chain::new(&Preset::bypass());
    chain.prepare(&ProcessSpec::stereo(FS, 1024));
    assert_eq!(chain.latency(), 0);
    let mut rng = Noise::new(3);
    let input: Vec<f32> = (0..20_000).map(|_| rng.next_f64() as f32).collect();
    let (mut left, mut right) = (input.clone(), input.clone());
    render(&mut chain, &mut left, &mut right, || 300);
    assert_eq!(left, input);

    let everything = Preset::from_json(
        r#"{"wah": {"enabled": true, "mode": "auto"}, "overdrive": {"enabled": true},
            "distortion": {"enabled": true, "type": "fuzz"}, "amp": {"enabled": true},
            "cabinet": {"enabled": true, "micPosition": "room"},
            "exciter": {"enabled": true}, "bitcrusher": {"enabled": true, "bits": 12},
            "multiFilter": {"enabled": true, "tempoSync": true, "lfoDepth": 50},
            "ringModulator": {"enabled": true, "mix": 30},
            "noiseGate": {"enabled": true}, "deEsser": {"enabled": true},
            "transientShaper": {"enabled": true, "attack": 50}, "eq": {"enabled": true},
            "compressor": {"enabled": true}, "multibandCompressor": {"enabled": true},
            "stereoImager": {"enabled": true, "width": 150}, "limiter": {"enabled": true}}"#,
    )
    .unwrap();
    rt::guard::no_alloc(|| chain.set_preset(&everything));
    rt::guard::no_alloc(|| {
        chain.set_context(&RoomContext {
            tempo_bpm: 90.0,
            beat_position: Some(3.25),
            ..RoomContext::default()
        });
    });
    // Switched on: the limiter's lookahead (96), 46 each for the 4x effects (overdrive,
    // distortion, amp), 39 for the 2x exciter.
    assert_eq!(chain.latency(), 96 + 3 * 46 + 39);
    let (mut left, mut right) = (input.clone(), input.clone());
    render(&mut chain, &mut left, &mut right, || 300);
    assert!(
        left.iter()
            .chain(&right)
            .all(|y| y.is_finite() && y.abs() <= 1.0)
    );
}

/// Switching crossfades over exactly 10 ms between the input and the effect's output: on,
/// from a freshly reset effect; off, from the effect still running. Between fades the
/// output is the input or the effect alone, bit for bit.
#[test]
fn switching_crossfades_between_input_and_effect() {
    let on = Preset::from_json(
        r#"{"limiter": {"enabled": false},
            "ringModulator": {"enabled": true, "frequency": 300, "mix": 100}}"#,
    )
    .unwrap();
    let mut off = on.clone();
    for params in &mut off.units {
        params.set_enabled(false);
    }
    let (switch_on, switch_off, len) = (1_000, 5_000, 8_000);
    let mut rng = Noise::new(9);
    let input: Vec<f32> = (0..len).map(|_| 0.5 * rng.next_f64() as f32).collect();

    let mut chain = Chain::new(&off);
    chain.prepare(&ProcessSpec::stereo(FS, 1024));
    let (mut left, mut right) = (input.clone(), input.clone());
    for (start, end, preset) in [
        (0, switch_on, &off),
        (switch_on, switch_off, &on),
        (switch_off, len, &off),
    ] {
        rt::guard::no_alloc(|| chain.set_preset(preset));
        let (l, r) = (&mut left[start..end], &mut right[start..end]);
        render(&mut chain, l, r, || 256);
    }

    // The effect alone, fresh at the switch-on.
    let mut alone = Chain::new(&on);
    alone.prepare(&ProcessSpec::stereo(FS, 1024));
    let (mut wet, mut wet_right) = (input[switch_on..].to_vec(), input[switch_on..].to_vec());
    render(&mut alone, &mut wet, &mut wet_right, || 256);

    let fade = (SWITCH_FADE_S * FS) as usize;
    assert_eq!(fade, 480);
    for n in 0..len {
        let gain = if n < switch_on {
            0.0
        } else if n < switch_off {
            ((n - switch_on + 1).min(fade)) as f32 / fade as f32
        } else {
            fade.saturating_sub(n - switch_off + 1) as f32 / fade as f32
        };
        let effect = if n < switch_on {
            0.0
        } else {
            wet[n - switch_on]
        };
        let expected = match gain {
            0.0 => input[n],
            1.0 => effect,
            _ => input[n] + gain * (effect - input[n]),
        };
        assert!(
            (left[n] - expected).abs() <= 1e-6,
            "sample {n}: {} vs {expected}",
            left[n]
        );
        if gain == 0.0 || gain == 1.0 {
            assert_eq!(left[n], expected, "sample {n} exact outside fades");
        }
    }
    assert_eq!(chain.latency(), 0);
    assert!(!chain.slots().iter().any(Slot::is_running));
}

/// A host value anywhere in `kind`'s range.
fn random_value(kind: crate::automation::Kind, uniform: &mut impl FnMut() -> f64) -> f32 {
    use crate::automation::Kind;
    match kind {
        Kind::Float { min, max, .. } => min + (max - min) * uniform() as f32,
        Kind::Int { min, max } => {
            (f64::from(min) + f64::from(max - min) * uniform()).round() as f32
        }
        Kind::Toggle => f32::from(u8::from(uniform() > 0.5)),
        Kind::Choice(labels) => ((uniform() * labels.len() as f64) as usize % labels.len()) as f32,
    }
}

/// Export then import gives back the same preset, with every host parameter of every
/// effect set at random.
#[test]
fn presets_round_trip_through_reference_json() {
    let mut preset = Preset::default();
    let mut rng = Noise::new(5);
    let mut uniform = move || (rng.next_f64() + 1.0) / 2.0;
    for params in &mut preset.units {
        for (index, spec) in params.specs().iter().enumerate() {
            params.set(index, random_value(spec.kind, &mut uniform));
        }
        params.set_enabled(uniform() > 0.5);
    }
    let json = preset.to_json();
    let back = Preset::from_json(&json).unwrap();
    assert!(back.unknown.is_empty());
    for (read, written) in back.units.iter().zip(&preset.units) {
        // Read back as the effect runs it (the phaser's stages are even, say).
        assert_eq!(*read, written.clamped(), "{}", read.key());
    }
}

/// The whole chain, every effect on, for 10,000 blocks of random sizes while random host
/// parameters move and effects switch on and off: no allocation (render runs each block
/// under the guard), finite output, never above the limiter's 0 dBFS ceiling.
#[test]
fn the_full_chain_survives_random_automation_without_allocating() {
    let mut preset = Preset::default();
    for params in &mut preset.units {
        params.set_enabled(true);
    }
    let mut chain = Chain::new(&preset);
    chain.prepare(&ProcessSpec::stereo(FS, 1024));
    let mut rng = Noise::new(77);
    let mut uniform = move || (rng.next_f64() + 1.0) / 2.0;
    let (source_left, source_right) = crate::effects::conformance::programme(48_000, 4);
    let mut position = 0;
    let mut peak = 0.0f32;
    for block in 0..10_000 {
        // A few parameter moves per block, anywhere in the chain.
        for _ in 0..3 {
            let slot = (uniform() * preset.units.len() as f64) as usize % preset.units.len();
            let params = &mut preset.units[slot];
            let specs = params.specs();
            if specs.is_empty() {
                continue;
            }
            let index = (uniform() * specs.len() as f64) as usize % specs.len();
            let value = random_value(specs[index].kind, &mut uniform);
            params.set(index, value);
            // The limiter stays on: it is what bounds the chain's output.
            if uniform() < 0.05 && params.key() != "limiter" {
                let on = !params.enabled();
                params.set_enabled(on);
            }
            let params = params.clone();
            rt::guard::no_alloc(|| chain.slots_mut()[slot].set_params(&params));
        }
        let context = RoomContext {
            tempo_bpm: 60.0 + 120.0 * uniform(),
            beat_position: Some(block as f64 * 0.1),
            ..RoomContext::default()
        };
        rt::guard::no_alloc(|| chain.set_context(&context));
        let frames = 1 + (uniform() * 255.0) as usize;
        let mut left = [0.0f32; 256];
        let mut right = [0.0f32; 256];
        for n in 0..frames {
            left[n] = source_left[(position + n) % source_left.len()];
            right[n] = source_right[(position + n) % source_right.len()];
        }
        position += frames;
        render(
            &mut chain,
            &mut left[..frames],
            &mut right[..frames],
            || frames,
        );
        for y in left[..frames].iter().chain(&right[..frames]) {
            assert!(y.is_finite(), "block {block}: non-finite output");
            peak = peak.max(y.abs());
        }
    }
    assert!(peak <= 1.0 + 1e-6, "peak {peak}");
}
