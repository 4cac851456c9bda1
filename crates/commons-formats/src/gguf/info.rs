//! The format-independent facts ([`ModelInfo`]) derived from a GGUF model.

use super::metadata::{Metadata, MetadataValue};
use super::reader::GgufFile;
use super::types::file_type_name;
use crate::model::{BaseModel, GeneralMetadata, ModelFormat, ModelInfo, Quantization};

/// Bound on `general.base_model.count` / `general.dataset.count` loops: the
/// counts are input, the keys they promise may not exist.
const MAX_LISTED: u64 = 1024;

/// Facts about a (possibly split) GGUF model. Metadata comes from the first
/// shard, tensors from all of them.
pub(crate) fn model_info(shards: &[GgufFile]) -> ModelInfo {
    let empty = Metadata::default();
    let metadata = shards.first().map_or(&empty, GgufFile::metadata);
    let tensors = || shards.iter().flat_map(GgufFile::tensors);

    let architecture = metadata.get_str("general.architecture").map(str::to_owned);
    let context_length = architecture
        .as_deref()
        .and_then(|arch| metadata.get_u64(&format!("{arch}.context_length")));

    let mut quantization =
        Quantization::from_tensors(tensors().map(|t| (t.ggml_type.name(), t.element_count)));
    if let Some(name) = metadata
        .get_u64("general.file_type")
        .and_then(file_type_name)
    {
        quantization.primary = name.to_owned();
    }

    ModelInfo {
        format: ModelFormat::Gguf,
        architecture,
        parameter_count: tensors().fold(0u64, |sum, t| sum.saturating_add(t.element_count)),
        quantization,
        context_length,
        tensor_count: tensors().count() as u64,
        tokenizer: metadata.get_str("tokenizer.ggml.model").map(str::to_owned),
        chat_template: metadata
            .get_str("tokenizer.chat_template")
            .map(str::to_owned),
        general: general_metadata(metadata),
    }
}

/// The `general.*` keys of the GGUF naming/metadata convention.
pub(crate) fn general_metadata(metadata: &Metadata) -> GeneralMetadata {
    let text = |key: &str| metadata.get(&format!("general.{key}")).and_then(as_text);
    GeneralMetadata {
        name: text("name"),
        author: text("author"),
        organization: text("organization"),
        url: text("url"),
        repo_url: text("repo_url"),
        description: text("description"),
        license: text("license"),
        license_name: text("license.name"),
        license_link: text("license.link"),
        version: text("version"),
        finetune: text("finetune"),
        basename: text("basename"),
        size_label: text("size_label"),
        base_models: base_models(metadata),
        datasets: datasets(metadata),
        languages: strings(metadata, "general.languages"),
        tags: strings(metadata, "general.tags"),
    }
}

/// A scalar as text: strings as they are, numbers printed (some writers
/// store `general.version` as a number).
fn as_text(value: &MetadataValue) -> Option<String> {
    match value {
        MetadataValue::String(s) => Some(s.clone()),
        MetadataValue::F32(v) => Some(v.to_string()),
        MetadataValue::F64(v) => Some(v.to_string()),
        other => other.as_u64().map(|v| v.to_string()),
    }
}

fn strings(metadata: &Metadata, key: &str) -> Vec<String> {
    match metadata.get(key) {
        Some(MetadataValue::String(s)) => vec![s.clone()],
        _ => metadata
            .get_strings(key)
            .map(<[_]>::to_vec)
            .unwrap_or_default(),
    }
}

fn base_models(metadata: &Metadata) -> Vec<BaseModel> {
    let count = metadata
        .get_u64("general.base_model.count")
        .unwrap_or(0)
        .min(MAX_LISTED);
    (0..count)
        .map(|i| {
            let text = |field: &str| {
                metadata
                    .get(&format!("general.base_model.{i}.{field}"))
                    .and_then(as_text)
            };
            BaseModel {
                name: text("name"),
                organization: text("organization"),
                repo_url: text("repo_url"),
            }
        })
        .filter(|b| b.name.is_some() || b.organization.is_some() || b.repo_url.is_some())
        .collect()
}

/// Datasets: the older `general.datasets` string array, or the newer
/// `general.dataset.count` + `general.dataset.{i}.name` (or `.repo_url`).
fn datasets(metadata: &Metadata) -> Vec<String> {
    let mut datasets = strings(metadata, "general.datasets");
    let count = metadata
        .get_u64("general.dataset.count")
        .unwrap_or(0)
        .min(MAX_LISTED);
    for i in 0..count {
        let field = |f: &str| metadata.get_str(&format!("general.dataset.{i}.{f}"));
        if let Some(name) = field("name").or_else(|| field("repo_url")) {
            if !datasets.iter().any(|d| d == name) {
                datasets.push(name.to_owned());
            }
        }
    }
    datasets
}
