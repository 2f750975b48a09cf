//! Fuzz target `bundle`: see [`charter_fuzz::bundle`] for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| charter_fuzz::bundle(data));
