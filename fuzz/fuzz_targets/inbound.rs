//! Fuzz target: see `osp_jam_fuzz::inbound`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| osp_jam_fuzz::inbound(data));
