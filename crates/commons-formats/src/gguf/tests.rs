//! GGUF reader tests on synthetic files: every value type, several tensor
//! types, split models, and each kind of malformed input.

use std::path::Path;

use proptest::prelude::*;

use super::*;
use crate::test_support::{write_string, GgufBuilder, TestTensor};
use crate::FormatError;

fn parse(bytes: &[u8]) -> Result<GgufHeader, FormatError> {
    GgufHeader::parse(Path::new("test.gguf"), bytes)
}

fn every_value_type() -> Vec<(&'static str, MetadataValue)> {
    use MetadataArray as A;
    use MetadataValue as V;
    vec![
        ("t.u8", V::U8(200)),
        ("t.i8", V::I8(-100)),
        ("t.u16", V::U16(60_000)),
        ("t.i16", V::I16(-30_000)),
        ("t.u32", V::U32(4_000_000_000)),
        ("t.i32", V::I32(-2_000_000_000)),
        ("t.f32", V::F32(1.5)),
        ("t.bool", V::Bool(true)),
        ("t.string", V::String("héllo".into())),
        ("t.u64", V::U64(u64::MAX)),
        ("t.i64", V::I64(i64::MIN)),
        ("t.f64", V::F64(-2.25)),
        ("t.array.u8", V::Array(A::U8(vec![1, 2, 3]))),
        ("t.array.i8", V::Array(A::I8(vec![-1, 2]))),
        ("t.array.u16", V::Array(A::U16(vec![65535]))),
        ("t.array.i16", V::Array(A::I16(vec![-2]))),
        ("t.array.u32", V::Array(A::U32(vec![7, 8]))),
        ("t.array.i32", V::Array(A::I32(vec![-7]))),
        ("t.array.u64", V::Array(A::U64(vec![1 << 40]))),
        ("t.array.i64", V::Array(A::I64(vec![-(1 << 40)]))),
        ("t.array.f32", V::Array(A::F32(vec![0.5, -0.25]))),
        ("t.array.f64", V::Array(A::F64(vec![1e100]))),
        ("t.array.bool", V::Array(A::Bool(vec![true, false]))),
        (
            "t.array.string",
            V::Array(A::String(vec!["a".into(), "".into()])),
        ),
        ("t.array.empty", V::Array(A::U32(vec![]))),
        (
            "t.array.nested",
            V::Array(A::Array(vec![
                A::String(vec!["x".into()]),
                A::Array(vec![A::I32(vec![1, 2]), A::Bool(vec![])]),
            ])),
        ),
    ]
}

#[test]
fn reads_every_metadata_value_type_in_v2_and_v3() -> Result<(), FormatError> {
    for version in [2, 3] {
        let mut builder = GgufBuilder::tiny_model(version);
        for (key, value) in every_value_type() {
            builder = builder.kv(key, value);
        }
        let header = parse(&builder.build())?;
        assert_eq!(header.version, version);
        for (key, value) in every_value_type() {
            assert_eq!(
                header.metadata.get(key),
                Some(&value),
                "{key} in v{version}"
            );
        }
        assert_eq!(
            header.metadata.get_str("general.architecture"),
            Some("llama")
        );
        assert_eq!(header.metadata.get_u64("llama.context_length"), Some(4096));
    }
    Ok(())
}

#[test]
fn tensor_infos_carry_dims_type_offset_and_size() -> Result<(), FormatError> {
    let bytes = GgufBuilder::tiny_model(3).build();
    let header = parse(&bytes)?;
    let names: Vec<_> = header.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "token_embd.weight",
            "output_norm.weight",
            "blk.0.attn_q.weight"
        ]
    );
    let [embd, norm, q] = &header.tensors[..] else {
        panic!("three tensors expected");
    };
    assert_eq!(
        (embd.ggml_type, embd.size, embd.element_count),
        (GgmlType::Q4_K, 4 * 144, 1024)
    );
    assert_eq!((norm.ggml_type, norm.size), (GgmlType::F32, 1024));
    assert_eq!(
        (q.ggml_type, q.size, q.dims.clone()),
        (GgmlType::Q8_0, 2 * 2 * 34, vec![64, 2])
    );
    assert_eq!(embd.offset, 0);
    assert_eq!(norm.offset, 4 * 144);
    assert_eq!(header.data_offset % 32, 0);
    assert!(header.tensor_range(q).end <= bytes.len() as u64);
    Ok(())
}

#[test]
fn every_tensor_type_is_sized_by_its_blocks() -> Result<(), FormatError> {
    let mut builder = GgufBuilder::new(3);
    for (index, &ty) in GgmlType::ALL.iter().enumerate() {
        // Two blocks, as two rows of one block each.
        builder = builder.tensor(&format!("t{index}.{ty}"), &[ty.block_size(), 2], ty);
    }
    let header = parse(&builder.build())?;
    assert_eq!(header.tensors.len(), GgmlType::ALL.len());
    for (tensor, &ty) in header.tensors.iter().zip(GgmlType::ALL) {
        assert_eq!(tensor.ggml_type, ty);
        assert_eq!(tensor.size, 2 * ty.type_size(), "{ty}");
    }
    Ok(())
}

#[test]
fn custom_alignment_is_honoured() -> Result<(), FormatError> {
    let bytes = GgufBuilder::tiny_model(3)
        .kv("general.alignment", MetadataValue::U32(64))
        .build();
    let header = parse(&bytes)?;
    assert_eq!(header.alignment, 64);
    assert_eq!(header.data_offset % 64, 0);
    assert!(header.tensors.iter().all(|t| t.offset % 64 == 0));
    Ok(())
}

#[test]
fn alignment_must_be_a_power_of_two() {
    let mut builder = GgufBuilder::tiny_model(3);
    builder
        .metadata
        .push(("general.alignment".into(), MetadataValue::U32(48)));
    let err = parse(&builder.build());
    assert!(
        matches!(&err, Err(FormatError::InvalidMetadata { key, .. }) if key == "general.alignment"),
        "{err:?}"
    );
}

#[test]
fn truncation_at_every_length_is_an_error_not_a_panic() {
    let bytes = GgufBuilder::tiny_model(3)
        .kv("t.nested", every_value_type().remove(25).1)
        .build();
    let header = parse(&bytes).expect("the uncut file parses");
    let data_offset = header.data_offset as usize;
    let data_end = header
        .tensors
        .iter()
        .map(|t| header.tensor_range(t).end)
        .max();
    let data_end = data_end.unwrap_or(0) as usize;
    for cut in 0..bytes.len() {
        let result = parse(&bytes[..cut]);
        if cut >= data_end {
            // Only trailing padding was cut.
            assert!(result.is_ok(), "cut at {cut}: {result:?}");
            continue;
        }
        // Cutting inside the data section leaves a valid header whose last
        // tensors no longer fit; anywhere earlier the header itself is short.
        match result {
            Err(FormatError::Truncated { size, .. }) => assert_eq!(size, cut as u64),
            Err(FormatError::StringTooLong { .. } | FormatError::CountTooLarge { .. }) => {
                assert!(cut < data_offset)
            }
            Err(FormatError::TensorOutOfBounds { file_size, .. }) => {
                assert_eq!(file_size, cut as u64)
            }
            other => panic!("cut at {cut}: unexpected {other:?}"),
        }
    }
}

#[test]
fn wrong_magic_is_named() {
    let mut bytes = GgufBuilder::tiny_model(3).build();
    bytes[..4].copy_from_slice(b"GGML");
    let err = parse(&bytes);
    assert!(
        matches!(&err, Err(FormatError::BadMagic { found, .. }) if found == b"GGML"),
        "{err:?}"
    );
}

#[test]
fn old_and_unknown_versions_are_unsupported() {
    for version in [0, 1, 4, 0xFFFF_FFFF] {
        let err = parse(&GgufBuilder::tiny_model(version).build());
        assert!(
            matches!(err, Err(FormatError::UnsupportedGgufVersion { version: v, .. }) if v == version),
            "version {version}: {err:?}"
        );
        if let Err(err) = err {
            assert!(err
                .to_string()
                .contains(&format!("unsupported GGUF version {version}")));
        }
    }
}

#[test]
fn big_endian_files_are_recognised() {
    let mut bytes = GgufBuilder::tiny_model(3).build();
    bytes[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert!(matches!(
        parse(&bytes),
        Err(FormatError::BigEndianGguf { .. })
    ));
}

fn with_counts(tensor_count: u64, kv_count: u64) -> Vec<u8> {
    let mut bytes = GgufBuilder::tiny_model(3).build();
    bytes[8..16].copy_from_slice(&tensor_count.to_le_bytes());
    bytes[16..24].copy_from_slice(&kv_count.to_le_bytes());
    bytes
}

#[test]
fn counts_larger_than_the_file_are_rejected_before_allocating() {
    let err = parse(&with_counts(u64::MAX, 6));
    assert!(
        matches!(&err, Err(FormatError::CountTooLarge { what, count: u64::MAX, .. }) if what == "tensor infos"),
        "{err:?}"
    );
    let err = parse(&with_counts(3, 1 << 40));
    assert!(
        matches!(&err, Err(FormatError::CountTooLarge { what, .. }) if what == "metadata key-value pairs"),
        "{err:?}"
    );
}

#[test]
fn string_lengths_larger_than_the_file_are_rejected() {
    let mut bytes = GgufBuilder::tiny_model(3).build();
    // The first key's length sits right after the fixed header.
    bytes[24..32].copy_from_slice(&(1u64 << 62).to_le_bytes());
    let err = parse(&bytes);
    assert!(
        matches!(&err, Err(FormatError::StringTooLong { offset: 24, length, .. }) if *length == 1 << 62),
        "{err:?}"
    );
}

#[test]
fn array_counts_larger_than_the_file_are_rejected() {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&3u32.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(&1u64.to_le_bytes());
    write_string(&mut bytes, "tokenizer.ggml.tokens");
    bytes.extend_from_slice(&9u32.to_le_bytes()); // array
    bytes.extend_from_slice(&8u32.to_le_bytes()); // of strings
    bytes.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
    bytes.extend_from_slice(&[0; 64]);
    let err = parse(&bytes);
    assert!(
        matches!(&err, Err(FormatError::CountTooLarge { what, .. }) if what.contains("tokenizer.ggml.tokens")),
        "{err:?}"
    );
}

#[test]
fn deeply_nested_arrays_are_rejected() {
    let mut array = MetadataArray::U8(vec![1]);
    for _ in 0..MAX_ARRAY_NESTING {
        array = MetadataArray::Array(vec![array]);
    }
    let bytes = GgufBuilder::new(3)
        .kv("deep", MetadataValue::Array(array))
        .build();
    let err = parse(&bytes);
    assert!(
        matches!(&err, Err(FormatError::InvalidMetadata { key, problem, .. }) if key == "deep" && problem.contains("nest")),
        "{err:?}"
    );
}

#[test]
fn unknown_value_types_and_bad_bools_are_rejected() {
    let mut bytes = GgufBuilder::new(3)
        .kv("k", MetadataValue::Bool(true))
        .build();
    let value_at = 24 + 8 + 1 + 4;
    bytes[value_at] = 2;
    assert!(matches!(
        parse(&bytes),
        Err(FormatError::InvalidMetadata { .. })
    ));
    let type_at = 24 + 8 + 1;
    bytes[type_at..type_at + 4].copy_from_slice(&13u32.to_le_bytes());
    let err = parse(&bytes);
    assert!(
        matches!(&err, Err(FormatError::InvalidMetadata { problem, .. }) if problem.contains("unknown value type 13")),
        "{err:?}"
    );
}

#[test]
fn duplicate_keys_and_tensor_names_are_rejected() {
    let bytes = GgufBuilder::tiny_model(3)
        .string("general.name", "again")
        .build();
    assert!(matches!(
        parse(&bytes),
        Err(FormatError::DuplicateMetadataKey { key, .. }) if key == "general.name"
    ));
    let bytes = GgufBuilder::tiny_model(3)
        .tensor("output_norm.weight", &[8], GgmlType::F32)
        .build();
    assert!(matches!(
        parse(&bytes),
        Err(FormatError::DuplicateTensor { tensor, .. }) if tensor == "output_norm.weight"
    ));
}

fn with_tensor(tensor: TestTensor) -> Vec<u8> {
    let mut builder = GgufBuilder::tiny_model(3);
    builder.tensors.push(tensor);
    builder.build()
}

fn bad_tensor(dims: &[u64], type_id: u32) -> TestTensor {
    TestTensor {
        name: "blk.0.bad".into(),
        dims: dims.to_vec(),
        type_id,
        data_len: 32,
        offset_override: None,
    }
}

#[test]
fn tensor_offsets_outside_the_file_are_rejected() {
    let mut tensor = bad_tensor(&[8], 0);
    tensor.offset_override = Some(1 << 20);
    let err = parse(&with_tensor(tensor));
    assert!(
        matches!(&err, Err(FormatError::TensorOutOfBounds { tensor, size: 32, .. }) if tensor == "blk.0.bad"),
        "{err:?}"
    );
    let mut tensor = bad_tensor(&[8], 0);
    tensor.offset_override = Some(u64::MAX - 31);
    assert!(matches!(
        parse(&with_tensor(tensor)),
        Err(FormatError::TensorOutOfBounds { .. })
    ));
}

#[test]
fn misaligned_and_overlapping_tensors_are_rejected() {
    let mut tensor = bad_tensor(&[8], 0);
    tensor.offset_override = Some(4);
    assert!(matches!(
        parse(&with_tensor(tensor)),
        Err(FormatError::TensorMisaligned {
            offset: 4,
            alignment: 32,
            ..
        })
    ));
    // Same place as the first tensor.
    let mut tensor = bad_tensor(&[8], 0);
    tensor.offset_override = Some(0);
    let err = parse(&with_tensor(tensor));
    assert!(
        matches!(&err, Err(FormatError::TensorOverlap { first, second, .. })
            if [first.as_str(), second.as_str()].contains(&"blk.0.bad")),
        "{err:?}"
    );
}

#[test]
fn absurd_dimensions_are_rejected() {
    let cases: [(&[u64], &str); 4] = [
        (&[u64::MAX, 2], "overflow"),
        (&[1 << 32, 1 << 32], "overflow"),
        (&[8, 0], "dimension 1 is 0"),
        (&[1, 1, 1, 1, 1], "more than ggml's maximum"),
    ];
    for (dims, expected) in cases {
        let err = parse(&with_tensor(bad_tensor(dims, 0)));
        assert!(
            matches!(&err, Err(FormatError::InvalidTensor { tensor, problem, .. })
                if tensor == "blk.0.bad" && problem.contains(expected)),
            "{dims:?}: {err:?}"
        );
    }
}

#[test]
fn rows_must_be_whole_blocks() {
    let err = parse(&with_tensor(bad_tensor(&[16, 2], GgmlType::Q4_0.id())));
    assert!(
        matches!(&err, Err(FormatError::InvalidTensor { problem, .. }) if problem.contains("block size 32")),
        "{err:?}"
    );
}

#[test]
fn unknown_and_removed_tensor_types_name_the_tensor() {
    for type_id in [4, 5, 31, 36, 99] {
        let err = parse(&with_tensor(bad_tensor(&[32], type_id)));
        assert!(
            matches!(&err, Err(FormatError::UnknownTensorType { tensor, type_id: t, .. })
                if tensor == "blk.0.bad" && *t == type_id),
            "{type_id}: {err:?}"
        );
    }
}

#[test]
fn zero_dimensional_tensors_are_scalars() -> Result<(), FormatError> {
    let header = parse(&with_tensor(bad_tensor(&[], 0)))?;
    let scalar = header.tensors.iter().find(|t| t.name == "blk.0.bad");
    assert_eq!(scalar.map(|t| (t.element_count, t.size)), Some((1, 4)));
    Ok(())
}

mod files {
    use super::*;
    use crate::model::FileRole;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write test file");
        path
    }

    #[test]
    fn open_maps_the_file_and_serves_tensor_data() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let bytes = GgufBuilder::tiny_model(3).build();
        let path = write(dir.path(), "tiny.gguf", &bytes);
        let file = GgufFile::open(&path)?;
        assert_eq!(file.version(), 3);
        assert_eq!(file.file_size(), bytes.len() as u64);
        let norm = &file.tensors()[1];
        let data = file.tensor_data(norm).unwrap_or_default();
        assert_eq!(data.len() as u64, norm.size);
        let start = file.header().tensor_range(norm).start as usize;
        assert_eq!(data, &bytes[start..start + data.len()]);
        Ok(())
    }

    #[test]
    fn model_info_from_metadata_and_tensors() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let builder = GgufBuilder::tiny_model(3)
            .string("general.license", "apache-2.0")
            .string("general.license.name", "Apache")
            .kv("general.base_model.count", MetadataValue::U32(2))
            .string("general.base_model.0.name", "Base")
            .string("general.base_model.0.organization", "Org")
            .string("general.base_model.1.repo_url", "https://example.org/b")
            .kv(
                "general.datasets",
                MetadataValue::Array(MetadataArray::String(vec!["d1".into()])),
            )
            .kv("general.dataset.count", MetadataValue::U32(1))
            .string("general.dataset.0.name", "d2")
            .kv(
                "general.languages",
                MetadataValue::Array(MetadataArray::String(vec!["en".into()])),
            )
            .kv(
                "general.tags",
                MetadataValue::Array(MetadataArray::String(vec!["chat".into()])),
            );
        let path = write(dir.path(), "tiny.gguf", &builder.build());
        let inspection = crate::inspect(&path)?;
        let info = &inspection.info;
        assert_eq!(info.architecture.as_deref(), Some("llama"));
        assert_eq!(info.context_length, Some(4096));
        assert_eq!(info.quantization.primary, "Q4_K_M");
        assert_eq!(info.quantization.mix.len(), 3);
        assert_eq!(info.parameter_count, 1024 + 256 + 128);
        assert_eq!(info.tensor_count, 3);
        assert_eq!(info.tokenizer.as_deref(), Some("gpt2"));
        assert_eq!(info.chat_template.as_deref(), Some("{{ messages }}"));
        let general = &info.general;
        assert_eq!(general.name.as_deref(), Some("Tiny"));
        assert_eq!(general.license.as_deref(), Some("apache-2.0"));
        assert_eq!(general.license_name.as_deref(), Some("Apache"));
        assert_eq!(general.base_models.len(), 2);
        assert_eq!(general.base_models[0].organization.as_deref(), Some("Org"));
        assert_eq!(
            general.base_models[1].repo_url.as_deref(),
            Some("https://example.org/b")
        );
        assert_eq!(general.datasets, ["d1", "d2"]);
        assert_eq!(general.languages, ["en"]);
        assert_eq!(general.tags, ["chat"]);
        assert_eq!(inspection.files.len(), 1);
        assert_eq!(inspection.files[0].role, FileRole::Weights);
        assert_eq!(inspection.files[0].relative, "tiny.gguf");
        assert!(inspection.files[0].path.is_absolute());
        Ok(())
    }

    #[test]
    fn without_file_type_primary_is_the_dominant_dtype() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let bytes = GgufBuilder::new(2)
            .tensor("a", &[32, 8], GgmlType::BF16)
            .tensor("b", &[32], GgmlType::F32)
            .tensor("c", &[32], GgmlType::F32)
            .build();
        let path = write(dir.path(), "m.gguf", &bytes);
        let info = crate::inspect(&path)?.info;
        assert_eq!(info.quantization.primary, "BF16");
        assert_eq!(info.quantization.mix.get("F32"), Some(&2));
        Ok(())
    }

    fn shard(no: u64, count: u64, tensors: &[&str], total: u64) -> Vec<u8> {
        let mut builder = GgufBuilder::new(3)
            .kv(SPLIT_NO, MetadataValue::U16(no as u16))
            .kv(SPLIT_COUNT, MetadataValue::U16(count as u16));
        if no == 0 {
            builder = builder
                .string("general.architecture", "qwen2")
                .kv("qwen2.context_length", MetadataValue::U32(32768))
                .kv(SPLIT_TENSORS_COUNT, MetadataValue::I32(total as i32));
        }
        for name in tensors {
            builder = builder.tensor(name, &[64], GgmlType::F16);
        }
        builder.build()
    }

    #[test]
    fn any_shard_of_a_split_model_finds_all_of_them() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        write(
            dir.path(),
            "m-00001-of-00003.gguf",
            &shard(0, 3, &["a", "b"], 5),
        );
        write(
            dir.path(),
            "m-00002-of-00003.gguf",
            &shard(1, 3, &["c", "d"], 5),
        );
        let third = write(dir.path(), "m-00003-of-00003.gguf", &shard(2, 3, &["e"], 5));
        let inspection = crate::inspect(&third)?;
        assert_eq!(inspection.info.tensor_count, 5);
        assert_eq!(inspection.info.parameter_count, 5 * 64);
        assert_eq!(inspection.info.architecture.as_deref(), Some("qwen2"));
        assert_eq!(inspection.info.context_length, Some(32768));
        let names: Vec<_> = inspection
            .files
            .iter()
            .map(|f| f.relative.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "m-00001-of-00003.gguf",
                "m-00002-of-00003.gguf",
                "m-00003-of-00003.gguf"
            ]
        );
        Ok(())
    }

    #[test]
    fn split_models_must_be_complete_and_consistent() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let first = write(dir.path(), "m-00001-of-00002.gguf", &shard(0, 2, &["a"], 2));
        let err = crate::inspect(&first);
        assert!(
            matches!(&err, Err(FormatError::MissingShard { path, .. }) if path.ends_with("m-00002-of-00002.gguf")),
            "{err:?}"
        );

        write(dir.path(), "m-00002-of-00002.gguf", &shard(1, 2, &["a"], 2));
        assert!(matches!(
            crate::inspect(&first),
            Err(FormatError::DuplicateTensor { tensor, .. }) if tensor == "a"
        ));

        write(dir.path(), "m-00002-of-00002.gguf", &shard(0, 2, &["b"], 2));
        assert!(matches!(
            crate::inspect(&first),
            Err(FormatError::InvalidSplit { .. })
        ));

        write(
            dir.path(),
            "m-00002-of-00002.gguf",
            &shard(1, 2, &["b", "c"], 2),
        );
        let err = crate::inspect(&first);
        assert!(
            matches!(&err, Err(FormatError::InvalidSplit { problem, .. }) if problem.contains(SPLIT_TENSORS_COUNT)),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn a_shard_renamed_out_of_its_set_is_reported() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = write(dir.path(), "renamed.gguf", &shard(0, 2, &["a"], 2));
        assert!(matches!(
            crate::inspect(&path),
            Err(FormatError::InvalidSplit { .. })
        ));
        Ok(())
    }
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
        let mut bytes = GgufBuilder::tiny_model(3)
            .kv("t.nested", every_value_type().remove(25).1)
            .build();
        let header_len = parse(&bytes).map(|h| h.data_offset as usize).unwrap_or(bytes.len());
        for (position, value) in mutations {
            // Aim at the header, where the structure is.
            let at = position.index(header_len);
            bytes[at] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        crate::fuzz::fuzz_gguf(&bytes);
    }

    /// Arbitrary bytes after a valid prefix never panic either.
    #[test]
    fn arbitrary_tails_never_panic(tail in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = b"GGUF".to_vec();
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(&tail);
        crate::fuzz::fuzz_gguf(&bytes);
    }
}
