//! Fuzz target `server_body`: see [`charter_fuzz::server_body`] for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| charter_fuzz::server_body(data));
