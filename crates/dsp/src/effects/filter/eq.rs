//! The parametric EQ (osp.md §10 #12): up to [`MAX_BANDS`] serial RBJ bands (low shelf, peak,
//! high shelf), all preallocated, each gliding to new settings.
//!
//! Why a band can change shape without a click: every shape here is the identity at 0 dB, so a
//! band whose type changes first glides to 0 dB in its old shape, switches shape there (where
//! both shapes are the same filter), then glides to its new gain. A band that is settled at
//! 0 dB and whose state has died away below −200 dBFS is skipped (it would compute
//! `y = x`), so unused and flat bands cost nothing; with all gains at 0 dB the EQ is bit exact.

use super::super::clamp_param;
use crate::blocks::biquad::{Design, Kind, Smoothed};
use crate::effect::{Block, Effect, ProcessSpec};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The effect's key in the reference JSON (osp.md §10).
pub const KEY: &str = "eq";

/// Bands the EQ holds; further bands in the parameters are ignored.
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

/// One band. Missing fields: 1000 Hz, 0 dB, Q 1, peak (osp.md §10).
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
    /// The bands, in processing order (at most [`MAX_BANDS`] are used). Default: 80 Hz low
    /// shelf Q 0.7; 240, 750, 2200 Hz peaks Q 1; 6 kHz high shelf Q 0.7; all 0 dB.
    pub bands: Vec<Band>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            enabled: false,
            bands: vec![
                Band::shelf_or_peak(80.0, 0.7, BandType::Lowshelf),
                Band::shelf_or_peak(240.0, 1.0, BandType::Peak),
                Band::shelf_or_peak(750.0, 1.0, BandType::Peak),
                Band::shelf_or_peak(2_200.0, 1.0, BandType::Peak),
                Band::shelf_or_peak(6_000.0, 0.7, BandType::Highshelf),
            ],
        }
    }
}

impl Params {
    /// The parameters with every band inside its ranges and at most [`MAX_BANDS`] bands.
    pub fn clamped(&self) -> Self {
        Self {
            enabled: self.enabled,
            bands: self
                .bands
                .iter()
                .take(MAX_BANDS)
                .map(Band::clamped)
                .collect(),
        }
    }
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
    enabled: bool,
    bands: [Band; MAX_BANDS],
    band_count: usize,
    sample_rate: f64,
    slots: [Slot; MAX_BANDS],
}

impl Equalizer {
    /// An EQ with `params`; call [`Effect::prepare`] before processing.
    pub fn new(params: &Params) -> Self {
        let mut eq = Self {
            enabled: false,
            bands: [Band::default(); MAX_BANDS],
            band_count: 0,
            sample_rate: 48_000.0,
            slots: std::array::from_fn(|_| Slot::new(&Band::default().design(), 48_000.0)),
        };
        eq.store(params);
        eq.build_slots();
        eq
    }

    /// Applies new parameters (clamped; bands beyond [`MAX_BANDS`] ignored). Every band glides;
    /// removed bands glide to 0 dB.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_params(&mut self, params: &Params) {
        self.store(params);
        for (index, slot) in self.slots.iter_mut().enumerate() {
            slot.set_target(self.bands[index].design());
        }
    }

    /// The parameters in use (clamped). Allocates: not for the audio thread.
    pub fn params(&self) -> Params {
        Params {
            enabled: self.enabled,
            bands: self.bands[..self.band_count].to_vec(),
        }
    }

    /// Copies the clamped bands into the fixed array; unused slots become flat bands that keep
    /// the shape they had.
    fn store(&mut self, params: &Params) {
        self.enabled = params.enabled;
        self.band_count = params.bands.len().min(MAX_BANDS);
        for (index, band) in self.bands.iter_mut().enumerate() {
            *band = match params.bands.get(index) {
                Some(band) => band.clamped(),
                None => Band { gain: 0.0, ..*band },
            };
        }
    }

    fn build_slots(&mut self) {
        for (slot, band) in self.slots.iter_mut().zip(&self.bands) {
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
        if !self.enabled {
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
        /// +24 dB per band, and bands may overlap: large outputs are legitimate; the bound
        /// catches instability only.
        const OUTPUT_BOUND: f32 = 1e4;
        /// A +24 dB, Q 10 bell at 20 Hz rings with τ ≈ 0.63 s: 46 τ to fall below 1e-20.
        const TAIL_LIMIT_SECONDS: f64 = 40.0;
    });

    fn enabled(bands: Vec<Band>) -> Params {
        Params {
            enabled: true,
            bands,
        }
    }

    /// dsp.md §1 test 23: all gains at 0 dB is the identity, bit for bit, including after a
    /// band has been boosted and brought back (once its ringing has died away).
    #[test]
    fn flat_eq_is_bit_exact() {
        let mut rng = Noise::new(12);
        let input: Vec<f32> = (0..48_000).map(|_| rng.next_f64() as f32).collect();
        let mut eq = Equalizer::prepared(&enabled(Params::default().bands));
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut eq, &mut left, &mut right, || 256);
        assert_eq!(left, input);

        let mut boosted = Params::default().bands;
        boosted[2].gain = 12.0;
        eq.set_params(&enabled(boosted));
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut eq, &mut left, &mut right, || 256);
        assert!(crate::effects::conformance::residual_db(&left, &input) > -40.0);
        eq.set_params(&enabled(Params::default().bands));
        for _ in 0..3 {
            let (mut left, mut right) = (input.clone(), input.clone());
            render(&mut eq, &mut left, &mut right, || 256);
        }
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut eq, &mut left, &mut right, || 256);
        assert_eq!(left, input, "flat again once the ringing has died away");
        assert!(eq.slots.iter().all(|slot| !slot.active));
    }

    /// dsp.md §1 test 1 through the effect: the impulse response's magnitude is the product of
    /// the RBJ bands' analytic responses within 0.01 dB; peaks read their gain at f0 and
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
            let mut eq = Equalizer::prepared(&enabled(bands.to_vec()));
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
        let mut eq = Equalizer::prepared(&enabled(bands.clone()));
        let input = sine(200.0, 0.25, 24_000, FS);
        let (mut left, mut right) = (input.clone(), input.clone());
        render(&mut eq, &mut left, &mut right, || 64);
        bands[0].band_type = BandType::Highshelf;
        let bands_after = bands.clone();
        eq.set_params(&enabled(bands));
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
            [
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
            ]
        );
        let json = serde_json::to_value(Params::default()).unwrap();
        assert_eq!(json["bands"][0]["bandType"], "lowshelf");
        assert_eq!(json["bands"].as_array().unwrap().len(), 5);
        assert_eq!(json["bands"][4]["frequency"], 6_000.0);
        let many = Params {
            enabled: true,
            bands: vec![
                Band {
                    gain: 100.0,
                    q: f32::NAN,
                    frequency: 1.0,
                    ..Band::default()
                };
                12
            ],
        }
        .clamped();
        assert_eq!(many.bands.len(), MAX_BANDS);
        assert_eq!(
            (many.bands[0].gain, many.bands[0].q, many.bands[0].frequency),
            (24.0, 1.0, 20.0)
        );
    }
}
