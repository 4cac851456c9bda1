//! Entry points for fuzzers (`fuzz/`) and property tests: each parses
//! arbitrary bytes and checks the parser's promises on success. They panic
//! only when a promise is broken — which is exactly what a fuzzer looks for.

use std::path::Path;

use crate::gguf::GgufHeader;
use crate::safetensors::SafetensorsHeader;

const FUZZ_PATH: &str = "<fuzz input>";

/// Parses `bytes` as a GGUF header; on success every tensor must lie inside
/// the input, aligned, and disjoint from the others.
pub fn fuzz_gguf(bytes: &[u8]) {
    let Ok(header) = GgufHeader::parse(Path::new(FUZZ_PATH), bytes) else {
        return;
    };
    let size = bytes.len() as u64;
    assert!(header.alignment.is_power_of_two());
    assert_eq!(header.data_offset % header.alignment, 0);
    let mut ranges: Vec<_> = header
        .tensors
        .iter()
        .map(|t| {
            let range = header.tensor_range(t);
            assert!(
                range.start <= range.end && range.end <= size,
                "{t:?} outside input"
            );
            assert_eq!(t.offset % header.alignment, 0);
            assert_eq!(t.element_count, t.dims.iter().product::<u64>());
            assert!(t.dims.len() <= 4);
            range
        })
        .collect();
    assert_no_overlap(&mut ranges);
}

/// Parses `bytes` as a safetensors header; on success every tensor must lie
/// inside the input, sized by dtype and shape, and disjoint from the others.
pub fn fuzz_safetensors(bytes: &[u8]) {
    let Ok(header) = SafetensorsHeader::parse(Path::new(FUZZ_PATH), bytes) else {
        return;
    };
    let size = bytes.len() as u64;
    let mut ranges: Vec<_> = header
        .tensors
        .iter()
        .map(|t| {
            let range = header.tensor_range(t);
            assert!(
                range.start >= header.data_start && range.end <= size,
                "{t:?} outside input"
            );
            assert_eq!(t.size() * 8, t.element_count * t.dtype.bits());
            range
        })
        .filter(|r| !r.is_empty())
        .collect();
    assert_no_overlap(&mut ranges);
}

/// Parses `text` as a model card; must never panic.
pub fn fuzz_model_card(text: &str) {
    let _ = crate::parse_model_card(text);
}

fn assert_no_overlap(ranges: &mut [std::ops::Range<u64>]) {
    ranges.sort_by_key(|r| (r.start, r.end));
    for pair in ranges.windows(2) {
        if let [a, b] = pair {
            assert!(a.end <= b.start, "{a:?} overlaps {b:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{safetensors_bytes, GgufBuilder};

    #[test]
    fn entry_points_accept_valid_and_garbage_inputs() {
        let gguf = GgufBuilder::tiny_model(3).build();
        let safetensors = safetensors_bytes(&[("t", "F32", &[2, 2])], &[]);
        let seeds: [&[u8]; 6] = [
            &[],
            b"GGUF",
            &[0xff; 64],
            &gguf,
            &safetensors,
            b"\x02\0\0\0\0\0\0\0{}",
        ];
        for seed in seeds {
            fuzz_gguf(seed);
            fuzz_safetensors(seed);
            fuzz_model_card(&String::from_utf8_lossy(seed));
        }
        // The valid inputs really parse, so the invariant checks ran on them.
        assert!(GgufHeader::parse(Path::new(FUZZ_PATH), &gguf).is_ok());
        assert!(SafetensorsHeader::parse(Path::new(FUZZ_PATH), &safetensors).is_ok());
    }
}
