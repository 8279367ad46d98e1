//! Fuzz target: see `osp_jam_fuzz::relay_http`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| osp_jam_fuzz::relay_http(data));
