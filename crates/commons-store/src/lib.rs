//! `commons-store`: the node's crash-safe content-addressed blob store and its
//! SQLite catalog of models.
//!
//! ```text
//! $COMMONS_HOME/
//!   blobs/sha256/<2 hex>/<64 hex>   immutable blobs, named by the sha256 of their bytes
//!   blobs/corrupt/                  blobs that failed `verify`, never served again
//!   tmp/                            staging files (same filesystem, locked while in use)
//!   store.lock                      writers share it; gc takes it exclusively
//!   uploads/                        OCI blob uploads in progress (expire after a day)
//!   catalog.db                      SQLite (WAL): manifests, tags, metadata, tensor digests, tokens,
//!                                   audit log, policy versions, quarantine
//! ```
//!
//! A model is an OCI image manifest with CNCF ModelPack media types
//! ([`manifest`]); its digest is the model's identity and `name:tag`
//! ([`Reference`]) is a movable pointer to it. Bytes enter through
//! [`Store::ingest_file`] (tmp → fsync → rename), models become visible through
//! one catalog transaction in [`Store::commit_model`], and [`import::import`]
//! runs the whole pipeline for a GGUF or safetensors file or folder.
//!
//! Crash safety: a process killed at any point leaves every visible blob
//! complete and correct, the catalog with or without the whole model, and
//! leftovers only in `tmp/` or as unreferenced blobs, both removed by
//! [`Store::gc`].
//!
//! The library never prints; it logs with `tracing`.

pub mod audit;
mod blobs;
mod catalog;
mod derived;
pub mod digest;
mod error;
mod gc;
mod governance;
pub mod import;
pub mod manifest;
mod records;
pub mod reference;
pub mod registry;
mod store;
mod time;
mod tokens;
mod uploads;
mod verify;

use serde::{Deserialize, Serialize};

pub use blobs::WriteGuard;
pub use catalog::SCHEMA_VERSION;
pub use digest::Digest;
pub use error::StoreError;
pub use gc::GcReport;
pub use governance::{PolicyVersion, Quarantined};
pub use manifest::{Descriptor, Manifest};
pub use records::{ProvenanceVersion, StoredSignature};
pub use reference::{Reference, DEFAULT_TAG};
pub use registry::StoredManifest;
pub use store::{Store, MIN_DIGEST_PREFIX, READ_BLOB_LIMIT};
pub use time::{now_rfc3339, rfc3339_from_unix};
pub use tokens::{Scope, TokenInfo, TOKEN_PREFIX};
pub use uploads::{UploadWriter, UPLOAD_EXPIRY};
pub use verify::{BlobProblem, BlobProblemKind, VerifyReport};

/// A blob in the store: its digest and size in bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
}

/// The digest of one tensor's bytes, recorded at import for lineage checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorRecord {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    /// Lowercase hex sha256 of the tensor's bytes as stored in the file.
    pub sha256: String,
    pub size: u64,
}

/// What [`Store::commit_model`] records: a manifest (whose blobs must all be in
/// the store already), its metadata, its tensor digests, and the tag to point at it.
#[derive(Clone, Debug)]
pub struct NewModel {
    pub reference: Reference,
    pub manifest: Manifest,
    /// Free-form JSON kept with the manifest (model info, license, provenance).
    pub metadata: serde_json::Value,
    pub tensors: Vec<TensorRecord>,
}

/// A tagged model as the catalog knows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub name: String,
    pub tag: String,
    /// The manifest digest: the model's identity.
    pub digest: Digest,
    /// Sum of the layer sizes.
    pub size_bytes: u64,
    /// When this manifest was first committed (RFC 3339 UTC).
    pub created_at: String,
    pub metadata: serde_json::Value,
    pub manifest: Manifest,
}

impl ModelEntry {
    /// `name:tag`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.name, self.tag)
    }

    /// The weights layers (GGUF or safetensors files), in manifest order.
    pub fn weight_layers(&self) -> impl Iterator<Item = &Descriptor> {
        self.manifest.layers.iter().filter(|l| l.is_weights())
    }

    /// The layer whose `org.cncf.model.filepath` is `path`.
    pub fn layer_by_path(&self, path: &str) -> Option<&Descriptor> {
        self.manifest
            .layers
            .iter()
            .find(|l| l.filepath() == Some(path))
    }
}
