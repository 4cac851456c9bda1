//! Any bytes, parsed as a GGUF header: no panic, and on success every tensor
//! lies inside the input, aligned and disjoint (checked by `fuzz_gguf`).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| commons_formats::fuzz::fuzz_gguf(bytes));
