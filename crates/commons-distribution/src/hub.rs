//! Pulling from a Hugging Face-compatible hub (`hf://org/repo[@rev]`): the
//! revision's commit, its file tree, then every file through `resolve`. Large
//! (LFS) files are verified by their sha256 and land in the blob store
//! directly; small files by their git blob id. The verified folder is then
//! imported like any local folder, so a pulled model is described exactly as
//! an imported one.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use commons_store::import::{import, ImportOptions, NoProgress};
use commons_store::{Descriptor, Digest, Reference, Store};
use reqwest::header::RANGE;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};

use crate::error::{DistributionError, Result};
use crate::http::Remote;
use crate::location::HubLocation;
use crate::oci::check_ranged;
use crate::pull::TransferProgress;
use crate::transfer::{fetch_blob, BlobSource};

/// Small files are read into memory; anything larger must be LFS.
const SMALL_FILE_LIMIT: u64 = 64 * 1024 * 1024;

/// What a hub pull did.
#[derive(Clone, Debug, Serialize)]
pub struct HubPullReport {
    pub reference: String,
    pub digest: Digest,
    pub source: String,
    /// The hub's commit id of the revision pulled.
    pub commit: String,
    pub files: usize,
    pub bytes_total: u64,
    pub bytes_downloaded: u64,
    pub resumed: u32,
}

#[derive(Deserialize)]
struct RevisionInfo {
    sha: Option<String>,
}

#[derive(Deserialize)]
struct TreeEntry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    oid: String,
    lfs: Option<LfsInfo>,
}

#[derive(Deserialize)]
struct LfsInfo {
    oid: String,
    size: u64,
}

/// Pulls the hub repository at `location` into `store` as `local` (default:
/// the repository name, tag = the revision, `main` → `latest`).
pub fn pull_hub(
    store: &Store,
    location: &HubLocation,
    local: Option<Reference>,
    token: Option<String>,
    progress: &dyn TransferProgress,
) -> Result<HubPullReport> {
    let remote = Remote::new(&location.endpoint, token)?;
    let source = format!("{}/{}@{}", remote.name(), location.repo, location.revision);
    let commit = revision_commit(&remote, location)?;
    let files = tree(&remote, location, &commit)?;
    let total: u64 = files
        .iter()
        .map(|f| f.lfs.as_ref().map_or(f.size, |l| l.size))
        .sum();
    progress.started(total, files.len());

    let scratch = Scratch::create(store)?;
    let mut downloaded = 0;
    let mut resumed = 0;
    for file in &files {
        check_path(&file.path).map_err(|reason| DistributionError::Protocol {
            source_name: source.clone(),
            problem: format!("the tree lists `{}`: {reason}", file.path),
        })?;
        let dest = scratch.path.join(&file.path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|error| io_error("create", parent, error))?;
        }
        let resolve = ResolveSource {
            remote: &remote,
            url: format!("/{}/resolve/{commit}/{}", location.repo, file.path),
            label: format!("{source}/{}", file.path),
        };
        match &file.lfs {
            Some(lfs) => {
                let digest: Digest = format!("sha256:{}", lfs.oid).parse()?;
                let blob = Descriptor::new("application/octet-stream", digest.clone(), lfs.size);
                let fetched = fetch_blob(store, &blob, &[&resolve], &|n| progress.advanced(n))?;
                downloaded += fetched.downloaded;
                resumed += fetched.resumed;
                std::os::unix::fs::symlink(store.blob_path(&digest), &dest)
                    .map_err(|error| io_error("link", &dest, error))?;
            }
            None => {
                if file.size > SMALL_FILE_LIMIT {
                    return Err(DistributionError::Protocol {
                        source_name: source.clone(),
                        problem: format!(
                            "`{}` is {} bytes but not stored with LFS",
                            file.path, file.size
                        ),
                    });
                }
                let bytes = read_small(&resolve, &file.path)?;
                let oid = git_blob_id(&bytes);
                if oid != file.oid {
                    return Err(DistributionError::BadContent {
                        source_name: resolve.label.clone(),
                        what: file.path.clone(),
                        expected: format!("git blob {}", file.oid),
                        actual: format!("git blob {oid}"),
                    });
                }
                progress.advanced(bytes.len() as u64);
                downloaded += bytes.len() as u64;
                std::fs::write(&dest, &bytes).map_err(|error| io_error("write", &dest, error))?;
            }
        }
    }

    let local = match local {
        Some(reference) => reference,
        None => {
            let name =
                commons_store::reference::sanitize_name(&location.repo).ok_or_else(|| {
                    DistributionError::InvalidLocation {
                        input: location.repo.clone(),
                        reason: "no valid model name can be made from it; pass --name".into(),
                    }
                })?;
            let tag = match location.revision.as_str() {
                "main" => "latest".to_string(),
                rev => {
                    commons_store::reference::sanitize_tag(rev).unwrap_or_else(|| "latest".into())
                }
            };
            Reference::new(&name, &tag)?
        }
    };
    let ggufs: Vec<&TreeEntry> = files.iter().filter(|f| f.path.ends_with(".gguf")).collect();
    let target = match ggufs.as_slice() {
        [single] => scratch.path.join(&single.path),
        _ => scratch.path.clone(),
    };
    let outcome = import(
        store,
        &target,
        ImportOptions {
            name: Some(local),
            ..Default::default()
        },
        &NoProgress,
    )
    .map_err(|e| DistributionError::Import(e.to_string()))?;
    Ok(HubPullReport {
        reference: outcome.entry.reference(),
        digest: outcome.entry.digest,
        source,
        commit,
        files: files.len(),
        bytes_total: total,
        bytes_downloaded: downloaded,
        resumed,
    })
}

fn revision_commit(remote: &Remote, location: &HubLocation) -> Result<String> {
    let action = format!("looking up {}@{}", location.repo, location.revision);
    let response = remote.send(
        Method::GET,
        &format!(
            "/api/models/{}/revision/{}",
            location.repo, location.revision
        ),
        &action,
        &|r| r,
    )?;
    if response.status() != StatusCode::OK {
        return Err(remote.status_error(&action, response));
    }
    let info: RevisionInfo = response.json().map_err(|e| remote.transport(&action, &e))?;
    match info.sha {
        Some(sha) if sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(sha),
        other => Err(DistributionError::Protocol {
            source_name: remote.name().to_string(),
            problem: format!(
                "revision {} has no 40-hex commit id (got {other:?})",
                location.revision
            ),
        }),
    }
}

/// Every file of the revision, following `Link: rel="next"` pages.
fn tree(remote: &Remote, location: &HubLocation, commit: &str) -> Result<Vec<TreeEntry>> {
    let action = format!("listing the files of {}", location.repo);
    let mut url = format!(
        "/api/models/{}/tree/{commit}?recursive=true&expand=false",
        location.repo
    );
    let mut files = Vec::new();
    for _page in 0..10_000 {
        let response = remote.send(Method::GET, &url, &action, &|r| r)?;
        if response.status() != StatusCode::OK {
            return Err(remote.status_error(&action, response));
        }
        let next = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let page: Vec<TreeEntry> = response.json().map_err(|e| remote.transport(&action, &e))?;
        files.extend(page.into_iter().filter(|e| e.kind == "file"));
        match next {
            Some(next) => url = next,
            None => return Ok(files),
        }
    }
    Err(DistributionError::Protocol {
        source_name: remote.name().to_string(),
        problem: "the file tree never ends".into(),
    })
}

/// The `rel="next"` target of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

struct ResolveSource<'a> {
    remote: &'a Remote,
    url: String,
    label: String,
}

impl BlobSource for ResolveSource<'_> {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn open(&self, _digest: &Digest, offset: u64) -> Result<Box<dyn Read + Send>> {
        let action = format!("downloading {}", self.label);
        let response = self.remote.send(Method::GET, &self.url, &action, &|r| {
            if offset > 0 {
                r.header(RANGE, format!("bytes={offset}-"))
            } else {
                r
            }
        })?;
        check_ranged(self.remote, &action, response, offset)
    }
}

fn read_small(source: &ResolveSource<'_>, path: &str) -> Result<Vec<u8>> {
    let mut reader = source.open(&Digest::of_bytes(b""), 0)?;
    let mut bytes = Vec::new();
    reader
        .by_ref()
        .take(SMALL_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| source.remote.io_error(&format!("downloading {path}"), &e))?;
    Ok(bytes)
}

/// Git's blob id: sha1 over `blob <len>\0` and the bytes.
pub fn git_blob_id(bytes: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(bytes);
    hex::encode(hasher.finalize())
}

fn check_path(path: &str) -> std::result::Result<(), &'static str> {
    let plain = !path.is_empty()
        && !path.contains('\\')
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err("only plain relative paths are allowed")
    }
}

fn io_error(action: &'static str, path: &Path, error: std::io::Error) -> DistributionError {
    DistributionError::Io {
        action,
        path: path.display().to_string(),
        error,
    }
}

/// A folder under the store's tmp/ for the downloaded tree, removed afterwards.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn create(store: &Store) -> Result<Scratch> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let path = store.root().join("tmp").join(format!(
            "hub-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|error| io_error("create", &path, error))?;
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_ids_match_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            git_blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(git_blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn next_links_are_found() {
        assert_eq!(
            next_link(r#"<http://h/api/models/a/tree/x?cursor=2>; rel="next""#).as_deref(),
            Some("http://h/api/models/a/tree/x?cursor=2")
        );
        assert_eq!(next_link(r#"<http://h/p>; rel="prev""#), None);
    }

    #[test]
    fn tree_paths_must_stay_inside() {
        assert!(check_path("a/b.json").is_ok());
        for bad in ["", "../x", "/etc/passwd", "a/../../b", "a\\b"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }
}
