//! Fuzz target `decide`: see [`charter_fuzz::decide`] for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| charter_fuzz::decide(data));
