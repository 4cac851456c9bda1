//! GGUF metadata: typed key/value pairs, and their bounded decoding.

use std::collections::BTreeMap;

use serde::Serialize;

use super::reader::Source;
use crate::bytes::ByteReader;
use crate::FormatError;

/// How deep arrays of arrays may nest. No real file nests at all; the limit
/// keeps a hostile file from exhausting the stack through recursion.
pub const MAX_ARRAY_NESTING: usize = 8;

/// GGUF value type ids (`enum gguf_type`).
mod value_type {
    pub const U8: u32 = 0;
    pub const I8: u32 = 1;
    pub const U16: u32 = 2;
    pub const I16: u32 = 3;
    pub const U32: u32 = 4;
    pub const I32: u32 = 5;
    pub const F32: u32 = 6;
    pub const BOOL: u32 = 7;
    pub const STRING: u32 = 8;
    pub const ARRAY: u32 = 9;
    pub const U64: u32 = 10;
    pub const I64: u32 = 11;
    pub const F64: u32 = 12;

    /// The fewest bytes a value of this type occupies in a file, used to
    /// bound element counts before anything is allocated.
    pub fn min_encoded_size(id: u32) -> Option<u64> {
        Some(match id {
            U8 | I8 | BOOL => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 => 8,
            STRING => 8,    // the u64 length of an empty string
            ARRAY => 4 + 8, // element type and count of an empty array
            _ => return None,
        })
    }
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MetadataValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(MetadataArray),
}

/// A metadata array. Arrays are homogeneous, so they are stored typed: a
/// vocabulary of 150k tokens is one `Vec<String>`, and a byte array costs one
/// byte per element in memory as in the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MetadataArray {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    String(Vec<String>),
    Array(Vec<MetadataArray>),
}

impl MetadataValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an unsigned integer, for any integer type holding a
    /// non-negative value (writers disagree on which width to use).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&MetadataArray> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// GGUF's name for the value's type (`uint32`, `string`, `array`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::U8(_) => "uint8",
            Self::I8(_) => "int8",
            Self::U16(_) => "uint16",
            Self::I16(_) => "int16",
            Self::U32(_) => "uint32",
            Self::I32(_) => "int32",
            Self::U64(_) => "uint64",
            Self::I64(_) => "int64",
            Self::F32(_) => "float32",
            Self::F64(_) => "float64",
            Self::Bool(_) => "bool",
            Self::String(_) => "string",
            Self::Array(_) => "array",
        }
    }
}

impl MetadataArray {
    pub fn len(&self) -> usize {
        match self {
            Self::U8(v) => v.len(),
            Self::I8(v) => v.len(),
            Self::U16(v) => v.len(),
            Self::I16(v) => v.len(),
            Self::U32(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::U64(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::F32(v) => v.len(),
            Self::F64(v) => v.len(),
            Self::Bool(v) => v.len(),
            Self::String(v) => v.len(),
            Self::Array(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn as_strings(&self) -> Option<&[String]> {
        match self {
            Self::String(v) => Some(v),
            _ => None,
        }
    }
}

/// All metadata of one GGUF file, by key.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Metadata(BTreeMap<String, MetadataValue>);

impl Metadata {
    pub fn get(&self, key: &str) -> Option<&MetadataValue> {
        self.0.get(key)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(MetadataValue::as_str)
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(MetadataValue::as_u64)
    }

    pub fn get_strings(&self, key: &str) -> Option<&[String]> {
        self.get(key)
            .and_then(MetadataValue::as_array)
            .and_then(MetadataArray::as_strings)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &MetadataValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a pair; `false` when the key was already present (left unchanged).
    pub(crate) fn insert_new(&mut self, key: String, value: MetadataValue) -> bool {
        match self.0.entry(key) {
            std::collections::btree_map::Entry::Occupied(_) => false,
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(value);
                true
            }
        }
    }
}

/// Decodes metadata values for one key, with every length checked against
/// the bytes that remain.
pub(crate) struct ValueDecoder<'r, 'a, 'p> {
    pub reader: &'r mut ByteReader<'a>,
    pub source: Source<'p>,
    pub key: &'r str,
}

impl<'a> ValueDecoder<'_, 'a, '_> {
    pub(crate) fn value(&mut self, type_id: u32) -> Result<MetadataValue, FormatError> {
        use value_type as t;
        let value = match type_id {
            t::U8 => MetadataValue::U8(self.scalar(ByteReader::u8)?),
            t::I8 => MetadataValue::I8(self.scalar(ByteReader::i8)?),
            t::U16 => MetadataValue::U16(self.scalar(ByteReader::u16)?),
            t::I16 => MetadataValue::I16(self.scalar(ByteReader::i16)?),
            t::U32 => MetadataValue::U32(self.scalar(ByteReader::u32)?),
            t::I32 => MetadataValue::I32(self.scalar(ByteReader::i32)?),
            t::U64 => MetadataValue::U64(self.scalar(ByteReader::u64)?),
            t::I64 => MetadataValue::I64(self.scalar(ByteReader::i64)?),
            t::F32 => MetadataValue::F32(self.scalar(ByteReader::f32)?),
            t::F64 => MetadataValue::F64(self.scalar(ByteReader::f64)?),
            t::BOOL => MetadataValue::Bool(self.boolean()?),
            t::STRING => MetadataValue::String(self.string()?),
            t::ARRAY => MetadataValue::Array(self.array(0)?),
            other => return Err(self.invalid(format!("unknown value type {other}"))),
        };
        Ok(value)
    }

    fn what(&self) -> String {
        format!("value of metadata `{}`", self.key)
    }

    fn invalid(&self, problem: String) -> FormatError {
        FormatError::InvalidMetadata {
            path: self.source.path.to_path_buf(),
            key: self.key.to_owned(),
            problem,
        }
    }

    fn scalar<T>(
        &mut self,
        read: impl FnOnce(&mut ByteReader<'a>) -> Result<T, crate::bytes::Short>,
    ) -> Result<T, FormatError> {
        read(self.reader).map_err(|short| self.source.truncated(short, self.what()))
    }

    fn boolean(&mut self) -> Result<bool, FormatError> {
        match self.scalar(ByteReader::u8)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.invalid(format!("bool value is {other}, not 0 or 1"))),
        }
    }

    fn string(&mut self) -> Result<String, FormatError> {
        let what = self.what();
        // Token lists may hold byte sequences that are not UTF-8; keep them
        // readable rather than rejecting an otherwise valid file.
        read_string_bytes(self.reader, self.source, &what)
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
    }

    /// Reads an array's element type, count and elements.
    fn array(&mut self, depth: usize) -> Result<MetadataArray, FormatError> {
        let element_type = self.scalar(ByteReader::u32)?;
        let count = self.scalar(ByteReader::u64)?;
        let Some(min_size) = value_type::min_encoded_size(element_type) else {
            return Err(self.invalid(format!("unknown array element type {element_type}")));
        };
        let available = self.reader.remaining();
        if count > available / min_size {
            return Err(FormatError::CountTooLarge {
                path: self.source.path.to_path_buf(),
                what: format!("elements in array `{}`", self.key),
                count,
                min_bytes: min_size,
                available,
            });
        }
        use value_type as t;
        let array = match element_type {
            t::U8 => MetadataArray::U8(self.fixed(count, |b: [u8; 1]| b[0])?),
            t::I8 => MetadataArray::I8(self.fixed(count, i8::from_le_bytes)?),
            t::U16 => MetadataArray::U16(self.fixed(count, u16::from_le_bytes)?),
            t::I16 => MetadataArray::I16(self.fixed(count, i16::from_le_bytes)?),
            t::U32 => MetadataArray::U32(self.fixed(count, u32::from_le_bytes)?),
            t::I32 => MetadataArray::I32(self.fixed(count, i32::from_le_bytes)?),
            t::U64 => MetadataArray::U64(self.fixed(count, u64::from_le_bytes)?),
            t::I64 => MetadataArray::I64(self.fixed(count, i64::from_le_bytes)?),
            t::F32 => MetadataArray::F32(self.fixed(count, f32::from_le_bytes)?),
            t::F64 => MetadataArray::F64(self.fixed(count, f64::from_le_bytes)?),
            t::BOOL => {
                let bytes: Vec<u8> = self.fixed(count, |b: [u8; 1]| b[0])?;
                if let Some(bad) = bytes.iter().find(|&&b| b > 1) {
                    return Err(self.invalid(format!("bool array holds {bad}, not 0 or 1")));
                }
                MetadataArray::Bool(bytes.into_iter().map(|b| b == 1).collect())
            }
            t::STRING => {
                let mut strings = Vec::with_capacity(capacity_hint(count));
                for _ in 0..count {
                    strings.push(self.string()?);
                }
                MetadataArray::String(strings)
            }
            t::ARRAY => {
                if depth + 1 >= MAX_ARRAY_NESTING {
                    return Err(
                        self.invalid(format!("arrays nest more than {MAX_ARRAY_NESTING} deep"))
                    );
                }
                let mut arrays = Vec::with_capacity(capacity_hint(count));
                for _ in 0..count {
                    arrays.push(self.array(depth + 1)?);
                }
                MetadataArray::Array(arrays)
            }
            _ => return Err(self.invalid(format!("unknown array element type {element_type}"))),
        };
        Ok(array)
    }

    /// Reads `count` fixed-size little-endian elements. The caller has checked
    /// that `count * N` bytes remain, so the allocation is bounded by the file.
    fn fixed<const N: usize, T>(
        &mut self,
        count: u64,
        decode: impl Fn([u8; N]) -> T,
    ) -> Result<Vec<T>, FormatError> {
        let what = self.what();
        let byte_count = count
            .checked_mul(N as u64)
            .ok_or_else(|| self.invalid(format!("array of {count} elements overflows")))?;
        let bytes = self
            .reader
            .take(byte_count)
            .map_err(|short| self.source.truncated(short, what))?;
        Ok(bytes
            .chunks_exact(N)
            .map(|chunk| {
                let mut array = [0u8; N];
                array.copy_from_slice(chunk);
                decode(array)
            })
            .collect())
    }
}

/// Reads a GGUF string (u64 length, then bytes), checking the length against
/// what remains before touching it.
pub(crate) fn read_string_bytes<'a>(
    reader: &mut ByteReader<'a>,
    source: Source<'_>,
    what: &str,
) -> Result<&'a [u8], FormatError> {
    let offset = reader.position();
    let length = reader
        .u64()
        .map_err(|short| source.truncated(short, format!("length of {what}")))?;
    let available = reader.remaining();
    if length > available {
        return Err(FormatError::StringTooLong {
            path: source.path.to_path_buf(),
            what: what.to_owned(),
            offset,
            length,
            available,
        });
    }
    reader
        .take(length)
        .map_err(|short| source.truncated(short, what.to_owned()))
}

/// Preallocation for `count` variable-size elements: enough to avoid most
/// reallocation, never so much that a lying count costs memory up front.
fn capacity_hint(count: u64) -> usize {
    usize::try_from(count.min(1 << 16)).unwrap_or(0)
}
