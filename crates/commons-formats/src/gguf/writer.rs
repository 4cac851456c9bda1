//! Writes GGUF v3 files: the metadata header, tensor infos, then each
//! tensor's data at the next [`DEFAULT_ALIGNMENT`] boundary.
//!
//! Tensor data is usually borrowed from a mapped source file and streamed to
//! the output, so converting a model does not hold a second copy in memory.

use std::borrow::Cow;
use std::io::{self, Write};

use super::{GgmlType, MetadataArray, MetadataValue, DEFAULT_ALIGNMENT};

const VERSION: u32 = 3;

/// One tensor to write: ggml dimension order (`dims[0]` varies fastest, the
/// reverse of safetensors' and numpy's `shape`) and its raw data.
#[derive(Debug)]
struct PendingTensor<'a> {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    data: Cow<'a, [u8]>,
}

/// A GGUF file being assembled; [`GgufWriter::write_to`] writes it.
#[derive(Debug, Default)]
pub struct GgufWriter<'a> {
    metadata: Vec<(String, MetadataValue)>,
    tensors: Vec<PendingTensor<'a>>,
}

impl<'a> GgufWriter<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a metadata key. Keys are written in insertion order.
    pub fn metadata(&mut self, key: &str, value: MetadataValue) {
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some((_, slot)) => *slot = value,
            None => self.metadata.push((key.to_owned(), value)),
        }
    }

    /// Adds a tensor. `data` must hold exactly the bytes its dimensions and type need.
    pub fn tensor(
        &mut self,
        name: &str,
        dims: &[u64],
        ty: GgmlType,
        data: impl Into<Cow<'a, [u8]>>,
    ) -> Result<(), String> {
        let data = data.into();
        let elements = dims
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .ok_or_else(|| format!("tensor {name}: dimensions {dims:?} overflow"))?;
        if !elements.is_multiple_of(ty.block_size()) {
            return Err(format!(
                "tensor {name}: {elements} elements are not whole {} blocks of {}",
                ty.name(),
                ty.block_size()
            ));
        }
        let expected = elements / ty.block_size() * ty.type_size();
        if expected != data.len() as u64 {
            return Err(format!(
                "tensor {name}: {} {dims:?} needs {expected} bytes, got {}",
                ty.name(),
                data.len()
            ));
        }
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(format!("tensor {name} is added twice"));
        }
        self.tensors.push(PendingTensor {
            name: name.to_owned(),
            dims: dims.to_vec(),
            ty,
            data,
        });
        Ok(())
    }

    /// Writes the whole file to `out`.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let mut header = Vec::new();
        header.extend_from_slice(b"GGUF");
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        header.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            write_string(&mut header, key);
            header.extend_from_slice(&value_type_id(value).to_le_bytes());
            write_value(&mut header, value);
        }
        let mut offset = 0u64;
        let mut offsets = Vec::with_capacity(self.tensors.len());
        for tensor in &self.tensors {
            write_string(&mut header, &tensor.name);
            header.extend_from_slice(&(tensor.dims.len() as u32).to_le_bytes());
            for dim in &tensor.dims {
                header.extend_from_slice(&dim.to_le_bytes());
            }
            header.extend_from_slice(&(tensor.ty.id()).to_le_bytes());
            header.extend_from_slice(&offset.to_le_bytes());
            offsets.push(offset);
            offset = align(offset + tensor.data.len() as u64);
        }
        let padding = align(header.len() as u64) - header.len() as u64;
        header.resize(header.len() + padding as usize, 0);
        out.write_all(&header)?;

        let mut written = 0u64;
        for (tensor, offset) in self.tensors.iter().zip(offsets) {
            write_zeros(out, offset - written)?;
            out.write_all(&tensor.data)?;
            written = offset + tensor.data.len() as u64;
        }
        write_zeros(out, align(written) - written)
    }
}

fn align(offset: u64) -> u64 {
    offset.div_ceil(DEFAULT_ALIGNMENT) * DEFAULT_ALIGNMENT
}

fn write_zeros(out: &mut impl Write, count: u64) -> io::Result<()> {
    const ZEROS: [u8; DEFAULT_ALIGNMENT as usize] = [0; DEFAULT_ALIGNMENT as usize];
    out.write_all(&ZEROS[..count as usize])
}

pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn value_type_id(value: &MetadataValue) -> u32 {
    match value {
        MetadataValue::U8(_) => 0,
        MetadataValue::I8(_) => 1,
        MetadataValue::U16(_) => 2,
        MetadataValue::I16(_) => 3,
        MetadataValue::U32(_) => 4,
        MetadataValue::I32(_) => 5,
        MetadataValue::F32(_) => 6,
        MetadataValue::Bool(_) => 7,
        MetadataValue::String(_) => 8,
        MetadataValue::Array(_) => 9,
        MetadataValue::U64(_) => 10,
        MetadataValue::I64(_) => 11,
        MetadataValue::F64(_) => 12,
    }
}

fn array_type_id(array: &MetadataArray) -> u32 {
    match array {
        MetadataArray::U8(_) => 0,
        MetadataArray::I8(_) => 1,
        MetadataArray::U16(_) => 2,
        MetadataArray::I16(_) => 3,
        MetadataArray::U32(_) => 4,
        MetadataArray::I32(_) => 5,
        MetadataArray::F32(_) => 6,
        MetadataArray::Bool(_) => 7,
        MetadataArray::String(_) => 8,
        MetadataArray::Array(_) => 9,
        MetadataArray::U64(_) => 10,
        MetadataArray::I64(_) => 11,
        MetadataArray::F64(_) => 12,
    }
}

pub(crate) fn write_value(out: &mut Vec<u8>, value: &MetadataValue) {
    match value {
        MetadataValue::U8(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::Bool(v) => out.push(u8::from(*v)),
        MetadataValue::String(v) => write_string(out, v),
        MetadataValue::Array(array) => write_array(out, array),
    }
}

fn write_array(out: &mut Vec<u8>, array: &MetadataArray) {
    out.extend_from_slice(&array_type_id(array).to_le_bytes());
    out.extend_from_slice(&(array.len() as u64).to_le_bytes());
    macro_rules! each {
        ($items:expr) => {
            for item in $items {
                out.extend_from_slice(&item.to_le_bytes());
            }
        };
    }
    match array {
        MetadataArray::U8(v) => each!(v),
        MetadataArray::I8(v) => each!(v),
        MetadataArray::U16(v) => each!(v),
        MetadataArray::I16(v) => each!(v),
        MetadataArray::U32(v) => each!(v),
        MetadataArray::I32(v) => each!(v),
        MetadataArray::U64(v) => each!(v),
        MetadataArray::I64(v) => each!(v),
        MetadataArray::F32(v) => each!(v),
        MetadataArray::F64(v) => each!(v),
        MetadataArray::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        MetadataArray::String(v) => v.iter().for_each(|s| write_string(out, s)),
        MetadataArray::Array(v) => v.iter().for_each(|a| write_array(out, a)),
    }
}
