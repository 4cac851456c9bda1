//! The one error type of this crate.
//!
//! Every variant names the file it is about and says precisely what is wrong
//! with it, so that a message printed on its own (`error: ...`) is enough to
//! act on. [`FormatError::hint`] adds what the user can do about it.

use std::path::{Path, PathBuf};

/// Why a model file or folder could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "`{}` is truncated: {what} at offset {offset} needs {needed} bytes, but the file ends at {size}",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        what: String,
        offset: u64,
        needed: u64,
        size: u64,
    },

    #[error("`{}` is not a GGUF file: it starts with {found:02x?} instead of the magic `GGUF`", path.display())]
    BadMagic { path: PathBuf, found: Vec<u8> },

    #[error("unsupported GGUF version {version} in `{}` (versions 2 and 3 are supported)", path.display())]
    UnsupportedGgufVersion { path: PathBuf, version: u32 },

    #[error("`{}` is a big-endian GGUF file; only little-endian GGUF is supported", path.display())]
    BigEndianGguf { path: PathBuf },

    #[error(
        "`{}` declares {count} {what}, but each needs at least {min_bytes} bytes and only {available} bytes follow",
        path.display()
    )]
    CountTooLarge {
        path: PathBuf,
        what: String,
        count: u64,
        min_bytes: u64,
        available: u64,
    },

    #[error(
        "`{}`: {what} at offset {offset} claims a length of {length} bytes, but only {available} bytes follow",
        path.display()
    )]
    StringTooLong {
        path: PathBuf,
        what: String,
        offset: u64,
        length: u64,
        available: u64,
    },

    #[error("`{}`: metadata key `{key}` appears more than once", path.display())]
    DuplicateMetadataKey { path: PathBuf, key: String },

    #[error("`{}`: metadata `{key}` is invalid: {problem}", path.display())]
    InvalidMetadata {
        path: PathBuf,
        key: String,
        problem: String,
    },

    #[error("`{}`: tensor `{tensor}` has unknown ggml type id {type_id}{}", path.display(), removed_note(*type_id))]
    UnknownTensorType {
        path: PathBuf,
        tensor: String,
        type_id: u32,
    },

    #[error("`{}`: tensor `{tensor}` has unknown dtype `{dtype}`", path.display())]
    UnknownDtype {
        path: PathBuf,
        tensor: String,
        dtype: String,
    },

    #[error("`{}`: tensor `{tensor}` is invalid: {problem}", path.display())]
    InvalidTensor {
        path: PathBuf,
        tensor: String,
        problem: String,
    },

    #[error(
        "`{}`: tensor `{tensor}` data [offset {offset}, {size} bytes] extends past end of file (size {file_size})",
        path.display()
    )]
    TensorOutOfBounds {
        path: PathBuf,
        tensor: String,
        offset: u64,
        size: u64,
        file_size: u64,
    },

    #[error(
        "`{}`: tensor `{tensor}` data offset {offset} is not a multiple of the alignment {alignment}",
        path.display()
    )]
    TensorMisaligned {
        path: PathBuf,
        tensor: String,
        offset: u64,
        alignment: u64,
    },

    #[error(
        "`{}`: tensors `{first}` [{first_start}..{first_end}) and `{second}` [{second_start}..{second_end}) overlap",
        path.display()
    )]
    TensorOverlap {
        path: PathBuf,
        first: String,
        first_start: u64,
        first_end: u64,
        second: String,
        second_start: u64,
        second_end: u64,
    },

    #[error("`{}`: tensor `{tensor}` appears more than once", path.display())]
    DuplicateTensor { path: PathBuf, tensor: String },

    #[error("`{}`: header claims {length} bytes, more than {limit}", path.display())]
    HeaderTooLarge {
        path: PathBuf,
        length: u64,
        limit: String,
    },

    #[error("`{}`: invalid safetensors header: {problem}", path.display())]
    InvalidHeader { path: PathBuf, problem: String },

    #[error("`{}`: invalid split model: {problem}", path.display())]
    InvalidSplit { path: PathBuf, problem: String },

    #[error("`{}` is missing: {referenced_by} refers to it", path.display())]
    MissingShard {
        path: PathBuf,
        referenced_by: String,
    },

    #[error("no model weights (*.safetensors or *.gguf) in {}", folder.display())]
    NoWeights { folder: PathBuf },

    #[error("`{}` holds several GGUF models ({}); pass one of them", folder.display(), candidates.join(", "))]
    AmbiguousWeights {
        folder: PathBuf,
        candidates: Vec<String>,
    },

    #[error(
        "refusing to load `{}`: it is a pickled PyTorch checkpoint, and loading pickled checkpoints can execute arbitrary code",
        path.display()
    )]
    PickleRefused { path: PathBuf },

    #[error("`{}` is neither a GGUF nor a safetensors model, nor a folder holding one", path.display())]
    UnsupportedFile { path: PathBuf },

    #[error("`{}` is {size} bytes, more than the {limit} bytes allowed for this kind of file", path.display())]
    FileTooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },

    #[error("`{}` is not valid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("`{}`: {problem}", path.display())]
    InvalidJsonContent { path: PathBuf, problem: String },

    #[error("invalid model card front matter: {problem}")]
    InvalidModelCard { problem: String },

    #[error("`{}` cannot be converted to GGUF: {problem}", folder.display())]
    Unconvertible { folder: PathBuf, problem: String },

    #[error("`{}` lacks `{file}`, which converting it to GGUF needs", folder.display())]
    MissingModelFile { folder: PathBuf, file: String },
}

fn removed_note(type_id: u32) -> &'static str {
    match type_id {
        4 | 5 => " (Q4_2/Q4_3, removed from ggml in 2023)",
        31..=33 => " (Q4_0_4_4/Q4_0_4_8/Q4_0_8_8, removed from GGUF files; requantize from Q4_0)",
        36..=38 => " (IQ4_NL_4_4/IQ4_NL_4_8/IQ4_NL_8_8, removed from GGUF files)",
        _ => "",
    }
}

impl FormatError {
    /// What the user can do about this error, where there is something to say.
    /// The CLI prints it as `hint: ...`.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            Self::PickleRefused { .. } => {
                "convert the checkpoint to safetensors in an environment you trust, e.g. with \
                 `model.save_pretrained(dir, safe_serialization=True)` from `transformers`, or the \
                 `convert.py` script of the `safetensors` project, then import the result"
            }
            Self::Truncated { .. }
            | Self::TensorOutOfBounds { .. }
            | Self::CountTooLarge { .. }
            | Self::StringTooLong { .. } => {
                "the file looks incomplete or corrupt; download it again and compare its sha256 \
                 with the one its publisher lists"
            }
            Self::UnsupportedGgufVersion { version: 1, .. } => {
                "GGUF v1 predates the current format; convert the original weights again with a \
                 recent llama.cpp (`convert_hf_to_gguf.py`)"
            }
            Self::UnsupportedGgufVersion { .. } => {
                "this file may be newer than this build of commons understands; check for an update"
            }
            Self::BigEndianGguf { .. } => {
                "convert it to little-endian with gguf-py's `gguf-convert-endian FILE little`"
            }
            Self::BadMagic { .. } | Self::UnsupportedFile { .. } => {
                "commons imports GGUF files (*.gguf), safetensors files (*.safetensors), sharded \
                 safetensors (model.safetensors.index.json) and Hugging Face-style model folders"
            }
            Self::UnknownTensorType { .. } | Self::UnknownDtype { .. } => {
                "the file may use a type newer than this build of commons, or come from a fork \
                 of llama.cpp/safetensors; check for an update or re-export it with a standard type"
            }
            Self::MissingShard { .. } => {
                "download every shard of the model into the same folder, then import again"
            }
            Self::InvalidSplit { .. } => {
                "keep the shards exactly as gguf-split wrote them, or merge them with \
                 `llama-gguf-split --merge`"
            }
            Self::NoWeights { .. } => {
                "pass a folder that holds model.safetensors (or shards with \
                 model.safetensors.index.json) or a .gguf file, or pass the weight file itself"
            }
            Self::AmbiguousWeights { .. } => "pass the path of the .gguf file you want to import",
            Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                "check the path; it does not exist"
            }
            Self::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                "check the file's permissions"
            }
            Self::Unconvertible { .. } => {
                "commons converts BERT sentence-embedding folders itself; convert other models \
                 with llama.cpp's `convert_hf_to_gguf.py` and import the .gguf it writes"
            }
            Self::MissingModelFile { .. } => {
                "import the whole model folder (config.json, tokenizer.json or vocab.txt, and \
                 the weights), as its publisher ships it"
            }
            Self::InvalidModelCard { .. } => {
                "fix the YAML front matter (between the leading `---` lines) of README.md"
            }
            Self::FileTooLarge { .. } => {
                "this file is far larger than any real file of its kind; it is probably not what \
                 its name says"
            }
            _ => return None,
        };
        Some(hint.to_owned())
    }

    /// The file or folder the error is about, when it names one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Io { path, .. }
            | Self::Truncated { path, .. }
            | Self::BadMagic { path, .. }
            | Self::UnsupportedGgufVersion { path, .. }
            | Self::BigEndianGguf { path }
            | Self::CountTooLarge { path, .. }
            | Self::StringTooLong { path, .. }
            | Self::DuplicateMetadataKey { path, .. }
            | Self::InvalidMetadata { path, .. }
            | Self::UnknownTensorType { path, .. }
            | Self::UnknownDtype { path, .. }
            | Self::InvalidTensor { path, .. }
            | Self::TensorOutOfBounds { path, .. }
            | Self::TensorMisaligned { path, .. }
            | Self::TensorOverlap { path, .. }
            | Self::DuplicateTensor { path, .. }
            | Self::HeaderTooLarge { path, .. }
            | Self::InvalidHeader { path, .. }
            | Self::InvalidSplit { path, .. }
            | Self::MissingShard { path, .. }
            | Self::PickleRefused { path }
            | Self::UnsupportedFile { path }
            | Self::FileTooLarge { path, .. }
            | Self::Json { path, .. }
            | Self::InvalidJsonContent { path, .. } => Some(path),
            Self::NoWeights { folder }
            | Self::AmbiguousWeights { folder, .. }
            | Self::Unconvertible { folder, .. }
            | Self::MissingModelFile { folder, .. } => Some(folder),
            Self::InvalidModelCard { .. } => None,
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickle_error_explains_the_risk_and_the_way_out() {
        let err = FormatError::PickleRefused {
            path: PathBuf::from("/m/pytorch_model.bin"),
        };
        assert!(err.to_string().contains("can execute arbitrary code"));
        let hint = err.hint().unwrap_or_default();
        assert!(hint.contains("safetensors"));
        assert!(hint.contains("safe_serialization=True"));
    }

    #[test]
    fn out_of_bounds_message_names_tensor_offset_size_and_file_size() {
        let err = FormatError::TensorOutOfBounds {
            path: PathBuf::from("m.gguf"),
            tensor: "blk.0.attn_q.weight".into(),
            offset: 1234,
            size: 5678,
            file_size: 999,
        };
        assert_eq!(
            err.to_string(),
            "`m.gguf`: tensor `blk.0.attn_q.weight` data [offset 1234, 5678 bytes] extends past end of file (size 999)"
        );
    }

    #[test]
    fn removed_types_are_named() {
        let err = FormatError::UnknownTensorType {
            path: PathBuf::from("m.gguf"),
            tensor: "t".into(),
            type_id: 4,
        };
        assert!(err.to_string().contains("removed"));
    }
}
