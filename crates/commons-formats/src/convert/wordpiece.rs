//! A BERT WordPiece vocabulary in llama.cpp's `bert` tokenizer form.
//!
//! llama.cpp's WPM tokenizer marks word starts with a phantom space (`▁`)
//! instead of marking continuations with `##`, so every ordinary token is
//! rewritten: `##ing` → `ing`, `play` → `▁play`. Control tokens (`[CLS]`)
//! stay as they are.

use serde_json::Value;

use super::ModelFiles;
use crate::gguf::{GgufWriter, MetadataArray, MetadataValue};
use crate::FormatError;

/// llama.cpp's `enum llama_token_type` values.
const NORMAL: i32 = 1;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;

const PHANTOM_SPACE: &str = "\u{2581}";

/// Special tokens and the GGUF keys their ids go under; the class token is
/// also the BOS token llama.cpp prepends.
const SPECIALS: &[(&str, &str, &[&str])] = &[
    (
        "cls_token",
        "[CLS]",
        &["tokenizer.ggml.bos_token_id", "tokenizer.ggml.cls_token_id"],
    ),
    ("sep_token", "[SEP]", &["tokenizer.ggml.seperator_token_id"]),
    ("unk_token", "[UNK]", &["tokenizer.ggml.unknown_token_id"]),
    ("pad_token", "[PAD]", &["tokenizer.ggml.padding_token_id"]),
    ("mask_token", "[MASK]", &["tokenizer.ggml.mask_token_id"]),
];

#[derive(Debug, Clone, PartialEq)]
pub(super) struct WordPieceVocab {
    /// Indexed by token id, in llama.cpp's phantom-space form.
    tokens: Vec<String>,
    types: Vec<i32>,
    special_ids: Vec<(&'static str, u32)>,
    lowercase: bool,
    strip_accents: Option<bool>,
}

impl WordPieceVocab {
    /// Reads `tokenizer.json` (else `vocab.txt`) and pads the vocabulary to
    /// the `rows` of the embedding matrix, as llama.cpp expects one token per row.
    pub(super) fn read(files: &ModelFiles, rows: u64) -> Result<Self, FormatError> {
        let tokenizer_config = files.json("tokenizer_config.json")?;
        let specials = special_token_names(files, tokenizer_config.as_ref())?;
        let source = match files.json("tokenizer.json")? {
            Some(tokenizer) => from_tokenizer_json(files, &tokenizer, &specials, rows)?,
            None => from_vocab_txt(files, tokenizer_config.as_ref(), &specials, rows)?,
        };
        // Every id is below `rows` (the readers check), and `rows` is bounded.
        let rows = usize::try_from(rows).unwrap_or(usize::MAX);
        let mut tokens = Vec::with_capacity(rows);
        let mut types = Vec::with_capacity(rows);
        for (id, entry) in source.entries.into_iter().enumerate() {
            let (text, kind) = entry.unwrap_or_else(|| (format!("[PAD{id}]"), UNUSED));
            tokens.push(phantom(&text, kind));
            types.push(kind);
        }
        for id in tokens.len()..rows {
            tokens.push(phantom(&format!("[PAD{id}]"), UNUSED));
            types.push(UNUSED);
        }
        let special_ids = SPECIALS
            .iter()
            .zip(&specials)
            .filter_map(|((_, _, keys), name)| {
                let id = source.ids_by_text.get(name.as_str()).copied()?;
                Some(keys.iter().map(move |key| (*key, id)))
            })
            .flatten()
            .collect();
        Ok(Self {
            tokens,
            types,
            special_ids,
            lowercase: source.lowercase,
            strip_accents: source.strip_accents,
        })
    }

    pub(super) fn len(&self) -> usize {
        self.tokens.len()
    }

    pub(super) fn write_metadata(&self, writer: &mut GgufWriter<'_>, token_type_count: u64) {
        let string = |s: &str| MetadataValue::String(s.to_owned());
        writer.metadata("tokenizer.ggml.model", string("bert"));
        writer.metadata("tokenizer.ggml.pre", string("default"));
        writer.metadata(
            "tokenizer.ggml.tokens",
            MetadataValue::Array(MetadataArray::String(self.tokens.clone())),
        );
        writer.metadata(
            "tokenizer.ggml.token_type",
            MetadataValue::Array(MetadataArray::I32(self.types.clone())),
        );
        writer.metadata(
            "tokenizer.ggml.token_type_count",
            MetadataValue::U32(u32::try_from(token_type_count).unwrap_or(u32::MAX)),
        );
        for (key, id) in &self.special_ids {
            writer.metadata(key, MetadataValue::U32(*id));
        }
        writer.metadata("tokenizer.ggml.add_bos_token", MetadataValue::Bool(true));
        writer.metadata("tokenizer.ggml.add_sep_token", MetadataValue::Bool(true));
        writer.metadata(
            "tokenizer.ggml.normalizer.lowercase",
            MetadataValue::Bool(self.lowercase),
        );
        if let Some(strip) = self.strip_accents {
            writer.metadata(
                "tokenizer.ggml.normalizer.strip_accents",
                MetadataValue::Bool(strip),
            );
        }
    }
}

/// A vocabulary as the source files give it, before llama.cpp's rewriting.
struct SourceVocab {
    /// By id: the token's text and type; `None` for an id no token has.
    entries: Vec<Option<(String, i32)>>,
    ids_by_text: std::collections::HashMap<String, u32>,
    lowercase: bool,
    strip_accents: Option<bool>,
}

impl SourceVocab {
    fn new(lowercase: bool, strip_accents: Option<bool>) -> Self {
        Self {
            entries: Vec::new(),
            ids_by_text: std::collections::HashMap::new(),
            lowercase,
            strip_accents,
        }
    }

    fn set(&mut self, id: u32, text: &str, kind: i32) {
        let index = id as usize;
        if self.entries.len() <= index {
            self.entries.resize(index + 1, None);
        }
        self.entries[index] = Some((text.to_owned(), kind));
        self.ids_by_text.insert(text.to_owned(), id);
    }
}

/// The text of each special token, in [`SPECIALS`] order: what
/// `tokenizer_config.json` or `special_tokens_map.json` say, else BERT's defaults.
fn special_token_names(
    files: &ModelFiles,
    tokenizer_config: Option<&Value>,
) -> Result<Vec<String>, FormatError> {
    let map = files.json("special_tokens_map.json")?;
    let named = |key: &str| {
        [tokenizer_config, map.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|json| {
                let value = json.get(key)?;
                value
                    .as_str()
                    .or_else(|| value.get("content").and_then(Value::as_str))
                    .map(str::to_owned)
            })
    };
    Ok(SPECIALS
        .iter()
        .map(|(key, default, _)| named(key).unwrap_or_else(|| (*default).to_owned()))
        .collect())
}

/// `rows` (the embedding matrix's, already bounded) bounds every token id, so
/// a hostile tokenizer cannot size an allocation.
fn from_tokenizer_json(
    files: &ModelFiles,
    tokenizer: &Value,
    specials: &[String],
    rows: u64,
) -> Result<SourceVocab, FormatError> {
    let path = files.require("tokenizer.json")?;
    let invalid = |problem: String| FormatError::InvalidJsonContent {
        path: path.to_path_buf(),
        problem,
    };
    let model = tokenizer
        .get("model")
        .ok_or_else(|| invalid("it has no `model`".into()))?;
    let kind = model.get("type").and_then(Value::as_str).unwrap_or("");
    if kind != "WordPiece" {
        return Err(files.unconvertible(format!(
            "its tokenizer is {}, and llama.cpp's BERT needs WordPiece",
            if kind.is_empty() {
                "of no stated type"
            } else {
                kind
            }
        )));
    }
    let (lowercase, strip_accents) = bert_normalizer(tokenizer.get("normalizer"));
    let mut vocab = SourceVocab::new(lowercase, strip_accents);
    let entries = model
        .get("vocab")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("`model.vocab` is not an object of token ids".into()))?;
    for (text, id) in entries {
        let id = token_id(id, rows).ok_or_else(|| {
            invalid(format!(
                "token {text:?} has id {id}, not an id below the {rows} rows of the embedding matrix"
            ))
        })?;
        let kind = if specials.contains(text) {
            CONTROL
        } else {
            NORMAL
        };
        vocab.set(id, text, kind);
    }
    for added in tokenizer
        .get("added_tokens")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(text), Some(id)) = (
            added.get("content").and_then(Value::as_str),
            added.get("id").and_then(|id| token_id(id, rows)),
        ) else {
            return Err(invalid(format!(
                "added token {added} lacks `content`, or an `id` below {rows}"
            )));
        };
        let special = added.get("special").and_then(Value::as_bool) == Some(true);
        let kind = if special || specials.iter().any(|s| s == text) {
            CONTROL
        } else {
            USER_DEFINED
        };
        vocab.set(id, text, kind);
    }
    Ok(vocab)
}

fn token_id(value: &Value, rows: u64) -> Option<u32> {
    value
        .as_u64()
        .filter(|&id| id < rows)
        .and_then(|id| u32::try_from(id).ok())
}

/// `lowercase` and `strip_accents` of a `BertNormalizer`, also inside a
/// `Sequence`; BERT's defaults (lower case, accents follow case) without one.
fn bert_normalizer(normalizer: Option<&Value>) -> (bool, Option<bool>) {
    let Some(normalizer) = normalizer else {
        return (true, None);
    };
    let found = match normalizer.get("type").and_then(Value::as_str) {
        Some("BertNormalizer") => Some(normalizer),
        Some("Sequence") => normalizer
            .get("normalizers")
            .and_then(Value::as_array)
            .and_then(|all| {
                all.iter()
                    .find(|n| n.get("type").and_then(Value::as_str) == Some("BertNormalizer"))
            }),
        _ => None,
    };
    match found {
        Some(bert) => (
            bert.get("lowercase")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            bert.get("strip_accents").and_then(Value::as_bool),
        ),
        // Another normalizer (or none) does not lower-case.
        None => (false, Some(false)),
    }
}

fn from_vocab_txt(
    files: &ModelFiles,
    tokenizer_config: Option<&Value>,
    specials: &[String],
    rows: u64,
) -> Result<SourceVocab, FormatError> {
    let path = files
        .get("vocab.txt")
        .ok_or_else(|| files.missing("tokenizer.json or vocab.txt"))?;
    let bytes = crate::mapped::read_capped(path, super::MAX_SIDE_FILE_BYTES)?;
    let text = String::from_utf8(bytes).map_err(|_| FormatError::InvalidJsonContent {
        path: path.to_path_buf(),
        problem: "it is not UTF-8 text".into(),
    })?;
    let setting = |key: &str| {
        tokenizer_config
            .and_then(|c| c.get(key))
            .and_then(Value::as_bool)
    };
    let mut vocab = SourceVocab::new(
        setting("do_lower_case").unwrap_or(true),
        setting("strip_accents"),
    );
    for (id, line) in text.lines().enumerate() {
        if id as u64 >= rows {
            return Err(FormatError::InvalidJsonContent {
                path: path.to_path_buf(),
                problem: format!(
                    "it lists more tokens than the {rows} rows of the embedding matrix"
                ),
            });
        }
        let kind = if specials.iter().any(|s| s == line) {
            CONTROL
        } else {
            NORMAL
        };
        vocab.set(id as u32, line, kind);
    }
    Ok(vocab)
}

fn phantom(token: &str, kind: i32) -> String {
    if kind == CONTROL {
        return token.to_owned();
    }
    match token.strip_prefix("##") {
        Some(rest) => rest.to_owned(),
        None => format!("{PHANTOM_SPACE}{token}"),
    }
}
