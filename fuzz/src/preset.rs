//! Effect-chain presets in their reference JSON.

/// Effect-chain presets (reference JSON from files, the plugin state and the room): any text
/// is a preset or a clear error, and a preset writes back to JSON that reads as itself.
pub fn preset(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(parsed) = dsp::chain::Preset::from_json(&text) {
        let again =
            dsp::chain::Preset::from_json(&parsed.to_json()).expect("a preset's own JSON parses");
        assert_eq!(again.units, parsed.units);
    }
}

/// One preset touching every kind of field: out-of-range numbers, bands, tempo sync, custom
/// intervals, nested bands, enum names and a disabled unit.
pub(crate) fn seeds() -> Vec<Vec<u8>> {
    vec![
        br#"{"compressor": {"enabled": true, "threshold": -20, "ratio": 1e300},
                "eq": {"bands": [{"frequency": 100, "gain": 6, "type": "lowshelf"}]},
                "delay": {"tempoSync": true, "subdivision": "1/8D"},
                "harmonizer": {"harmonyType": "custom", "customIntervals": [3, 7, -12, 24, 5]},
                "multibandCompressor": {"lowBand": {"threshold": -30}},
                "reverb": {"type": "plate"}, "limiter": {"enabled": false}}"#
            .to_vec(),
    ]
}
