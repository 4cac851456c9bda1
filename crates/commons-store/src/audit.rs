//! The audit log's storage: an append-only, hash-chained table of what
//! changed on the node, and the signed checkpoints over it (migration 4).
//!
//! Each entry's `hash` is the sha256 of [`canonical_entry`] — its fields and
//! the hash of the entry before it — so editing, removing or reordering any
//! entry breaks the chain from there on. The hash is computed here, inside the
//! same write transaction that reads the previous hash, so two processes
//! appending at once still form one chain. Checking the chain and signing
//! checkpoints is `commons-governance`'s job; this module only keeps rows.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::StoreError;
use crate::store::Store;
use crate::time::now_rfc3339;

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Tags the canonical encoding so a future format cannot collide with this one.
const ENCODING: &str = "commons.audit.v1";

/// What a caller records; the store adds seq, time and the chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditDraft {
    /// A token name, `local` for the node's own CLI, `anonymous` for an
    /// unauthenticated API request.
    pub actor: String,
    /// `import`, `pull`, `push`, `delete`, `tag`, `policy.decision`, ...
    pub action: String,
    /// What it was done to: `name:tag`, a token name, `policy`.
    pub subject: Option<String>,
    /// The manifest digest involved, when there is one.
    pub digest: Option<String>,
    pub details: serde_json::Value,
}

impl AuditDraft {
    pub fn new(actor: &str, action: &str) -> Self {
        AuditDraft {
            actor: actor.to_string(),
            action: action.to_string(),
            subject: None,
            digest: None,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn digest(mut self, digest: impl ToString) -> Self {
        self.digest = Some(digest.to_string());
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// One entry as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub digest: Option<String>,
    /// The details exactly as stored: canonical JSON (sorted keys, no spaces).
    pub details_json: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry's contents call for (compare with `hash`).
    pub fn computed_hash(&self) -> String {
        self.computed_hash_at(self.seq)
    }

    /// The hash these contents would have at position `seq` (finds moved entries).
    pub fn computed_hash_at(&self, seq: u64) -> String {
        hex::encode(Sha256::digest(
            canonical_entry(
                seq,
                &self.time,
                &self.actor,
                &self.action,
                self.subject.as_deref(),
                self.digest.as_deref(),
                &self.details_json,
                &self.prev_hash,
            )
            .as_bytes(),
        ))
    }
}

/// The bytes an entry's hash covers: the JSON array
/// `["commons.audit.v1", seq, time, actor, action, subject, digest, details, prev_hash]`
/// written compactly, with `details` embedded as its canonical JSON text
/// (`null` for an absent subject or digest).
#[allow(clippy::too_many_arguments)]
pub fn canonical_entry(
    seq: u64,
    time: &str,
    actor: &str,
    action: &str,
    subject: Option<&str>,
    digest: Option<&str>,
    details_json: &str,
    prev_hash: &str,
) -> String {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let opt = |s: Option<&str>| s.map_or_else(|| "null".to_string(), quote);
    format!(
        "[{},{seq},{},{},{},{},{},{details_json},{}]",
        quote(ENCODING),
        quote(time),
        quote(actor),
        quote(action),
        opt(subject),
        opt(digest),
        quote(prev_hash)
    )
}

/// JSON with object keys sorted at every level and no whitespace, so the same
/// details always hash the same whatever built them.
pub fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::from(k.as_str()),
                        canonical_json(&map[k.as_str()])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// A signed statement that the chain had `hash` at entry `seq`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditCheckpoint {
    pub seq: u64,
    pub hash: String,
    pub time: String,
    /// The signing key's hint (hex sha256 of its public key PEM).
    pub key_hint: String,
    /// Base64 DER ECDSA signature over the checkpoint message.
    pub signature: String,
}

const ENTRY_COLUMNS: &str =
    "seq, time, actor, action, subject, digest, details_json, prev_hash, hash";

fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    let seq: i64 = row.get(0)?;
    Ok(AuditEntry {
        seq: u64::try_from(seq).unwrap_or(0),
        time: row.get(1)?,
        actor: row.get(2)?,
        action: row.get(3)?,
        subject: row.get(4)?,
        digest: row.get(5)?,
        details_json: row.get(6)?,
        prev_hash: row.get(7)?,
        hash: row.get(8)?,
    })
}

impl Store {
    /// Appends `draft` to the audit log and returns the entry with its place in the chain.
    pub fn append_audit(&self, draft: &AuditDraft) -> Result<AuditEntry, StoreError> {
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let err = |source| StoreError::Catalog {
            action: "append to the audit log",
            path: path.clone(),
            source,
        };
        let tx = catalog.write()?;
        let last: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        let (last_seq, prev_hash) = last.unwrap_or((0, GENESIS_HASH.to_string()));
        let mut entry = AuditEntry {
            seq: u64::try_from(last_seq).unwrap_or(0) + 1,
            time: now_rfc3339(),
            actor: draft.actor.clone(),
            action: draft.action.clone(),
            subject: draft.subject.clone(),
            digest: draft.digest.clone(),
            details_json: canonical_json(&draft.details),
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry.computed_hash();
        tx.execute(
            &format!("INSERT INTO audit_log ({ENTRY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
            params![
                i64::try_from(entry.seq).unwrap_or(i64::MAX),
                entry.time,
                entry.actor,
                entry.action,
                entry.subject,
                entry.digest,
                entry.details_json,
                entry.prev_hash,
                entry.hash
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(entry)
    }

    /// Entries with `seq > after`, oldest first, at most `limit` of them.
    pub fn audit_entries(
        &self,
        after: u64,
        limit: Option<usize>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.read_catalog("read the audit log", |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {ENTRY_COLUMNS} FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![after, limit], entry_from_row)?;
            rows.collect()
        })
    }

    /// The newest `count` entries, oldest first.
    pub fn audit_tail(&self, count: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let mut rows = self.read_catalog("read the audit log", |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {ENTRY_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT ?1"
            ))?;
            let rows = stmt.query_map([count], entry_from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.reverse();
        Ok(rows)
    }

    /// Keeps a checkpoint; one per entry, a second for the same entry is ignored.
    pub fn add_audit_checkpoint(&self, checkpoint: &AuditCheckpoint) -> Result<(), StoreError> {
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let err = |source| StoreError::Catalog {
            action: "record an audit checkpoint",
            path: path.clone(),
            source,
        };
        let tx = catalog.write()?;
        tx.execute(
            "INSERT OR IGNORE INTO audit_checkpoints (seq, hash, time, key_hint, signature)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                i64::try_from(checkpoint.seq).unwrap_or(i64::MAX),
                checkpoint.hash,
                checkpoint.time,
                checkpoint.key_hint,
                checkpoint.signature
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(())
    }

    /// Every checkpoint, oldest first.
    pub fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError> {
        self.read_catalog("read the audit checkpoints", |conn| {
            let mut stmt = conn.prepare(
                "SELECT seq, hash, time, key_hint, signature FROM audit_checkpoints ORDER BY seq",
            )?;
            let rows = stmt.query_map([], |row| {
                let seq: i64 = row.get(0)?;
                Ok(AuditCheckpoint {
                    seq: u64::try_from(seq).unwrap_or(0),
                    hash: row.get(1)?,
                    time: row.get(2)?,
                    key_hint: row.get(3)?,
                    signature: row.get(4)?,
                })
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_chain_and_hash_their_contents() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let first = store
            .append_audit(
                &AuditDraft::new("local", "import")
                    .subject("m:latest")
                    .digest("sha256:ab")
                    .details(json!({"b": 1, "a": [true, {"z": null, "y": "é"}]})),
            )
            .unwrap();
        let second = store
            .append_audit(&AuditDraft::new("ci", "delete"))
            .unwrap();
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(first.prev_hash, GENESIS_HASH);
        assert_eq!(second.prev_hash, first.hash);
        assert_eq!(
            first.details_json,
            r#"{"a":[true,{"y":"é","z":null}],"b":1}"#
        );
        let stored = store.audit_entries(0, None).unwrap();
        assert_eq!(stored, vec![first.clone(), second.clone()]);
        assert!(stored.iter().all(|e| e.computed_hash() == e.hash));
        assert_eq!(
            store.audit_entries(1, Some(5)).unwrap(),
            vec![second.clone()]
        );
        assert_eq!(store.audit_tail(1).unwrap(), vec![second]);
        assert_ne!(first.computed_hash_at(2), first.hash);
    }

    #[test]
    fn the_canonical_encoding_is_fixed() {
        // Pinned: changing it would invalidate every existing chain.
        let text = canonical_entry(7, "t", "a\"b", "tag", None, Some("d"), "{}", "p");
        assert_eq!(
            text,
            r#"["commons.audit.v1",7,"t","a\"b","tag",null,"d",{},"p"]"#
        );
    }

    #[test]
    fn checkpoints_are_kept_once_per_entry() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let cp = AuditCheckpoint {
            seq: 1,
            hash: "h".into(),
            time: "t".into(),
            key_hint: "k".into(),
            signature: "s".into(),
        };
        store.add_audit_checkpoint(&cp).unwrap();
        store
            .add_audit_checkpoint(&AuditCheckpoint {
                signature: "other".into(),
                ..cp.clone()
            })
            .unwrap();
        assert_eq!(store.audit_checkpoints().unwrap(), vec![cp]);
    }
}
