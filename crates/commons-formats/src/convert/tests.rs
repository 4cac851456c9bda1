//! The converter on tiny but complete BERT folders written here, read back
//! with this crate's own GGUF reader. (The real all-MiniLM-L6-v2 is converted
//! and run through llama.cpp by the server's and the Python tests.)

use std::path::Path;

use serde_json::json;

use super::{can_convert, convert_to_gguf, ModelFiles};
use crate::gguf::{GgmlType, GgufFile, MetadataValue};
use crate::test_support::safetensors_bytes;
use crate::FormatError;

const HIDDEN: u64 = 4;
const INTERMEDIATE: u64 = 8;
const POSITIONS: u64 = 16;
const VOCAB_ROWS: u64 = 10;

fn config() -> serde_json::Value {
    json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_act": "gelu",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_attention_heads": 2,
        "num_hidden_layers": 1,
        "max_position_embeddings": POSITIONS,
        "type_vocab_size": 2,
        "vocab_size": VOCAB_ROWS,
        "layer_norm_eps": 1e-12,
        "position_embedding_type": "absolute"
    })
}

/// Every tensor of a one-layer `BertModel` (plus the pooler and the position
/// id buffer, which conversion drops), in `dtype`.
fn bert_tensors(dtype: &'static str) -> Vec<(String, &'static str, Vec<u64>)> {
    let (h, i) = (HIDDEN, INTERMEDIATE);
    let mut tensors = vec![
        (
            "embeddings.word_embeddings.weight".to_owned(),
            vec![VOCAB_ROWS, h],
        ),
        (
            "embeddings.position_embeddings.weight".to_owned(),
            vec![POSITIONS, h],
        ),
        (
            "embeddings.token_type_embeddings.weight".to_owned(),
            vec![2, h],
        ),
        ("embeddings.LayerNorm.weight".to_owned(), vec![h]),
        ("embeddings.LayerNorm.bias".to_owned(), vec![h]),
        ("pooler.dense.weight".to_owned(), vec![h, h]),
        ("pooler.dense.bias".to_owned(), vec![h]),
    ];
    let layer = [
        ("attention.self.query", vec![h, h], h),
        ("attention.self.key", vec![h, h], h),
        ("attention.self.value", vec![h, h], h),
        ("attention.output.dense", vec![h, h], h),
        ("attention.output.LayerNorm", vec![h], h),
        ("intermediate.dense", vec![i, h], i),
        ("output.dense", vec![h, i], h),
        ("output.LayerNorm", vec![h], h),
    ];
    for (part, weight, bias) in layer {
        tensors.push((format!("encoder.layer.0.{part}.weight"), weight));
        tensors.push((format!("encoder.layer.0.{part}.bias"), vec![bias]));
    }
    let mut all: Vec<_> = tensors.into_iter().map(|(n, s)| (n, dtype, s)).collect();
    all.push((
        "embeddings.position_ids".to_owned(),
        "I64",
        vec![1, POSITIONS],
    ));
    all
}

fn tokenizer_json() -> serde_json::Value {
    json!({
        "added_tokens": [
            {"id": 0, "content": "[PAD]", "special": true},
            {"id": 1, "content": "[UNK]", "special": true},
            {"id": 2, "content": "[CLS]", "special": true},
            {"id": 3, "content": "[SEP]", "special": true},
            {"id": 4, "content": "[MASK]", "special": true}
        ],
        "normalizer": {"type": "BertNormalizer", "lowercase": true, "strip_accents": null},
        "model": {
            "type": "WordPiece",
            "unk_token": "[UNK]",
            "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4,
                      "hello": 5, "world": 6, "##s": 7}
        }
    })
}

/// A sentence-transformers folder: weights, configs, tokenizer, mean pooling.
fn write_folder(dir: &Path, tensors: &[(String, &str, Vec<u64>)]) {
    let specs: Vec<(&str, &str, &[u64])> = tensors
        .iter()
        .map(|(n, d, s)| (n.as_str(), *d, s.as_slice()))
        .collect();
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors_bytes(&specs, &[]),
    )
    .unwrap();
    write_json(&dir.join("config.json"), &config());
    write_json(&dir.join("tokenizer.json"), &tokenizer_json());
    write_json(
        &dir.join("modules.json"),
        &json!([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
        ]),
    );
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    write_json(
        &dir.join("1_Pooling/config.json"),
        &json!({"word_embedding_dimension": HIDDEN, "pooling_mode_mean_tokens": true}),
    );
}

fn write_json(path: &Path, value: &serde_json::Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

fn convert(dir: &Path) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    convert_to_gguf(&ModelFiles::from_folder(dir)?, &mut out)?;
    Ok(out)
}

fn read_back(dir: &Path, bytes: &[u8]) -> GgufFile {
    let path = dir.join("converted.gguf");
    std::fs::write(&path, bytes).unwrap();
    GgufFile::open(&path).unwrap()
}

#[test]
fn a_bert_folder_becomes_llama_cpp_bert_with_the_same_tensor_bytes() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), &bert_tensors("F32"));
    let gguf = read_back(dir.path(), &convert(dir.path()).unwrap());
    let source =
        crate::safetensors::SafetensorsFile::open(&dir.path().join("model.safetensors")).unwrap();

    let meta = gguf.metadata();
    assert_eq!(meta.get_str("general.architecture"), Some("bert"));
    assert_eq!(meta.get_u64("bert.embedding_length"), Some(HIDDEN));
    assert_eq!(meta.get_u64("bert.feed_forward_length"), Some(INTERMEDIATE));
    assert_eq!(meta.get_u64("bert.context_length"), Some(POSITIONS));
    assert_eq!(meta.get_u64("bert.block_count"), Some(1));
    assert_eq!(meta.get_u64("bert.attention.head_count"), Some(2));
    assert_eq!(meta.get_u64("bert.pooling_type"), Some(1), "mean pooling");
    assert_eq!(
        meta.get("bert.attention.causal"),
        Some(&MetadataValue::Bool(false))
    );
    assert_eq!(meta.get_u64("general.file_type"), Some(0), "all F32");
    assert_eq!(meta.get_str("tokenizer.ggml.model"), Some("bert"));
    assert_eq!(meta.get_u64("tokenizer.ggml.token_type_count"), Some(2));
    assert_eq!(
        meta.get_u64("tokenizer.ggml.bos_token_id"),
        Some(2),
        "[CLS]"
    );
    assert_eq!(
        meta.get_u64("tokenizer.ggml.seperator_token_id"),
        Some(3),
        "[SEP]"
    );
    assert_eq!(meta.get_u64("tokenizer.ggml.unknown_token_id"), Some(1));
    assert_eq!(
        meta.get("tokenizer.ggml.normalizer.lowercase"),
        Some(&MetadataValue::Bool(true))
    );

    // Ten rows in the embedding matrix, eight tokens: two padding tokens.
    let tokens = meta.get_strings("tokenizer.ggml.tokens").unwrap();
    assert_eq!(
        tokens,
        [
            "[PAD]",
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "[MASK]",
            "\u{2581}hello",
            "\u{2581}world",
            "s",
            "\u{2581}[PAD8]",
            "\u{2581}[PAD9]"
        ]
    );

    // 5 embedding tensors + 16 per layer; the pooler and position ids are gone.
    assert_eq!(gguf.tensors().len(), 21);
    let find = |name: &str| gguf.tensors().iter().find(|t| t.name == name).unwrap();
    let q = find("blk.0.attn_q.weight");
    assert_eq!(q.dims, [HIDDEN, HIDDEN]);
    let up = find("blk.0.ffn_up.weight");
    assert_eq!(
        up.dims,
        [HIDDEN, INTERMEDIATE],
        "ggml order: the shape reversed"
    );
    assert_eq!(find("token_embd.weight").dims, [HIDDEN, VOCAB_ROWS]);
    for (gguf_name, hf_name) in [
        (
            "blk.0.ffn_up.weight",
            "encoder.layer.0.intermediate.dense.weight",
        ),
        ("token_embd_norm.bias", "embeddings.LayerNorm.bias"),
        (
            "token_types.weight",
            "embeddings.token_type_embeddings.weight",
        ),
    ] {
        let hf = source.tensors().iter().find(|t| t.name == hf_name).unwrap();
        assert_eq!(
            gguf.tensor_data(find(gguf_name)).unwrap(),
            source.tensor_data(hf).unwrap(),
            "{gguf_name} keeps the bytes of {hf_name}"
        );
    }
}

#[test]
fn conversion_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), &bert_tensors("F32"));
    assert_eq!(convert(dir.path()).unwrap(), convert(dir.path()).unwrap());
}

#[test]
fn half_precision_matrices_stay_half_and_vectors_widen_exactly() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), &bert_tensors("F16"));
    let gguf = read_back(dir.path(), &convert(dir.path()).unwrap());
    let find = |name: &str| gguf.tensors().iter().find(|t| t.name == name).unwrap();
    assert_eq!(find("blk.0.attn_k.weight").ggml_type, GgmlType::F16);
    assert_eq!(find("token_embd.weight").ggml_type, GgmlType::F16);
    let norm = find("blk.0.attn_output_norm.weight");
    assert_eq!(norm.ggml_type, GgmlType::F32);
    assert_eq!(gguf.metadata().get_u64("general.file_type"), Some(1));

    let source =
        crate::safetensors::SafetensorsFile::open(&dir.path().join("model.safetensors")).unwrap();
    let hf = source
        .tensors()
        .iter()
        .find(|t| t.name == "encoder.layer.0.attention.output.LayerNorm.weight")
        .unwrap();
    let mut expected = Vec::new();
    crate::dequant::dequantize("F16", source.tensor_data(hf).unwrap(), 0, 4, &mut expected)
        .unwrap();
    let widened: Vec<f32> = gguf
        .tensor_data(norm)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(
        widened.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn a_vocab_txt_folder_converts_like_its_tokenizer_json() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), &bert_tensors("F32"));
    let with_json = read_back(dir.path(), &convert(dir.path()).unwrap());
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    std::fs::write(
        dir.path().join("vocab.txt"),
        "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n",
    )
    .unwrap();
    let with_txt = read_back(dir.path(), &convert(dir.path()).unwrap());
    for key in [
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.mask_token_id",
        "tokenizer.ggml.normalizer.lowercase",
    ] {
        assert_eq!(
            with_json.metadata().get(key),
            with_txt.metadata().get(key),
            "{key}"
        );
    }
}

#[test]
fn other_architectures_are_refused_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), &bert_tensors("F32"));
    let mut config = config();
    config["architectures"] = json!(["LlamaForCausalLM"]);
    write_json(&dir.path().join("config.json"), &config);
    let error = convert(dir.path()).unwrap_err();
    assert!(
        matches!(error, FormatError::Unconvertible { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("LlamaForCausalLM"), "{error}");
    assert!(error.hint().unwrap().contains("convert_hf_to_gguf.py"));
    assert!(!can_convert("LlamaForCausalLM"));
    assert!(can_convert("BertModel"));
}

#[test]
fn a_missing_or_misshapen_tensor_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = bert_tensors("F32");
    tensors.retain(|(name, _, _)| name != "encoder.layer.0.attention.self.value.bias");
    write_folder(dir.path(), &tensors);
    let error = convert(dir.path()).unwrap_err().to_string();
    assert!(error.contains("blk.0.attn_v.bias"), "{error}");

    let mut tensors = bert_tensors("F32");
    for (name, _, shape) in &mut tensors {
        if name == "encoder.layer.0.intermediate.dense.weight" {
            *shape = vec![INTERMEDIATE + 1, HIDDEN];
        }
    }
    write_folder(dir.path(), &tensors);
    let error = convert(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("encoder.layer.0.intermediate.dense.weight"),
        "{error}"
    );
    assert!(error.contains("does not match config.json"), "{error}");
}

#[test]
fn unknown_tensors_and_tokenizers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = bert_tensors("F32");
    tensors.push((
        "encoder.layer.0.attention.self.rotary.weight".into(),
        "F32",
        vec![HIDDEN],
    ));
    write_folder(dir.path(), &tensors);
    let error = convert(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("encoder.layer.0.attention.self.rotary.weight"),
        "{error}"
    );

    write_folder(dir.path(), &bert_tensors("F32"));
    let mut tokenizer = tokenizer_json();
    tokenizer["model"]["type"] = json!("BPE");
    write_json(&dir.path().join("tokenizer.json"), &tokenizer);
    let error = convert(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("BPE") && error.contains("WordPiece"),
        "{error}"
    );
}

#[test]
fn missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), &bert_tensors("F32"));
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let error = convert(dir.path()).unwrap_err();
    assert!(
        matches!(&error, FormatError::MissingModelFile { file, .. } if file == "model.safetensors"),
        "{error}"
    );
    assert!(error.hint().is_some());
}

#[test]
fn hostile_sizes_are_refused_before_anything_is_allocated() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), &bert_tensors("F32"));
    let mut config = config();
    config["vocab_size"] = json!(1u64 << 40);
    write_json(&dir.path().join("config.json"), &config);
    let error = convert(dir.path()).unwrap_err().to_string();
    assert!(error.contains("`vocab_size`"), "{error}");

    write_json(&dir.path().join("config.json"), &self::config());
    let mut tokenizer = tokenizer_json();
    tokenizer["model"]["vocab"]["far"] = json!(4_000_000_000u64);
    write_json(&dir.path().join("tokenizer.json"), &tokenizer);
    let error = convert(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("\"far\"") && error.contains("rows"),
        "{error}"
    );
}
