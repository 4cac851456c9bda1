//! Facts from the Hugging Face side files of a model folder: `config.json`,
//! `tokenizer.json`, `tokenizer_config.json`, `chat_template.jinja` and the
//! model card in `README.md`.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::mapped::{read_capped, read_json, MappedFile};
use crate::model_card::{parse_model_card, ModelCard};
use crate::FormatError;

const MAX_CONFIG_BYTES: u64 = 16 << 20;
const MAX_TOKENIZER_CONFIG_BYTES: u64 = 64 << 20;
const MAX_TEMPLATE_BYTES: u64 = 4 << 20;
const MAX_README_BYTES: u64 = 16 << 20;

/// Keys under which configs give the trained context length, most specific first.
const CONTEXT_LENGTH_KEYS: &[&str] = &[
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "max_sequence_length",
    "seq_length",
    "n_ctx",
];
/// Multimodal configs nest the language model's settings.
const NESTED_CONFIG_KEYS: &[&str] = &["text_config", "llm_config", "language_config"];

/// What a folder's side files say about the model.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FolderFacts {
    pub architecture: Option<String>,
    pub context_length: Option<u64>,
    pub tokenizer: Option<String>,
    pub chat_template: Option<String>,
    pub card: Option<ModelCard>,
}

/// Reads the side files present in `folder` (missing ones are simply absent
/// facts). Malformed JSON is an error; a malformed model card only a warning,
/// since it is prose written by hand.
pub(crate) fn read_folder_facts(
    folder: &Path,
    warnings: &mut Vec<String>,
) -> Result<FolderFacts, FormatError> {
    let mut facts = FolderFacts::default();
    let config_path = folder.join("config.json");
    if config_path.is_file() {
        let config: Value = read_json(&config_path, MAX_CONFIG_BYTES)?;
        facts.architecture = architecture(&config);
        facts.context_length = context_length(&config);
    }
    let tokenizer_path = folder.join("tokenizer.json");
    if tokenizer_path.is_file() {
        facts.tokenizer = tokenizer_kind(&tokenizer_path)?;
    }
    facts.chat_template = chat_template(folder)?;
    facts.card = read_model_card(folder, warnings)?;
    Ok(facts)
}

/// `architectures[0]`, else `model_type`.
pub(crate) fn architecture(config: &Value) -> Option<String> {
    config
        .get("architectures")
        .and_then(|a| a.get(0))
        .and_then(Value::as_str)
        .or_else(|| config.get("model_type").and_then(Value::as_str))
        .map(str::to_owned)
}

fn context_length(config: &Value) -> Option<u64> {
    let direct = |config: &Value| {
        CONTEXT_LENGTH_KEYS
            .iter()
            .find_map(|key| config.get(*key).and_then(Value::as_u64))
    };
    direct(config).or_else(|| {
        NESTED_CONFIG_KEYS
            .iter()
            .find_map(|key| config.get(*key).and_then(direct))
    })
}

/// `model.type` of tokenizer.json, lower-cased (`bpe`, `wordpiece`, `unigram`).
fn tokenizer_kind(path: &Path) -> Result<Option<String>, FormatError> {
    #[derive(Deserialize)]
    struct TokenizerJson {
        model: Option<TokenizerModel>,
    }
    #[derive(Deserialize)]
    struct TokenizerModel {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    // Tokenizer files reach tens of megabytes; map rather than copy, and let
    // serde skip everything but `model.type`.
    let bytes = MappedFile::open(path)?;
    let tokenizer: TokenizerJson =
        serde_json::from_slice(&bytes).map_err(|source| FormatError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(tokenizer
        .model
        .and_then(|m| m.kind)
        .map(|k| k.to_lowercase()))
}

/// The chat template: `chat_template.jinja` (what transformers writes now and
/// prefers), else `tokenizer_config.json`'s `chat_template`, else
/// `chat_template.json` (processors of multimodal models).
fn chat_template(folder: &Path) -> Result<Option<String>, FormatError> {
    let jinja = folder.join("chat_template.jinja");
    if jinja.is_file() {
        let bytes = read_capped(&jinja, MAX_TEMPLATE_BYTES)?;
        return Ok(Some(String::from_utf8_lossy(&bytes).into_owned()));
    }
    for (file, limit) in [
        ("tokenizer_config.json", MAX_TOKENIZER_CONFIG_BYTES),
        ("chat_template.json", MAX_TEMPLATE_BYTES),
    ] {
        let path = folder.join(file);
        if path.is_file() {
            let config: Value = read_json(&path, limit)?;
            if let Some(template) = config.get("chat_template").and_then(template_from_json) {
                return Ok(Some(template));
            }
        }
    }
    Ok(None)
}

/// A template is a string, or a list of `{name, template}` of which we take
/// the one named `default` (the one transformers uses when none is asked for).
fn template_from_json(value: &Value) -> Option<String> {
    match value {
        Value::String(template) => Some(template.clone()),
        Value::Array(named) => named
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
            .and_then(|t| t.get("template"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

/// The model card in `README.md`, if there is one with front matter. Front
/// matter that does not parse becomes a warning: it is written by hand, and
/// a typo in it should not stop an import.
pub(crate) fn read_model_card(
    folder: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<ModelCard>, FormatError> {
    let readme = folder.join("README.md");
    if !readme.is_file() {
        return Ok(None);
    }
    let bytes = read_capped(&readme, MAX_README_BYTES)?;
    match parse_model_card(&String::from_utf8_lossy(&bytes)) {
        Ok(card) => Ok(card),
        Err(e) => {
            warnings.push(format!("`{}`: {e}", readme.display()));
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn architecture_prefers_architectures_then_model_type() {
        assert_eq!(
            architecture(&json!({"architectures": ["BertModel"], "model_type": "bert"})).as_deref(),
            Some("BertModel")
        );
        assert_eq!(
            architecture(&json!({"model_type": "bert"})).as_deref(),
            Some("bert")
        );
        assert_eq!(architecture(&json!({"architectures": []})), None);
    }

    #[test]
    fn context_length_from_any_known_key_or_nested_text_config() {
        assert_eq!(
            context_length(&json!({"max_position_embeddings": 512})),
            Some(512)
        );
        assert_eq!(context_length(&json!({"n_positions": 1024})), Some(1024));
        assert_eq!(
            context_length(&json!({"text_config": {"max_position_embeddings": 131072}})),
            Some(131072)
        );
        assert_eq!(context_length(&json!({"hidden_size": 8})), None);
    }

    #[test]
    fn named_templates_pick_default() {
        let templates = json!([
            {"name": "tool_use", "template": "T"},
            {"name": "default", "template": "D"}
        ]);
        assert_eq!(template_from_json(&templates).as_deref(), Some("D"));
        assert_eq!(template_from_json(&json!("S")).as_deref(), Some("S"));
        assert_eq!(template_from_json(&json!(3)), None);
    }
}
