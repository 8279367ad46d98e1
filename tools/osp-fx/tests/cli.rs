//! End-to-end checks of the `osp-fx` binary: writes WAV files into a temporary directory, runs
//! the renderer and compares the output numerically (bit-exact bypass, the compressor's static
//! curve, integer decoding, refusals with exit code 2).

use std::f64::consts::TAU;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FS: u32 = 48_000;

/// A fresh directory for one test (tests run in parallel, so each has its own).
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("osp-fx-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn osp_fx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_osp-fx"))
        .args(args)
        .output()
        .expect("run osp-fx")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn write_f32(path: &Path, channels: u16, interleaved: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: FS,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for &s in interleaved {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
}

fn write_int(path: &Path, channels: u16, bits: u16, interleaved: &[i32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: FS,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for &s in interleaved {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
}

/// The output file's spec and interleaved samples (always 32-bit float).
fn read_f32(path: &Path) -> (hound::WavSpec, Vec<f32>) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_format, spec.bits_per_sample),
        (hound::SampleFormat::Float, 32)
    );
    let samples = reader.samples::<f32>().map(Result::unwrap).collect();
    (spec, samples)
}

/// Deterministic noise in ±0.5 (a small LCG: the test needs variety, not quality).
fn noise(n: usize, mut seed: u64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            ((seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

fn assert_exit_2(output: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{what}: stderr {stderr}");
    assert!(stderr.contains("error"), "{what}: no message: {stderr}");
}

#[test]
fn bypass_is_exact_and_a_latent_chain_delayed_without_compensation() {
    let dir = temp_dir("bypass");
    let (input, out, delayed) = (dir.join("in.wav"), dir.join("out.wav"), dir.join("d.wav"));
    let samples = noise(2 * 10_007, 1);
    write_f32(&input, 2, &samples);

    let run = osp_fx(&[
        "render",
        "--bypass",
        "--compensate",
        "--block",
        "100",
        path_str(&input),
        path_str(&out),
    ]);
    assert!(run.status.success(), "{run:?}");
    let (spec, output) = read_f32(&out);
    assert_eq!((spec.channels, spec.sample_rate), (2, FS));
    assert!(
        output
            .iter()
            .map(|s| s.to_bits())
            .eq(samples.iter().map(|s| s.to_bits())),
        "compensated bypass is not the input"
    );

    // Uncompensated: the all-off chain has no latency, so the output is the input; with the
    // limiter on, the same length, the input delayed by its 2 ms lookahead (96 frames).
    let run = osp_fx(&["render", "--bypass", path_str(&input), path_str(&delayed)]);
    assert!(run.status.success(), "{run:?}");
    let (_, output) = read_f32(&delayed);
    assert_eq!(output, samples);
    let run = osp_fx(&[
        "render",
        "--effect",
        "limiter",
        path_str(&input),
        path_str(&delayed),
    ]);
    assert!(run.status.success(), "{run:?}");
    let (_, output) = read_f32(&delayed);
    assert_eq!(output.len(), samples.len());
    let lag = output.iter().position(|&s| s != 0.0).unwrap();
    assert_eq!(lag, 2 * 96, "latency {lag} interleaved samples");
    std::fs::remove_dir_all(dir).ok();
}

/// −6 dBFS in, threshold −24, ratio 4, hard knee: −24 + 18/4 = −19.5 dBFS out (docs/effects.md
/// §2.6).
#[test]
fn compressor_follows_its_static_curve() {
    let dir = temp_dir("compressor");
    let (input, out, preset) = (dir.join("in.wav"), dir.join("out.wav"), dir.join("p.json"));
    let amplitude = 10f64.powf(-6.0 / 20.0);
    let sine: Vec<f32> = (0..FS as usize)
        .flat_map(|n| {
            let s = (amplitude * (TAU * 1_000.0 * n as f64 / f64::from(FS)).sin()) as f32;
            [s, s]
        })
        .collect();
    write_f32(&input, 2, &sine);
    std::fs::write(
        &preset,
        r#"{"compressor":{"enabled":true,"threshold":-24,"ratio":4,"knee":0}}"#,
    )
    .unwrap();

    let run = osp_fx(&[
        "render",
        "--effect",
        "compressor",
        "--preset",
        path_str(&preset),
        path_str(&input),
        path_str(&out),
    ]);
    assert!(run.status.success(), "{run:?}");
    let (_, output) = read_f32(&out);
    let last_half = &output[output.len() / 2..];
    let mean_square =
        last_half.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / last_half.len() as f64;
    // A sine's peak is √2 × its RMS.
    let level = 20.0 * (mean_square.sqrt() * 2f64.sqrt()).log10();
    assert!((level + 19.5).abs() <= 0.2, "output level {level:.3} dBFS");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn integer_inputs_decode_to_their_float_values() {
    let dir = temp_dir("integer");
    for (bits, channels) in [(16u16, 1u16), (24, 2)] {
        let input = dir.join(format!("in{bits}.wav"));
        let out = dir.join(format!("out{bits}.wav"));
        let full_scale = 1i32 << (bits - 1);
        // Both extremes, zero, small values and a ramp through the range.
        let mut samples = vec![-full_scale, full_scale - 1, 0, 1, -1];
        let span = 2 * i64::from(full_scale);
        samples.extend((0..4_000i64).map(|n| ((n * 2_654_435) % span - span / 2) as i32));
        samples.truncate(samples.len() / usize::from(channels) * usize::from(channels));
        write_int(&input, channels, bits, &samples);

        let run = osp_fx(&[
            "render",
            "--bypass",
            "--compensate",
            path_str(&input),
            path_str(&out),
        ]);
        assert!(run.status.success(), "{run:?}");
        let (spec, output) = read_f32(&out);
        assert_eq!(spec.channels, channels, "{bits}-bit: channel count kept");
        let expected: Vec<f32> = samples
            .iter()
            .map(|&s| s as f32 / full_scale as f32)
            .collect();
        assert_eq!(output, expected, "{bits}-bit");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_input_is_refused_with_exit_code_2() {
    let dir = temp_dir("refusals");
    let (input, out) = (dir.join("in.wav"), dir.join("out.wav"));
    write_f32(&input, 2, &noise(200, 2));
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"compressor": {"ratio": "lots"}"#).unwrap();
    let wrong_type = dir.join("wrong.json");
    std::fs::write(&wrong_type, r#"{"compressor": {"ratio": "lots"}}"#).unwrap();
    let not_wav = dir.join("not.wav");
    std::fs::write(&not_wav, "RIFF? no").unwrap();
    let (i, o) = (path_str(&input), path_str(&out));

    let run = osp_fx(&["render", "--preset", path_str(&bad), i, o]);
    assert_exit_2(&run, "malformed JSON");
    assert!(String::from_utf8_lossy(&run.stderr).contains("preset"));
    let run = osp_fx(&["render", "--preset", path_str(&wrong_type), i, o]);
    assert_exit_2(&run, "wrong parameter type");
    assert!(String::from_utf8_lossy(&run.stderr).contains("compressor"));
    assert_exit_2(
        &osp_fx(&["render", "--effect", "sparkles", i, o]),
        "unknown effect",
    );
    assert_exit_2(
        &osp_fx(&["render", "--bypass", "--frobnicate", i, o]),
        "unknown flag",
    );
    assert_exit_2(
        &osp_fx(&["render", "--bypass", "--block", "0", i, o]),
        "block 0",
    );
    assert_exit_2(&osp_fx(&["render", "--bypass", i]), "missing output");
    assert_exit_2(
        &osp_fx(&["render", "--bypass", path_str(&not_wav), o]),
        "not a WAV file",
    );
    assert_exit_2(
        &osp_fx(&["render", "--bypass", path_str(&dir.join("missing.wav")), o]),
        "missing file",
    );
    assert!(!out.exists(), "nothing written on refusal");

    // Unknown keys are warnings, as the chain reports them; the render goes ahead.
    let odd = dir.join("odd.json");
    std::fs::write(&odd, r#"{"sparkles": {}, "compressor": {"enabled": true}}"#).unwrap();
    let run = osp_fx(&["render", "--preset", path_str(&odd), "--time", i, o]);
    assert!(run.status.success(), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("sparkles"),
        "{stderr}"
    );
    assert!(stderr.contains("ns/stereo frame"), "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}
