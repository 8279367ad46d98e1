//! The cabinet (docs/effects.md §3 #8): an IIR model of a speaker cabinet and its microphone, not a
//! convolution. Per type a high-pass (the box's low-end limit), a low-pass (the cone's
//! break-up) and a resonance peak; then the microphone: a low-pass at 6 kHz on the cone's
//! centre, 3.5 kHz at its edge, both averaged for "blend", and for "room" the blend plus a short
//! early-reflection pattern at `roomLevel`. "direct" is a line out: every stage flat.
//!
//! Every type uses the same filter shapes, so a type or mic change is a glide (frequencies in
//! log, gains in dB) and the mic mix and room level glide too: nothing clicks. Reflections are
//! different taps on each side, which widens the room.

use crate::automation::Kind as HostKind;
use crate::blocks::biquad::{Design, Kind, Smoothed};
use crate::blocks::delay::DelayLine;
use crate::blocks::smoother::OnePole;
use crate::effect::{Block, Effect, ProcessSpec};
use crate::effects::clamp_param;
use serde::{Deserialize, Serialize};
use std::f64::consts::FRAC_1_SQRT_2;
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "cabinet";

/// Declared range of [`Params::room_level`].
pub const UNIT_RANGE: RangeInclusive<f32> = 0.0..=1.0;

/// Q of the resonance peak.
const RESONANCE_Q: f64 = 1.4;
/// Mic low-pass on the cone's centre and at its edge (Hz).
const MIC_CENTRE_HZ: f64 = 6_000.0;
const MIC_EDGE_HZ: f64 = 3_500.0;
/// What "flat" means for the direct type's filters (Hz).
const FLAT_HIGHPASS_HZ: f64 = 10.0;
const FLAT_LOWPASS_HZ: f64 = 20_000.0;
/// Early reflections: delays (ms) on the left and right, and their gains.
const REFLECTIONS_MS: [[f64; 4]; 2] = [[2.3, 5.1, 7.9, 11.3], [2.9, 4.6, 8.8, 12.1]];
const REFLECTION_GAINS: [f32; 4] = [0.5, 0.35, 0.25, 0.18];
/// Filters and levels glide over this time.
const GLIDE_S: f64 = 0.02;

/// The cabinet type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CabinetType {
    /// One 12" speaker, open back.
    #[serde(rename = "1x12")]
    OneByTwelve,
    /// Two 12" speakers.
    #[serde(rename = "2x12")]
    TwoByTwelve,
    /// Four 12" speakers, closed back.
    #[default]
    #[serde(rename = "4x12")]
    FourByTwelve,
    /// One 15" speaker (bass).
    #[serde(rename = "1x15")]
    OneByFifteen,
    /// Two 10" speakers.
    #[serde(rename = "2x10")]
    TwoByTen,
    /// No cabinet: a line out.
    #[serde(rename = "direct")]
    Direct,
}

/// A cabinet type's speaker model: high-pass and low-pass corners (Hz), resonance frequency
/// (Hz) and its gain (dB).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Voicing {
    /// Low-end limit.
    pub highpass_hz: f64,
    /// Cone break-up.
    pub lowpass_hz: f64,
    /// Box resonance.
    pub resonance_hz: f64,
    /// Height of the resonance peak.
    pub resonance_db: f64,
}

impl CabinetType {
    /// The speaker model (4x12 is the reference's 60 Hz / 5 kHz / +3 dB at 80 Hz).
    pub fn voicing(self) -> Voicing {
        let (highpass_hz, lowpass_hz, resonance_hz, resonance_db) = match self {
            Self::OneByTwelve => (80.0, 5_500.0, 110.0, 2.5),
            Self::TwoByTwelve => (70.0, 5_000.0, 95.0, 3.0),
            Self::FourByTwelve => (60.0, 5_000.0, 80.0, 3.0),
            Self::OneByFifteen => (45.0, 3_500.0, 65.0, 4.0),
            Self::TwoByTen => (90.0, 6_000.0, 125.0, 2.0),
            Self::Direct => (FLAT_HIGHPASS_HZ, FLAT_LOWPASS_HZ, 1_000.0, 0.0),
        };
        Voicing {
            highpass_hz,
            lowpass_hz,
            resonance_hz,
            resonance_db,
        }
    }
}

/// Where the microphone is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MicPosition {
    /// On the cone's centre: brightest (low-pass 6 kHz).
    #[default]
    Center,
    /// At the cone's edge: darker (low-pass 3.5 kHz).
    Edge,
    /// Back in the room: the blend plus early reflections at `roomLevel`.
    Room,
    /// Centre and edge mics averaged.
    Blend,
}

impl MicPosition {
    /// Weights of the centre and edge mics, and whether the room reflections are heard.
    fn weights(self) -> (f32, f32, bool) {
        match self {
            Self::Center => (1.0, 0.0, false),
            Self::Edge => (0.0, 1.0, false),
            Self::Room => (0.5, 0.5, true),
            Self::Blend => (0.5, 0.5, false),
        }
    }
}

/// The cabinet's parameters (reference JSON keys; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// The cabinet (default 4x12); the reference also writes it as `type`.
    #[serde(alias = "type")]
    pub cabinet_type: CabinetType,
    /// The microphone (default center).
    pub mic_position: MicPosition,
    /// Level of the room reflections 0…1 (default 0.3), heard with the room mic.
    pub room_level: f32,
}

crate::host_choice!(CabinetType {
    OneByTwelve => "1x12",
    TwoByTwelve => "2x12",
    FourByTwelve => "4x12",
    OneByFifteen => "1x15",
    TwoByTen => "2x10",
    Direct => "Direct",
});

crate::host_choice!(MicPosition {
    Center => "Center",
    Edge => "Edge",
    Room => "Room",
    Blend => "Blend",
});

crate::automatable!(Params {
    [cabinet_type] "cabinetType", "Cabinet", HostKind::choice::<CabinetType>();
    [mic_position] "micPosition", "Mic Position", HostKind::choice::<MicPosition>();
    [room_level] "roomLevel", "Room Level", HostKind::linear(UNIT_RANGE, "");
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            cabinet_type: CabinetType::FourByTwelve,
            mic_position: MicPosition::Center,
            room_level: 0.3,
        }
    }
}

impl Params {
    /// The parameters with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        Self {
            enabled: self.enabled,
            cabinet_type: self.cabinet_type,
            mic_position: self.mic_position,
            room_level: clamp_param(self.room_level, UNIT_RANGE, Self::default().room_level),
        }
    }

    /// The designs, in order: high-pass, speaker low-pass, resonance, centre mic, edge mic.
    pub fn designs(&self) -> [Design; 5] {
        let v = self.cabinet_type.voicing();
        let direct = self.cabinet_type == CabinetType::Direct;
        let (centre, edge) = if direct {
            (FLAT_LOWPASS_HZ, FLAT_LOWPASS_HZ)
        } else {
            (MIC_CENTRE_HZ, MIC_EDGE_HZ)
        };
        [
            Design::new(Kind::Highpass, v.highpass_hz, FRAC_1_SQRT_2),
            Design::new(Kind::Lowpass, v.lowpass_hz, FRAC_1_SQRT_2),
            Design::with_gain(Kind::Peak, v.resonance_hz, RESONANCE_Q, v.resonance_db),
            Design::new(Kind::Lowpass, centre, FRAC_1_SQRT_2),
            Design::new(Kind::Lowpass, edge, FRAC_1_SQRT_2),
        ]
    }

    /// Centre-mic weight, edge-mic weight, reflection level.
    fn levels(&self) -> [f32; 3] {
        let (centre, edge, room) = self.mic_position.weights();
        let direct = self.cabinet_type == CabinetType::Direct;
        let room_level = if room && !direct {
            self.room_level
        } else {
            0.0
        };
        // A line out has one signal: the (flat) centre path.
        if direct {
            [1.0, 0.0, 0.0]
        } else {
            [centre, edge, room_level]
        }
    }
}

/// One channel: speaker filters, the two mics and the reflection line.
#[derive(Clone, Debug)]
struct Channel {
    filters: [Smoothed; 5],
    reflections: DelayLine,
    /// Tap delays in samples.
    taps: [usize; 4],
}

/// The cabinet. Disabled, it passes audio through untouched.
#[derive(Clone, Debug)]
pub struct Cabinet {
    params: Params,
    channels: [Channel; 2],
    /// Centre weight, edge weight, reflection level.
    levels: [OnePole; 3],
}

impl Cabinet {
    /// A cabinet with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let params = params.clamped();
        let channel = Self::channel(&params, 48_000.0, 0);
        let right = Self::channel(&params, 48_000.0, 1);
        let mut cabinet = Self {
            levels: params
                .levels()
                .map(|level| OnePole::new(level, GLIDE_S, 48_000.0)),
            channels: [channel, right],
            params,
        };
        cabinet.reset();
        cabinet
    }

    fn channel(params: &Params, sample_rate: f64, side: usize) -> Channel {
        let taps = REFLECTIONS_MS[side].map(|ms| (ms * 1e-3 * sample_rate).round() as usize);
        Channel {
            filters: params
                .designs()
                .map(|design| Smoothed::new(&design, sample_rate, GLIDE_S)),
            reflections: DelayLine::new(),
            taps,
        }
    }

    /// Applies new parameters (clamped); filters, mic mix and room level glide. Switching on
    /// starts from silent state.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        let was_enabled = self.params.enabled;
        self.params = params.clamped();
        let designs = self.params.designs();
        for channel in &mut self.channels {
            Smoothed::set_targets(&mut channel.filters, &designs);
        }
        for (level, target) in self.levels.iter_mut().zip(self.params.levels()) {
            level.set_target(target);
        }
        if self.params.enabled && !was_enabled {
            self.reset();
        }
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }
}

impl Effect for Cabinet {
    fn prepare(&mut self, spec: &ProcessSpec) {
        for (side, channel) in self.channels.iter_mut().enumerate() {
            *channel = Self::channel(&self.params, spec.sample_rate, side);
            let longest = channel.taps.iter().copied().max().unwrap_or(1);
            channel.reflections.prepare(longest);
        }
        for level in &mut self.levels {
            level.set_time(GLIDE_S, spec.sample_rate);
        }
        self.reset();
    }

    fn reset(&mut self) {
        let designs = self.params.designs();
        for channel in &mut self.channels {
            Smoothed::reset_to(&mut channel.filters, &designs);
            channel.reflections.reset();
        }
        for (level, target) in self.levels.iter_mut().zip(self.params.levels()) {
            level.reset_to(target);
        }
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let (left, right) = block.channels_mut();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let [centre_weight, edge_weight, room_level] =
                self.levels.each_mut().map(|level| level.next_value());
            for (x, channel) in [l, r].into_iter().zip(&mut self.channels) {
                let [highpass, speaker, resonance, centre, edge] = &mut channel.filters;
                let cone =
                    resonance.process_f64(speaker.process_f64(highpass.process_f64(f64::from(*x))));
                let mic = centre_weight * centre.process_f64(cone) as f32
                    + edge_weight * edge.process_f64(cone) as f32;
                channel.reflections.push(mic);
                let room: f32 = channel
                    .taps
                    .iter()
                    .zip(REFLECTION_GAINS)
                    .map(|(&tap, gain)| gain * channel.reflections.read(tap))
                    .sum();
                *x = mic + room_level * room;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::biquad::Coefs;
    use crate::effects::conformance::{Subject, conformance_tests};
    use crate::test_support::{FS, impulse, render_mono, render_stereo, response_db, sine};

    conformance_tests!(Cabinet {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] = &[
            (
                "/cabinetType",
                &["1x12", "2x12", "4x12", "1x15", "2x10", "direct"],
            ),
            ("/micPosition", &["center", "edge", "room", "blend"]),
        ];
    });

    const TYPES: [CabinetType; 6] = [
        CabinetType::OneByTwelve,
        CabinetType::TwoByTwelve,
        CabinetType::FourByTwelve,
        CabinetType::OneByFifteen,
        CabinetType::TwoByTen,
        CabinetType::Direct,
    ];

    fn enabled(cabinet_type: CabinetType, mic_position: MicPosition) -> Params {
        Params {
            enabled: true,
            cabinet_type,
            mic_position,
            ..Params::default()
        }
    }

    fn impulse_response(params: &Params) -> Vec<f32> {
        render_mono(&mut Cabinet::prepared(params), &impulse(1 << 16), 1024)
    }

    /// The analytic |H| in dB of the speaker stages plus the mics weighted as `mic` weighs
    /// them (complex sum, so "blend" is exact too).
    fn design_db(params: &Params, frequency: f64) -> f64 {
        let designs = params.designs();
        let h = |d: &Design| Coefs::new(d, FS).response(frequency, FS);
        let mul = |a: (f64, f64), b: (f64, f64)| (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0);
        let cone = mul(mul(h(&designs[0]), h(&designs[1])), h(&designs[2]));
        let [centre_weight, edge_weight, _] = params.levels().map(f64::from);
        let (c, e) = (h(&designs[3]), h(&designs[4]));
        let mic = (
            centre_weight * c.0 + edge_weight * e.0,
            centre_weight * c.1 + edge_weight * e.1,
        );
        let total = mul(cone, mic);
        10.0 * (total.0 * total.0 + total.1 * total.1).log10()
    }

    /// The brief's test: for every type and the centre, edge and blend mics, the response at
    /// the type's corners and resonance (and between them) is the design's within 0.01 dB,
    /// and the resonance lifts the response by the type's dB over the same cabinet without
    /// it.
    #[test]
    fn response_at_corners_and_resonance_is_the_design() {
        let mut worst = 0.0f64;
        for cabinet_type in TYPES {
            for mic in [MicPosition::Center, MicPosition::Edge, MicPosition::Blend] {
                let params = enabled(cabinet_type, mic);
                let ir = impulse_response(&params);
                let v = cabinet_type.voicing();
                for f in [
                    v.highpass_hz,
                    v.resonance_hz,
                    v.lowpass_hz,
                    1_000.0,
                    MIC_EDGE_HZ,
                    MIC_CENTRE_HZ,
                    10_000.0,
                ] {
                    let expected = design_db(&params, f);
                    if expected > -60.0 {
                        worst = worst.max((response_db(&ir, f, FS) - expected).abs());
                    }
                }
            }
            let v = cabinet_type.voicing();
            let params = enabled(cabinet_type, MicPosition::Center);
            let ir = impulse_response(&params);
            let peak = Coefs::new(&params.designs()[2], FS);
            let lift = response_db(&ir, v.resonance_hz, FS) - design_db(&params, v.resonance_hz)
                + peak.magnitude_db(v.resonance_hz, FS);
            println!(
                "cabinet {cabinet_type:?}: HP {} Hz {:.2} dB, resonance {} Hz lift {lift:.3} dB, \
                 LP {} Hz {:.2} dB",
                v.highpass_hz,
                response_db(&ir, v.highpass_hz, FS),
                v.resonance_hz,
                v.lowpass_hz,
                response_db(&ir, v.lowpass_hz, FS),
            );
            assert!(
                (lift - v.resonance_db).abs() < 0.01,
                "{cabinet_type:?}: {lift}"
            );
        }
        println!("cabinet: worst response error vs design {worst:.2e} dB");
        assert!(worst < 0.01, "{worst}");
    }

    /// The room mic is the blend plus, from the first tap on, the reflections of the blend at
    /// roomLevel × their gains: checked sample by sample against the blend's own response.
    #[test]
    fn room_mic_adds_the_reflections_at_room_level() {
        let blend = impulse_response(&enabled(CabinetType::TwoByTwelve, MicPosition::Blend));
        let room = impulse_response(&Params {
            room_level: 0.8,
            ..enabled(CabinetType::TwoByTwelve, MicPosition::Room)
        });
        let taps = REFLECTIONS_MS[0].map(|ms| (ms * 1e-3 * FS).round() as usize);
        let worst = (0..4_000)
            .map(|n| {
                let reflections: f32 = taps
                    .iter()
                    .zip(REFLECTION_GAINS)
                    .filter(|(tap, _)| n >= **tap)
                    .map(|(tap, gain)| gain * blend[n - tap])
                    .sum();
                (room[n] - (blend[n] + 0.8 * reflections)).abs()
            })
            .fold(0.0f32, f32::max);
        assert!(room[..taps[0]] == blend[..taps[0]]);
        assert!(worst < 1e-6, "{worst}");
    }

    /// The direct type is a line out: flat within 0.05 dB from 40 Hz to 12 kHz.
    #[test]
    fn direct_is_flat() {
        let ir = impulse_response(&enabled(CabinetType::Direct, MicPosition::Room));
        for f in [40.0, 100.0, 1_000.0, 5_000.0, 12_000.0] {
            assert!(response_db(&ir, f, FS).abs() < 0.05, "{f}");
        }
    }

    /// A type change mid-note glides: no sample-to-sample step above the tone's own.
    #[test]
    fn a_type_change_glides() {
        let input = sine(200.0, 0.5, 19_200, FS);
        let mut cabinet = Cabinet::prepared(&enabled(CabinetType::OneByFifteen, MicPosition::Edge));
        let mut output = render_mono(&mut cabinet, &input[..9_600], 64);
        cabinet.set_params(&enabled(CabinetType::TwoByTen, MicPosition::Center));
        output.extend(render_mono(&mut cabinet, &input[9_600..], 64));
        let step = |s: &[f32]| {
            s.windows(2)
                .map(|w| (w[1] - w[0]).abs())
                .fold(0.0, f32::max)
        };
        let (before, after) = (step(&output[4_800..9_600]), step(&output[9_600..]));
        assert!(after < 1.5 * before, "{after} vs {before}");
    }

    #[test]
    fn channels_have_separate_state_and_disabled_is_bit_exact() {
        let input = sine(440.0, 0.8, 4_800, FS);
        assert_eq!(
            render_mono(&mut Cabinet::prepared(&Params::default()), &input, 64),
            input
        );
        let params = enabled(CabinetType::FourByTwelve, MicPosition::Blend);
        let (left, right) = render_stereo(
            &mut Cabinet::prepared(&params),
            &input,
            &vec![0.0; 4_800],
            64,
        );
        assert!(right.iter().all(|&y| y == 0.0));
        assert_eq!(
            left,
            render_mono(&mut Cabinet::prepared(&params), &input, 64)
        );
    }

    #[test]
    fn params_use_the_reference_json_keys_aliases_and_clamp() {
        let json = serde_json::to_value(Params::default()).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["cabinetType", "enabled", "micPosition", "roomLevel"]);
        assert_eq!(json["cabinetType"], "4x12");
        let aliased: Params =
            serde_json::from_str(r#"{"type": "1x15", "micPosition": "room"}"#).unwrap();
        assert_eq!(aliased.cabinet_type, CabinetType::OneByFifteen);
        assert_eq!(aliased.mic_position, MicPosition::Room);
        let wild = Params {
            room_level: f32::NAN,
            ..Params::default()
        }
        .clamped();
        assert_eq!(wild.room_level, 0.3);
    }
}
