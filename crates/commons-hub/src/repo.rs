//! How the catalog looks as Hub repos.
//!
//! A repo is a model *name* (`smollm2`, `org/name`); its revisions are the
//! name's tags. `main` is the `latest` tag, else a tag named `main`, else the
//! newest tag. A revision's commit sha is the first 40 hex digits of its
//! manifest digest, so it changes exactly when the files do; a 40-hex revision
//! finds the tag whose manifest digest starts with it. A repo's files are the
//! manifest's layers, by their `org.cncf.model.filepath`, plus a generated
//! `README.md` when the model has none.
//!
//! Everything here is blocking (SQLite, files): call it from `spawn_blocking`.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Mutex;

use bytes::Bytes;
use commons_store::{Digest, ModelEntry, Reference, Store, DEFAULT_TAG};

use crate::error::HubError;
use crate::{card, git, path};

/// Files at least this large are in LFS even if they are not weights: the Hub
/// keeps files over 10 MB in LFS, and it bounds what we sha1 per request.
pub(crate) const LFS_THRESHOLD: u64 = 10 * 1024 * 1024;

/// The branch clients ask for when they name no revision.
pub(crate) const MAIN: &str = "main";

/// A model name seen as a repo: every tag of that name.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    pub id: String,
    /// Sorted by tag.
    pub tags: Vec<ModelEntry>,
}

impl Repo {
    /// The namespace of `org/name`; a name without one has no author.
    pub fn author(&self) -> Option<&str> {
        self.id.split_once('/').map(|(namespace, _)| namespace)
    }

    /// What `main` points at (see the module docs).
    pub fn main(&self) -> Option<&ModelEntry> {
        self.tag(DEFAULT_TAG)
            .or_else(|| self.tag(MAIN))
            .or_else(|| {
                self.tags.iter().max_by(|a, b| {
                    a.created_at
                        .cmp(&b.created_at)
                        .then_with(|| a.tag.cmp(&b.tag))
                })
            })
    }

    fn tag(&self, tag: &str) -> Option<&ModelEntry> {
        self.tags.iter().find(|e| e.tag == tag)
    }

    /// The tag a revision names: `main`, a commit sha, or a tag.
    pub fn revision(&self, rev: &str) -> Option<&ModelEntry> {
        if rev == MAIN {
            return self.main();
        }
        if rev.len() == 40 && rev.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            // Tags of one manifest are the same commit; prefer what `main` shows.
            let matches = |e: &&ModelEntry| e.digest.hex().starts_with(rev);
            let by_commit = self
                .main()
                .filter(matches)
                .or_else(|| self.tags.iter().find(matches));
            // A tag may itself look like a commit sha.
            return by_commit.or_else(|| self.tag(rev));
        }
        self.tag(rev)
    }

    /// The oldest tag's creation time: when the repo first existed here.
    pub fn created_at(&self) -> Option<&str> {
        self.tags.iter().map(|e| e.created_at.as_str()).min()
    }
}

/// The commit sha of a revision: the first 40 hex digits of its manifest digest.
pub(crate) fn commit_sha(entry: &ModelEntry) -> String {
    let hex = entry.digest.hex();
    hex.get(..40).unwrap_or(hex).to_string()
}

/// A repo id that can name a model: one or two `/`-separated parts of a valid name.
fn servable(id: &str) -> bool {
    id.matches('/').count() <= 1 && Reference::new(id, DEFAULT_TAG).is_ok()
}

/// Every repo, sorted by id.
pub(crate) fn all_repos(store: &Store) -> Result<Vec<Repo>, HubError> {
    let entries = store
        .list()
        .map_err(|e| HubError::internal("cannot list the catalog", e))?;
    let mut repos: Vec<Repo> = Vec::new();
    // `list` is ordered by name, so each name's tags are adjacent.
    for entry in entries {
        if !servable(&entry.name) {
            continue;
        }
        match repos.last_mut() {
            Some(repo) if repo.id == entry.name => repo.tags.push(entry),
            _ => repos.push(Repo {
                id: entry.name.clone(),
                tags: vec![entry],
            }),
        }
    }
    Ok(repos)
}

/// The repo `id`, or `RepoNotFound`.
pub(crate) fn find_repo(store: &Store, id: &str) -> Result<Repo, HubError> {
    if !servable(id) {
        return Err(HubError::RepoNotFound(id.to_string()));
    }
    all_repos(store)?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| HubError::RepoNotFound(id.to_string()))
}

/// Where a file's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    /// A blob of the store.
    Blob(Digest),
    /// Made here (the model card).
    Generated(Bytes),
}

/// One file of a revision.
#[derive(Debug, Clone)]
pub(crate) struct RepoFile {
    pub path: String,
    pub size: u64,
    pub content: Content,
    /// Weights and large files are listed as LFS files, as on the Hub.
    pub lfs: bool,
}

impl RepoFile {
    /// The sha256 of an LFS file (its LFS oid and its ETag).
    pub fn lfs_sha256(&self) -> Option<&str> {
        match (&self.content, self.lfs) {
            (Content::Blob(digest), true) => Some(digest.hex()),
            _ => None,
        }
    }

    /// The text of the LFS pointer, for an LFS file.
    pub fn lfs_pointer(&self) -> Option<String> {
        self.lfs_sha256()
            .map(|sha| git::lfs_pointer(sha, self.size))
    }
}

/// A revision of a repo, resolved: which model, which commit, which files.
#[derive(Debug, Clone)]
pub(crate) struct Revision {
    pub repo: Repo,
    pub entry: ModelEntry,
    pub sha: String,
    /// Sorted by path.
    pub files: Vec<RepoFile>,
}

impl Revision {
    pub fn file(&self, path: &str) -> Option<&RepoFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// Resolves `rev` of repo `id` with its files.
pub(crate) fn revision(store: &Store, id: &str, rev: &str) -> Result<Revision, HubError> {
    let repo = find_repo(store, id)?;
    let entry = repo
        .revision(rev)
        .cloned()
        .ok_or_else(|| HubError::RevisionNotFound {
            repo: id.to_string(),
            rev: rev.to_string(),
        })?;
    let files = files(store, &entry)?;
    Ok(Revision {
        sha: commit_sha(&entry),
        repo,
        entry,
        files,
    })
}

/// The files of a model as a repo shows them.
pub(crate) fn files(store: &Store, entry: &ModelEntry) -> Result<Vec<RepoFile>, HubError> {
    let mut files: Vec<RepoFile> = Vec::new();
    for layer in &entry.manifest.layers {
        // A layer without a path (e.g. from a foreign OCI artifact) or with one a
        // client could not safely write is not part of the repo.
        let Some(path) = layer.filepath().filter(|p| path::is_clean_relative(p)) else {
            continue;
        };
        if files.iter().any(|f| f.path == path) {
            continue;
        }
        files.push(RepoFile {
            path: path.to_string(),
            size: layer.size,
            content: Content::Blob(layer.digest.clone()),
            lfs: layer.is_weights() || layer.size >= LFS_THRESHOLD,
        });
    }
    if !files
        .iter()
        .any(|f| f.path.eq_ignore_ascii_case(card::README))
    {
        let provenance = store
            .latest_provenance(&entry.digest)
            .map_err(|e| HubError::internal("cannot read the provenance record", e))?;
        let text = card::model_card(entry, provenance.as_ref().map(|p| &p.record));
        files.push(RepoFile {
            path: card::README.to_string(),
            size: text.len() as u64,
            content: Content::Generated(Bytes::from(text)),
            lfs: false,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Git blob ids of small files, by blob digest. Blobs never change, so an id
/// once computed is right forever; this saves re-reading files on every listing.
#[derive(Debug, Default)]
pub(crate) struct OidCache(Mutex<HashMap<String, String>>);

impl OidCache {
    /// The git blob id the Hub lists for `file`: of its LFS pointer for an LFS
    /// file, of its bytes otherwise.
    pub fn oid(&self, store: &Store, file: &RepoFile) -> Result<String, HubError> {
        if let Some(pointer) = file.lfs_pointer() {
            return Ok(git::blob_oid(pointer.as_bytes()));
        }
        let digest = match &file.content {
            Content::Generated(bytes) => return Ok(git::blob_oid(bytes)),
            Content::Blob(digest) => digest,
        };
        if let Some(oid) = self.lock().get(digest.as_str()) {
            return Ok(oid.clone());
        }
        let blob = store.blob_path(digest);
        let oid = File::open(&blob)
            .and_then(|f| git::blob_oid_of_reader(f, file.size))
            .map_err(|e| {
                HubError::internal(&format!("cannot read blob {digest} ({})", file.path), e)
            })?;
        self.lock().insert(digest.as_str().to_string(), oid.clone());
        Ok(oid)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // The map holds only finished entries, so a panic elsewhere cannot leave it half-written.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tag: &str, digest_hex: &str, created_at: &str) -> ModelEntry {
        let blob = format!("sha256:{}", "0".repeat(64));
        serde_json::from_value(serde_json::json!({
            "name": "m",
            "tag": tag,
            "digest": format!("sha256:{digest_hex}"),
            "size_bytes": 0,
            "created_at": created_at,
            "metadata": null,
            "manifest": {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.cncf.model.config.v1+json", "digest": blob, "size": 0},
                "layers": []
            }
        }))
        .unwrap()
    }

    fn repo(tags: Vec<ModelEntry>) -> Repo {
        Repo {
            id: "m".into(),
            tags,
        }
    }

    #[test]
    fn main_is_latest_then_a_main_tag_then_the_newest() {
        let a = entry("a", &"a".repeat(64), "2026-01-02T00:00:00Z");
        let b = entry("b", &"b".repeat(64), "2026-01-01T00:00:00Z");
        let main = entry("main", &"c".repeat(64), "2025-01-01T00:00:00Z");
        let latest = entry("latest", &"d".repeat(64), "2024-01-01T00:00:00Z");
        let tag = |r: &Repo| r.main().map(|e| e.tag.clone());
        assert_eq!(tag(&repo(vec![a.clone(), b.clone()])).as_deref(), Some("a"));
        assert_eq!(
            tag(&repo(vec![a.clone(), b.clone(), main.clone()])).as_deref(),
            Some("main")
        );
        assert_eq!(
            tag(&repo(vec![a, b, main, latest])).as_deref(),
            Some("latest")
        );
        assert!(repo(vec![]).main().is_none());
    }

    #[test]
    fn revisions_are_main_commit_shas_or_tags() {
        let v1 = entry(
            "v1",
            &format!("{}{}", "1".repeat(40), "f".repeat(24)),
            "2026-01-01T00:00:00Z",
        );
        let hexy = "2".repeat(40);
        let hex_tag = entry(&hexy, &"3".repeat(64), "2026-01-01T00:00:00Z");
        let latest = entry("latest", v1.digest.hex(), "2026-01-01T00:00:00Z");
        let r = repo(vec![hex_tag, latest, v1]);
        let tag = |rev: &str| r.revision(rev).map(|e| e.tag.clone());
        assert_eq!(tag("main").as_deref(), Some("latest"));
        // Two tags share the commit: the one `main` shows wins.
        assert_eq!(tag(&"1".repeat(40)).as_deref(), Some("latest"));
        assert_eq!(tag("v1").as_deref(), Some("v1"));
        assert_eq!(tag(&hexy).as_deref(), Some(hexy.as_str()));
        assert_eq!(tag(&"9".repeat(40)), None);
        assert_eq!(tag("v2"), None);
        assert_eq!(commit_sha(&r.tags[2]), "1".repeat(40));
    }

    #[test]
    fn repo_ids_have_at_most_one_namespace() {
        assert!(servable("smollm2"));
        assert!(servable("org/name"));
        assert!(!servable("a/b/c"));
        assert!(!servable(""));
        assert!(!servable("a%2Fb"));
        assert!(!servable("../x"));
    }
}
