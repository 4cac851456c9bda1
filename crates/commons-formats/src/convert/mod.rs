//! Conversion of Hugging Face model folders to GGUF, for models that llama.cpp
//! runs only from GGUF.
//!
//! The store keeps the files a publisher shipped; the GGUF made here is a
//! derived file, rebuilt from them whenever it is missing. Conversion is
//! deterministic (same files in, same bytes out) and lossless: tensors keep
//! their precision, and only small vectors are widened to F32.
//!
//! Supported: BERT sentence-embedding models (`BertModel` with a WordPiece
//! tokenizer, such as all-MiniLM-L6-v2), converted as llama.cpp's
//! `convert_hf_to_gguf.py` does. Anything else is refused with
//! [`FormatError::Unconvertible`], whose hint points to that script.

mod bert;
mod wordpiece;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::mapped::read_json;
use crate::FormatError;

/// Side files (configs, tokenizers) are small; this bounds what is read.
const MAX_SIDE_FILE_BYTES: u64 = 64 << 20;

/// The files of a Hugging Face-style model folder, by their path inside it
/// (`config.json`, `1_Pooling/config.json`). They need not lie in one folder
/// on disk: the store keeps every file as a blob named by its digest.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    label: PathBuf,
    files: BTreeMap<String, PathBuf>,
}

impl ModelFiles {
    /// An empty set; `label` names the model in error messages.
    pub fn new(label: impl Into<PathBuf>) -> Self {
        Self {
            label: label.into(),
            files: BTreeMap::new(),
        }
    }

    /// Every file in `folder` and its subfolders (one level deep, where
    /// sentence-transformers keeps its pooling config).
    pub fn from_folder(folder: &Path) -> Result<Self, FormatError> {
        let mut files = Self::new(folder);
        files.add_folder(folder, "", 1)?;
        Ok(files)
    }

    fn add_folder(&mut self, dir: &Path, prefix: &str, depth: u32) -> Result<(), FormatError> {
        let entries = std::fs::read_dir(dir).map_err(|e| FormatError::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| FormatError::io(dir, e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let path = entry.path();
            let relative = format!("{prefix}{name}");
            if path.is_dir() {
                if depth > 0 {
                    self.add_folder(&path, &format!("{relative}/"), depth - 1)?;
                }
            } else {
                self.files.insert(relative, path);
            }
        }
        Ok(())
    }

    /// Adds the file at `relative` inside the model, stored at `path`.
    pub fn insert(&mut self, relative: impl Into<String>, path: impl Into<PathBuf>) {
        self.files.insert(relative.into(), path.into());
    }

    pub fn label(&self) -> &Path {
        &self.label
    }

    fn get(&self, relative: &str) -> Option<&Path> {
        self.files.get(relative).map(PathBuf::as_path)
    }

    fn require(&self, relative: &str) -> Result<&Path, FormatError> {
        self.get(relative).ok_or_else(|| self.missing(relative))
    }

    /// The model lacks `file` (a path, or a description such as "a or b").
    fn missing(&self, file: &str) -> FormatError {
        FormatError::MissingModelFile {
            folder: self.label.clone(),
            file: file.to_owned(),
        }
    }

    /// The JSON file at `relative`, if the model has one.
    fn json(&self, relative: &str) -> Result<Option<Value>, FormatError> {
        self.get(relative)
            .map(|path| read_json(path, MAX_SIDE_FILE_BYTES))
            .transpose()
    }

    fn unconvertible(&self, problem: impl Into<String>) -> FormatError {
        FormatError::Unconvertible {
            folder: self.label.clone(),
            problem: problem.into(),
        }
    }
}

/// What a conversion wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The GGUF architecture (`bert`).
    pub architecture: &'static str,
    pub tensor_count: usize,
    pub vocabulary_size: usize,
}

/// Whether a folder whose `config.json` names `architecture` (its
/// `architectures[0]`, else `model_type`, as `inspect` reports it) can be
/// converted. Cheap: lets callers say "cannot be run" before reading weights.
pub fn can_convert(architecture: &str) -> bool {
    bert::ARCHITECTURES.contains(&architecture)
}

/// Writes the GGUF form of the model in `files` to `out`.
pub fn convert_to_gguf(files: &ModelFiles, out: &mut impl Write) -> Result<Converted, FormatError> {
    let config: Value = read_json(files.require("config.json")?, MAX_SIDE_FILE_BYTES)?;
    let architecture = crate::hf::architecture(&config).unwrap_or_default();
    if !can_convert(&architecture) {
        let named = if architecture.is_empty() {
            "no architecture".to_owned()
        } else {
            format!("architecture {architecture}")
        };
        return Err(files.unconvertible(format!(
            "its config.json names {named}, and commons converts only BERT embedding models ({})",
            bert::ARCHITECTURES.join(", ")
        )));
    }
    bert::convert(files, &config, out)
}
