//! The one error type of the store: every message names the input and the problem.

use std::io;
use std::path::PathBuf;

use crate::digest::Digest;

/// Everything that can go wrong in the store.
///
/// `Display` says what failed and on which input; [`StoreError::hint`] says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("could not {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The SQLite catalog failed.
    #[error("catalog error while trying to {action} in `{}`: {source}", path.display())]
    Catalog {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    /// The catalog was written by a newer version of commons.
    #[error("catalog `{}` has schema version {found}, newer than the {supported} this build understands", path.display())]
    CatalogTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    /// A string is not a valid `sha256:<64 hex>` digest.
    #[error("invalid digest `{input}`: {reason}")]
    InvalidDigest { input: String, reason: String },

    /// A string is not a valid `name[:tag]` reference.
    #[error("invalid model reference `{input}`: {reason}")]
    InvalidReference {
        input: String,
        reason: String,
        suggestion: Option<String>,
    },

    /// No model matches a reference.
    #[error("model `{reference}` not found")]
    NotFound {
        reference: String,
        /// Close names (`name:tag`) that do exist.
        suggestions: Vec<String>,
    },

    /// A digest prefix matches more than one model.
    #[error("digest prefix `{prefix}` is ambiguous: it matches {}", candidates.join(", "))]
    AmbiguousDigest {
        prefix: String,
        candidates: Vec<String>,
    },

    /// A blob that is needed is not in the store.
    #[error("blob {digest} is missing from the store (needed by {needed_by})")]
    MissingBlob { digest: Digest, needed_by: String },

    /// A manifest that is needed (by an index, as a referrer's subject) is not stored.
    #[error("manifest {digest} is not in the store (needed by {needed_by})")]
    MissingManifest { digest: Digest, needed_by: String },

    /// An upload id that this store did not hand out, or that finished or expired.
    #[error("upload `{id}` is unknown: it finished, was cancelled or expired")]
    UploadUnknown { id: String },

    /// An append to an upload does not start where the upload ends.
    #[error("upload `{id}` is {actual} bytes long, but the append starts at {expected}")]
    UploadOffset {
        id: String,
        expected: u64,
        actual: u64,
    },

    /// An access token was refused.
    #[error("{reason}")]
    InvalidToken { reason: String },

    /// A token past its expiry (`commons token create --expires`).
    #[error("token `{name}` expired at {expired_at}")]
    TokenExpired { name: String, expired_at: String },

    /// A blob's bytes do not hash to its name, or its size differs from what a descriptor says.
    #[error("blob {digest} is corrupt: {problem}")]
    CorruptBlob { digest: Digest, problem: String },

    /// Bytes that were expected to have a given digest do not.
    #[error(
        "content of {source_name} does not match the expected digest {expected} (actual {actual})"
    )]
    DigestMismatch {
        source_name: String,
        expected: Digest,
        actual: Digest,
    },

    /// A blob is too large to be read into memory with [`crate::Store::read_blob`].
    #[error(
        "blob {digest} is {size} bytes, more than the {limit} bytes read_blob loads into memory"
    )]
    BlobTooLarge {
        digest: Digest,
        size: u64,
        limit: u64,
    },

    /// A manifest is not valid for this store.
    #[error("invalid manifest {context}: {reason}")]
    InvalidManifest { context: String, reason: String },

    /// Stored JSON (manifest, metadata) could not be encoded or decoded.
    #[error("could not {action}: {source}")]
    Json {
        action: String,
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// A line telling the user what to do next, for the CLI's `hint:` output.
    pub fn hint(&self) -> Option<String> {
        match self {
            StoreError::NotFound { suggestions, .. } if !suggestions.is_empty() => Some(format!(
                "did you mean {}? run `commons list` to see available models",
                suggestions
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
            StoreError::NotFound { .. } => {
                Some("run `commons list` to see available models, or `commons import PATH` to add one".into())
            }
            StoreError::AmbiguousDigest { .. } => {
                Some("give more hex digits of the digest, or use `name:tag`".into())
            }
            StoreError::InvalidReference {
                suggestion: Some(s), ..
            } => Some(format!("try `{s}`")),
            StoreError::InvalidReference { .. } => Some(
                "names are lowercase letters and digits separated by `.`, `_`, `-` or `/`; tags are up to 128 of `A-Za-z0-9_.-`, e.g. `smollm2-135m:q4_k_m`".into(),
            ),
            StoreError::InvalidDigest { .. } => {
                Some("a digest looks like `sha256:` followed by 64 lowercase hex digits".into())
            }
            StoreError::MissingBlob { .. } => Some(
                "run `commons verify` to see which models are affected, then import or pull them again".into(),
            ),
            StoreError::MissingManifest { .. } => {
                Some("push or pull the manifests it refers to first".into())
            }
            StoreError::CorruptBlob { .. } => Some(
                "run `commons verify` to quarantine corrupt blobs, then import or pull the affected models again".into(),
            ),
            StoreError::CatalogTooNew { .. } => {
                Some("upgrade commons, or point COMMONS_HOME at another directory".into())
            }
            StoreError::Catalog { source, .. } if is_busy(source) => Some(
                "another commons process holds the catalog; wait for it to finish and try again".into(),
            ),
            StoreError::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => {
                Some("check the permissions of COMMONS_HOME".into())
            }
            StoreError::Io { source, .. } if source.raw_os_error() == Some(28) => {
                Some("the disk is full: free some space, e.g. with `commons rm` and `commons gc`".into())
            }
            StoreError::TokenExpired { .. } => Some(
                "create a new token on the node with `commons token create NAME --scope SCOPE \
                 [--expires 30d]` (and `commons token revoke` the old one)"
                    .into(),
            ),
            _ => None,
        }
    }
}

pub(crate) fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Shorthand for attaching the action and path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn io_context(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T, StoreError>;
}

impl<T> IoContext<T> for Result<T, io::Error> {
    fn io_context(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Io {
            action,
            path: path.into(),
            source,
        })
    }
}
