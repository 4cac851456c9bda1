//! The GGUF header: magic, version, metadata, tensor infos — decoded and
//! validated against the file's size before anything depends on it.
//!
//! Layout (little-endian, versions 2 and 3):
//! `"GGUF" | u32 version | u64 tensor_count | u64 kv_count | kv pairs | tensor infos | padding | data`
//! where a tensor info is `string name | u32 n_dims | u64 dims[n_dims] | u32 type | u64 offset`,
//! offsets being relative to the data section, which starts at the first
//! multiple of `general.alignment` (default 32) after the tensor infos.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::metadata::{read_string_bytes, Metadata, ValueDecoder};
use super::types::GgmlType;
use crate::bytes::{ByteReader, Short};
use crate::mapped::MappedFile;
use crate::FormatError;

pub const GGUF_MAGIC: &[u8; 4] = b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// `GGML_MAX_DIMS`.
pub const MAX_DIMS: u32 = 4;
const SUPPORTED_VERSIONS: [u32; 2] = [2, 3];
/// An empty key, a value type and the smallest value (one byte).
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// An empty name, zero dims, a type and an offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

/// Whether `bytes` start like a GGUF file.
pub fn has_gguf_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(GGUF_MAGIC)
}

/// Where the bytes being decoded come from, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'p> {
    pub path: &'p Path,
    pub size: u64,
}

impl Source<'_> {
    pub(crate) fn truncated(self, short: Short, what: impl Into<String>) -> FormatError {
        short.describe(self.path, self.size, what)
    }
}

/// One tensor as the header describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions in ggml order (`ne[0]` first, the fastest-varying one).
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset of the data, relative to the start of the data section.
    pub offset: u64,
    /// Bytes of data.
    pub size: u64,
    /// Product of `dims`.
    pub element_count: u64,
}

/// A decoded, validated GGUF header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GgufHeader {
    pub version: u32,
    pub metadata: Metadata,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute file offset of the data section.
    pub data_offset: u64,
}

impl GgufHeader {
    /// Decodes and validates the header of the GGUF file whose bytes are
    /// `bytes` (`path` only names it in errors). On success every tensor's
    /// data lies inside `bytes`, aligned, and no two tensors overlap.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, FormatError> {
        HeaderParser {
            source: Source {
                path,
                size: bytes.len() as u64,
            },
            reader: ByteReader::new(bytes),
        }
        .parse()
    }

    /// The absolute byte range of a tensor's data in the file.
    pub fn tensor_range(&self, tensor: &TensorInfo) -> Range<u64> {
        let start = self.data_offset.saturating_add(tensor.offset);
        start..start.saturating_add(tensor.size)
    }
}

struct HeaderParser<'a, 'p> {
    source: Source<'p>,
    reader: ByteReader<'a>,
}

impl HeaderParser<'_, '_> {
    fn parse(mut self) -> Result<GgufHeader, FormatError> {
        self.magic()?;
        let version = self.version()?;
        let tensor_count = self.u64("tensor count")?;
        let kv_count = self.u64("metadata key-value count")?;
        self.check_counts(tensor_count, kv_count)?;

        let metadata = self.metadata(kv_count)?;
        let alignment = self.alignment(&metadata)?;
        let mut tensors = Vec::with_capacity(capacity_hint(tensor_count));
        for index in 0..tensor_count {
            tensors.push(self.tensor_info(index)?);
        }
        let data_offset = align_up(self.reader.position(), alignment).ok_or_else(|| {
            FormatError::InvalidMetadata {
                path: self.path(),
                key: "general.alignment".into(),
                problem: format!("aligning the data section to {alignment} overflows"),
            }
        })?;
        let header = GgufHeader {
            version,
            metadata,
            tensors,
            alignment,
            data_offset,
        };
        self.check_tensor_placement(&header)?;
        Ok(header)
    }

    fn path(&self) -> PathBuf {
        self.source.path.to_path_buf()
    }

    fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        let source = self.source;
        self.reader.u32().map_err(|s| source.truncated(s, what))
    }

    fn u64(&mut self, what: &str) -> Result<u64, FormatError> {
        let source = self.source;
        self.reader.u64().map_err(|s| source.truncated(s, what))
    }

    fn magic(&mut self) -> Result<(), FormatError> {
        let available = self.reader.remaining().min(4);
        let prefix = self.reader.take(available).unwrap_or_default();
        if prefix.len() == 4 && prefix == GGUF_MAGIC {
            return Ok(());
        }
        if GGUF_MAGIC.starts_with(prefix) {
            return Err(self.source.truncated(
                Short {
                    offset: 0,
                    needed: 4,
                },
                "magic",
            ));
        }
        Err(FormatError::BadMagic {
            path: self.path(),
            found: prefix.to_vec(),
        })
    }

    fn version(&mut self) -> Result<u32, FormatError> {
        let version = self.u32("version")?;
        if SUPPORTED_VERSIONS.contains(&version) {
            Ok(version)
        } else if SUPPORTED_VERSIONS.contains(&version.swap_bytes()) {
            Err(FormatError::BigEndianGguf { path: self.path() })
        } else {
            Err(FormatError::UnsupportedGgufVersion {
                path: self.path(),
                version,
            })
        }
    }

    /// Rejects counts that the rest of the file cannot possibly hold, before
    /// any of them sizes an allocation or a loop.
    fn check_counts(&self, tensor_count: u64, kv_count: u64) -> Result<(), FormatError> {
        let available = self.reader.remaining();
        let too_many = |what: &str, count, min_bytes, available| FormatError::CountTooLarge {
            path: self.path(),
            what: what.to_owned(),
            count,
            min_bytes,
            available,
        };
        if kv_count > available / MIN_KV_BYTES {
            return Err(too_many(
                "metadata key-value pairs",
                kv_count,
                MIN_KV_BYTES,
                available,
            ));
        }
        let after_metadata = available - kv_count * MIN_KV_BYTES;
        if tensor_count > after_metadata / MIN_TENSOR_INFO_BYTES {
            return Err(too_many(
                "tensor infos",
                tensor_count,
                MIN_TENSOR_INFO_BYTES,
                after_metadata,
            ));
        }
        Ok(())
    }

    fn metadata(&mut self, kv_count: u64) -> Result<Metadata, FormatError> {
        let mut metadata = Metadata::default();
        for index in 0..kv_count {
            let key_bytes = read_string_bytes(
                &mut self.reader,
                self.source,
                &format!("key of metadata pair #{index}"),
            )?;
            let key = std::str::from_utf8(key_bytes)
                .map_err(|_| FormatError::InvalidMetadata {
                    path: self.path(),
                    key: String::from_utf8_lossy(key_bytes).into_owned(),
                    problem: "key is not valid UTF-8".into(),
                })?
                .to_owned();
            let type_id = self.u32(&format!("value type of metadata `{key}`"))?;
            let value = ValueDecoder {
                reader: &mut self.reader,
                source: self.source,
                key: &key,
            }
            .value(type_id)?;
            if !metadata.insert_new(key.clone(), value) {
                return Err(FormatError::DuplicateMetadataKey {
                    path: self.path(),
                    key,
                });
            }
        }
        Ok(metadata)
    }

    fn alignment(&self, metadata: &Metadata) -> Result<u64, FormatError> {
        const KEY: &str = "general.alignment";
        let Some(value) = metadata.get(KEY) else {
            return Ok(DEFAULT_ALIGNMENT);
        };
        let problem = match value.as_u64() {
            Some(alignment) if alignment.is_power_of_two() => return Ok(alignment),
            Some(alignment) => format!("{alignment} is not a power of two"),
            None => format!("it is a {}, not an unsigned integer", value.type_name()),
        };
        Err(FormatError::InvalidMetadata {
            path: self.path(),
            key: KEY.into(),
            problem,
        })
    }

    fn tensor_info(&mut self, index: u64) -> Result<TensorInfo, FormatError> {
        let name_bytes = read_string_bytes(
            &mut self.reader,
            self.source,
            &format!("name of tensor #{index}"),
        )?;
        let name = std::str::from_utf8(name_bytes)
            .map_err(|_| FormatError::InvalidTensor {
                path: self.path(),
                tensor: String::from_utf8_lossy(name_bytes).into_owned(),
                problem: "name is not valid UTF-8".into(),
            })?
            .to_owned();
        let invalid = |problem: String| FormatError::InvalidTensor {
            path: self.source.path.to_path_buf(),
            tensor: name.clone(),
            problem,
        };

        let n_dims = self.u32(&format!("dimension count of tensor `{name}`"))?;
        if n_dims > MAX_DIMS {
            return Err(invalid(format!(
                "it has {n_dims} dimensions, more than ggml's maximum of {MAX_DIMS}"
            )));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(self.u64(&format!("dimensions of tensor `{name}`"))?);
        }
        let type_id = self.u32(&format!("type of tensor `{name}`"))?;
        let offset = self.u64(&format!("data offset of tensor `{name}`"))?;

        if let Some(axis) = dims.iter().position(|&d| d == 0) {
            return Err(invalid(format!("dimension {axis} is 0 (dims {dims:?})")));
        }
        let element_count = dims
            .iter()
            .try_fold(1u64, |product, &d| product.checked_mul(d))
            .filter(|&n| n <= i64::MAX as u64)
            .ok_or_else(|| invalid(format!("dims {dims:?} overflow: more than 2^63 elements")))?;
        let ggml_type =
            GgmlType::from_id(type_id).ok_or_else(|| FormatError::UnknownTensorType {
                path: self.path(),
                tensor: name.clone(),
                type_id,
            })?;
        let block_size = ggml_type.block_size();
        let row_length = dims.first().copied().unwrap_or(1);
        if row_length % block_size != 0 {
            return Err(invalid(format!(
                "its first dimension {row_length} is not a multiple of the {ggml_type} block size {block_size}"
            )));
        }
        let size = (element_count / block_size)
            .checked_mul(ggml_type.type_size())
            .ok_or_else(|| invalid(format!("its data size overflows (dims {dims:?})")))?;
        Ok(TensorInfo {
            name,
            dims,
            ggml_type,
            offset,
            size,
            element_count,
        })
    }

    /// Every tensor must be unique, aligned, inside the file, and disjoint
    /// from every other.
    fn check_tensor_placement(&self, header: &GgufHeader) -> Result<(), FormatError> {
        let mut names = HashSet::with_capacity(header.tensors.len());
        for tensor in &header.tensors {
            if !names.insert(tensor.name.as_str()) {
                return Err(FormatError::DuplicateTensor {
                    path: self.path(),
                    tensor: tensor.name.clone(),
                });
            }
            if tensor.offset % header.alignment != 0 {
                return Err(FormatError::TensorMisaligned {
                    path: self.path(),
                    tensor: tensor.name.clone(),
                    offset: tensor.offset,
                    alignment: header.alignment,
                });
            }
            let start = header.data_offset.checked_add(tensor.offset);
            let end = start.and_then(|s| s.checked_add(tensor.size));
            if end.is_none_or(|end| end > self.source.size) {
                return Err(FormatError::TensorOutOfBounds {
                    path: self.path(),
                    tensor: tensor.name.clone(),
                    offset: start.unwrap_or(u64::MAX),
                    size: tensor.size,
                    file_size: self.source.size,
                });
            }
        }
        // In bounds, so the ranges below cannot overflow.
        let mut by_offset: Vec<&TensorInfo> = header.tensors.iter().collect();
        by_offset.sort_by_key(|t| (t.offset, t.size));
        for pair in by_offset.windows(2) {
            if let [first, second] = pair {
                if first.offset + first.size > second.offset {
                    let range = |t: &TensorInfo| header.tensor_range(t);
                    return Err(FormatError::TensorOverlap {
                        path: self.path(),
                        first: first.name.clone(),
                        first_start: range(first).start,
                        first_end: range(first).end,
                        second: second.name.clone(),
                        second_start: range(second).start,
                        second_end: range(second).end,
                    });
                }
            }
        }
        Ok(())
    }
}

fn align_up(offset: u64, alignment: u64) -> Option<u64> {
    let remainder = offset % alignment;
    if remainder == 0 {
        Some(offset)
    } else {
        offset.checked_add(alignment - remainder)
    }
}

fn capacity_hint(count: u64) -> usize {
    usize::try_from(count.min(1 << 14)).unwrap_or(0)
}

/// A GGUF file on disk: its validated header, and its bytes mapped for
/// zero-copy access to tensor data.
#[derive(Debug)]
pub struct GgufFile {
    path: PathBuf,
    header: GgufHeader,
    bytes: MappedFile,
}

impl GgufFile {
    /// Maps `path` and decodes its header. Tensor data is not read.
    pub fn open(path: &Path) -> Result<Self, FormatError> {
        let bytes = MappedFile::open(path)?;
        let header = GgufHeader::parse(path, &bytes)?;
        Ok(Self {
            path: path.to_path_buf(),
            header,
            bytes,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> &GgufHeader {
        &self.header
    }

    pub fn into_header(self) -> GgufHeader {
        self.header
    }

    pub fn version(&self) -> u32 {
        self.header.version
    }

    pub fn metadata(&self) -> &Metadata {
        &self.header.metadata
    }

    pub fn tensors(&self) -> &[TensorInfo] {
        &self.header.tensors
    }

    pub fn file_size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The bytes of `tensor`'s data, borrowed from the mapping. `None` only
    /// for a tensor that is not from this file's header.
    pub fn tensor_data(&self, tensor: &TensorInfo) -> Option<&[u8]> {
        let range = self.header.tensor_range(tensor);
        let start = usize::try_from(range.start).ok()?;
        let end = usize::try_from(range.end).ok()?;
        self.bytes.get(start..end)
    }

    pub(crate) fn advise_sequential(&self) {
        self.bytes.advise_sequential();
    }
}
