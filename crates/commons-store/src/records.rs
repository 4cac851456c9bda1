//! Records that describe a model without being part of it: versioned
//! provenance records and detached signatures. They live in the catalog, keyed
//! by the manifest they describe, so adding one never changes the model's
//! identity, and they go when the manifest goes.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::StoreError;
use crate::store::Store;
use crate::time::now_rfc3339;

/// One version of a model's provenance record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProvenanceVersion {
    /// 1 for the first record, then +1 per change.
    pub version: u64,
    pub record: serde_json::Value,
    /// What made this version: `import`, `set KEY`, `edit`, ...
    pub change: String,
    pub created_at: String,
}

/// A detached signature over a model's files, kept as the bundle's JSON text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredSignature {
    /// Identifies the key (hex sha256 of its public key PEM for key-based bundles).
    pub key_hint: String,
    pub bundle_json: String,
    pub created_at: String,
}

impl Store {
    /// Appends a provenance version for `manifest` and returns its number.
    /// Nothing is overwritten: the previous versions stay as the history.
    pub fn add_provenance(
        &self,
        manifest: &Digest,
        record: &serde_json::Value,
        change: &str,
    ) -> Result<u64, StoreError> {
        let record_json = serde_json::to_string(record).map_err(|source| StoreError::Json {
            action: format!("serialize the provenance record of {manifest}"),
            source,
        })?;
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let err = |source| StoreError::Catalog {
            action: "record provenance",
            path: path.clone(),
            source,
        };
        let tx = catalog.write()?;
        let last: Option<i64> = tx
            .query_row(
                "SELECT MAX(version) FROM provenance_records WHERE manifest_digest = ?1",
                params![manifest.as_str()],
                |row| row.get(0),
            )
            .map_err(err)?;
        let version = last.unwrap_or(0) + 1;
        tx.execute(
            "INSERT INTO provenance_records (manifest_digest, version, record_json, change, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![manifest.as_str(), version, record_json, change, now_rfc3339()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(u64::try_from(version).unwrap_or(0))
    }

    /// Every provenance version of `manifest`, oldest first.
    pub fn provenance_history(
        &self,
        manifest: &Digest,
    ) -> Result<Vec<ProvenanceVersion>, StoreError> {
        let rows = self.read_catalog("read provenance records", |conn| {
            let mut stmt = conn.prepare(
                "SELECT version, record_json, change, created_at FROM provenance_records
                 WHERE manifest_digest = ?1 ORDER BY version",
            )?;
            let rows = stmt.query_map(params![manifest.as_str()], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(|(version, json, change, created_at)| {
                let record = serde_json::from_str(&json).map_err(|source| StoreError::Json {
                    action: format!("read provenance version {version} of {manifest}"),
                    source,
                })?;
                Ok(ProvenanceVersion {
                    version: u64::try_from(version).unwrap_or(0),
                    record,
                    change,
                    created_at,
                })
            })
            .collect()
    }

    /// The newest provenance version of `manifest`, if any.
    pub fn latest_provenance(
        &self,
        manifest: &Digest,
    ) -> Result<Option<ProvenanceVersion>, StoreError> {
        Ok(self.provenance_history(manifest)?.pop())
    }

    /// Keeps a signature for `manifest`; a new signature by the same key replaces the old one.
    pub fn put_signature(
        &self,
        manifest: &Digest,
        key_hint: &str,
        bundle_json: &str,
    ) -> Result<(), StoreError> {
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let err = |source| StoreError::Catalog {
            action: "record a signature",
            path: path.clone(),
            source,
        };
        let tx = catalog.write()?;
        tx.execute(
            "INSERT INTO signatures (manifest_digest, key_hint, bundle_json, created_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(manifest_digest, key_hint) DO UPDATE
             SET bundle_json = excluded.bundle_json, created_at = excluded.created_at",
            params![manifest.as_str(), key_hint, bundle_json, now_rfc3339()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(())
    }

    /// The signatures kept for `manifest`, newest first.
    pub fn signatures(&self, manifest: &Digest) -> Result<Vec<StoredSignature>, StoreError> {
        self.read_catalog("read signatures", |conn| {
            let mut stmt = conn.prepare(
                "SELECT key_hint, bundle_json, created_at FROM signatures
                 WHERE manifest_digest = ?1 ORDER BY created_at DESC, key_hint",
            )?;
            let rows = stmt.query_map(params![manifest.as_str()], |row| {
                Ok(StoredSignature {
                    key_hint: row.get(0)?,
                    bundle_json: row.get(1)?,
                    created_at: row.get(2)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Whether the catalog has a manifest row for `manifest` (a tagged model or a referrer).
    pub fn has_manifest(&self, manifest: &Digest) -> Result<bool, StoreError> {
        self.read_catalog("look up a manifest", |conn| {
            conn.query_row(
                "SELECT 1 FROM manifests WHERE digest = ?1",
                params![manifest.as_str()],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
        })
    }
}
