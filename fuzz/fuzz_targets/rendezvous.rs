//! Fuzz target: see `osp_jam_fuzz::rendezvous`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| osp_jam_fuzz::rendezvous(data));
