//! Any bytes, parsed as a safetensors header: no panic, and on success every
//! tensor lies inside the input, sized by dtype and shape, and disjoint
//! (checked by `fuzz_safetensors`).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| commons_formats::fuzz::fuzz_safetensors(bytes));
