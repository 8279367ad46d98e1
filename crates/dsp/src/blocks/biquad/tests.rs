//! Responses against the cookbook's formulas, stability, and glides without clicks.

use super::*;
use crate::test_support::{FS, Noise, impulse, response_db, sine};

const PROBES: [f64; 10] = [
    20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0, 20_000.0,
];
const KINDS: [Kind; 8] = [
    Kind::Lowpass,
    Kind::Highpass,
    Kind::Bandpass,
    Kind::Notch,
    Kind::Peak,
    Kind::LowShelf,
    Kind::HighShelf,
    Kind::Allpass,
];
const IR_LEN: usize = 1 << 17;

fn impulse_response(design: &Design) -> Vec<f32> {
    let mut ir = impulse(IR_LEN);
    Biquad::from_design(design, FS).process(&mut ir);
    ir
}

/// docs/effects.md §1 test 1: the DTFT of the f32 impulse response against the analytic |H| of
/// the f64 coefficients, every shape, f0 from 20 Hz to 15 kHz, Q 0.5 to 10, gains ±12 dB.
#[test]
fn impulse_response_matches_the_analytic_magnitude() {
    let mut worst_above_40 = 0.0f64;
    let mut worst_20_to_40 = 0.0f64;
    let mut probes_checked = 0;
    for kind in KINDS {
        for f0 in [20.0, 30.0, 40.0, 100.0, 1_000.0, 5_000.0, 15_000.0] {
            for q in [0.5, std::f64::consts::FRAC_1_SQRT_2, 2.0, 10.0] {
                for gain_db in [-12.0, 6.0] {
                    let design = Design::with_gain(kind, f0, q, gain_db);
                    let coefs = Coefs::new(&design, FS);
                    assert!(coefs.is_stable(), "{design:?}");
                    let ir = impulse_response(&design);
                    for f in PROBES {
                        let expected = coefs.magnitude_db(f, FS);
                        if expected <= -60.0 {
                            continue;
                        }
                        let error = (response_db(&ir, f, FS) - expected).abs();
                        probes_checked += 1;
                        if f0 >= 40.0 {
                            worst_above_40 = worst_above_40.max(error);
                        } else {
                            worst_20_to_40 = worst_20_to_40.max(error);
                        }
                    }
                }
            }
        }
    }
    println!(
        "{probes_checked} probes; worst |error| f0 >= 40 Hz: {worst_above_40:.2e} dB, \
         f0 20-40 Hz: {worst_20_to_40:.2e} dB"
    );
    assert!(worst_above_40 <= 0.01, "{worst_above_40} dB");
    assert!(worst_20_to_40 <= 0.1, "{worst_20_to_40} dB");
}

/// The analytic response itself against what the cookbook promises at landmarks, so a typo
/// in a coefficient formula cannot hide behind a matching impulse response.
#[test]
fn designs_meet_the_cookbook_landmarks() {
    for f0 in [40.0, 440.0, 3_000.0, 12_000.0] {
        for q in [0.5, 1.0, 4.0] {
            let at = |kind, gain_db, f| {
                Coefs::new(&Design::with_gain(kind, f0, q, gain_db), FS).magnitude_db(f, FS)
            };
            let q_db = 20.0 * f64::log10(q);
            assert!((at(Kind::Lowpass, 0.0, f0) - q_db).abs() < 1e-9);
            assert!((at(Kind::Highpass, 0.0, f0) - q_db).abs() < 1e-9);
            assert!(at(Kind::Lowpass, 0.0, 0.0).abs() < 1e-9);
            assert!(at(Kind::Highpass, 0.0, FS / 2.0).abs() < 1e-9);
            assert!(at(Kind::Bandpass, 0.0, f0).abs() < 1e-9);
            assert!(at(Kind::Notch, 0.0, f0) < -200.0);
            for f in PROBES {
                assert!(at(Kind::Allpass, 0.0, f).abs() < 1e-9);
            }
            for gain_db in [-15.0, -3.0, 6.0, 12.0] {
                // docs/effects.md §1 test 1: peaking at f0 = gain ± 0.01 dB, shelf at f0 =
                // gain/2.
                assert!((at(Kind::Peak, gain_db, f0) - gain_db).abs() < 0.01);
                assert!((at(Kind::LowShelf, gain_db, f0) - gain_db / 2.0).abs() < 0.01);
                assert!((at(Kind::HighShelf, gain_db, f0) - gain_db / 2.0).abs() < 0.01);
                assert!((at(Kind::LowShelf, gain_db, 0.0) - gain_db).abs() < 1e-9);
                assert!((at(Kind::HighShelf, gain_db, FS / 2.0) - gain_db).abs() < 1e-9);
            }
        }
    }
}

#[test]
fn bandwidth_form_gives_the_cookbook_q() {
    // One octave at a low centre is Q = √2 (the analog relation holds where w0 is small).
    let q = q_from_bandwidth(1.0, angular(100.0, FS));
    assert!((q - std::f64::consts::SQRT_2).abs() < 1e-3, "{q}");
}

#[test]
fn hostile_designs_are_clamped_to_stable_filters() {
    for (frequency, q) in [
        (0.0, 1.0),
        (-5.0, 1.0),
        (FS, 1.0),
        (f64::NAN, 0.0),
        (1e3, -1.0),
    ] {
        for kind in KINDS {
            let coefs = Coefs::new(&Design::with_gain(kind, frequency, q, f64::NAN), FS);
            assert!(coefs.is_stable(), "{kind:?} {frequency} {q}: {coefs:?}");
        }
    }
}

/// docs/effects.md §1 test 2: f0 and Q jump to random values every block on noise; the output
/// stays finite and below +40 dBFS, and decays below −120 dB within 1 s of silence.
#[test]
fn random_sweeps_on_noise_stay_stable_and_decay() {
    let mut noise = Noise::new(7);
    for kind in KINDS {
        let mut filter = Smoothed::new(&Design::new(kind, 1_000.0, 1.0), FS, 0.005);
        let mut peak = 0.0f32;
        let mut block = [0.0f32; 64];
        for _ in 0..(2.0 * FS) as usize / block.len() {
            let log_f = 20f64.ln() + (noise.next_f64() * 0.5 + 0.5) * 1_000f64.ln();
            let q = 0.3 * (20.0f64 / 0.3).powf(noise.next_f64() * 0.5 + 0.5);
            let gain_db = noise.next_f64() * 12.0;
            filter.set_target(&Design::with_gain(kind, log_f.exp(), q, gain_db));
            for x in &mut block {
                *x = noise.next_f64() as f32 * 0.5;
            }
            filter.process(&mut block);
            for &y in &block {
                assert!(y.is_finite());
                peak = peak.max(y.abs());
            }
        }
        assert!(peak < 100.0, "{kind:?}: peak {peak}");
        // A resonance at 20 Hz with Q 20 rings at 27 dB/s by physics, so the −120 dB in 1 s
        // applies where the last design's poles allow it; elsewhere the tail must follow
        // the pole radius (with margin for the transient's amplitude).
        let mut tail = vec![0.0f32; FS as usize];
        filter.process(&mut tail);
        let last = tail[tail.len() - 64..]
            .iter()
            .fold(0.0f32, |m, y| m.max(y.abs()));
        let radius = filter.coefs().pole_radius();
        let allowed = 1e-6f64.max(1e3 * f64::from(peak) * radius.powf(FS - 64.0));
        assert!(
            f64::from(last) < allowed,
            "{kind:?}: tail {last}, r {radius}"
        );
    }
}

/// A cutoff and Q moved far every 8 blocks of 64 samples while a 1 kHz sine plays. A click
/// is broadband; the glide only adds sidebands near 1 kHz. So the click detector is an
/// 8th-order high-pass at 8 kHz (−144 dB at 1 kHz): the smoothed filter's output must stay
/// below −60 dB there, and the same jumps without smoothing must not (which shows the test
/// can see a click).
#[test]
fn parameter_sweep_during_a_sine_does_not_click() {
    let input = sine(1_000.0, 0.5, 24_000, FS);
    let designs = [
        Design::new(Kind::Lowpass, 300.0, 2.0),
        Design::new(Kind::Lowpass, 12_000.0, 0.7),
        Design::new(Kind::Lowpass, 600.0, 4.0),
        Design::new(Kind::Lowpass, 8_000.0, 1.0),
    ];
    let mut smoothed = Smoothed::new(&designs[0], FS, 0.02);
    let mut jumping = Biquad::from_design(&designs[0], FS);
    let mut out_smoothed = input.clone();
    let mut out_jumping = input.clone();
    for (i, (a, b)) in out_smoothed
        .chunks_mut(64)
        .zip(out_jumping.chunks_mut(64))
        .enumerate()
    {
        let design = designs[(i / 8) % designs.len()];
        smoothed.set_target(&design);
        jumping.set_coefs(Coefs::new(&design, FS));
        smoothed.process(a);
        jumping.process(b);
    }
    let click_peak_db = |signal: &mut [f32]| {
        let detector = Design::new(Kind::Highpass, 8_000.0, std::f64::consts::FRAC_1_SQRT_2);
        for _ in 0..4 {
            Biquad::from_design(&detector, FS).process(signal);
        }
        // Skip the detector's own start-up on the sine's onset.
        let peak = signal[480..].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        20.0 * f64::from(peak).log10()
    };
    let smoothed_db = click_peak_db(&mut out_smoothed);
    let jumping_db = click_peak_db(&mut out_jumping);
    println!("energy above 8 kHz: smoothed {smoothed_db:.1} dB, jumping {jumping_db:.1} dB");
    assert!(smoothed_db < -60.0, "{smoothed_db}");
    assert!(jumping_db > -40.0, "{jumping_db}");
}

/// Setting the design already targeted neither disturbs a settled filter nor stretches a
/// glide in progress.
#[test]
fn the_same_target_again_changes_nothing() {
    let start = Design::with_gain(Kind::Peak, 200.0, 1.0, -6.0);
    let end = Design::with_gain(Kind::Peak, 5_000.0, 3.0, 9.0);
    let mut settled = Smoothed::new(&start, FS, 0.01);
    settled.set_target(&start);
    assert!(settled.is_settled());
    assert_eq!(*settled.coefs(), Coefs::new(&start, FS));

    let mut filter = Smoothed::new(&start, FS, 0.01);
    filter.set_target(&end);
    filter.process(&mut [0.0; 240]);
    filter.set_target(&end);
    filter.process(&mut [0.0; 240]);
    assert_eq!(*filter.coefs(), Coefs::new(&end, FS));
    assert!(filter.is_settled());
}

#[test]
fn a_glide_ends_exactly_on_the_target_design() {
    let start = Design::with_gain(Kind::Peak, 200.0, 1.0, -6.0);
    let end = Design::with_gain(Kind::Peak, 5_000.0, 3.0, 9.0);
    let mut filter = Smoothed::new(&start, FS, 0.01);
    filter.set_target(&end);
    let mut block = vec![0.0f32; 479];
    filter.process(&mut block);
    assert_ne!(
        *filter.coefs(),
        Coefs::new(&end, FS),
        "the glide ended early"
    );
    filter.process(&mut [0.0]);
    assert_eq!(*filter.coefs(), Coefs::new(&end, FS));
}

/// A pair is two channels of the same glide: bit for bit what two `Smoothed` compute.
#[test]
fn a_pair_equals_two_single_filters_bit_for_bit() {
    let start = Design::with_gain(Kind::Peak, 300.0, 0.7, 6.0);
    let end = Design::with_gain(Kind::Peak, 5_000.0, 4.0, -9.0);
    let mut pair = SmoothedPair::new(&start, FS, 0.01);
    let mut singles = [
        Smoothed::new(&start, FS, 0.01),
        Smoothed::new(&start, FS, 0.01),
    ];
    let mut rng = Noise::new(5);
    for n in 0..4_800 {
        if n == 100 {
            pair.set_target(&end);
            singles.iter_mut().for_each(|f| f.set_target(&end));
        }
        let x = [rng.next_f64() as f32, rng.next_f64() as f32];
        let y = pair.process_sample(x);
        assert_eq!(
            y[0].to_bits(),
            singles[0].process_sample(x[0]).to_bits(),
            "{n}"
        );
        assert_eq!(
            y[1].to_bits(),
            singles[1].process_sample(x[1]).to_bits(),
            "{n}"
        );
    }
    assert!(pair.is_settled());
}
