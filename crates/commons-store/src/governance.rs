//! What governance keeps in the catalog besides the audit log (migration 4):
//! every version of the node's hosting policy, and the quarantine list —
//! models that are stored but not served. The rules themselves live in
//! `commons-governance`; these are only rows.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::StoreError;
use crate::store::Store;
use crate::time::now_rfc3339;

/// One version of the hosting policy, as its TOML text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// 1 for the first policy set, then +1 per change.
    pub version: u64,
    pub policy_toml: String,
    /// Why it changed (`set FILE`, ...).
    pub change: String,
    pub created_at: String,
}

/// A model kept but not served, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quarantined {
    pub digest: String,
    pub reason: serde_json::Value,
    pub created_at: String,
}

impl Store {
    /// Keeps a new policy version (the old ones stay) and returns its number.
    pub fn add_policy_version(&self, policy_toml: &str, change: &str) -> Result<u64, StoreError> {
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let err = |source| StoreError::Catalog {
            action: "record a policy version",
            path: path.clone(),
            source,
        };
        let tx = catalog.write()?;
        let last: Option<i64> = tx
            .query_row("SELECT MAX(version) FROM policies", [], |row| row.get(0))
            .map_err(err)?;
        let version = last.unwrap_or(0) + 1;
        tx.execute(
            "INSERT INTO policies (version, policy_toml, change, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![version, policy_toml, change, now_rfc3339()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(u64::try_from(version).unwrap_or(0))
    }

    /// Every policy version, oldest first.
    pub fn policy_history(&self) -> Result<Vec<PolicyVersion>, StoreError> {
        self.read_catalog("read the policy versions", |conn| {
            let mut stmt = conn.prepare(
                "SELECT version, policy_toml, change, created_at FROM policies ORDER BY version",
            )?;
            let rows = stmt.query_map([], |row| {
                let version: i64 = row.get(0)?;
                Ok(PolicyVersion {
                    version: u64::try_from(version).unwrap_or(0),
                    policy_toml: row.get(1)?,
                    change: row.get(2)?,
                    created_at: row.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Marks `manifest` as quarantined (replacing an earlier reason).
    pub fn quarantine_model(
        &self,
        manifest: &Digest,
        reason: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let err = |source| StoreError::Catalog {
            action: "quarantine a model",
            path: path.clone(),
            source,
        };
        let tx = catalog.write()?;
        tx.execute(
            "INSERT INTO quarantine (manifest_digest, reason_json, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(manifest_digest) DO UPDATE SET reason_json = excluded.reason_json",
            params![manifest.as_str(), reason.to_string(), now_rfc3339()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(())
    }

    /// Lifts the quarantine of `manifest`; false when it was not quarantined.
    pub fn release_model(&self, manifest: &Digest) -> Result<bool, StoreError> {
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let tx = catalog.write()?;
        tx.execute(
            "DELETE FROM quarantine WHERE manifest_digest = ?1",
            [manifest.as_str()],
        )
        .and_then(|n| tx.commit().map(|()| n > 0))
        .map_err(|source| StoreError::Catalog {
            action: "lift a quarantine",
            path,
            source,
        })
    }

    /// Why `manifest` is quarantined, or `None` when it is not.
    pub fn model_quarantine(&self, manifest: &Digest) -> Result<Option<Quarantined>, StoreError> {
        self.read_catalog("read the quarantine", |conn| {
            conn.query_row(
                "SELECT manifest_digest, reason_json, created_at FROM quarantine
                 WHERE manifest_digest = ?1",
                [manifest.as_str()],
                quarantined_from_row,
            )
            .optional()
        })
    }

    /// Every quarantined model.
    pub fn quarantined_models(&self) -> Result<Vec<Quarantined>, StoreError> {
        self.read_catalog("read the quarantine", |conn| {
            let mut stmt = conn.prepare(
                "SELECT manifest_digest, reason_json, created_at FROM quarantine
                 ORDER BY manifest_digest",
            )?;
            let rows = stmt.query_map([], quarantined_from_row)?;
            rows.collect()
        })
    }
}

fn quarantined_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Quarantined> {
    let reason: String = row.get(1)?;
    Ok(Quarantined {
        digest: row.get(0)?,
        // A reason that no longer parses is still a quarantine.
        reason: serde_json::from_str(&reason).unwrap_or(serde_json::Value::String(reason)),
        created_at: row.get(2)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policy_versions_are_all_kept() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        assert!(store.policy_history().unwrap().is_empty());
        assert_eq!(store.add_policy_version("a = 1", "set a").unwrap(), 1);
        assert_eq!(store.add_policy_version("a = 2", "set b").unwrap(), 2);
        let history = store.policy_history().unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].policy_toml, "a = 2");
        assert_eq!(history[0].change, "set a");
    }

    #[test]
    fn a_quarantine_goes_with_its_manifest() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let digest = Digest::of_bytes(b"m");
        {
            let catalog = store.catalog();
            catalog
                .conn
                .execute(
                    "INSERT INTO manifests (digest, manifest_json, size_bytes, metadata_json, created_at)
                     VALUES (?1, '{}', 0, '{}', 'now')",
                    [digest.as_str()],
                )
                .unwrap();
        }
        assert!(store.model_quarantine(&digest).unwrap().is_none());
        store
            .quarantine_model(&digest, &json!({"rules": ["x"]}))
            .unwrap();
        store
            .quarantine_model(&digest, &json!({"rules": ["y"]}))
            .unwrap();
        let q = store.model_quarantine(&digest).unwrap().unwrap();
        assert_eq!(q.reason, json!({"rules": ["y"]}));
        assert_eq!(store.quarantined_models().unwrap().len(), 1);
        {
            let catalog = store.catalog();
            catalog
                .conn
                .execute("DELETE FROM manifests WHERE digest = ?1", [digest.as_str()])
                .unwrap();
        }
        assert!(store.model_quarantine(&digest).unwrap().is_none());
        assert!(!store.release_model(&digest).unwrap());
    }
}
