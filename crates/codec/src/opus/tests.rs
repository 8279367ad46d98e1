//! Opus round trips for every frame size, CBR sizes, PLC, bad input, and allocation freedom.

use super::*;

const SR: f64 = 48_000.0;

fn sine_stereo(freq: f64, amp: f32, frames: usize) -> Vec<f32> {
    (0..frames)
        .flat_map(|i| {
            let s = amp * (2.0 * std::f64::consts::PI * freq * i as f64 / SR).sin() as f32;
            [s, s]
        })
        .collect()
}

/// Encodes and decodes `input` frame by frame; returns the decoded signal and packet sizes.
fn round_trip(config: Config, input: &[f32]) -> (Vec<f32>, Vec<usize>) {
    let mut encoder = Encoder::new(config).unwrap();
    let mut decoder = Decoder::new(config.channels).unwrap();
    let frame = encoder.frame_samples();
    let mut packet = [0u8; MAX_PACKET];
    let mut decoded = vec![0f32; input.len()];
    let mut sizes = Vec::new();
    for (pcm, out) in input
        .chunks_exact(frame)
        .zip(decoded.chunks_exact_mut(frame))
    {
        let n = rt::guard::no_alloc(|| encoder.encode(pcm, &mut packet)).unwrap();
        let got = rt::guard::no_alloc(|| decoder.decode(&packet[..n], out)).unwrap();
        assert_eq!(got * config.channels, frame);
        sizes.push(n);
    }
    (decoded, sizes)
}

/// SNR in dB of `decoded` against `input` delayed by the codec look-ahead (left channel).
fn snr_db(input: &[f32], decoded: &[f32], skip_frames: usize) -> f64 {
    let delay = LOOKAHEAD_SAMPLES;
    let (mut signal, mut noise) = (0.0f64, 0.0f64);
    for n in skip_frames..input.len() / 2 {
        let x = f64::from(input[2 * (n - delay)]);
        let y = f64::from(decoded[2 * n]);
        signal += x * x;
        noise += (y - x) * (y - x);
    }
    10.0 * (signal / noise).log10()
}

#[test]
fn every_frame_size_round_trips_a_sine_after_the_2_5_ms_lookahead() {
    let input = sine_stereo(440.0, 0.5, 48_000);
    for frame in [
        FrameDuration::Ms2_5,
        FrameDuration::Ms5,
        FrameDuration::Ms10,
        FrameDuration::Ms20,
    ] {
        let config = Config {
            frame,
            bitrate: 128_000,
            ..Config::default()
        };
        let (decoded, _) = round_trip(config, &input);
        let snr = snr_db(&input, &decoded, 4_800);
        eprintln!("{frame:?}: SNR {snr:.1} dB");
        assert!(snr > 35.0, "{frame:?}: SNR {snr:.1} dB");
    }
}

#[test]
fn hard_cbr_packets_all_have_the_size_the_bitrate_implies() {
    for (frame, bitrate) in [
        (FrameDuration::Ms2_5, 96_000u32),
        (FrameDuration::Ms10, 64_000),
    ] {
        let config = Config {
            frame,
            bitrate,
            constant_bitrate: true,
            ..Config::default()
        };
        let (_, sizes) = round_trip(config, &sine_stereo(1_000.0, 0.3, 9_600));
        let expected = bitrate as usize * frame.samples() / 48_000 / 8;
        assert!(
            sizes.iter().all(|&s| s == expected),
            "{frame:?}: {sizes:?} vs {expected}"
        );
    }
}

#[test]
fn bitrate_changes_take_effect_and_ranges_are_enforced() {
    let mut encoder = Encoder::new(Config {
        constant_bitrate: true,
        ..Config::default()
    })
    .unwrap();
    let pcm = sine_stereo(440.0, 0.5, 240);
    let mut packet = [0u8; MAX_PACKET];
    assert_eq!(encoder.encode(&pcm, &mut packet), Ok(80)); // 128 kb/s x 5 ms
    rt::guard::no_alloc(|| encoder.set_bitrate(256_000)).unwrap();
    assert_eq!(encoder.encode(&pcm, &mut packet), Ok(160));
    assert_eq!(encoder.set_bitrate(15_999), Err(Error::Bitrate(15_999)));
    assert_eq!(encoder.set_bitrate(510_001), Err(Error::Bitrate(510_001)));
    assert_eq!(encoder.config().bitrate, 256_000);
    assert!(matches!(
        Encoder::new(Config {
            complexity: 11,
            ..Config::default()
        }),
        Err(Error::Complexity(11))
    ));
    assert!(matches!(
        Encoder::new(Config {
            channels: 3,
            ..Config::default()
        }),
        Err(Error::Channels(3))
    ));
    assert_eq!(
        encoder.encode(&pcm[..100], &mut packet),
        Err(Error::FrameSize {
            expected: 480,
            got: 100
        })
    );
}

#[test]
fn concealment_fills_a_frame_and_fades_out() {
    let config = Config::default();
    let input = sine_stereo(440.0, 0.5, 4_800);
    let mut encoder = Encoder::new(config).unwrap();
    let mut decoder = Decoder::new(2).unwrap();
    let mut packet = [0u8; MAX_PACKET];
    let mut out = [0f32; 480];
    for pcm in input.chunks_exact(480) {
        let n = encoder.encode(pcm, &mut packet).unwrap();
        decoder.decode(&packet[..n], &mut out).unwrap();
    }
    let mut energies = Vec::new();
    for _ in 0..40 {
        let got = rt::guard::no_alloc(|| decoder.conceal(FrameDuration::Ms5, &mut out)).unwrap();
        assert_eq!(got, 240);
        assert!(out.iter().all(|s| s.is_finite()));
        energies.push(out.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>());
    }
    assert!(
        energies[0] > 1.0,
        "first concealed frame continues the signal: {}",
        energies[0]
    );
    assert!(
        energies[39] < energies[0] * 0.01,
        "PLC fades: {} -> {}",
        energies[0],
        energies[39]
    );
    assert_eq!(
        decoder.conceal(FrameDuration::Ms10, &mut out[..100]),
        Err(Error::FrameSize {
            expected: 960,
            got: 100
        })
    );
}

#[test]
fn corrupt_and_random_packets_are_errors_or_audio_never_panics() {
    let mut decoder = Decoder::new(2).unwrap();
    let mut out = [0f32; 2 * 960];
    assert_eq!(decoder.decode(&[], &mut out), Err(Error::Opus(-4)));
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..5_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = 1 + (state % 400) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|i| (state >> (i % 56)) as u8 ^ i as u8)
            .collect();
        if let Ok(frames) = decoder.decode(&bytes, &mut out) {
            assert!(frames * 2 <= out.len());
            assert!(out[..frames * 2].iter().all(|s| s.is_finite()));
        }
    }
}
