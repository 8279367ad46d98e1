//! The parametric EQ (docs/effects.md §3 #12): up to [`MAX_BANDS`] serial RBJ bands (low shelf,
//! peak, high shelf), all preallocated, each gliding to new settings.
//!
//! Why a band can change shape without a click: every shape here is the identity at 0 dB, so a
//! band whose type changes first glides to 0 dB in its old shape, switches shape there (where
//! both shapes are the same filter), then glides to its new gain. A band that is settled at
//! 0 dB and whose state has died away below −200 dBFS is skipped (it would compute
//! `y = x`), so unused and flat bands cost nothing; with all gains at 0 dB the EQ is bit exact.
//!
//! Storage: [`Params::bands`] is a fixed array of [`MAX_BANDS`], so a host can automate every
//! band's frequency, gain, Q and type by index on the audio thread (no `Vec` to grow). The JSON
//! keeps the reference's list form. Reading, a list of n bands fills the first n slots (extra
//! entries beyond [`MAX_BANDS`] are ignored) and the rest are flat default bands (1000 Hz peak,
//! Q 1, 0 dB: the identity, and skipped). Writing, all [`MAX_BANDS`] bands are listed: a band a
//! host has shaped but left at 0 dB keeps its frequency, Q and type across a save and reload
//! (writing only the bands with gain would lose them, and a host would see its parameters jump),
//! and a flat band is the identity in the reference as well, so the longer list sounds the same
//! there.

use super::super::clamp_param;
use crate::automation::Kind as HostKind;
use crate::blocks::biquad::{Design, Kind, Smoothed};
use crate::effect::{Block, Effect, ProcessSpec};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::ops::RangeInclusive;

/// The effect's key in the preset JSON (docs/effects.md §3).
pub const KEY: &str = "eq";

/// Bands the EQ holds (docs/effects.md §3 #12: 8 preallocated); further bands in a preset are
/// ignored.
pub const MAX_BANDS: usize = 8;
/// Range of [`Band::frequency`] (Hz).
pub const FREQUENCY_RANGE: RangeInclusive<f32> = 20.0..=20_000.0;
/// Declared range of [`Band::gain`] (dB).
pub const GAIN_RANGE: RangeInclusive<f32> = -24.0..=24.0;
/// Declared range of [`Band::q`].
pub const Q_RANGE: RangeInclusive<f32> = 0.1..=10.0;

/// Glide time of a band's frequency, Q and gain.
const GLIDE_SECONDS: f64 = 0.02;
/// A flat band whose state is below this (−200 dBFS) is skipped and cleared.
const QUIET_STATE: f64 = 1e-10;

/// A band's shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BandType {
    /// Low shelf: the gain below the corner.
    Lowshelf,
    /// Peaking bell (also accepted as `peaking`).
    #[default]
    #[serde(alias = "peaking")]
    Peak,
    /// High shelf: the gain above the corner.
    Highshelf,
}

impl BandType {
    fn kind(self) -> Kind {
        match self {
            Self::Lowshelf => Kind::LowShelf,
            Self::Peak => Kind::Peak,
            Self::Highshelf => Kind::HighShelf,
        }
    }
}

/// One band. Missing fields: 1000 Hz, 0 dB, Q 1, peak (docs/effects.md §3 #12).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Band {
    /// Centre or corner frequency, Hz.
    pub frequency: f32,
    /// Gain, dB, −24…+24.
    pub gain: f32,
    /// Quality factor, 0.1…10 (for shelves: the cookbook's shelf Q).
    pub q: f32,
    /// Shape (also accepted as `type`).
    #[serde(alias = "type")]
    pub band_type: BandType,
}

impl Default for Band {
    fn default() -> Self {
        Self {
            frequency: 1_000.0,
            gain: 0.0,
            q: 1.0,
            band_type: BandType::Peak,
        }
    }
}

impl Band {
    /// The band with every value inside its range (NaN becomes the default).
    pub fn clamped(&self) -> Self {
        let defaults = Self::default();
        Self {
            frequency: clamp_param(self.frequency, FREQUENCY_RANGE, defaults.frequency),
            gain: clamp_param(self.gain, GAIN_RANGE, defaults.gain),
            q: clamp_param(self.q, Q_RANGE, defaults.q),
            band_type: self.band_type,
        }
    }

    fn design(&self) -> Design {
        Design::with_gain(
            self.band_type.kind(),
            f64::from(self.frequency),
            f64::from(self.q),
            f64::from(self.gain),
        )
    }

    const fn shelf_or_peak(frequency: f32, q: f32, band_type: BandType) -> Self {
        Self {
            frequency,
            gain: 0.0,
            q,
            band_type,
        }
    }
}

/// The EQ's parameters. A partial update fills missing fields from [`Params::default`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Params {
    /// On or off (default off).
    pub enabled: bool,
    /// The bands, in processing order; in JSON the reference's list (see the module notes).
    /// Default: 80 Hz low shelf Q 0.7; 240, 750, 2200 Hz peaks Q 1; 6 kHz high shelf Q 0.7;
    /// then flat default bands; all 0 dB.
    #[serde(
        serialize_with = "serialize_bands",
        deserialize_with = "deserialize_bands"
    )]
    pub bands: [Band; MAX_BANDS],
}

crate::host_choice!(BandType {
    Lowshelf => "Low Shelf",
    Peak => "Peak",
    Highshelf => "High Shelf",
});

crate::automatable!(Params {
    [bands[0].frequency] "bands.0.frequency", "Band 1 Frequency", HostKind::logarithmic(FREQUENCY_RANGE, "Hz");
    [bands[0].gain] "bands.0.gain", "Band 1 Gain", HostKind::linear(GAIN_RANGE, "dB");
    [bands[0].q] "bands.0.q", "Band 1 Q", HostKind::logarithmic(Q_RANGE, "");
    [bands[0].band_type] "bands.0.bandType", "Band 1 Type", HostKind::choice::<BandType>();
    [bands[1].frequency] "bands.1.frequency", "Band 2 Frequency", HostKind::logarithmic(FREQUENCY_RANGE, "Hz");
    [bands[1].gain] "bands.1.gain", "Band 2 Gain", HostKind::linear(GAIN_RANGE, "dB");
    [bands[1].q] "bands.1.q", "Band 2 Q", HostKind::logarithmic(Q_RANGE, "");
    [bands[1].band_type] "bands.1.bandType", "Band 2 Type", HostKind::choice::<BandType>();
    [bands[2].frequency] "bands.2.frequency", "Band 3 Frequency", HostKind::logarithmic(FREQUENCY_RANGE, "Hz");
    [bands[2].gain] "bands.2.gain", "Band 3 Gain", HostKind::linear(GAIN_RANGE, "dB");
    [bands[2].q] "bands.2.q", "Band 3 Q", HostKind::logarithmic(Q_RANGE, "");
    [bands[2].band_type] "bands.2.bandType", "Band 3 Type", HostKind::choice::<BandType>();
    [bands[3].frequency] "bands.3.frequency", "Band 4 Frequency", HostKind::logarithmic(FREQUENCY_RANGE, "Hz");
    [bands[3].gain] "bands.3.gain", "Band 4 Gain", HostKind::linear(GAIN_RANGE, "dB");
    [bands[3].q] "bands.3.q", "Band 4 Q", HostKind::logarithmic(Q_RANGE, "");
    [bands[3].band_type] "bands.3.bandType", "Band 4 Type", HostKind::choice::<BandType>();
    [bands[4].frequency] "bands.4.frequency", "Band 5 Frequency", HostKind::logarithmic(FREQUENCY_RANGE, "Hz");
    [bands[4].gain] "bands.4.gain", "Band 5 Gain", HostKind::linear(GAIN_RANGE, "dB");
    [bands[4].q] "bands.4.q", "Band 5 Q", HostKind::logarithmic(Q_RANGE, "");
    [bands[4].band_type] "bands.4.bandType", "Band 5 Type", HostKind::choice::<BandType>();
    [bands[5].frequency] "bands.5.frequency", "Band 6 Frequency", HostKind::logarithmic(FREQUENCY_RANGE, "Hz");
    [bands[5].gain] "bands.5.gain", "Band 6 Gain", HostKind::linear(GAIN_RANGE, "dB");
    [bands[5].q] "bands.5.q", "Band 6 Q", HostKind::logarithmic(Q_RANGE, "");
    [bands[5].band_type] "bands.5.bandType", "Band 6 Type", HostKind::choice::<BandType>();
    [bands[6].frequency] "bands.6.frequency", "Band 7 Frequency", HostKind::logarithmic(FREQUENCY_RANGE, "Hz");
    [bands[6].gain] "bands.6.gain", "Band 7 Gain", HostKind::linear(GAIN_RANGE, "dB");
    [bands[6].q] "bands.6.q", "Band 7 Q", HostKind::logarithmic(Q_RANGE, "");
    [bands[6].band_type] "bands.6.bandType", "Band 7 Type", HostKind::choice::<BandType>();
    [bands[7].frequency] "bands.7.frequency", "Band 8 Frequency", HostKind::logarithmic(FREQUENCY_RANGE, "Hz");
    [bands[7].gain] "bands.7.gain", "Band 8 Gain", HostKind::linear(GAIN_RANGE, "dB");
    [bands[7].q] "bands.7.q", "Band 8 Q", HostKind::logarithmic(Q_RANGE, "");
    [bands[7].band_type] "bands.7.bandType", "Band 8 Type", HostKind::choice::<BandType>();
});

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            bands: Self::bands_from(&[
                Band::shelf_or_peak(80.0, 0.7, BandType::Lowshelf),
                Band::shelf_or_peak(240.0, 1.0, BandType::Peak),
                Band::shelf_or_peak(750.0, 1.0, BandType::Peak),
                Band::shelf_or_peak(2_200.0, 1.0, BandType::Peak),
                Band::shelf_or_peak(6_000.0, 0.7, BandType::Highshelf),
            ]),
        }
    }
}

impl Params {
    /// The parameters with every band inside its ranges.
    pub fn clamped(&self) -> Self {
        Self {
            enabled: self.enabled,
            bands: self.bands.map(|band| band.clamped()),
        }
    }

    /// The fixed storage for a list of bands, as a preset's list reads: the first
    /// [`MAX_BANDS`] in order, the remaining slots flat default bands.
    pub fn bands_from(list: &[Band]) -> [Band; MAX_BANDS] {
        std::array::from_fn(|index| list.get(index).copied().unwrap_or_default())
    }
}

/// Writes every slot as the reference's list (see the module notes for why all of them).
fn serialize_bands<S: Serializer>(
    bands: &[Band; MAX_BANDS],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    bands.as_slice().serialize(serializer)
}

/// Reads the reference's list of any length into the fixed slots.
fn deserialize_bands<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<[Band; MAX_BANDS], D::Error> {
    Vec::<Band>::deserialize(deserializer).map(|list| Params::bands_from(&list))
}

/// One band's filters (left, right) and its glide bookkeeping.
#[derive(Clone, Debug)]
struct Slot {
    filters: [Smoothed; 2],
    /// Where the band is going (its current shape, or 0 dB in it while a shape change waits).
    target: Design,
    /// The design to glide to once the band has reached 0 dB in its old shape.
    pending: Option<Design>,
    /// Whether the band is processed (false: flat, settled, quiet).
    active: bool,
}

impl Slot {
    fn new(design: &Design, sample_rate: f64) -> Self {
        let filter = Smoothed::new(design, sample_rate, GLIDE_SECONDS);
        Self {
            filters: [filter.clone(), filter],
            target: *design,
            pending: None,
            active: design.gain_db != 0.0,
        }
    }

    fn set_target(&mut self, design: Design) {
        if !self.active {
            // Flat and silent: any shape is the identity here, so jump to the new shape at
            // 0 dB and glide to the gain from there.
            self.jump(&Design {
                gain_db: 0.0,
                ..design
            });
            self.pending = None;
            self.glide(design);
            self.active = design.gain_db != 0.0;
        } else if design.kind == self.target.kind && self.pending.is_none() {
            self.glide(design);
        } else if design.kind == self.target.kind {
            // A shape change was waiting; the band goes back to its current shape instead.
            self.pending = None;
            self.glide(design);
        } else {
            self.pending = Some(design);
            self.glide(Design {
                gain_db: 0.0,
                ..self.target
            });
        }
    }

    fn glide(&mut self, design: Design) {
        self.target = design;
        for filter in &mut self.filters {
            filter.set_target(&design);
        }
    }

    fn jump(&mut self, design: &Design) {
        self.target = *design;
        for filter in &mut self.filters {
            filter.jump_to(design);
        }
    }

    /// Finishes every glide and clears the state (reset).
    fn settle(&mut self) {
        let design = self.pending.take().unwrap_or(self.target);
        self.jump(&design);
        for filter in &mut self.filters {
            filter.reset();
        }
        self.active = design.gain_db != 0.0;
    }

    #[inline]
    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let [filter_left, filter_right] = &mut self.filters;
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            if !self.active {
                return;
            }
            *l = filter_left.process_sample(*l);
            *r = filter_right.process_sample(*r);
            if self.target.gain_db == 0.0 && filter_left.is_settled() {
                if let Some(design) = self.pending.take() {
                    // At 0 dB both shapes are the identity: switch here, then glide.
                    for filter in [&mut *filter_left, &mut *filter_right] {
                        filter.jump_to(&Design {
                            gain_db: 0.0,
                            ..design
                        });
                        filter.set_target(&design);
                    }
                    self.target = design;
                } else if filter_left.state_magnitude() < QUIET_STATE
                    && filter_right.state_magnitude() < QUIET_STATE
                {
                    filter_left.reset();
                    filter_right.reset();
                    self.active = false;
                }
            }
        }
    }
}

/// The parametric EQ.
#[derive(Clone, Debug)]
pub struct Equalizer {
    params: Params,
    sample_rate: f64,
    slots: [Slot; MAX_BANDS],
}

impl Equalizer {
    /// An EQ with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let mut eq = Self {
            params: params.clamped(),
            sample_rate: 48_000.0,
            slots: std::array::from_fn(|_| Slot::new(&Band::default().design(), 48_000.0)),
        };
        eq.build_slots();
        eq
    }

    /// Applies new parameters (clamped). Every band glides; a band changing shape glides
    /// through 0 dB.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        self.params = params.clamped();
        for (slot, band) in self.slots.iter_mut().zip(&self.params.bands) {
            slot.set_target(band.design());
        }
    }

    /// The parameters in use (clamped).
    pub fn params(&self) -> &Params {
        &self.params
    }

    fn build_slots(&mut self) {
        for (slot, band) in self.slots.iter_mut().zip(&self.params.bands) {
            *slot = Slot::new(&band.design(), self.sample_rate);
        }
    }
}

impl Effect for Equalizer {
    fn prepare(&mut self, spec: &ProcessSpec) {
        self.sample_rate = spec.sample_rate;
        self.build_slots();
    }

    fn reset(&mut self) {
        for slot in &mut self.slots {
            slot.settle();
        }
    }

    fn process(&mut self, block: &mut Block<'_>) {
        if !self.params.enabled {
            return;
        }
        let (left, right) = block.channels_mut();
        for slot in &mut self.slots {
            if slot.active {
                slot.process(left, right);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::biquad::Coefs;
    use crate::effects::conformance::{Subject, conformance_tests, render};
    use crate::test_support::{FS, Noise, impulse, response_db, sine};

    conformance_tests!(Equalizer {
        const CHOICES: &'static [(&'static str, &'static [&'static str])] = &[
            ("/bands/0/bandType", &["lowshelf", "peak", "highshelf"]),
            ("/bands/2/bandType", &["lowshelf", "peak", "highshelf"]),
            ("/bands/4/bandType", &["lowshelf", "peak", "highshelf"]),
        ];
        /// +24 dB per band and all eight may stack at one frequency (the extremes put them
        /// all at 20 kHz, Q 10): 192 dB, ×4e9, is legitimate (measured: 1.4e7 on full-scale
        /// noise); the bound catches instability only.
        const OUTPUT_BOUND: f32 = 1e10;
        /// A +24 dB, Q 10 bell at 20 Hz rings with τ ≈ 0.63 s: 46 τ to fall below 1e-20.
        const TAIL_LIMIT_SECONDS: f64 = 40.0;
    });

    fn enabled(bands: &[Band]) -> Params {
        Params {
            enabled: true,
            bands: Params::bands_from(bands),
        }
    }

    /// docs/effects.md §1 test 23: all gains at 0 dB is the identity, bit for bit, including after
    /// a band has been boosted and brought back (once its ringing has died away).
    #[test]
    fn flat_eq_is_bit_exact() {
        let mut rng = Noise::new(12);
        let input: Vec<f32> = (0..48_000).map(|_| rng.next_f64() as f32).collect();
        let mut eq = Equalizer::prepared(&enabled(&Params::default().bands));
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut eq, &mut left, &mut right, || 256);
        assert_eq!(left, input);

        let mut boosted = Params::default().bands;
        boosted[2].gain = 12.0;
        eq.set_params(&enabled(&boosted));
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut eq, &mut left, &mut right, || 256);
        assert!(crate::effects::conformance::residual_db(&left, &input) > -40.0);
        eq.set_params(&enabled(&Params::default().bands));
        for _ in 0..3 {
            let (mut left, mut right) = (input.clone(), input.clone());
            render(&mut eq, &mut left, &mut right, || 256);
        }
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut eq, &mut left, &mut right, || 256);
        assert_eq!(left, input, "flat again once the ringing has died away");
        assert!(eq.slots.iter().all(|slot| !slot.active));
    }

    /// docs/effects.md §1 test 1 through the effect: the impulse response's magnitude is the
    /// product of the RBJ bands' analytic responses within 0.01 dB; peaks read their gain at f0 and
    /// shelves half of it.
    #[test]
    fn magnitude_matches_the_rbj_formulas() {
        let bands = vec![
            Band {
                frequency: 100.0,
                gain: 6.0,
                q: 0.7,
                band_type: BandType::Lowshelf,
            },
            Band {
                frequency: 400.0,
                gain: -9.0,
                q: 2.0,
                band_type: BandType::Peak,
            },
            Band {
                frequency: 1_500.0,
                gain: 12.0,
                q: 0.5,
                band_type: BandType::Peak,
            },
            Band {
                frequency: 5_000.0,
                gain: 4.0,
                q: 8.0,
                band_type: BandType::Peak,
            },
            Band {
                frequency: 9_000.0,
                gain: -6.0,
                q: 0.7,
                band_type: BandType::Highshelf,
            },
        ];
        let ir = |bands: &[Band]| {
            let mut eq = Equalizer::prepared(&enabled(bands));
            let mut left = impulse(1 << 17);
            let mut right = left.clone();
            render(&mut eq, &mut left, &mut right, || 1024);
            left
        };
        let response = ir(&bands);
        let mut worst = 0.0f64;
        for frequency in [
            20.0, 50.0, 100.0, 200.0, 400.0, 1_000.0, 1_500.0, 5_000.0, 10_000.0, 20_000.0,
        ] {
            let expected: f64 = bands
                .iter()
                .map(|b| Coefs::new(&b.design(), FS).magnitude_db(frequency, FS))
                .sum();
            let measured = response_db(&response, frequency, FS);
            worst = worst.max((measured - expected).abs());
        }
        println!("EQ vs RBJ product: worst |error| {worst:.5} dB");
        assert!(worst <= 0.01, "{worst}");

        for band in &bands {
            let response = ir(std::slice::from_ref(band));
            let at_f0 = response_db(&response, f64::from(band.frequency), FS);
            let expected = match band.band_type {
                BandType::Peak => f64::from(band.gain),
                _ => f64::from(band.gain) / 2.0,
            };
            println!("{band:?}: {at_f0:.5} dB at f0");
            assert!((at_f0 - expected).abs() <= 0.01, "{at_f0} vs {expected}");
        }
    }

    /// A band changing shape under a loud sine goes through 0 dB: no step in the output bigger
    /// than the sine's own sample-to-sample change allows.
    #[test]
    fn changing_a_band_type_does_not_click() {
        let mut bands = Params::default().bands;
        bands[0].gain = 12.0;
        let mut eq = Equalizer::prepared(&enabled(&bands));
        let input = sine(200.0, 0.25, 24_000, FS);
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut eq, &mut left, &mut right, || 64);
        bands[0].band_type = BandType::Highshelf;
        let bands_after = bands;
        eq.set_params(&enabled(&bands));
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut eq, &mut left, &mut right, || 64);
        let largest_step = left
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0f32, f32::max);
        let sine_step = (std::f64::consts::TAU * 200.0 / FS) as f32 * 0.25 * 4.0;
        println!("largest step {largest_step:.5} (plain sine at +12 dB: {sine_step:.5})");
        assert!(largest_step <= sine_step, "{largest_step}");
        // It arrived: the sine's level is the new shape's gain at 200 Hz.
        let expected = 10f64
            .powf(Coefs::new(&bands_after[0].design(), FS).magnitude_db(200.0, FS) / 20.0)
            as f32
            * 0.25;
        let tail_peak = left[20_000..].iter().fold(0.0f32, |m, y| m.max(y.abs()));
        assert!(
            (tail_peak / expected - 1.0).abs() < 0.01,
            "{tail_peak} vs {expected}"
        );
    }

    #[test]
    fn params_accept_the_reference_forms() {
        let params: Params = serde_json::from_str(
            r#"{"enabled": true, "bands": [{"type": "peaking", "gain": 3}, {"frequency": 100, "bandType": "lowshelf"}, {}]}"#,
        )
        .unwrap();
        assert_eq!(
            params.bands,
            Params::bands_from(&[
                Band {
                    gain: 3.0,
                    ..Band::default()
                },
                Band {
                    frequency: 100.0,
                    band_type: BandType::Lowshelf,
                    ..Band::default()
                },
                Band::default(),
            ])
        );
        // Writing lists every slot: the five reference bands, then the flat defaults; and what
        // is written reads back unchanged.
        let json = serde_json::to_value(Params::default()).unwrap();
        assert_eq!(json["bands"][0]["bandType"], "lowshelf");
        assert_eq!(json["bands"].as_array().unwrap().len(), MAX_BANDS);
        assert_eq!(json["bands"][4]["frequency"], 6_000.0);
        assert_eq!(
            json["bands"][5],
            serde_json::to_value(Band::default()).unwrap()
        );
        let read: Params = serde_json::from_value(json).unwrap();
        assert_eq!(read, Params::default());
        // A longer list than the EQ holds: the extra bands are ignored; values are clamped.
        let many: Params = serde_json::from_str(
            r#"{"bands": [{"gain": 100, "frequency": 1}, {}, {}, {}, {}, {}, {}, {}, {"gain": 9}, {}]}"#,
        )
        .unwrap();
        assert!(many.bands.iter().all(|band| band.gain != 9.0));
        let wild = Params {
            bands: [Band {
                q: f32::NAN,
                ..many.bands[0]
            }; MAX_BANDS],
            ..many
        }
        .clamped();
        assert_eq!(
            (wild.bands[7].gain, wild.bands[7].q, wild.bands[7].frequency),
            (24.0, 1.0, 20.0)
        );
    }
}
