//! The format-independent description of a model that [`crate::inspect`] returns.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The container format of a model's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFormat {
    Gguf,
    Safetensors,
}

impl ModelFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gguf => "gguf",
            Self::Safetensors => "safetensors",
        }
    }
}

impl std::fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a file of a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileRole {
    /// Part of the weights that were inspected (a GGUF file or shard, a safetensors file or shard).
    Weights,
    Config,
    Tokenizer,
    ChatTemplate,
    Doc,
    License,
    Other,
}

/// One file of a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFile {
    /// Absolute path on this machine.
    pub path: PathBuf,
    /// Path inside the model, `/`-separated (for a single file: its file name).
    pub relative: String,
    pub size: u64,
    pub role: FileRole,
}

/// How the weights are stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantization {
    /// The model's overall type: llama.cpp's file type (`Q4_K_M`) when the file
    /// records one, else the dtype that holds most parameters (`F32`, `BF16`).
    pub primary: String,
    /// Number of tensors of each dtype.
    pub mix: BTreeMap<String, u64>,
}

impl Quantization {
    /// Summarises tensors given as `(dtype name, element count)`; `primary` is
    /// the dtype holding most elements (ties go to the name that sorts first,
    /// so the answer never depends on tensor order).
    pub(crate) fn from_tensors<'a>(tensors: impl IntoIterator<Item = (&'a str, u64)>) -> Self {
        let mut mix = BTreeMap::<String, u64>::new();
        let mut elements = BTreeMap::<&str, u64>::new();
        for (dtype, count) in tensors {
            *mix.entry(dtype.to_owned()).or_default() += 1;
            let total = elements.entry(dtype).or_default();
            *total = total.saturating_add(count);
        }
        let primary = elements
            .iter()
            .fold(None::<(&str, u64)>, |best, (&dtype, &count)| match best {
                Some((_, best_count)) if best_count >= count => best,
                _ => Some((dtype, count)),
            })
            .map(|(dtype, _)| dtype.to_owned())
            .unwrap_or_default();
        Self { primary, mix }
    }
}

/// A model this one was derived from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseModel {
    pub name: Option<String>,
    pub organization: Option<String>,
    pub repo_url: Option<String>,
}

/// Descriptive metadata: GGUF's `general.*` keys, or a model card's front matter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneralMetadata {
    pub name: Option<String>,
    pub author: Option<String>,
    pub organization: Option<String>,
    pub url: Option<String>,
    pub repo_url: Option<String>,
    pub description: Option<String>,
    pub license: Option<String>,
    pub license_name: Option<String>,
    pub license_link: Option<String>,
    pub version: Option<String>,
    pub finetune: Option<String>,
    pub basename: Option<String>,
    pub size_label: Option<String>,
    pub base_models: Vec<BaseModel>,
    pub datasets: Vec<String>,
    pub languages: Vec<String>,
    pub tags: Vec<String>,
}

/// The facts about a model that other parts of commons show and decide on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub format: ModelFormat,
    pub architecture: Option<String>,
    /// Sum of the element counts of all tensors.
    pub parameter_count: u64,
    pub quantization: Quantization,
    pub context_length: Option<u64>,
    pub tensor_count: u64,
    /// GGUF `tokenizer.ggml.model`, or `tokenizer.json`'s `model.type` in lower case.
    pub tokenizer: Option<String>,
    pub chat_template: Option<String>,
    pub general: GeneralMetadata,
}

/// The result of [`crate::inspect`]: what the model is, and which files make it up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    pub info: ModelInfo,
    /// Every file of the model, sorted by `relative`. Files with
    /// [`FileRole::Weights`] are exactly the ones `info` was read from.
    pub files: Vec<ModelFile>,
    /// Problems that did not stop the inspection (e.g. a model card whose
    /// front matter is not valid YAML), for the caller to show.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_is_the_dtype_with_most_elements_not_most_tensors() {
        let q = Quantization::from_tensors([("F32", 10), ("F32", 10), ("Q4_K", 1000)]);
        assert_eq!(q.primary, "Q4_K");
        assert_eq!(q.mix.get("F32"), Some(&2));
        assert_eq!(q.mix.get("Q4_K"), Some(&1));
    }

    #[test]
    fn ties_do_not_depend_on_order() {
        let a = Quantization::from_tensors([("F16", 5), ("BF16", 5)]);
        let b = Quantization::from_tensors([("BF16", 5), ("F16", 5)]);
        assert_eq!(a.primary, b.primary);
    }

    #[test]
    fn enums_serialize_lowercase() {
        assert_eq!(
            serde_json::to_string(&ModelFormat::Safetensors).ok(),
            Some("\"safetensors\"".to_owned())
        );
        assert_eq!(
            serde_json::to_string(&FileRole::ChatTemplate).ok(),
            Some("\"chattemplate\"".to_owned())
        );
    }
}
