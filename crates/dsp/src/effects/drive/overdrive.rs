//! The overdrive (docs/effects.md §3 #5): high-pass at 80 Hz, gain 1 + 15·drive, an asymmetric tanh
//! at 4× the sample rate, a DC blocker, a tone low-pass at 1000 + 7000·tone Hz and a linear output
//! level. Gains glide and the tone corner glides, so turning a knob does not zip or click.
//!
//! The asymmetry (the negative half saturates at 0.8 instead of 1) adds the even harmonics of
//! a tube or diode stage; its DC offset is removed before the tone filter.

use super::pipeline::Pipeline;
use super::shaper::{self, asymmetric_tanh};
use crate::automation::Kind;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "overdrive";

/// Declared range of [`Params::drive`], [`Params::tone`] and [`Params::level`].
pub const UNIT_RANGE: RangeInclusive<f32> = 0.0..=1.0;

/// Corner of the high-pass before the shaper (Hz): keeps the bass from muddying the clipping.
const PRE_HIGHPASS_HZ: f64 = 80.0;
/// Drive gain at drive = 1 is 1 + this.
const DRIVE_SPAN: f32 = 15.0;
/// Negative ceiling of the asymmetric tanh.
const NEGATIVE_CEILING: f32 = 0.8;
/// Tone corner at tone = 0 and its span (Hz).
const TONE_BASE_HZ: f64 = 1_000.0;
const TONE_SPAN_HZ: f64 = 7_000.0;

/// The overdrive's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// Drive 0…1 (default 0.5): gain into the shaper 1 + 15·drive.
    pub drive: f32,
    /// Tone 0…1 (default 0.5): low-pass corner 1000 + 7000·tone Hz.
    pub tone: f32,
    /// Output level 0…1 (default 0.5), a linear gain.
    pub level: f32,
}

crate::automatable!(Params {
    [drive] "drive", "Drive", Kind::linear(UNIT_RANGE, "");
    [tone] "tone", "Tone", Kind::linear(UNIT_RANGE, "");
    [level] "level", "Level", Kind::linear(UNIT_RANGE, "");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            drive: 0.5,
            tone: 0.5,
            level: 0.5,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let defaults = Self::default();
        Self {
            enabled: self.enabled,
            drive: clamp_param(self.drive, UNIT_RANGE, defaults.drive),
            tone: clamp_param(self.tone, UNIT_RANGE, defaults.tone),
            level: clamp_param(self.level, UNIT_RANGE, defaults.level),
        }
    }

    fn drive_gain(&self) -> f32 {
        1.0 + DRIVE_SPAN * self.drive
    }

    fn tone_hz(&self) -> f64 {
        TONE_BASE_HZ + TONE_SPAN_HZ * f64::from(self.tone)
    }
}

/// The shaper: tanh on the positive half, 0.8·tanh(x/0.8) on the negative.
pub fn shape(x: f32) -> f32 {
    asymmetric_tanh(x, NEGATIVE_CEILING)
}

/// The overdrive. Disabled, it passes audio through untouched and reports no latency.
#[derive(Clone, Debug)]
pub struct Overdrive {
    params: Params,
    path: Pipeline,
}

impl Overdrive {
    /// An overdrive with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let params = params.clamped();
        Self {
            path: Pipeline::new(
                PRE_HIGHPASS_HZ,
                params.tone_hz(),
                params.drive_gain(),
                params.level,
            ),
            params,
        }
    }

    /// Applies new parameters (clamped); drive, tone and level glide. Switching on starts from
    /// silent state.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        let was_enabled = self.params.enabled;
        self.params = params.clamped();
        self.path.set_targets(
            self.params.tone_hz(),
            self.params.drive_gain(),
            self.params.level,
        );
        if self.params.enabled && !was_enabled {
            self.path.reset();
        }
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }
}

impl Effect for Overdrive {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.path.prepare(spec);
    }

    fn reset(&mut self) {
        self.path.reset();
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if self.params.enabled {
            self.path
                .process(block, |_, inner| shaper::apply(inner, shape));
        }
    }

    fn latency(&self) -> usize {
        if self.params.enabled {
            self.path.latency()
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::biquad::{Coefs, Design, Kind};
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::test_support::{
        FS, dc_blocker_db, harmonic_db, impulse, render_mono, response_db, sine, worst_alias_db,
    };
    use std::f64::consts::FRAC_1_SQRT_2;

    conformance_tests!(Overdrive);

    fn enabled(drive: f32, tone: f32, level: f32) -> Params {
        Params {
            enabled: true,
            drive,
            tone,
            level,
        }
    }

    /// docs/effects.md §1 test 19, static curve: a ramp from −1 to 1 over 2 s, filters bypassed,
    /// comes out as level·shape(gain·x), delayed by the reported latency, within 1e-4.
    #[test]
    fn static_curve_is_the_shaper() {
        for drive in [0.0, 0.5, 1.0] {
            let params = enabled(drive, 0.5, 0.8);
            let mut overdrive = Overdrive::prepared(&params);
            overdrive.path.bypass_filters();
            let len = 2 * FS as usize;
            let ramp: Vec<f32> = (0..len)
                .map(|n| -1.0 + 2.0 * n as f32 / len as f32)
                .collect();
            let output = render_mono(&mut overdrive, &ramp, 1024);
            let latency = overdrive.latency();
            let worst = (latency + 200..len - 200)
                .map(|n| {
                    let expected = 0.8 * shape(params.drive_gain() * ramp[n - latency]);
                    (output[n] - expected).abs()
                })
                .fold(0.0f32, f32::max);
            println!("overdrive drive {drive}: static curve worst error {worst:.2e}");
            assert!(worst <= 1e-4, "{drive}: {worst}");
        }
    }

    /// docs/effects.md §1 test 19, aliasing: a 3001 Hz sine at −6 dBFS, driven so its strongest
    /// harmonic is about −15 dB, filters bypassed: aliases ≤ −60 dB at 4×. The same shaper
    /// without oversampling shows what the stimulus would alias.
    #[test]
    fn oversampling_keeps_aliases_below_60_db() {
        let input = sine(3_001.0, 0.5, 2 * FS as usize, FS);
        let window = |signal: &[f32]| signal[24_000..72_000].to_vec();
        // The drive whose 3rd harmonic, without oversampling, is nearest −15 dB.
        let plain_for = |drive: f32| {
            let gain = enabled(drive, 0.5, 1.0).drive_gain();
            window(&input.iter().map(|&x| shape(gain * x)).collect::<Vec<_>>())
        };
        let mut cases: Vec<f32> = vec![0.5, 1.0];
        let closest = (1..=100)
            .map(|i| i as f32 / 100.0)
            .min_by(|&a, &b| {
                let distance = |d| (harmonic_db(&plain_for(d), 3_001.0, 3, FS) + 15.0).abs();
                distance(a).total_cmp(&distance(b))
            })
            .unwrap();
        cases.insert(0, closest);
        for drive in cases {
            let plain = plain_for(drive);
            let mut overdrive = Overdrive::prepared(&enabled(drive, 0.5, 1.0));
            overdrive.path.bypass_filters();
            let output = window(&render_mono(&mut overdrive, &input, 1024));
            let (h2, h3) = (
                harmonic_db(&output, 3_001.0, 2, FS),
                harmonic_db(&output, 3_001.0, 3, FS),
            );
            let aliases = worst_alias_db(&output, 3_001, 48_000);
            let plain_aliases = worst_alias_db(&plain, 3_001, 48_000);
            println!(
                "overdrive drive {drive:.2}: H2 {h2:.1} dB, H3 {h3:.1} dB; worst alias 4x \
                 {aliases:.1} dB (without oversampling {plain_aliases:.1} dB)"
            );
            assert!(aliases <= -60.0, "{drive}: {aliases}");
        }
    }

    /// Small signals see the linear path: HP 80 Hz · gain · DC blocker · LP(1000 + 7000·tone)
    /// · level. The impulse response matches that cascade's analytic magnitude within 0.01 dB.
    #[test]
    fn small_signal_response_is_the_filter_design() {
        for tone in [0.0, 0.5, 1.0] {
            let params = enabled(0.3, tone, 0.5);
            let mut overdrive = Overdrive::prepared(&params);
            let amplitude = 1e-4;
            let input: Vec<f32> = impulse(1 << 15).iter().map(|x| x * amplitude).collect();
            let output = render_mono(&mut overdrive, &input, 1024);
            let ir: Vec<f32> = output.iter().map(|y| y / amplitude).collect();
            let hp = Coefs::new(&Design::new(Kind::Highpass, 80.0, FRAC_1_SQRT_2), FS);
            let lp = Coefs::new(
                &Design::new(Kind::Lowpass, params.tone_hz(), FRAC_1_SQRT_2),
                FS,
            );
            let gain_db = 20.0 * f64::from(params.drive_gain() * params.level).log10();
            let mut worst = 0.0f64;
            for f in [100.0, 500.0, params.tone_hz(), 2.0 * params.tone_hz()] {
                let expected = hp.magnitude_db(f, FS)
                    + lp.magnitude_db(f, FS)
                    + dc_blocker_db(5.0, f)
                    + gain_db;
                worst = worst.max((response_db(&ir, f, FS) - expected).abs());
            }
            println!("overdrive tone {tone}: small-signal response error {worst:.4} dB");
            assert!(worst < 0.01, "{tone}: {worst}");
        }
    }

    #[test]
    fn reports_its_latency_and_bypasses_bit_exactly_when_disabled() {
        let input = sine(440.0, 0.9, 4_800, FS);
        let mut overdrive = Overdrive::prepared(&Params::default());
        assert_eq!(overdrive.latency(), 0);
        assert_eq!(render_mono(&mut overdrive, &input, 256), input);
        let mut overdrive = Overdrive::prepared(&enabled(0.0, 1.0, 1.0));
        overdrive.path.bypass_filters();
        assert_eq!(overdrive.latency(), 46);
        let mut pulse = vec![0.0f32; 512];
        pulse[10] = 0.01;
        let output = render_mono(&mut overdrive, &pulse, 64);
        let peak = (0..output.len())
            .max_by(|&a, &b| output[a].abs().total_cmp(&output[b].abs()))
            .unwrap();
        assert_eq!(peak, 10 + overdrive.latency());
    }

    #[test]
    fn params_use_the_reference_json_keys_and_clamp() {
        let json = serde_json::to_value(Params::default()).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["drive", "enabled", "level", "tone"]);
        let partial: Params = serde_json::from_str(r#"{"enabled": true, "tone": 0.9}"#).unwrap();
        assert_eq!(
            partial,
            Params {
                enabled: true,
                tone: 0.9,
                ..Params::default()
            }
        );
        let wild = Params {
            drive: f32::NAN,
            tone: 3.0,
            level: -1.0,
            ..Params::default()
        }
        .clamped();
        assert_eq!((wild.drive, wild.tone, wild.level), (0.5, 1.0, 0.0));
    }
}
