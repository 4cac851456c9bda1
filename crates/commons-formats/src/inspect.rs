//! [`inspect`]: from any path a user may hand us to a description of the model.

use std::io::Read;
use std::path::Path;

use crate::folder::{has_pickle_extension, inspect_folder};
use crate::gguf::{self, has_gguf_magic};
use crate::hf::FolderFacts;
use crate::model::{FileRole, Inspection, ModelFile};
use crate::safetensors::{self, SafetensorsFile, INDEX_SUFFIX};
use crate::FormatError;

/// Describes the model at `path`: a `.gguf` file (any shard of a split GGUF
/// finds all its shards), a `.safetensors` file (any shard of a sharded set
/// finds the rest), a `*.safetensors.index.json`, or a Hugging Face-style
/// folder. Files without a telling extension are recognised by their first
/// bytes. Pickled checkpoints are refused, never loaded.
pub fn inspect(path: &Path) -> Result<Inspection, FormatError> {
    let metadata = std::fs::metadata(path).map_err(|e| FormatError::io(path, e))?;
    if metadata.is_dir() {
        return inspect_folder(path);
    }
    let path = std::path::absolute(path).map_err(|e| FormatError::io(path, e))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if name.ends_with(".gguf") {
        inspect_gguf(&path)
    } else if name.ends_with(".safetensors") || name.ends_with(INDEX_SUFFIX) {
        inspect_safetensors(&path)
    } else if has_pickle_extension(&name) {
        Err(FormatError::PickleRefused { path })
    } else {
        match sniff(&path)? {
            Sniffed::Gguf => inspect_gguf(&path),
            Sniffed::Safetensors => inspect_safetensors(&path),
            Sniffed::Pickle => Err(FormatError::PickleRefused { path }),
            Sniffed::Unknown => Err(FormatError::UnsupportedFile { path }),
        }
    }
}

fn inspect_gguf(path: &Path) -> Result<Inspection, FormatError> {
    let shards = gguf::open_model(path)?;
    let info = gguf::model_info(&shards);
    let files = shards
        .iter()
        .map(|s| weight_file(s.path(), s.file_size()))
        .collect();
    Ok(Inspection {
        info,
        files,
        warnings: Vec::new(),
    })
}

/// A lone safetensors file or set: only the weights speak, since a folder's
/// side files were not asked for (inspect the folder for those).
fn inspect_safetensors(path: &Path) -> Result<Inspection, FormatError> {
    let shards = safetensors::open_model(path)?;
    let info = safetensors::model_info(&shards, FolderFacts::default());
    let mut files: Vec<ModelFile> = shards
        .iter()
        .map(|s: &SafetensorsFile| weight_file(s.path(), s.file_size()))
        .collect();
    if path.to_string_lossy().ends_with(INDEX_SUFFIX) {
        let size = std::fs::metadata(path)
            .map_err(|e| FormatError::io(path, e))?
            .len();
        files.push(ModelFile {
            path: path.to_path_buf(),
            relative: file_name(path),
            size,
            role: FileRole::Config,
        });
        files.sort_by(|a, b| a.relative.cmp(&b.relative));
    }
    Ok(Inspection {
        info,
        files,
        warnings: Vec::new(),
    })
}

fn weight_file(path: &Path, size: u64) -> ModelFile {
    ModelFile {
        path: path.to_path_buf(),
        relative: file_name(path),
        size,
        role: FileRole::Weights,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

enum Sniffed {
    Gguf,
    Safetensors,
    Pickle,
    Unknown,
}

/// Recognises a file by its first bytes (e.g. Ollama blobs, named by digest).
fn sniff(path: &Path) -> Result<Sniffed, FormatError> {
    let mut head = [0u8; 9];
    let file = std::fs::File::open(path).map_err(|e| FormatError::io(path, e))?;
    let size = file.metadata().map_err(|e| FormatError::io(path, e))?.len();
    let mut read = 0;
    let mut reader = file.take(head.len() as u64);
    while read < head.len() {
        match reader.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FormatError::io(path, e)),
        }
    }
    let head = &head[..read];
    Ok(if has_gguf_magic(head) {
        Sniffed::Gguf
    } else if looks_like_safetensors_prefix(head, size) {
        Sniffed::Safetensors
    } else if is_pickle(head) {
        Sniffed::Pickle
    } else {
        Sniffed::Unknown
    })
}

fn looks_like_safetensors_prefix(head: &[u8], file_size: u64) -> bool {
    let Some((length, rest)) = head.split_first_chunk::<8>() else {
        return false;
    };
    let length = u64::from_le_bytes(*length);
    rest.first() == Some(&b'{')
        && length <= safetensors::MAX_HEADER_BYTES
        && length <= file_size.saturating_sub(8)
}

/// Pickle protocol 2 and later starts with PROTO (0x80) and the protocol number.
fn is_pickle(head: &[u8]) -> bool {
    matches!(head, [0x80, 2..=5, ..])
}

#[cfg(test)]
mod tests;
