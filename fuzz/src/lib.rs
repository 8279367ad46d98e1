//! Fuzz bodies for every decoder of untrusted input, and the seed inputs of their corpora.
//!
//! Each body feeds the bytes to a decoder and asserts what must hold for any input: no panic,
//! views stay inside the input, counters add up, and whatever decodes re-encodes to bytes that
//! decode to the same thing. cargo-fuzz drives them from `fuzz_targets/`; the normal test suite
//! (`tests/it/robustness.rs`) drives them on stable over the corpora and seeded mutations.
//! One module per parser family holds its bodies and their seeds.

mod audio;
mod osp;
mod ostp;
mod preset;
mod relay_http;
mod rendezvous;
mod rtcp;
mod stun;

use proto::demux::Kind;

pub use audio::{opus, pcm};
pub use osp::osp;
pub use ostp::{clock_sync, inbound, ostp_packet, parity};
pub use preset::preset;
pub use relay_http::relay_http;
pub use rendezvous::rendezvous;
pub use rtcp::rtcp;
pub use stun::stun;

/// A fuzz body: takes arbitrary bytes, panics only on a bug.
pub type Body = fn(&[u8]);

/// Every target, by name (the corpus directory names).
pub const TARGETS: &[(&str, Body)] = &[
    ("ostp_packet", ostp_packet),
    ("rtcp", rtcp),
    ("parity", parity),
    ("osp", osp),
    ("clock_sync", clock_sync),
    ("inbound", inbound),
    ("pcm", pcm),
    ("opus", opus),
    ("preset", preset),
    ("rendezvous", rendezvous),
    ("relay_http", relay_http),
    ("stun", stun),
];

/// Valid inputs for each target: the starting corpus (written to `corpus/<target>/` by the
/// normal suite's regeneration test, and fed to the bodies on every run).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "ostp_packet" | "parity" | "clock_sync" | "inbound" => ostp::seeds(target),
        "rtcp" => rtcp::seeds(),
        "osp" => osp::seeds(),
        "pcm" | "opus" => audio::seeds(target),
        "preset" => preset::seeds(),
        "rendezvous" => rendezvous::seeds(),
        "relay_http" => relay_http::seeds(),
        "stun" => stun::seeds(),
        _ => Vec::new(),
    }
}

/// Kinds the demultiplexer must give each seed family (a cross-check used by the suite).
pub fn expected_kind(target: &str) -> Option<Kind> {
    match target {
        "ostp_packet" => Some(Kind::Rtp),
        "rtcp" => Some(Kind::Rtcp),
        "osp" => Some(Kind::Osp),
        "clock_sync" => Some(Kind::ClockSync),
        _ => None,
    }
}

/// Asserts that `inner`, a view a decoder returned, lies inside `outer`, the input it decoded.
fn assert_inside(outer: &[u8], inner: &[u8]) {
    let start = inner.as_ptr() as usize;
    let base = outer.as_ptr() as usize;
    assert!(inner.is_empty() || (start >= base && start + inner.len() <= base + outer.len()));
}
