//! safetensors: an 8-byte little-endian header length `N`, `N` bytes of JSON
//! describing each tensor (`dtype`, `shape`, `data_offsets` relative to the
//! end of the header) plus an optional `__metadata__` string map, then data.
//!
//! [`SafetensorsFile::open`] maps a file and validates its header;
//! [`open_model`] opens every file of a single or sharded model.

mod dtype;
mod header;
mod index;
mod info;

#[cfg(test)]
mod tests;

pub use dtype::Dtype;
pub use header::{SafetensorsHeader, SafetensorsTensor, MAX_HEADER_BYTES};
pub(crate) use index::check_unique_tensors;
pub use index::{open_index, open_model, read_index, SafetensorsIndex, INDEX_SUFFIX};
pub(crate) use info::model_info;

use std::path::{Path, PathBuf};

use crate::mapped::MappedFile;
use crate::FormatError;

/// A safetensors file on disk: its validated header, and its bytes mapped
/// for zero-copy access to tensor data.
#[derive(Debug)]
pub struct SafetensorsFile {
    path: PathBuf,
    header: SafetensorsHeader,
    bytes: MappedFile,
}

impl SafetensorsFile {
    /// Maps `path` and decodes its header. Tensor data is not read.
    pub fn open(path: &Path) -> Result<Self, FormatError> {
        let bytes = MappedFile::open(path)?;
        let header = SafetensorsHeader::parse(path, &bytes)?;
        Ok(Self {
            path: path.to_path_buf(),
            header,
            bytes,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> &SafetensorsHeader {
        &self.header
    }

    pub fn into_header(self) -> SafetensorsHeader {
        self.header
    }

    pub fn tensors(&self) -> &[SafetensorsTensor] {
        &self.header.tensors
    }

    pub fn file_size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The bytes of `tensor`'s data, borrowed from the mapping. `None` only
    /// for a tensor that is not from this file's header.
    pub fn tensor_data(&self, tensor: &SafetensorsTensor) -> Option<&[u8]> {
        let range = self.header.tensor_range(tensor);
        let start = usize::try_from(range.start).ok()?;
        let end = usize::try_from(range.end).ok()?;
        self.bytes.get(start..end)
    }

    pub(crate) fn advise_sequential(&self) {
        self.bytes.advise_sequential();
    }
}

/// Whether `bytes` start like a safetensors file: a plausible header length
/// followed by `{`.
pub fn looks_like_safetensors(bytes: &[u8]) -> bool {
    let Some((length, rest)) = bytes.split_first_chunk::<8>() else {
        return false;
    };
    let length = u64::from_le_bytes(*length);
    length <= MAX_HEADER_BYTES && length <= rest.len() as u64 && rest.first() == Some(&b'{')
}
