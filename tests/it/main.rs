//! Workspace integration tests: the built bundles and binaries, driven by real hosts and servers.
//!
//! These load what `cargo xtask bundle plugin` produced (debug build, so nice-plug's
//! allocation assertion is armed inside every `process()` call): run the README's test command,
//! which bundles first.

mod app;
mod clap_host;
mod clap_latency;
mod editor_window;
mod engine;
mod engine_virtual;
mod jack_shell;
mod jam;
mod latency_virtual;
mod nat_jam;
mod nat_standalone;
mod natlab;
mod osp_relay;
mod robustness;
mod room;
mod rtp_interop;
mod rtp_receive;
mod standalone;
mod support;
mod tshark;
mod vst3_pedalboard;
