//! Audio payloads: PCM in every accepted format and Opus packets.

use codec::{opus, pcm};

/// PCM payloads in every format we accept.
pub fn pcm(data: &[u8]) {
    let mut out = vec![0f32; data.len()];
    for format in [
        pcm::Format::L16,
        pcm::Format::L24,
        pcm::Format::S24In32Le,
        pcm::Format::S24PackedLe,
        pcm::Format::F32Le,
    ] {
        if let Ok(n) = pcm::decode(format, data, &mut out) {
            assert!(n <= out.len());
            // Nothing a sender does may put NaN, infinities or overs into the mix.
            assert!(
                out[..n]
                    .iter()
                    .all(|x| x.is_finite() && x.abs() <= 1.0 + 1e-6)
            );
        }
    }
}

/// Opus packets into a stereo decoder.
pub fn opus(data: &[u8]) {
    let mut decoder = opus::Decoder::new(2).unwrap();
    let mut out = vec![0f32; 2 * 5760];
    if let Ok(n) = decoder.decode(data, &mut out) {
        assert!(n <= 5760);
    }
}

/// Seeds of the audio targets: 40 counting bytes of PCM, and one 10 ms stereo Opus packet of a
/// tone.
pub(crate) fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "pcm" => vec![(0..40u8).collect()],
        "opus" => {
            let mut encoder = opus::Encoder::new(opus::Config {
                channels: 2,
                frame: opus::FrameDuration::Ms10,
                bitrate: 96_000,
                complexity: 5,
                constant_bitrate: false,
            })
            .unwrap();
            let pcm: Vec<f32> = (0..960).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
            let mut out = vec![0u8; opus::MAX_PACKET];
            let n = encoder.encode(&pcm, &mut out).unwrap();
            vec![out[..n].to_vec()]
        }
        _ => Vec::new(),
    }
}
