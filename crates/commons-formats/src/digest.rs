//! Per-tensor SHA-256 digests. Shared tensors are how lineage ("fine-tuned
//! from", "merged from") is checked from the weights themselves, so every
//! tensor of every weight file is hashed, straight from the mapping, in
//! parallel.

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::folder::has_pickle_extension;
use crate::gguf::{has_gguf_magic, GgufFile};
use crate::mapped::MappedFile;
use crate::model::{FileRole, ModelFile};
use crate::safetensors::{looks_like_safetensors, SafetensorsFile};
use crate::FormatError;

/// The digest of one tensor's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorDigest {
    pub name: String,
    /// ggml type name (GGUF) or safetensors dtype.
    pub dtype: String,
    /// As the file stores it: ggml order (`ne[0]` first) for GGUF, row-major for safetensors.
    pub shape: Vec<u64>,
    /// Lower-case hex SHA-256 of the tensor's data bytes.
    pub sha256: String,
    /// Bytes of data.
    pub size: u64,
}

/// SHA-256 of every tensor in the files with [`FileRole::Weights`], in file
/// order and, within a file, in header order. Other files are ignored.
pub fn tensor_digests(files: &[ModelFile]) -> Result<Vec<TensorDigest>, FormatError> {
    let opened = files
        .par_iter()
        .filter(|f| f.role == FileRole::Weights)
        .map(|f| WeightFile::open(&f.path))
        .collect::<Result<Vec<_>, _>>()?;
    for file in &opened {
        file.advise_sequential();
    }
    let jobs: Vec<(&WeightFile, usize)> = opened
        .iter()
        .flat_map(|file| (0..file.tensor_count()).map(move |index| (file, index)))
        .collect();
    // Largest-first would balance cores slightly better, but header order
    // keeps the output deterministic without a sort, and rayon's work
    // stealing already spreads the big tensors.
    jobs.par_iter()
        .map(|&(file, index)| file.digest(index))
        .collect()
}

enum WeightFile {
    Gguf(GgufFile),
    Safetensors(SafetensorsFile),
}

impl WeightFile {
    fn open(path: &Path) -> Result<Self, FormatError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if name.ends_with(".gguf") {
            return Ok(Self::Gguf(GgufFile::open(path)?));
        }
        if name.ends_with(".safetensors") {
            return Ok(Self::Safetensors(SafetensorsFile::open(path)?));
        }
        if has_pickle_extension(&name) {
            return Err(FormatError::PickleRefused {
                path: path.to_path_buf(),
            });
        }
        // No telling extension (e.g. a blob named by its digest): look inside.
        let bytes = MappedFile::open(path)?;
        if has_gguf_magic(&bytes) {
            Ok(Self::Gguf(GgufFile::open(path)?))
        } else if looks_like_safetensors(&bytes) {
            Ok(Self::Safetensors(SafetensorsFile::open(path)?))
        } else {
            Err(FormatError::UnsupportedFile {
                path: path.to_path_buf(),
            })
        }
    }

    fn advise_sequential(&self) {
        match self {
            Self::Gguf(f) => f.advise_sequential(),
            Self::Safetensors(f) => f.advise_sequential(),
        }
    }

    fn tensor_count(&self) -> usize {
        match self {
            Self::Gguf(f) => f.tensors().len(),
            Self::Safetensors(f) => f.tensors().len(),
        }
    }

    fn digest(&self, index: usize) -> Result<TensorDigest, FormatError> {
        let (path, name, dtype, shape, data) = match self {
            Self::Gguf(f) => {
                let t = f.tensors().get(index);
                (
                    f.path(),
                    t.map(|t| t.name.as_str()),
                    t.map(|t| t.ggml_type.name()),
                    t.map(|t| t.dims.clone()),
                    t.and_then(|t| f.tensor_data(t)),
                )
            }
            Self::Safetensors(f) => {
                let t = f.tensors().get(index);
                (
                    f.path(),
                    t.map(|t| t.name.as_str()),
                    t.map(|t| t.dtype.name()),
                    t.map(|t| t.shape.clone()),
                    t.and_then(|t| f.tensor_data(t)),
                )
            }
        };
        // Headers were validated against the file, so every lookup succeeds;
        // this only keeps a broken invariant from becoming a panic.
        let (Some(name), Some(dtype), Some(shape), Some(data)) = (name, dtype, shape, data) else {
            return Err(FormatError::InvalidTensor {
                path: path.to_path_buf(),
                tensor: name.unwrap_or("?").to_owned(),
                problem: format!("tensor #{index} has no data in the mapped file"),
            });
        };
        Ok(TensorDigest {
            name: name.to_owned(),
            dtype: dtype.to_owned(),
            shape,
            sha256: hex::encode(Sha256::digest(data)),
            size: data.len() as u64,
        })
    }
}
