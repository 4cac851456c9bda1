//! Bounded, zero-copy readers for the two open model formats, GGUF and
//! safetensors, and for the Hugging Face folders that carry them.
//!
//! * [`inspect`] takes whatever path a user hands over — a `.gguf` file, any
//!   shard of a split GGUF, a `.safetensors` file or sharded set, or a model
//!   folder — and returns what the model is ([`ModelInfo`]) and which files
//!   make it up ([`ModelFile`], each with its [`FileRole`]).
//! * [`tensor_digests`] hashes every tensor straight from the mapped files,
//!   in parallel, for lineage checks.
//! * [`gguf::GgufFile`] and [`safetensors::SafetensorsFile`] are the
//!   lower-level readers; [`parse_model_card`] reads a README's front matter.
//!
//! Files are memory-mapped, never read whole. Every parser treats its input
//! as hostile: counts, lengths, dimensions and offsets are checked against
//! the file's size before anything is allocated or indexed, so a corrupt or
//! malicious file yields a [`FormatError`] naming the file and the problem,
//! never a panic or a huge allocation. Pickled PyTorch checkpoints are
//! refused outright ([`FormatError::PickleRefused`]): loading them can run
//! arbitrary code.
//!
//! The library never prints; callers decide what to show, using
//! [`FormatError::hint`] for the advice line.
//!
//! ```no_run
//! # fn main() -> Result<(), commons_formats::FormatError> {
//! use std::path::Path;
//!
//! let inspection = commons_formats::inspect(Path::new("models/SmolLM2-135M-Instruct.Q4_1.gguf"))?;
//! assert_eq!(inspection.info.architecture.as_deref(), Some("llama"));
//! let digests = commons_formats::tensor_digests(&inspection.files)?;
//! assert_eq!(digests.len() as u64, inspection.info.tensor_count);
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]

mod bytes;
pub mod convert;
pub mod dequant;
mod digest;
mod error;
mod folder;
#[doc(hidden)]
pub mod fuzz;
pub mod gguf;
mod hf;
mod inspect;
mod mapped;
mod model;
mod model_card;
pub mod safetensors;
mod shard_name;

#[cfg(test)]
mod test_support;

pub use digest::{tensor_digests, TensorDigest};
pub use error::FormatError;
pub use folder::role_for_name;
pub use inspect::inspect;
pub use model::{
    BaseModel, FileRole, GeneralMetadata, Inspection, ModelFile, ModelFormat, ModelInfo,
    Quantization,
};
pub use model_card::{parse_model_card, ModelCard};
