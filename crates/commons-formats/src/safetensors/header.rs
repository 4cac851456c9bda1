//! Decoding and validating a safetensors header.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::dtype::Dtype;
use crate::FormatError;

/// Largest header accepted, as in the reference `safetensors` implementation.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;
const LENGTH_PREFIX_BYTES: u64 = 8;
const METADATA_KEY: &str = "__metadata__";

/// One tensor as the header describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SafetensorsTensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<u64>,
    /// `[begin, end)` relative to the start of the data section.
    pub data_offsets: [u64; 2],
    /// Product of `shape` (1 for a scalar).
    pub element_count: u64,
}

impl SafetensorsTensor {
    pub fn size(&self) -> u64 {
        self.data_offsets[1] - self.data_offsets[0]
    }
}

/// A decoded, validated safetensors header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SafetensorsHeader {
    /// The free-form `__metadata__` map.
    pub metadata: BTreeMap<String, String>,
    /// Tensors in the order the header lists them.
    pub tensors: Vec<SafetensorsTensor>,
    /// Absolute file offset of the data section (8 + header length).
    pub data_start: u64,
}

impl SafetensorsHeader {
    /// Decodes and validates the header of the safetensors file whose bytes
    /// are `bytes` (`path` only names it in errors). On success every
    /// tensor's data lies inside `bytes`, has exactly the size its dtype and
    /// shape need, and no two tensors overlap.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, FormatError> {
        let file_size = bytes.len() as u64;
        let Some((length, rest)) = bytes.split_first_chunk::<8>() else {
            return Err(FormatError::Truncated {
                path: path.to_path_buf(),
                what: "header length".into(),
                offset: 0,
                needed: LENGTH_PREFIX_BYTES,
                size: file_size,
            });
        };
        let length = u64::from_le_bytes(*length);
        if length > MAX_HEADER_BYTES {
            return Err(FormatError::HeaderTooLarge {
                path: path.to_path_buf(),
                length,
                limit: format!("the {MAX_HEADER_BYTES}-byte limit for safetensors headers"),
            });
        }
        let header_bytes = usize::try_from(length)
            .ok()
            .and_then(|n| rest.get(..n))
            .ok_or_else(|| FormatError::HeaderTooLarge {
                path: path.to_path_buf(),
                length,
                limit: format!("the {} bytes that follow it in the file", rest.len()),
            })?;
        let invalid = |problem: String| FormatError::InvalidHeader {
            path: path.to_path_buf(),
            problem,
        };
        if header_bytes.first() != Some(&b'{') {
            return Err(invalid("the header does not start with `{`".into()));
        }
        let raw: RawHeader = serde_json::from_slice(header_bytes)
            .map_err(|e| invalid(format!("not a JSON object of tensors: {e}")))?;

        let data_start = LENGTH_PREFIX_BYTES + length;
        let validator = Validator {
            path,
            file_size,
            data_start,
        };
        let tensors = raw
            .tensors
            .into_iter()
            .map(|(name, raw)| validator.tensor(name, raw))
            .collect::<Result<Vec<_>, _>>()?;
        validator.check_overlaps(&tensors)?;
        Ok(Self {
            metadata: raw.metadata,
            tensors,
            data_start,
        })
    }

    /// The absolute byte range of a tensor's data in the file.
    pub fn tensor_range(&self, tensor: &SafetensorsTensor) -> Range<u64> {
        let [begin, end] = tensor.data_offsets;
        self.data_start.saturating_add(begin)..self.data_start.saturating_add(end)
    }
}

struct Validator<'p> {
    path: &'p Path,
    file_size: u64,
    data_start: u64,
}

impl Validator<'_> {
    fn path(&self) -> PathBuf {
        self.path.to_path_buf()
    }

    fn tensor(&self, name: String, raw: RawTensor) -> Result<SafetensorsTensor, FormatError> {
        let invalid = |problem: String| FormatError::InvalidTensor {
            path: self.path(),
            tensor: name.clone(),
            problem,
        };
        let dtype = Dtype::from_name(&raw.dtype).ok_or_else(|| FormatError::UnknownDtype {
            path: self.path(),
            tensor: name.clone(),
            dtype: raw.dtype.clone(),
        })?;
        let element_count = raw
            .shape
            .iter()
            .try_fold(1u64, |product, &d| product.checked_mul(d))
            .ok_or_else(|| invalid(format!("shape {:?} overflows", raw.shape)))?;
        let bits = element_count
            .checked_mul(dtype.bits())
            .ok_or_else(|| invalid(format!("shape {:?} overflows", raw.shape)))?;
        if bits % 8 != 0 {
            return Err(invalid(format!(
                "{element_count} elements of {dtype} do not fill whole bytes"
            )));
        }
        let expected = bits / 8;
        let [begin, end] = raw.data_offsets;
        if begin > end {
            return Err(invalid(format!(
                "data_offsets [{begin}, {end}] end before they begin"
            )));
        }
        if end - begin != expected {
            return Err(invalid(format!(
                "data_offsets [{begin}, {end}] span {} bytes, but {dtype} × {:?} needs {expected}",
                end - begin,
                raw.shape
            )));
        }
        let absolute_end = self.data_start.checked_add(end);
        if absolute_end.is_none_or(|e| e > self.file_size) {
            return Err(FormatError::TensorOutOfBounds {
                path: self.path(),
                tensor: name,
                offset: self.data_start.saturating_add(begin),
                size: end - begin,
                file_size: self.file_size,
            });
        }
        Ok(SafetensorsTensor {
            name,
            dtype,
            shape: raw.shape,
            data_offsets: raw.data_offsets,
            element_count,
        })
    }

    fn check_overlaps(&self, tensors: &[SafetensorsTensor]) -> Result<(), FormatError> {
        let mut by_offset: Vec<&SafetensorsTensor> =
            tensors.iter().filter(|t| t.size() > 0).collect();
        by_offset.sort_by_key(|t| t.data_offsets);
        for pair in by_offset.windows(2) {
            if let [first, second] = pair {
                if first.data_offsets[1] > second.data_offsets[0] {
                    let absolute = |offset: u64| self.data_start + offset;
                    return Err(FormatError::TensorOverlap {
                        path: self.path(),
                        first: first.name.clone(),
                        first_start: absolute(first.data_offsets[0]),
                        first_end: absolute(first.data_offsets[1]),
                        second: second.name.clone(),
                        second_start: absolute(second.data_offsets[0]),
                        second_end: absolute(second.data_offsets[1]),
                    });
                }
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// The header's JSON object, in document order, with duplicate keys
/// rejected: two parsers that keep different duplicates would see different
/// models in the same bytes.
struct RawHeader {
    metadata: BTreeMap<String, String>,
    tensors: Vec<(String, RawTensor)>,
}

impl<'de> Deserialize<'de> for RawHeader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RawHeaderVisitor)
    }
}

struct RawHeaderVisitor;

impl<'de> Visitor<'de> for RawHeaderVisitor {
    type Value = RawHeader;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object mapping tensor names to {dtype, shape, data_offsets}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
        let mut seen = HashSet::new();
        let mut metadata = None;
        let mut tensors = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("key `{key}` appears twice")));
            }
            if key == METADATA_KEY {
                metadata = Some(map.next_value::<BTreeMap<String, String>>()?);
            } else {
                let tensor = map
                    .next_value::<RawTensor>()
                    .map_err(|e| de::Error::custom(format!("tensor `{key}`: {e}")))?;
                tensors.push((key, tensor));
            }
        }
        Ok(RawHeader {
            metadata: metadata.unwrap_or_default(),
            tensors,
        })
    }
}
