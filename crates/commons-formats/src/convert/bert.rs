//! `BertModel` folders to llama.cpp's `bert` architecture, with the tensor
//! names, hyperparameters and pooling that `convert_hf_to_gguf.py` writes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;

use super::wordpiece::WordPieceVocab;
use super::{Converted, ModelFiles};
use crate::dequant::dequantize;
use crate::gguf::{GgmlType, GgufWriter, MetadataValue};
use crate::safetensors::{read_index, Dtype, SafetensorsFile, SafetensorsTensor};
use crate::FormatError;

/// `config.json` architectures (or `model_type`) converted here.
pub(super) const ARCHITECTURES: &[&str] = &["BertModel", "BertForMaskedLM", "bert"];

const ARCH: &str = "bert";

/// The largest `vocab_size` accepted (real ones are below 300,000).
pub(super) const MAX_VOCABULARY: u64 = 1 << 22;

/// llama.cpp's `enum llama_pooling_type`.
const POOLING_MEAN: u32 = 1;
const POOLING_CLS: u32 = 2;
const POOLING_LAST: u32 = 3;

/// The shape-defining settings of `config.json`.
#[derive(Debug, Clone, PartialEq)]
struct Hyperparameters {
    hidden: u64,
    layers: u64,
    heads: u64,
    intermediate: u64,
    positions: u64,
    token_types: u64,
    vocabulary: u64,
    norm_eps: f32,
}

impl Hyperparameters {
    fn from_config(files: &ModelFiles, config: &Value) -> Result<Self, FormatError> {
        let path = files.require("config.json")?;
        let invalid = |problem: String| FormatError::InvalidJsonContent {
            path: path.to_path_buf(),
            problem,
        };
        // Bounds far above any real BERT keep a hostile config from sizing
        // allocations (one vocabulary entry per row, one map entry per layer).
        let positive = |key: &str, max: u64| {
            let n = config
                .get(key)
                .and_then(Value::as_u64)
                .filter(|&n| n > 0)
                .ok_or_else(|| invalid(format!("`{key}` is missing or not a positive integer")))?;
            if n > max {
                return Err(invalid(format!(
                    "`{key}` is {n}, more than the {max} any real model has"
                )));
            }
            Ok(n)
        };
        let params = Self {
            hidden: positive("hidden_size", 1 << 16)?,
            layers: positive("num_hidden_layers", 1 << 10)?,
            heads: positive("num_attention_heads", 1 << 10)?,
            intermediate: positive("intermediate_size", 1 << 18)?,
            positions: positive("max_position_embeddings", 1 << 20)?,
            token_types: config
                .get("type_vocab_size")
                .and_then(Value::as_u64)
                .unwrap_or(2)
                .clamp(1, 1 << 10),
            vocabulary: positive("vocab_size", MAX_VOCABULARY)?,
            norm_eps: config
                .get("layer_norm_eps")
                .and_then(Value::as_f64)
                .unwrap_or(1e-12) as f32,
        };
        if !params.hidden.is_multiple_of(params.heads) {
            return Err(invalid(format!(
                "`hidden_size` {} is not a multiple of `num_attention_heads` {}",
                params.hidden, params.heads
            )));
        }
        // llama.cpp's BERT graph has GELU and learned absolute positions only.
        let activation = config.get("hidden_act").and_then(Value::as_str);
        if !matches!(activation, None | Some("gelu")) {
            return Err(files.unconvertible(format!(
                "its activation is {}, and llama.cpp's BERT uses gelu",
                activation.unwrap_or_default()
            )));
        }
        let positions = config
            .get("position_embedding_type")
            .and_then(Value::as_str);
        if !matches!(positions, None | Some("absolute")) {
            return Err(files.unconvertible(format!(
                "its position embeddings are {}, and llama.cpp's BERT has absolute ones",
                positions.unwrap_or_default()
            )));
        }
        Ok(params)
    }

    /// Every tensor llama.cpp's BERT needs, with its safetensors shape.
    fn expected_tensors(&self) -> BTreeMap<String, Vec<u64>> {
        let (h, i) = (self.hidden, self.intermediate);
        let mut expected = BTreeMap::from([
            ("token_embd.weight".to_owned(), vec![self.vocabulary, h]),
            ("position_embd.weight".to_owned(), vec![self.positions, h]),
            ("token_types.weight".to_owned(), vec![self.token_types, h]),
            ("token_embd_norm.weight".to_owned(), vec![h]),
            ("token_embd_norm.bias".to_owned(), vec![h]),
        ]);
        for layer in 0..self.layers {
            let shapes: [(&str, Vec<u64>, u64); 8] = [
                ("attn_q", vec![h, h], h),
                ("attn_k", vec![h, h], h),
                ("attn_v", vec![h, h], h),
                ("attn_output", vec![h, h], h),
                ("attn_output_norm", vec![h], h),
                ("ffn_up", vec![i, h], i),
                ("ffn_down", vec![h, i], h),
                ("layer_output_norm", vec![h], h),
            ];
            for (name, weight, bias) in shapes {
                expected.insert(format!("blk.{layer}.{name}.weight"), weight);
                expected.insert(format!("blk.{layer}.{name}.bias"), vec![bias]);
            }
        }
        expected
    }
}

/// Where a Hugging Face tensor goes in the GGUF.
#[derive(Debug, PartialEq, Eq)]
enum Mapping {
    To(String),
    /// Not used for embeddings (pooler, masked-LM head, position id buffer).
    Drop,
}

/// The llama.cpp name of a `BertModel` tensor, `None` for one BERT does not have.
fn map_tensor(name: &str) -> Option<Mapping> {
    let name = name.strip_prefix("bert.").unwrap_or(name);
    if name == "embeddings.position_ids" || name.starts_with("pooler.") || name.starts_with("cls.")
    {
        return Some(Mapping::Drop);
    }
    // Old TensorFlow exports name layer-norm parameters gamma and beta.
    let (stem, kind) = name.rsplit_once('.')?;
    let kind = match kind {
        "weight" | "gamma" => "weight",
        "bias" | "beta" => "bias",
        _ => return None,
    };
    let target = match stem {
        "embeddings.word_embeddings" => "token_embd".to_owned(),
        "embeddings.position_embeddings" => "position_embd".to_owned(),
        "embeddings.token_type_embeddings" => "token_types".to_owned(),
        "embeddings.LayerNorm" => "token_embd_norm".to_owned(),
        _ => {
            let rest = stem.strip_prefix("encoder.layer.")?;
            let (layer, part) = rest.split_once('.')?;
            let layer: u64 = layer.parse().ok()?;
            let part = match part {
                "attention.self.query" => "attn_q",
                "attention.self.key" => "attn_k",
                "attention.self.value" => "attn_v",
                "attention.output.dense" => "attn_output",
                "attention.output.LayerNorm" => "attn_output_norm",
                "intermediate.dense" => "ffn_up",
                "output.dense" => "ffn_down",
                "output.LayerNorm" => "layer_output_norm",
                _ => return None,
            };
            format!("blk.{layer}.{part}")
        }
    };
    Some(Mapping::To(format!("{target}.{kind}")))
}

/// Large matrices keep their precision (F16/BF16 stay half size); everything
/// else is widened to F32, which every ggml op takes.
fn keeps_precision(gguf_name: &str) -> bool {
    gguf_name == "token_embd.weight"
        || (gguf_name.starts_with("blk.")
            && gguf_name.ends_with(".weight")
            && !gguf_name.contains("norm"))
}

pub(super) fn convert(
    files: &ModelFiles,
    config: &Value,
    out: &mut impl Write,
) -> Result<Converted, FormatError> {
    let params = Hyperparameters::from_config(files, config)?;
    let vocab = WordPieceVocab::read(files, params.vocabulary)?;
    let pooling = pooling_type(files)?;
    let weights = open_weights(files)?;

    let mut found: BTreeMap<String, (&WeightsFile, &SafetensorsTensor)> = BTreeMap::new();
    for file in &weights {
        for tensor in file.safetensors.tensors() {
            match map_tensor(&tensor.name) {
                Some(Mapping::Drop) => {}
                Some(Mapping::To(target)) => {
                    if found.insert(target.clone(), (file, tensor)).is_some() {
                        return Err(files.unconvertible(format!(
                            "two tensors map to {target} (the second is `{}`)",
                            tensor.name
                        )));
                    }
                }
                None => {
                    return Err(files.unconvertible(format!(
                        "tensor `{}` has no place in llama.cpp's BERT",
                        tensor.name
                    )))
                }
            }
        }
    }
    let expected = params.expected_tensors();
    for (target, shape) in &expected {
        let Some((file, tensor)) = found.get(target) else {
            return Err(
                files.unconvertible(format!("it has no tensor for {target} (shape {shape:?})"))
            );
        };
        if &tensor.shape != shape {
            return Err(FormatError::InvalidTensor {
                path: file.shown.clone(),
                tensor: tensor.name.clone(),
                problem: format!(
                    "shape {:?} does not match config.json, which implies {shape:?}",
                    tensor.shape
                ),
            });
        }
    }
    if let Some(extra) = found.keys().find(|name| !expected.contains_key(*name)) {
        return Err(files.unconvertible(format!(
            "tensor {extra} is beyond the {} layers config.json declares",
            params.layers
        )));
    }

    let mut writer = GgufWriter::new();
    let mut kept_types = Vec::new();
    for (target, (file, tensor)) in &found {
        let (ty, data) = tensor_data(file, tensor, keeps_precision(target))?;
        kept_types.push(ty);
        // ggml lists dimensions fastest-varying first: safetensors' shape reversed.
        let dims: Vec<u64> = tensor.shape.iter().rev().copied().collect();
        writer
            .tensor(target, &dims, ty, data)
            .map_err(|problem| files.unconvertible(problem))?;
    }

    let u32_of = |n: u64| MetadataValue::U32(u32::try_from(n).unwrap_or(u32::MAX));
    writer.metadata("general.architecture", MetadataValue::String(ARCH.into()));
    writer.metadata(
        "general.name",
        MetadataValue::String(files.label().display().to_string()),
    );
    writer.metadata(
        "general.file_type",
        MetadataValue::U32(file_type(&kept_types)),
    );
    writer.metadata(&format!("{ARCH}.context_length"), u32_of(params.positions));
    writer.metadata(&format!("{ARCH}.embedding_length"), u32_of(params.hidden));
    writer.metadata(
        &format!("{ARCH}.feed_forward_length"),
        u32_of(params.intermediate),
    );
    writer.metadata(&format!("{ARCH}.block_count"), u32_of(params.layers));
    writer.metadata(
        &format!("{ARCH}.attention.head_count"),
        u32_of(params.heads),
    );
    writer.metadata(
        &format!("{ARCH}.attention.layer_norm_epsilon"),
        MetadataValue::F32(params.norm_eps),
    );
    writer.metadata(
        &format!("{ARCH}.attention.causal"),
        MetadataValue::Bool(false),
    );
    if let Some(pooling) = pooling {
        writer.metadata(&format!("{ARCH}.pooling_type"), MetadataValue::U32(pooling));
    }
    vocab.write_metadata(&mut writer, params.token_types);

    writer
        .write_to(out)
        .map_err(|e| FormatError::io(files.label(), e))?;
    Ok(Converted {
        architecture: ARCH,
        tensor_count: found.len(),
        vocabulary_size: vocab.len(),
    })
}

/// A weights file, and how errors name it: by its path in the model
/// (`name:tag/model.safetensors`), not by the blob it is stored as.
struct WeightsFile {
    shown: PathBuf,
    safetensors: SafetensorsFile,
}

/// `model.safetensors`, or every shard its index names.
fn open_weights(files: &ModelFiles) -> Result<Vec<WeightsFile>, FormatError> {
    let open = |relative: &str| {
        Ok(WeightsFile {
            shown: files.label().join(relative),
            safetensors: SafetensorsFile::open(files.require(relative)?)?,
        })
    };
    if files.get("model.safetensors").is_some() {
        return Ok(vec![open("model.safetensors")?]);
    }
    let Some(index) = files.get("model.safetensors.index.json") else {
        return Err(files.missing("model.safetensors"));
    };
    let index = read_index(index)?;
    let mut shards: Vec<&String> = index.weight_map.values().collect();
    shards.sort();
    shards.dedup();
    shards.into_iter().map(|shard| open(shard)).collect()
}

/// The tensor's data as GGUF stores it: borrowed when its type is kept,
/// widened to F32 otherwise.
fn tensor_data<'a>(
    file: &'a WeightsFile,
    tensor: &SafetensorsTensor,
    keep_precision: bool,
) -> Result<(GgmlType, Cow<'a, [u8]>), FormatError> {
    let invalid = |problem: String| FormatError::InvalidTensor {
        path: file.shown.clone(),
        tensor: tensor.name.clone(),
        problem,
    };
    let data = file
        .safetensors
        .tensor_data(tensor)
        .ok_or_else(|| invalid("its data lies outside the file".into()))?;
    let (kept, name) = match tensor.dtype {
        Dtype::F32 => return Ok((GgmlType::F32, Cow::Borrowed(data))),
        Dtype::F16 => (GgmlType::F16, "F16"),
        Dtype::BF16 => (GgmlType::BF16, "BF16"),
        other => {
            return Err(invalid(format!(
                "dtype {} cannot be converted; llama.cpp's BERT takes F32, F16 or BF16",
                other.name()
            )))
        }
    };
    if keep_precision {
        return Ok((kept, Cow::Borrowed(data)));
    }
    let count = usize::try_from(tensor.element_count).map_err(|e| invalid(e.to_string()))?;
    let mut values = Vec::with_capacity(count);
    dequantize(name, data, 0, count, &mut values).map_err(|e| invalid(e.to_string()))?;
    let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok((GgmlType::F32, Cow::Owned(bytes)))
}

/// llama.cpp's `general.file_type` for the kept matrix types.
fn file_type(types: &[GgmlType]) -> u32 {
    if types.contains(&GgmlType::BF16) {
        32 // MOSTLY_BF16
    } else if types.contains(&GgmlType::F16) {
        1 // MOSTLY_F16
    } else {
        0 // ALL_F32
    }
}

/// The pooling a sentence-transformers model declares (`modules.json` →
/// its Pooling module's `config.json`); `None` for a plain BERT folder.
fn pooling_type(files: &ModelFiles) -> Result<Option<u32>, FormatError> {
    let Some(modules) = files.json("modules.json")? else {
        return Ok(None);
    };
    let pooling_dir = modules.as_array().and_then(|modules| {
        modules.iter().find_map(|module| {
            let kind = module.get("type").and_then(Value::as_str)?;
            kind.ends_with("Pooling")
                .then(|| module.get("path").and_then(Value::as_str))
                .flatten()
        })
    });
    let Some(dir) = pooling_dir else {
        return Ok(None);
    };
    let relative = format!("{}/config.json", dir.trim_end_matches('/'));
    let Some(config) = files.json(&relative)? else {
        return Ok(None);
    };
    let mode = |key: &str| config.get(key).and_then(Value::as_bool).unwrap_or(false);
    if mode("pooling_mode_max_tokens") || mode("pooling_mode_mean_sqrt_len_tokens") {
        return Err(files.unconvertible(format!(
            "{relative} asks for max or sqrt-length pooling, which llama.cpp does not have"
        )));
    }
    Ok(if mode("pooling_mode_cls_token") {
        Some(POOLING_CLS)
    } else if mode("pooling_mode_lasttoken") {
        Some(POOLING_LAST)
    } else if mode("pooling_mode_mean_tokens") {
        Some(POOLING_MEAN)
    } else {
        None
    })
}
