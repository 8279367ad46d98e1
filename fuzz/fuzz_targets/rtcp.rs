//! Fuzz target: see `osp_jam_fuzz::rtcp`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| osp_jam_fuzz::rtcp(data));
