//! safetensors reader tests on synthetic files.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::test_support::{safetensors_bytes, safetensors_from_header};
use crate::FormatError;

fn parse(bytes: &[u8]) -> Result<SafetensorsHeader, FormatError> {
    SafetensorsHeader::parse(Path::new("test.safetensors"), bytes)
}

fn sample() -> Vec<u8> {
    safetensors_bytes(
        &[
            ("embeddings.weight", "BF16", &[16, 8]),
            ("norm.weight", "F32", &[8]),
            ("position_ids", "I64", &[1, 4]),
            ("mask", "BOOL", &[3]),
            ("scale", "F64", &[]),
            ("packed", "F4", &[4]),
            ("empty", "F16", &[0, 8]),
        ],
        &[("format", "pt")],
    )
}

#[test]
fn reads_dtypes_shapes_offsets_and_metadata() -> Result<(), FormatError> {
    let bytes = sample();
    let header = parse(&bytes)?;
    assert_eq!(
        header.metadata.get("format").map(String::as_str),
        Some("pt")
    );
    assert_eq!(header.tensors.len(), 7);
    let find = |name: &str| header.tensors.iter().find(|t| t.name == name);
    let embeddings = find("embeddings.weight");
    assert_eq!(
        embeddings.map(|t| (t.dtype, t.shape.clone(), t.element_count, t.size())),
        Some((Dtype::BF16, vec![16, 8], 128, 256))
    );
    assert_eq!(
        find("scale").map(|t| (t.element_count, t.size())),
        Some((1, 8))
    );
    assert_eq!(find("packed").map(SafetensorsTensor::size), Some(2));
    assert_eq!(
        find("empty").map(|t| (t.element_count, t.size())),
        Some((0, 0))
    );
    let data_len = bytes.len() as u64 - header.data_start;
    assert_eq!(
        header
            .tensors
            .iter()
            .map(SafetensorsTensor::size)
            .sum::<u64>(),
        data_len
    );
    Ok(())
}

#[test]
fn header_longer_than_the_file_or_the_limit_is_rejected() {
    let mut bytes = sample();
    let file_len = bytes.len() as u64;
    bytes[..8].copy_from_slice(&(file_len).to_le_bytes());
    let err = parse(&bytes);
    assert!(
        matches!(&err, Err(FormatError::HeaderTooLarge { length, limit, .. })
            if *length == file_len && limit.contains("follow")),
        "{err:?}"
    );
    bytes[..8].copy_from_slice(&(MAX_HEADER_BYTES + 1).to_le_bytes());
    let err = parse(&bytes);
    assert!(
        matches!(&err, Err(FormatError::HeaderTooLarge { limit, .. }) if limit.contains("100000000")),
        "{err:?}"
    );
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        parse(&bytes),
        Err(FormatError::HeaderTooLarge { .. })
    ));
}

#[test]
fn files_shorter_than_the_length_prefix_are_truncated() {
    for len in 0..8 {
        assert!(matches!(
            parse(&vec![0; len]),
            Err(FormatError::Truncated { needed: 8, .. })
        ));
    }
}

#[test]
fn non_json_and_non_object_headers_are_rejected() {
    for header in [
        "not json at all",
        "[1, 2, 3]",
        "{\"a\": ",
        "{\"t\": {\"dtype\": \"F32\"}}",
        "{\"t\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}",
        "{\"__metadata__\": {\"n\": 1}}",
        "{\"t\": 5}",
    ] {
        let err = parse(&safetensors_from_header(header, 16));
        assert!(
            matches!(err, Err(FormatError::InvalidHeader { .. })),
            "{header}: {err:?}"
        );
    }
}

#[test]
fn duplicate_keys_are_rejected() {
    let header = r#"{"t": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                     "t": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}"#;
    let err = parse(&safetensors_from_header(header, 2));
    assert!(
        matches!(&err, Err(FormatError::InvalidHeader { problem, .. }) if problem.contains("twice")),
        "{err:?}"
    );
}

fn one_tensor(dtype: &str, shape: &str, offsets: &str, data_len: u64) -> Vec<u8> {
    let header =
        format!(r#"{{"t": {{"dtype": "{dtype}", "shape": {shape}, "data_offsets": {offsets}}}}}"#);
    safetensors_from_header(&header, data_len)
}

#[test]
fn tensor_sizes_must_match_dtype_and_shape() {
    let err = parse(&one_tensor("F32", "[2, 2]", "[0, 15]", 16));
    assert!(
        matches!(&err, Err(FormatError::InvalidTensor { tensor, problem, .. })
            if tensor == "t" && problem.contains("needs 16")),
        "{err:?}"
    );
    let err = parse(&one_tensor("F32", "[4]", "[16, 0]", 16));
    assert!(
        matches!(err, Err(FormatError::InvalidTensor { .. })),
        "{err:?}"
    );
    let err = parse(&one_tensor("F4", "[3]", "[0, 2]", 16));
    assert!(
        matches!(err, Err(FormatError::InvalidTensor { .. })),
        "{err:?}"
    );
}

#[test]
fn tensors_outside_the_file_are_rejected() {
    let err = parse(&one_tensor("F32", "[4]", "[8, 24]", 16));
    assert!(
        matches!(&err, Err(FormatError::TensorOutOfBounds { tensor, size: 16, .. }) if tensor == "t"),
        "{err:?}"
    );
    let far = u64::MAX - 4;
    let err = parse(&one_tensor(
        "U8",
        "[4]",
        &format!("[{far}, {}]", far + 4),
        16,
    ));
    assert!(
        matches!(err, Err(FormatError::TensorOutOfBounds { .. })),
        "{err:?}"
    );
}

#[test]
fn overlapping_tensors_are_rejected() {
    let header = r#"{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                     "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}"#;
    let err = parse(&safetensors_from_header(header, 16));
    assert!(
        matches!(&err, Err(FormatError::TensorOverlap { first, second, .. }) if first == "a" && second == "b"),
        "{err:?}"
    );
}

#[test]
fn absurd_shapes_overflow_cleanly() {
    let shape = format!("[{}, {}]", u64::MAX, 2);
    let err = parse(&one_tensor("F32", &shape, "[0, 16]", 16));
    assert!(
        matches!(&err, Err(FormatError::InvalidTensor { problem, .. }) if problem.contains("overflows")),
        "{err:?}"
    );
    let err = parse(&one_tensor(
        "F64",
        &format!("[{}]", 1u64 << 61),
        "[0, 16]",
        16,
    ));
    assert!(
        matches!(err, Err(FormatError::InvalidTensor { .. })),
        "{err:?}"
    );
}

#[test]
fn unknown_dtypes_name_the_tensor() {
    let err = parse(&one_tensor("F128", "[1]", "[0, 16]", 16));
    assert!(
        matches!(&err, Err(FormatError::UnknownDtype { tensor, dtype, .. }) if tensor == "t" && dtype == "F128"),
        "{err:?}"
    );
}

#[test]
fn truncation_at_every_length_never_panics() {
    let bytes = sample();
    assert!(parse(&bytes).is_ok());
    for cut in 0..bytes.len() {
        assert!(parse(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

fn write_shards(dir: &Path) {
    write(
        dir,
        "model-00001-of-00002.safetensors",
        &safetensors_bytes(&[("a", "F32", &[4]), ("b", "F16", &[4])], &[]),
    );
    write(
        dir,
        "model-00002-of-00002.safetensors",
        &safetensors_bytes(&[("c", "BF16", &[2, 4])], &[]),
    );
}

fn index_json(entries: &[(&str, &str)]) -> Vec<u8> {
    let map: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(t, f)| ((*t).to_owned(), serde_json::Value::from(*f)))
        .collect();
    serde_json::json!({"metadata": {"total_size": 32}, "weight_map": map})
        .to_string()
        .into_bytes()
}

#[test]
fn sharded_sets_open_through_their_index() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    write_shards(dir.path());
    let index = write(
        dir.path(),
        "model.safetensors.index.json",
        &index_json(&[
            ("a", "model-00001-of-00002.safetensors"),
            ("b", "model-00001-of-00002.safetensors"),
            ("c", "model-00002-of-00002.safetensors"),
        ]),
    );
    let files = open_index(&index)?;
    assert_eq!(files.len(), 2);
    let inspection = crate::inspect(&index)?;
    assert_eq!(inspection.info.tensor_count, 3);
    assert_eq!(inspection.info.parameter_count, 16);
    assert_eq!(inspection.files.len(), 3, "two shards and the index");

    // Any shard also finds its siblings by name.
    let from_shard = crate::inspect(&dir.path().join("model-00002-of-00002.safetensors"))?;
    assert_eq!(from_shard.info.tensor_count, 3);
    Ok(())
}

#[test]
fn index_errors_are_specific() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    write_shards(dir.path());
    let index = dir.path().join("model.safetensors.index.json");

    write(
        dir.path(),
        "model.safetensors.index.json",
        &index_json(&[("a", "model-00003-of-00003.safetensors")]),
    );
    let err = open_index(&index);
    assert!(
        matches!(&err, Err(FormatError::MissingShard { path, .. }) if path.ends_with("model-00003-of-00003.safetensors")),
        "{err:?}"
    );

    write(
        dir.path(),
        "model.safetensors.index.json",
        &index_json(&[("c", "model-00001-of-00002.safetensors")]),
    );
    let err = open_index(&index);
    assert!(
        matches!(&err, Err(FormatError::InvalidJsonContent { problem, .. }) if problem.contains("does not contain")),
        "{err:?}"
    );

    write(
        dir.path(),
        "model.safetensors.index.json",
        &index_json(&[("a", "../model-00001-of-00002.safetensors")]),
    );
    assert!(matches!(
        open_index(&index),
        Err(FormatError::InvalidJsonContent { .. })
    ));

    write(dir.path(), "model.safetensors.index.json", b"{not json");
    assert!(matches!(open_index(&index), Err(FormatError::Json { .. })));

    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors"))?;
    let err = open_model(&dir.path().join("model-00001-of-00002.safetensors"));
    assert!(
        matches!(err, Err(FormatError::MissingShard { .. })),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn duplicate_tensors_across_shards_are_rejected() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    write_shards(dir.path());
    write(
        dir.path(),
        "model-00002-of-00002.safetensors",
        &safetensors_bytes(&[("a", "F32", &[4])], &[]),
    );
    let err = open_model(&dir.path().join("model-00001-of-00002.safetensors"));
    assert!(
        matches!(&err, Err(FormatError::DuplicateTensor { tensor, .. }) if tensor == "a"),
        "{err:?}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random byte mutations of a valid file never panic, and whatever
    /// parses keeps every tensor inside the input.
    #[test]
    fn mutated_headers_never_panic(
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = sample();
        let header_end = parse(&bytes).map(|h| h.data_start as usize).unwrap_or(bytes.len());
        for (position, value) in mutations {
            let at = position.index(header_end);
            bytes[at] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        crate::fuzz::fuzz_safetensors(&bytes);
    }

    /// Digit mutations keep the JSON valid but change numbers: offsets,
    /// shapes and lengths then disagree in every possible way.
    #[test]
    fn mutated_numbers_never_panic(
        mutations in prop::collection::vec((any::<prop::sample::Index>(), 0u8..10), 1..6),
    ) {
        let mut bytes = sample();
        let digits: Vec<usize> = (8..bytes.len().min(
            parse(&bytes).map(|h| h.data_start as usize).unwrap_or(8),
        ))
        .filter(|&i| bytes[i].is_ascii_digit())
        .collect();
        for (position, digit) in mutations {
            let at = digits[position.index(digits.len())];
            bytes[at] = b'0' + digit;
        }
        crate::fuzz::fuzz_safetensors(&bytes);
    }
}
