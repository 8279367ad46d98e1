//! Building blocks the effects are made of. Each allocates only when built or prepared; every
//! per-sample and per-block method is allocation-free and safe on the audio thread.
//!
//! - [`approx`]: branch-free e^y, log2 and decibel conversions for per-sample use.
//! - [`biquad`]: RBJ cookbook filters (DF2T, `f64` state) and a click-free gliding variant.
//! - [`crossover`]: Linkwitz–Riley LR4, 2 and 3 bands (with the all-pass fix).
//! - [`delay`]: fractional delay line (linear and cubic Hermite reads).
//! - [`granular`]: polyphonic delay-line pitch shifter with matched splices.
//! - [`lfo`]: sine/triangle/square/saw oscillators, phase offset, tempo sync, note values.
//! - [`hilbert`]: Niemitalo's 90° allpass pair (analytic signal for frequency shifting).
//! - [`envelope`]: peak and RMS followers with attack and release.
//! - [`dc`]: DC blocker with an exact −3 dB corner.
//! - [`smoother`]: linear-ramp and one-pole parameter smoothers.
//! - [`oversample`]: 2×/4× half-band FIR oversampling for nonlinear stages.
//! - [`peak_hold`]: sliding-window maximum.
//! - [`quadrature`]: cos/sin oscillator by recurrence (no per-sample transcendental call).
//! - [`psola`]: TD-PSOLA pitch shifting (shared analysis, any number of voices).
//! - [`yin`]: the YIN pitch detector (FFT difference function, sample-count schedule).

pub mod approx;
pub mod biquad;
pub mod crossover;
pub mod dc;
pub mod delay;
pub mod envelope;
pub mod granular;
pub mod hilbert;
pub mod lfo;
pub mod oversample;
pub mod peak_hold;
pub mod psola;
pub mod quadrature;
pub mod smoother;
pub mod yin;
