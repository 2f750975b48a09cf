//! Fuzz target `compile`: see [`charter_fuzz::compile`] for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| charter_fuzz::compile(data));
