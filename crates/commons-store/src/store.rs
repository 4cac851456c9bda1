//! [`Store`]: blobs on disk plus the catalog, and the model-level operations
//! (commit, resolve, list, tag, remove) built on them.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::blobs::{self, CopyError, Layout, TmpFile, WriteGuard};
use crate::catalog::{self, Catalog, EntryRow};
use crate::digest::{is_lower_hex, Digest};
use crate::error::{IoContext, StoreError};
use crate::reference::Reference;
use crate::time::now_rfc3339;
use crate::{BlobRef, ModelEntry, NewModel, TensorRecord};

/// Blobs larger than this are not read into memory by [`Store::read_blob`].
pub const READ_BLOB_LIMIT: u64 = 64 * 1024 * 1024;

/// The shortest digest prefix (in hex digits) accepted as a model reference.
pub const MIN_DIGEST_PREFIX: usize = 12;

/// A node's blob store and catalog. Cheap to share behind an `Arc`: the catalog
/// connection is behind a mutex, and blob writes coordinate through the filesystem,
/// so several processes may open the same root at once.
pub struct Store {
    pub(crate) layout: Layout,
    catalog: Mutex<Catalog>,
}

/// How a reference string matched a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MatchedBy {
    Tag,
    Digest,
}

impl Store {
    /// Opens (creating if needed) the store at `root` and brings the catalog schema up to date.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let layout = Layout::new(root);
        layout.create()?;
        let catalog = Catalog::open(&layout.catalog)?;
        tracing::debug!(root = %root.display(), "store opened");
        Ok(Store {
            layout,
            catalog: Mutex::new(catalog),
        })
    }

    pub fn root(&self) -> &Path {
        &self.layout.root
    }

    /// The catalog's schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.catalog().schema_version()
    }

    /// The catalog, even if another thread panicked while holding it: SQLite
    /// rolls back an unfinished transaction, so the connection stays consistent.
    pub(crate) fn catalog(&self) -> MutexGuard<'_, Catalog> {
        self.catalog.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn read_catalog<T>(
        &self,
        action: &'static str,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let catalog = self.catalog();
        query(&catalog.conn).map_err(catalog.err(action))
    }

    /// Hold this while writing blobs that a later [`Store::commit_model`] will
    /// reference: `gc` does not delete unreferenced blobs while any guard is alive.
    pub fn write_guard(&self) -> Result<WriteGuard, StoreError> {
        WriteGuard::acquire(&self.layout)
    }

    // ---- blobs -------------------------------------------------------------

    /// Where the blob named `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.layout.blob_path(digest)
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Copies `path` into the store, hashing while copying (one read of the
    /// source), and returns its digest. `progress` gets the bytes of each chunk.
    /// If the blob already exists the copy is dropped, so concurrent ingests of
    /// the same bytes end with one blob and no error.
    pub fn ingest_file(&self, path: &Path, progress: &dyn Fn(u64)) -> Result<BlobRef, StoreError> {
        let source = File::open(path).io_context("open", path)?;
        self.ingest(
            source,
            &path.display().to_string(),
            Some(path),
            None,
            progress,
        )
    }

    /// Like [`Store::ingest_file`] for any reader (uploads, downloads). With
    /// `expected`, bytes that hash differently are rejected and never become visible.
    pub fn ingest_reader(
        &self,
        reader: impl Read + Send,
        source_name: &str,
        expected: Option<&Digest>,
        progress: &dyn Fn(u64),
    ) -> Result<BlobRef, StoreError> {
        self.ingest(reader, source_name, None, expected, progress)
    }

    /// Stores `bytes` as a blob.
    pub fn ingest_bytes(&self, bytes: &[u8]) -> Result<BlobRef, StoreError> {
        let digest = Digest::of_bytes(bytes);
        let size = bytes.len() as u64;
        if fs::metadata(self.blob_path(&digest)).is_ok_and(|m| m.len() == size) {
            return Ok(BlobRef { digest, size });
        }
        self.ingest(bytes, "in-memory bytes", None, Some(&digest), &|_| {})
    }

    fn ingest(
        &self,
        reader: impl Read + Send,
        source_name: &str,
        source_path: Option<&Path>,
        expected: Option<&Digest>,
        progress: &dyn Fn(u64),
    ) -> Result<BlobRef, StoreError> {
        let _guard = self.write_guard()?;
        let mut tmp = TmpFile::create(&self.layout)?;
        let (digest, size) =
            blobs::copy_and_hash(reader, Some(tmp.file_mut()), progress).map_err(|e| match e {
                CopyError::Read(source) => StoreError::Io {
                    action: "read",
                    path: source_path.map_or_else(|| PathBuf::from(source_name), Path::to_path_buf),
                    source,
                },
                CopyError::Write(source) => StoreError::Io {
                    action: "write a temporary copy in",
                    path: self.layout.tmp.clone(),
                    source,
                },
            })?;
        if let Some(expected) = expected {
            if *expected != digest {
                return Err(StoreError::DigestMismatch {
                    source_name: source_name.to_string(),
                    expected: expected.clone(),
                    actual: digest,
                });
            }
        }
        let created = tmp.persist_as(&self.blob_path(&digest), size)?;
        tracing::debug!(%digest, size, created, source = source_name, "blob ingested");
        Ok(BlobRef { digest, size })
    }

    /// Reads a small blob (manifest, config) into memory, checking its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::MissingBlob {
                    digest: digest.clone(),
                    needed_by: "a read".into(),
                })
            }
            Err(e) => return Err(e).io_context("open", &path),
        };
        let size = file.metadata().io_context("stat", &path)?.len();
        if size > READ_BLOB_LIMIT {
            return Err(StoreError::BlobTooLarge {
                digest: digest.clone(),
                size,
                limit: READ_BLOB_LIMIT,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.read_to_end(&mut bytes).io_context("read", &path)?;
        let actual = Digest::of_bytes(&bytes);
        if actual != *digest {
            return Err(StoreError::CorruptBlob {
                digest: digest.clone(),
                problem: format!("its bytes hash to {actual}"),
            });
        }
        Ok(bytes)
    }

    // ---- models ------------------------------------------------------------

    /// Records a model in one transaction: the manifest (stored as a blob too),
    /// its metadata and tensor digests, and the `name:tag` pointer (moved if it
    /// pointed elsewhere). Every blob the manifest references must already be in
    /// the store with the size its descriptor states.
    pub fn commit_model(&self, model: NewModel) -> Result<ModelEntry, StoreError> {
        let reference = model.reference.to_string();
        model.manifest.validate(&reference)?;
        let manifest_bytes = model.manifest.to_canonical_json()?;
        let manifest_json =
            String::from_utf8(manifest_bytes.clone()).map_err(|e| StoreError::InvalidManifest {
                context: reference.clone(),
                reason: e.to_string(),
            })?;
        let metadata_json =
            serde_json::to_string(&model.metadata).map_err(|source| StoreError::Json {
                action: format!("serialize the metadata of {reference}"),
                source,
            })?;

        // Held from the blob check to the commit, so gc cannot delete a blob in between.
        let _guard = self.write_guard()?;
        let manifest = &model.manifest;
        for descriptor in std::iter::once(&manifest.config).chain(&manifest.layers) {
            self.check_blob(descriptor.digest.clone(), descriptor.size, &reference)?;
        }
        let manifest_blob = self.ingest_bytes(&manifest_bytes)?;
        let digest = manifest_blob.digest;

        let now = now_rfc3339();
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let err = |action| {
            let path = path.clone();
            move |source| StoreError::Catalog {
                action,
                path,
                source,
            }
        };
        let tx = catalog.write()?;
        catalog::upsert_manifest(
            &tx,
            &digest,
            &manifest_json,
            &model.manifest,
            &metadata_json,
            &model.tensors,
            &now,
        )
        .map_err(err("record a manifest"))?;
        catalog::set_tag(
            &tx,
            &model.reference.name,
            &model.reference.tag,
            &digest,
            &now,
        )
        .map_err(err("set a tag"))?;
        // A moved tag may leave its old manifest untagged.
        delete_orphan_manifests(&tx).map_err(err("remove untagged manifests"))?;
        tx.commit().map_err(err("commit a model"))?;
        tracing::debug!(%digest, reference, "model committed");

        let row = catalog::entry_by_tag(&catalog.conn, &model.reference.name, &model.reference.tag)
            .map_err(err("read back a committed model"))?;
        match row {
            Some(row) => row.into_entry(),
            None => Err(StoreError::NotFound {
                reference,
                suggestions: Vec::new(),
            }),
        }
    }

    pub(crate) fn check_blob(
        &self,
        digest: Digest,
        size: u64,
        needed_by: &str,
    ) -> Result<(), StoreError> {
        match fs::metadata(self.blob_path(&digest)) {
            Ok(meta) if meta.len() == size => Ok(()),
            Ok(meta) => Err(StoreError::CorruptBlob {
                digest,
                problem: format!("it is {} bytes but {needed_by} says {size}", meta.len()),
            }),
            Err(_) => Err(StoreError::MissingBlob {
                digest,
                needed_by: needed_by.to_string(),
            }),
        }
    }

    /// Finds a model by `name`, `name:tag` (tag defaults to `latest`), a full
    /// digest (`sha256:…`), or a unique prefix of at least 12 hex digits (with or
    /// without `sha256:`). Names win over digest prefixes when both match.
    pub fn resolve(&self, reference: &str) -> Result<ModelEntry, StoreError> {
        self.resolve_matched(reference).map(|(entry, _)| entry)
    }

    pub(crate) fn resolve_matched(
        &self,
        reference: &str,
    ) -> Result<(ModelEntry, MatchedBy), StoreError> {
        let catalog = self.catalog();
        let input = reference.trim();
        let err = catalog.err("look up a model");

        if let Some(hex) = input.strip_prefix("sha256:") {
            if hex.len() < MIN_DIGEST_PREFIX || hex.len() > 64 || !is_lower_hex(hex) {
                return Err(StoreError::InvalidDigest {
                    input: input.to_string(),
                    reason: format!(
                        "expected {MIN_DIGEST_PREFIX} to 64 lowercase hex digits after `sha256:`"
                    ),
                });
            }
            return by_digest_prefix(&catalog.conn, hex, input)
                .map_err(err)?
                .map(|e| (e, MatchedBy::Digest));
        }

        let looks_like_prefix =
            (MIN_DIGEST_PREFIX..=64).contains(&input.len()) && is_lower_hex(input);
        let parsed = match Reference::parse(input) {
            Ok(parsed) => parsed,
            Err(e) if !looks_like_prefix => return Err(e),
            Err(_) => {
                return by_digest_prefix(&catalog.conn, input, input)
                    .map_err(err)?
                    .map(|e| (e, MatchedBy::Digest))
            }
        };
        if let Some(row) =
            catalog::entry_by_tag(&catalog.conn, &parsed.name, &parsed.tag).map_err(&err)?
        {
            return Ok((row.into_entry()?, MatchedBy::Tag));
        }
        if looks_like_prefix {
            match by_digest_prefix(&catalog.conn, input, input).map_err(&err)? {
                Err(StoreError::NotFound { .. }) => {}
                found => return found.map(|e| (e, MatchedBy::Digest)),
            }
        }
        let suggestions = suggest(&catalog.conn, &parsed, input).map_err(&err)?;
        Err(StoreError::NotFound {
            reference: input.to_string(),
            suggestions,
        })
    }

    /// Every tagged model, ordered by name and tag.
    pub fn list(&self) -> Result<Vec<ModelEntry>, StoreError> {
        self.read_catalog("list models", catalog::all_entries)?
            .into_iter()
            .map(EntryRow::into_entry)
            .collect()
    }

    /// Removes a tag (or, given a digest, every tag of that manifest) and returns
    /// the model as it was. The manifest row goes when no tag points at it any
    /// more; its blobs stay until [`Store::gc`].
    pub fn remove(&self, reference: &str) -> Result<ModelEntry, StoreError> {
        let (entry, matched_by) = self.resolve_matched(reference)?;
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let err = |source| StoreError::Catalog {
            action: "remove a model",
            path: path.clone(),
            source,
        };
        let tx = catalog.write()?;
        match matched_by {
            MatchedBy::Tag => catalog::delete_tag(&tx, &entry.name, &entry.tag).map_err(err)?,
            MatchedBy::Digest => catalog::delete_tags_of(&tx, &entry.digest).map_err(err)?,
        };
        delete_orphan_manifests(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        tracing::debug!(reference, digest = %entry.digest, "model removed");
        Ok(entry)
    }

    /// Points `dst` (`name[:tag]`) at the model `src` resolves to; moves `dst` if it exists.
    pub fn tag(&self, src: &str, dst: &str) -> Result<ModelEntry, StoreError> {
        let target = Reference::parse(dst)?;
        let source = self.resolve(src)?;
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let err = |source| StoreError::Catalog {
            action: "set a tag",
            path: path.clone(),
            source,
        };
        let tx = catalog.write()?;
        catalog::set_tag(
            &tx,
            &target.name,
            &target.tag,
            &source.digest,
            &now_rfc3339(),
        )
        .map_err(err)?;
        delete_orphan_manifests(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        let row = catalog::entry_by_tag(&catalog.conn, &target.name, &target.tag).map_err(err)?;
        match row {
            Some(row) => row.into_entry(),
            None => Err(StoreError::NotFound {
                reference: target.to_string(),
                suggestions: Vec::new(),
            }),
        }
    }

    /// The tensor digests recorded for a manifest at import.
    pub fn tensors(&self, manifest: &Digest) -> Result<Vec<TensorRecord>, StoreError> {
        self.read_catalog("read tensor digests", |conn| {
            catalog::tensors_of(conn, manifest)
        })
    }

    /// Other manifests sharing tensor bytes with `manifest`, most shared first:
    /// `(manifest digest, number of shared tensors)`. The raw material of lineage checks.
    pub fn models_sharing_tensors(
        &self,
        manifest: &Digest,
    ) -> Result<Vec<(Digest, u64)>, StoreError> {
        let rows = self.read_catalog("find shared tensors", |conn| {
            catalog::manifests_sharing_tensors(conn, manifest)
        })?;
        rows.into_iter()
            .map(|(digest, count)| Ok((digest.parse()?, count)))
            .collect()
    }

    /// `name:tag` of every model whose manifest needs `blob`.
    pub fn models_using_blob(&self, blob: &Digest) -> Result<Vec<String>, StoreError> {
        self.read_catalog("find models using a blob", |conn| {
            catalog::models_using_blob(conn, blob.as_str())
        })
    }

    pub(crate) fn referenced_blobs(&self) -> Result<Vec<String>, StoreError> {
        self.read_catalog("list referenced blobs", catalog::referenced_blobs)
    }
}

/// Deletes untagged manifests until none is left (referrers of a deleted
/// manifest become deletable only after it is gone).
pub(crate) fn delete_orphan_manifests(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    while catalog::delete_untagged_manifests(tx)? > 0 {}
    Ok(())
}

/// The one model whose manifest digest starts with `hex`; NotFound or Ambiguous otherwise.
/// The outer `Result` carries SQLite failures, the inner one lookup outcomes.
fn by_digest_prefix(
    conn: &Connection,
    hex: &str,
    input: &str,
) -> rusqlite::Result<Result<ModelEntry, StoreError>> {
    let rows = catalog::entries_by_digest_prefix(conn, hex)?;
    let mut digests: Vec<&str> = rows.iter().map(EntryRow::digest).collect();
    digests.dedup();
    Ok(match digests.len() {
        0 => Err(StoreError::NotFound {
            reference: input.to_string(),
            suggestions: Vec::new(),
        }),
        1 => match rows.into_iter().next() {
            Some(row) => row.into_entry(),
            None => Err(StoreError::NotFound {
                reference: input.to_string(),
                suggestions: Vec::new(),
            }),
        },
        _ => {
            let mut candidates: Vec<String> = digests.iter().map(|d| d.to_string()).collect();
            candidates.sort();
            candidates.dedup();
            Err(StoreError::AmbiguousDigest {
                prefix: input.to_string(),
                candidates,
            })
        }
    })
}

/// Existing references close to what the user typed: other tags of the same
/// name first, then names within a small edit distance or containing the input.
fn suggest(conn: &Connection, wanted: &Reference, input: &str) -> rusqlite::Result<Vec<String>> {
    let same_name = catalog::tags_of_name(conn, &wanted.name)?;
    if !same_name.is_empty() {
        return Ok(same_name
            .into_iter()
            .take(5)
            .map(|tag| format!("{}:{tag}", wanted.name))
            .collect());
    }
    let typed = input.to_ascii_lowercase();
    let typed_name = typed.split(':').next().unwrap_or(&typed).to_string();
    let mut scored: Vec<(usize, String)> = catalog::all_references(conn)?
        .into_iter()
        .filter_map(|(name, tag)| {
            let distance = edit_distance(&typed_name, &name);
            let close = distance <= (typed_name.len() / 3).max(2)
                || (typed_name.len() >= 3 && name.contains(&typed_name))
                || (name.len() >= 3 && typed_name.contains(&name));
            close.then(|| (distance, format!("{name}:{tag}")))
        })
        .collect();
    scored.sort();
    Ok(scored.into_iter().take(3).map(|(_, r)| r).collect())
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous
                .get(j)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(usize::from(ca != *cb));
            let delete = previous
                .get(j + 1)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let insert = current
                .get(j)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            current.push(substitute.min(delete).min(insert));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_matching_two_manifests_is_ambiguous() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        {
            let catalog = store.catalog();
            for (i, name) in ["a", "b"].iter().enumerate() {
                let digest = format!("sha256:{}{i}{}", "ab".repeat(6), "0".repeat(51));
                catalog
                    .conn
                    .execute(
                        "INSERT INTO manifests (digest, manifest_json, size_bytes, metadata_json, created_at)
                         VALUES (?1, '{}', 0, '{}', 'now')",
                        [&digest],
                    )
                    .unwrap();
                catalog
                    .conn
                    .execute(
                        "INSERT INTO tags VALUES (?1, 'latest', ?2, 'now')",
                        [name, &digest.as_str()],
                    )
                    .unwrap();
            }
        }
        let err = store.resolve(&"ab".repeat(6)).unwrap_err();
        match &err {
            StoreError::AmbiguousDigest { candidates, .. } => assert_eq!(candidates.len(), 2),
            other => panic!("expected AmbiguousDigest, got {other}"),
        }
        assert!(err.hint().unwrap().contains("more hex digits"));
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("abc", "abd"), 1);
        assert_eq!(edit_distance("smolm2", "smollm2"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
