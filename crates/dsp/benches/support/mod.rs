//! What the dsp benches share: the docs/effects.md §5 stimulus.

/// A pluck-like stereo stimulus: the docs/effects.md §5 arpeggio (E2 B2 E3 G3 B3 E4 B3 G3) at 4
/// notes a second, each note eight harmonics whose upper partials die faster (as a string's do),
/// the right channel 11 ms late, a little seeded noise, −3 dBFS peak. Realistic levels matter:
/// gates, compressors and limiters take different paths above and below threshold.
pub(crate) fn stimulus(sample_rate: f64, seconds: f64) -> (Vec<f32>, Vec<f32>) {
    const NOTES_HZ: [f64; 8] = [82.41, 123.47, 164.81, 196.0, 246.94, 329.63, 246.94, 196.0];
    let frames = (sample_rate * seconds) as usize;
    let note_len = frames / NOTES_HZ.len();
    let mut mono = vec![0.0f64; frames];
    for (i, hz) in NOTES_HZ.iter().enumerate() {
        // Each note rings on under the next ones until the buffer ends.
        for (n, out) in mono.iter_mut().enumerate().skip(i * note_len) {
            let t = (n - i * note_len) as f64 / sample_rate;
            for k in 1..=8 {
                let k = f64::from(k);
                let decay = (-t * (2.0 + 1.5 * k)).exp();
                *out += decay / k * (std::f64::consts::TAU * hz * k * t).sin();
            }
        }
    }
    // xorshift64: deterministic, and good enough for a −50 dB hiss.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let delay = (0.011 * sample_rate) as usize;
    let mut left = Vec::with_capacity(frames);
    let mut right = Vec::with_capacity(frames);
    for n in 0..frames {
        left.push(mono[n] + 0.006 * noise());
        right.push(n.checked_sub(delay).map_or(0.0, |m| mono[m]) + 0.006 * noise());
    }
    let peak = left
        .iter()
        .chain(&right)
        .fold(0.0f64, |p, s| p.max(s.abs()));
    let gain = 10f64.powf(-3.0 / 20.0) / peak;
    let scale = |v: Vec<f64>| v.into_iter().map(|s| (s * gain) as f32).collect();
    (scale(left), scale(right))
}
