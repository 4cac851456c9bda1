//! GGUF, llama.cpp's model format: a typed metadata header, tensor infos,
//! then aligned tensor data.
//!
//! [`GgufFile::open`] maps a file and validates its header; [`open_model`]
//! also finds and checks every shard of a split model.

mod info;
mod metadata;
mod reader;
mod split;
mod types;
pub(crate) mod writer;

#[cfg(test)]
mod tests;

pub(crate) use info::model_info;
pub use metadata::{Metadata, MetadataArray, MetadataValue, MAX_ARRAY_NESTING};
pub use reader::{
    has_gguf_magic, GgufFile, GgufHeader, TensorInfo, DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS,
};
pub use split::{open_model, SPLIT_COUNT, SPLIT_NO, SPLIT_TENSORS_COUNT};
pub use types::{file_type_name, GgmlType};
pub use writer::GgufWriter;
