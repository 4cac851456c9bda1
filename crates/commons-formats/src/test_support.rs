//! Test-only writers that build small GGUF and safetensors files in memory,
//! so every parser path can be exercised without real models.

pub(crate) use crate::gguf::writer::write_string;
use crate::gguf::writer::{value_type_id, write_value};
use crate::gguf::{GgmlType, MetadataValue};

/// Builds a GGUF file. Tensor data is filled with a per-tensor byte pattern
/// so that digests differ between tensors.
pub(crate) struct GgufBuilder {
    pub version: u32,
    pub alignment: u64,
    pub metadata: Vec<(String, MetadataValue)>,
    pub tensors: Vec<TestTensor>,
}

pub(crate) struct TestTensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub type_id: u32,
    /// Bytes of data written for it.
    pub data_len: u64,
    /// Offset written into the tensor info instead of the computed one.
    pub offset_override: Option<u64>,
}

impl GgufBuilder {
    pub(crate) fn new(version: u32) -> Self {
        Self {
            version,
            alignment: 32,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }

    pub(crate) fn kv(mut self, key: &str, value: MetadataValue) -> Self {
        if key == "general.alignment" {
            if let Some(alignment) = value.as_u64() {
                self.alignment = alignment;
            }
        }
        self.metadata.push((key.to_owned(), value));
        self
    }

    pub(crate) fn string(self, key: &str, value: &str) -> Self {
        self.kv(key, MetadataValue::String(value.to_owned()))
    }

    pub(crate) fn tensor(mut self, name: &str, dims: &[u64], ty: GgmlType) -> Self {
        let elements: u64 = dims.iter().product();
        self.tensors.push(TestTensor {
            name: name.to_owned(),
            dims: dims.to_vec(),
            type_id: ty.id(),
            data_len: elements / ty.block_size() * ty.type_size(),
            offset_override: None,
        });
        self
    }

    /// A small but representative model: a Q4_K matrix, an F32 vector, a Q8_0 matrix.
    pub(crate) fn tiny_model(version: u32) -> Self {
        Self::new(version)
            .string("general.architecture", "llama")
            .string("general.name", "Tiny")
            .kv("llama.context_length", MetadataValue::U32(4096))
            .kv("general.file_type", MetadataValue::U32(15))
            .string("tokenizer.ggml.model", "gpt2")
            .string("tokenizer.chat_template", "{{ messages }}")
            .tensor("token_embd.weight", &[256, 4], GgmlType::Q4_K)
            .tensor("output_norm.weight", &[256], GgmlType::F32)
            .tensor("blk.0.attn_q.weight", &[64, 2], GgmlType::Q8_0)
    }

    pub(crate) fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            write_string(&mut out, key);
            out.extend_from_slice(&value_type_id(value).to_le_bytes());
            write_value(&mut out, value);
        }
        let mut next_offset = 0u64;
        let mut offsets = Vec::new();
        for tensor in &self.tensors {
            write_string(&mut out, &tensor.name);
            out.extend_from_slice(&(tensor.dims.len() as u32).to_le_bytes());
            for dim in &tensor.dims {
                out.extend_from_slice(&dim.to_le_bytes());
            }
            out.extend_from_slice(&tensor.type_id.to_le_bytes());
            let offset = next_offset;
            next_offset = align(offset + tensor.data_len, self.alignment);
            offsets.push(offset);
            out.extend_from_slice(&tensor.offset_override.unwrap_or(offset).to_le_bytes());
        }
        pad_to(&mut out, self.alignment);
        let data_start = out.len() as u64;
        for (index, (tensor, offset)) in self.tensors.iter().zip(offsets).enumerate() {
            out.resize((data_start + offset) as usize, 0);
            let pattern = (index as u8).wrapping_mul(31).wrapping_add(7);
            out.extend((0..tensor.data_len).map(|i| pattern ^ (i as u8)));
        }
        pad_to(&mut out, self.alignment);
        out
    }
}

fn align(offset: u64, alignment: u64) -> u64 {
    offset.div_ceil(alignment) * alignment
}

fn pad_to(out: &mut Vec<u8>, alignment: u64) {
    let len = align(out.len() as u64, alignment) as usize;
    out.resize(len, 0);
}

/// A safetensors file with `tensors` (name, dtype, shape) laid out back to
/// back, and `metadata` as `__metadata__`.
pub(crate) fn safetensors_bytes(
    tensors: &[(&str, &str, &[u64])],
    metadata: &[(&str, &str)],
) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
            .collect();
        header.insert("__metadata__".into(), map.into());
    }
    let mut offset = 0u64;
    for (name, dtype, shape) in tensors {
        let bits = crate::safetensors::Dtype::from_name(dtype).map_or(8, |d| d.bits());
        let size = shape.iter().product::<u64>() * bits / 8;
        header.insert(
            (*name).to_owned(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}),
        );
        offset += size;
    }
    let json = serde_json::Value::Object(header).to_string();
    safetensors_from_header(&json, offset)
}

/// A safetensors file with a verbatim header and `data_len` bytes of data.
pub(crate) fn safetensors_from_header(json: &str, data_len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    out.extend((0..data_len).map(|i| (i % 251) as u8));
    out
}
