//! Any text, parsed as a model card's front matter: no panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| commons_formats::fuzz::fuzz_model_card(text));
