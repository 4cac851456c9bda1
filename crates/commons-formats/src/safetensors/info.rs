//! The format-independent facts ([`ModelInfo`]) derived from safetensors files
//! and the Hugging Face side files around them.

use super::SafetensorsFile;
use crate::hf::FolderFacts;
use crate::model::{GeneralMetadata, ModelFormat, ModelInfo, Quantization};

/// Facts about a safetensors model made of `files`; what the weights cannot
/// say (architecture, context, tokenizer, ...) comes from `facts`.
pub(crate) fn model_info(files: &[SafetensorsFile], facts: FolderFacts) -> ModelInfo {
    let tensors = || files.iter().flat_map(SafetensorsFile::tensors);
    let mut general = GeneralMetadata::default();
    if let Some(card) = &facts.card {
        card.fill(&mut general);
    }
    ModelInfo {
        format: ModelFormat::Safetensors,
        architecture: facts.architecture,
        parameter_count: tensors().fold(0u64, |sum, t| sum.saturating_add(t.element_count)),
        quantization: Quantization::from_tensors(
            tensors().map(|t| (t.dtype.name(), t.element_count)),
        ),
        context_length: facts.context_length,
        tensor_count: tensors().count() as u64,
        tokenizer: facts.tokenizer,
        chat_template: facts.chat_template,
        general,
    }
}
