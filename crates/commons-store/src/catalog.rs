//! The SQLite catalog: manifests, their blobs and tensors, and `name:tag` pointers.
//!
//! WAL mode so readers never wait for a writer, a 5 s busy timeout so two
//! processes queue instead of failing, and `BEGIN IMMEDIATE` for every write so a
//! transaction takes the write lock up front instead of failing half-way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::digest::Digest;
use crate::error::StoreError;
use crate::manifest::Manifest;
use crate::{ModelEntry, TensorRecord};

/// Schema migrations, applied in order; `PRAGMA user_version` counts those applied.
/// Never edit a released entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: manifests, the blobs each one needs, tags, tensor digests.
    "CREATE TABLE manifests (
        digest        TEXT PRIMARY KEY,
        manifest_json TEXT NOT NULL,
        size_bytes    INTEGER NOT NULL,
        metadata_json TEXT NOT NULL,
        subject       TEXT,
        created_at    TEXT NOT NULL
    );
    CREATE INDEX manifests_subject ON manifests(subject);
    CREATE TABLE manifest_blobs (
        manifest_digest TEXT NOT NULL REFERENCES manifests(digest) ON DELETE CASCADE,
        blob_digest     TEXT NOT NULL,
        PRIMARY KEY (manifest_digest, blob_digest)
    ) WITHOUT ROWID;
    CREATE INDEX manifest_blobs_blob ON manifest_blobs(blob_digest);
    CREATE TABLE tags (
        name            TEXT NOT NULL,
        tag             TEXT NOT NULL,
        manifest_digest TEXT NOT NULL REFERENCES manifests(digest),
        updated_at      TEXT NOT NULL,
        PRIMARY KEY (name, tag)
    ) WITHOUT ROWID;
    CREATE INDEX tags_manifest ON tags(manifest_digest);
    CREATE TABLE tensors (
        manifest_digest TEXT NOT NULL REFERENCES manifests(digest) ON DELETE CASCADE,
        name            TEXT NOT NULL,
        dtype           TEXT NOT NULL,
        shape_json      TEXT NOT NULL,
        sha256          TEXT NOT NULL,
        size            INTEGER NOT NULL,
        PRIMARY KEY (manifest_digest, name)
    ) WITHOUT ROWID;
    CREATE INDEX tensors_sha256 ON tensors(sha256);",
    // 2: provenance records (every version kept) and detached signatures.
    // Both die with their manifest: they describe it and mean nothing alone.
    "CREATE TABLE provenance_records (
        manifest_digest TEXT NOT NULL REFERENCES manifests(digest) ON DELETE CASCADE,
        version         INTEGER NOT NULL,
        record_json     TEXT NOT NULL,
        change          TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        PRIMARY KEY (manifest_digest, version)
    ) WITHOUT ROWID;
    CREATE TABLE signatures (
        manifest_digest TEXT NOT NULL REFERENCES manifests(digest) ON DELETE CASCADE,
        key_hint        TEXT NOT NULL,
        bundle_json     TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        PRIMARY KEY (manifest_digest, key_hint)
    ) WITHOUT ROWID;",
    // 3: the registry. Manifests of any kind (OCI image manifests and indexes,
    // Docker v2), stored as the exact bytes that were pushed; only ModelPack
    // models are listed as models. Scoped access tokens, kept as hashes.
    "ALTER TABLE manifests ADD COLUMN media_type TEXT NOT NULL
        DEFAULT 'application/vnd.oci.image.manifest.v1+json';
    ALTER TABLE manifests ADD COLUMN artifact_type TEXT;
    ALTER TABLE manifests ADD COLUMN is_model INTEGER NOT NULL DEFAULT 1;
    UPDATE manifests SET artifact_type = 'application/vnd.cncf.model.manifest.v1+json';
    CREATE TABLE tokens (
        name          TEXT PRIMARY KEY,
        secret_sha256 TEXT NOT NULL UNIQUE,
        scopes        TEXT NOT NULL,
        created_at    TEXT NOT NULL
    ) WITHOUT ROWID;",
    // 4: governance. The audit log is append-only and hash-chained (no foreign
    // keys: it must outlive what it describes); checkpoints sign its head.
    // Every policy version is kept. A quarantined model is stored, not served.
    "CREATE TABLE audit_log (
        seq          INTEGER PRIMARY KEY,
        time         TEXT NOT NULL,
        actor        TEXT NOT NULL,
        action       TEXT NOT NULL,
        subject      TEXT,
        digest       TEXT,
        details_json TEXT NOT NULL,
        prev_hash    TEXT NOT NULL,
        hash         TEXT NOT NULL
    );
    CREATE TABLE audit_checkpoints (
        seq       INTEGER PRIMARY KEY,
        hash      TEXT NOT NULL,
        time      TEXT NOT NULL,
        key_hint  TEXT NOT NULL,
        signature TEXT NOT NULL
    );
    CREATE TABLE policies (
        version     INTEGER PRIMARY KEY,
        policy_toml TEXT NOT NULL,
        change      TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE TABLE quarantine (
        manifest_digest TEXT PRIMARY KEY REFERENCES manifests(digest) ON DELETE CASCADE,
        reason_json     TEXT NOT NULL,
        created_at      TEXT NOT NULL
    ) WITHOUT ROWID;",
    // 5: tokens may expire (RFC 3339 UTC; NULL: never).
    "ALTER TABLE tokens ADD COLUMN expires_at TEXT;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) struct Catalog {
    pub path: PathBuf,
    pub conn: Connection,
}

impl Catalog {
    pub fn err(&self, action: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Catalog {
            action,
            path: self.path.clone(),
            source,
        }
    }

    /// Opens the catalog, retrying while another process creates or migrates
    /// it: SQLite answers "database is locked" at once, without waiting for
    /// the busy timeout, when two connections switch a new file to WAL together.
    pub fn open(path: &Path) -> Result<Catalog, StoreError> {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            match Catalog::open_once(path) {
                Err(StoreError::Catalog { source, .. })
                    if crate::error::is_busy(&source) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                result => return result,
            }
        }
    }

    fn open_once(path: &Path) -> Result<Catalog, StoreError> {
        let err = |action| {
            move |source| StoreError::Catalog {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        let conn = Connection::open(path).map_err(err("open the catalog"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(err("set the busy timeout"))?;
        // journal_mode answers with a row, so it is read, not just set.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(err("switch to WAL mode"))?;
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(err("set pragmas"))?;
        let mut catalog = Catalog {
            path: path.to_path_buf(),
            conn,
        };
        catalog.migrate()?;
        Ok(catalog)
    }

    /// Applies missing migrations, each in its own immediate transaction that
    /// re-reads the version first, so concurrent opens apply each one once.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |action| {
            let path = path.clone();
            move |source| StoreError::Catalog {
                action,
                path: path.clone(),
                source,
            }
        };
        loop {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err("start a migration"))?;
            let version: i64 = tx
                .query_row("PRAGMA user_version", [], |row| row.get(0))
                .map_err(err("read the schema version"))?;
            if version > SCHEMA_VERSION {
                return Err(StoreError::CatalogTooNew {
                    path,
                    found: version,
                    supported: SCHEMA_VERSION,
                });
            }
            let Some(migration) = usize::try_from(version)
                .ok()
                .and_then(|v| MIGRATIONS.get(v))
            else {
                return Ok(());
            };
            tx.execute_batch(migration)
                .map_err(err("apply a schema migration"))?;
            tx.pragma_update(None, "user_version", version + 1)
                .map_err(err("record the schema version"))?;
            tx.commit().map_err(err("commit a schema migration"))?;
            tracing::debug!(version = version + 1, "catalog migrated");
        }
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(self.err("read the schema version"))
    }

    pub fn write(&mut self) -> Result<Transaction<'_>, StoreError> {
        let path = self.path.clone();
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| StoreError::Catalog {
                action: "start a write transaction",
                path,
                source,
            })
    }
}

/// Columns shared by every query that builds a [`ModelEntry`].
const ENTRY_COLUMNS: &str =
    "t.name, t.tag, m.digest, m.size_bytes, m.created_at, m.metadata_json, m.manifest_json";

/// A raw entry row; decoding JSON happens outside rusqlite's closure so errors keep their context.
pub(crate) struct EntryRow {
    name: String,
    tag: String,
    digest: String,
    size_bytes: i64,
    created_at: String,
    metadata_json: String,
    manifest_json: String,
}

impl EntryRow {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<EntryRow> {
        Ok(EntryRow {
            name: row.get(0)?,
            tag: row.get(1)?,
            digest: row.get(2)?,
            size_bytes: row.get(3)?,
            created_at: row.get(4)?,
            metadata_json: row.get(5)?,
            manifest_json: row.get(6)?,
        })
    }

    pub fn digest(&self) -> &str {
        &self.digest
    }

    pub fn into_entry(self) -> Result<ModelEntry, StoreError> {
        let digest: Digest = self.digest.parse()?;
        let context = format!("{} ({}:{})", digest, self.name, self.tag);
        let manifest = Manifest::from_json(self.manifest_json.as_bytes(), &context)?;
        let metadata =
            serde_json::from_str(&self.metadata_json).map_err(|source| StoreError::Json {
                action: format!("read the metadata of {context} from the catalog"),
                source,
            })?;
        Ok(ModelEntry {
            name: self.name,
            tag: self.tag,
            digest,
            size_bytes: u64::try_from(self.size_bytes).unwrap_or(0),
            created_at: self.created_at,
            metadata,
            manifest,
        })
    }
}

pub(crate) fn entry_by_tag(
    conn: &Connection,
    name: &str,
    tag: &str,
) -> rusqlite::Result<Option<EntryRow>> {
    conn.query_row(
        &format!(
            "SELECT {ENTRY_COLUMNS} FROM tags t JOIN manifests m ON m.digest = t.manifest_digest
             WHERE t.name = ?1 AND t.tag = ?2"
        ),
        params![name, tag],
        EntryRow::from_row,
    )
    .optional()
}

/// Entries whose manifest digest starts with `sha256:<hex_prefix>`; one row per tag.
pub(crate) fn entries_by_digest_prefix(
    conn: &Connection,
    hex_prefix: &str,
) -> rusqlite::Result<Vec<EntryRow>> {
    // The prefix is validated lowercase hex, so it has no LIKE wildcards; an
    // upper bound range keeps the primary-key index usable.
    let low = format!("sha256:{hex_prefix}");
    let high = format!("{low}\u{10ffff}");
    let mut stmt = conn.prepare(&format!(
        "SELECT {ENTRY_COLUMNS} FROM tags t JOIN manifests m ON m.digest = t.manifest_digest
         WHERE m.digest >= ?1 AND m.digest < ?2 AND m.is_model = 1 ORDER BY t.name, t.tag"
    ))?;
    let rows = stmt.query_map(params![low, high], EntryRow::from_row)?;
    rows.collect()
}

pub(crate) fn all_entries(conn: &Connection) -> rusqlite::Result<Vec<EntryRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ENTRY_COLUMNS} FROM tags t JOIN manifests m ON m.digest = t.manifest_digest
         WHERE m.is_model = 1 ORDER BY t.name, t.tag"
    ))?;
    let rows = stmt.query_map([], EntryRow::from_row)?;
    rows.collect()
}

pub(crate) fn tags_of_name(conn: &Connection, name: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT t.tag FROM tags t JOIN manifests m ON m.digest = t.manifest_digest
         WHERE t.name = ?1 AND m.is_model = 1 ORDER BY t.tag",
    )?;
    let rows = stmt.query_map([name], |row| row.get(0))?;
    rows.collect()
}

pub(crate) fn all_references(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT t.name, t.tag FROM tags t JOIN manifests m ON m.digest = t.manifest_digest
         WHERE m.is_model = 1 ORDER BY t.name, t.tag",
    )?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

/// Inserts or refreshes a manifest row with its blob list and tensors.
/// An existing row keeps its `created_at`; its metadata is replaced by the newer one.
pub(crate) fn upsert_manifest(
    tx: &Transaction<'_>,
    digest: &Digest,
    manifest_json: &str,
    manifest: &Manifest,
    metadata_json: &str,
    tensors: &[TensorRecord],
    now: &str,
) -> rusqlite::Result<()> {
    let size = i64::try_from(manifest.layers_size()).unwrap_or(i64::MAX);
    let subject = manifest.subject.as_ref().map(|s| s.digest.to_string());
    let artifact_type = manifest
        .artifact_type
        .as_deref()
        .unwrap_or(manifest.config.media_type.as_str());
    tx.execute(
        "INSERT INTO manifests (digest, manifest_json, size_bytes, metadata_json, subject,
                               created_at, media_type, artifact_type, is_model)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)
         ON CONFLICT(digest) DO UPDATE SET metadata_json = excluded.metadata_json, is_model = 1",
        params![
            digest.as_str(),
            manifest_json,
            size,
            metadata_json,
            subject,
            now,
            manifest.media_type,
            artifact_type
        ],
    )?;
    {
        let mut insert_blob = tx.prepare(
            "INSERT OR IGNORE INTO manifest_blobs (manifest_digest, blob_digest) VALUES (?1, ?2)",
        )?;
        insert_blob.execute(params![digest.as_str(), digest.as_str()])?;
        for descriptor in manifest.blob_digests() {
            insert_blob.execute(params![digest.as_str(), descriptor.digest.as_str()])?;
        }
    }
    tx.execute(
        "DELETE FROM tensors WHERE manifest_digest = ?1",
        [digest.as_str()],
    )?;
    insert_tensors(tx, digest, tensors)
}

/// Records the tensor digests of a manifest (existing rows are replaced).
pub(crate) fn insert_tensors(
    tx: &Transaction<'_>,
    digest: &Digest,
    tensors: &[TensorRecord],
) -> rusqlite::Result<()> {
    let mut insert_tensor = tx.prepare(
        "INSERT OR REPLACE INTO tensors (manifest_digest, name, dtype, shape_json, sha256, size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for t in tensors {
        let shape = serde_json::to_string(&t.shape).unwrap_or_else(|_| "[]".into());
        insert_tensor.execute(params![
            digest.as_str(),
            t.name,
            t.dtype,
            shape,
            t.sha256,
            i64::try_from(t.size).unwrap_or(i64::MAX)
        ])?;
    }
    Ok(())
}

pub(crate) fn set_tag(
    tx: &Transaction<'_>,
    name: &str,
    tag: &str,
    digest: &Digest,
    now: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO tags (name, tag, manifest_digest, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(name, tag) DO UPDATE SET manifest_digest = excluded.manifest_digest,
                                              updated_at = excluded.updated_at",
        params![name, tag, digest.as_str(), now],
    )?;
    Ok(())
}

/// Deletes every manifest that no tag points at, that is not the referrer of a
/// stored manifest and that no stored index lists; cascades remove their blob
/// lists and tensors.
pub(crate) fn delete_untagged_manifests(tx: &Transaction<'_>) -> rusqlite::Result<usize> {
    tx.execute(
        "DELETE FROM manifests WHERE digest NOT IN (SELECT manifest_digest FROM tags)
           AND (subject IS NULL OR subject NOT IN (SELECT digest FROM manifests))
           AND digest NOT IN (SELECT blob_digest FROM manifest_blobs
                              WHERE manifest_digest != blob_digest)",
        [],
    )
}

pub(crate) fn delete_tag(tx: &Transaction<'_>, name: &str, tag: &str) -> rusqlite::Result<usize> {
    tx.execute(
        "DELETE FROM tags WHERE name = ?1 AND tag = ?2",
        params![name, tag],
    )
}

pub(crate) fn delete_tags_of(tx: &Transaction<'_>, digest: &Digest) -> rusqlite::Result<usize> {
    tx.execute(
        "DELETE FROM tags WHERE manifest_digest = ?1",
        [digest.as_str()],
    )
}

/// Every blob digest that some manifest in the catalog needs (manifests included).
pub(crate) fn referenced_blobs(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare("SELECT blob_digest FROM manifest_blobs UNION SELECT digest FROM manifests")?;
    let rows = stmt.query_map([], |row| row.get(0))?;
    rows.collect()
}

/// The `name:tag` references of every model that needs `blob`.
pub(crate) fn models_using_blob(conn: &Connection, blob: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT t.name || ':' || t.tag FROM manifest_blobs b
         JOIN tags t ON t.manifest_digest = b.manifest_digest
         WHERE b.blob_digest = ?1 ORDER BY 1",
    )?;
    let rows = stmt.query_map([blob], |row| row.get(0))?;
    rows.collect()
}

pub(crate) fn tensors_of(
    conn: &Connection,
    manifest: &Digest,
) -> rusqlite::Result<Vec<TensorRecord>> {
    let mut stmt = conn.prepare(
        "SELECT name, dtype, shape_json, sha256, size FROM tensors
         WHERE manifest_digest = ?1 ORDER BY name",
    )?;
    let rows = stmt.query_map([manifest.as_str()], |row| {
        let shape_json: String = row.get(2)?;
        let size: i64 = row.get(4)?;
        Ok(TensorRecord {
            name: row.get(0)?,
            dtype: row.get(1)?,
            shape: serde_json::from_str(&shape_json).unwrap_or_default(),
            sha256: row.get(3)?,
            size: u64::try_from(size).unwrap_or(0),
        })
    })?;
    rows.collect()
}

/// Manifests sharing at least one tensor digest with `manifest`, with the count shared.
pub(crate) fn manifests_sharing_tensors(
    conn: &Connection,
    manifest: &Digest,
) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare(
        "SELECT other.manifest_digest, COUNT(*) FROM tensors mine
         JOIN tensors other ON other.sha256 = mine.sha256 AND other.manifest_digest != mine.manifest_digest
         WHERE mine.manifest_digest = ?1
         GROUP BY other.manifest_digest ORDER BY COUNT(*) DESC, other.manifest_digest",
    )?;
    let rows = stmt.query_map([manifest.as_str()], |row| {
        let count: i64 = row.get(1)?;
        Ok((row.get(0)?, u64::try_from(count).unwrap_or(0)))
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_first_opens_of_a_new_catalog_all_succeed() {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("catalog.db");
            let barrier = std::sync::Barrier::new(8);
            std::thread::scope(|scope| {
                for _ in 0..8 {
                    scope.spawn(|| {
                        barrier.wait();
                        let catalog = Catalog::open(&path).unwrap();
                        assert_eq!(catalog.schema_version().unwrap(), SCHEMA_VERSION);
                    });
                }
            });
        }
    }

    #[test]
    fn migrations_are_idempotent_and_keep_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        {
            let catalog = Catalog::open(&path).unwrap();
            assert_eq!(catalog.schema_version().unwrap(), SCHEMA_VERSION);
            catalog
                .conn
                .execute(
                    "INSERT INTO manifests (digest, manifest_json, size_bytes, metadata_json, created_at)
                     VALUES ('sha256:x', '{}', 0, '{}', 'now')",
                    [],
                )
                .unwrap();
        }
        for _ in 0..2 {
            let catalog = Catalog::open(&path).unwrap();
            assert_eq!(catalog.schema_version().unwrap(), SCHEMA_VERSION);
            let count: i64 = catalog
                .conn
                .query_row("SELECT COUNT(*) FROM manifests", [], |r| r.get(0))
                .unwrap();
            assert_eq!(count, 1);
        }
    }

    #[test]
    fn a_newer_catalog_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        drop(Catalog::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let Err(err) = Catalog::open(&path) else {
            panic!("a newer catalog must be refused");
        };
        assert!(matches!(err, StoreError::CatalogTooNew { .. }), "{err}");
        assert!(err.hint().is_some());
    }

    #[test]
    fn wal_mode_is_on() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        let mode: String = catalog
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
