//! `/api/models`: the model list and a repo's info at a revision in the JSON
//! `huggingface_hub` parses (`ModelInfo`); file trees are in [`crate::tree`].

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use commons_formats::ModelFormat;
use commons_store::import::ImportMetadata;
use commons_store::{ModelEntry, Store};
use serde_json::{json, Map, Value};

use crate::error::HubError;
use crate::repo::{self, Content, Repo, Revision};
use crate::{blocking, card, path, tree, Hub};

/// Query parameters as sent, repeated keys included (`filter=a&filter=b`).
pub(crate) type Params = Vec<(String, String)>;

/// A README larger than this is not read for its front matter.
const MAX_CARD_BYTES: u64 = 1024 * 1024;

pub(crate) fn param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

pub(crate) fn flag(params: &Params, key: &str) -> bool {
    matches!(param(params, key), Some("true" | "True" | "1"))
}

pub(crate) fn number(params: &Params, key: &str) -> Result<Option<usize>, HubError> {
    param(params, key)
        .map(|v| {
            v.parse().map_err(|_| {
                HubError::BadRequest(format!("`{key}` must be a non-negative integer, not `{v}`"))
            })
        })
        .transpose()
}

/// `GET /api/models?search=&author=&limit=`: repos whose id contains `search`
/// (ignoring case) and whose namespace is `author`, sorted by id.
pub(crate) async fn list_models(
    State(hub): State<Arc<Hub>>,
    Query(params): Query<Params>,
) -> Result<Json<Vec<Value>>, HubError> {
    let search = param(&params, "search").map(str::to_lowercase);
    let author = param(&params, "author").map(str::to_string);
    let limit = number(&params, "limit")?;
    let full = flag(&params, "full");
    let repos = blocking(&hub, |hub| repo::all_repos(&hub.store)).await?;
    let selected: Vec<Repo> = repos
        .into_iter()
        .filter(|r| {
            search
                .as_ref()
                .is_none_or(|s| r.id.to_lowercase().contains(s))
        })
        .filter(|r| {
            author
                .as_ref()
                .is_none_or(|a| r.author().is_some_and(|ra| ra.eq_ignore_ascii_case(a)))
        })
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    let list = blocking(&hub, move |hub| {
        selected
            .iter()
            .filter_map(|r| r.main().map(|main| (r, main)))
            .map(|(r, main)| {
                let mut summary = summary(r, main);
                if full {
                    let files = repo::files(&hub.store, main)?;
                    summary.insert("siblings".into(), siblings(hub, &files, false)?);
                }
                Ok(Value::Object(summary))
            })
            .collect::<Result<Vec<_>, HubError>>()
    })
    .await?;
    Ok(Json(list))
}

/// `GET /api/models/{repo}`, `…/revision/{rev}` and `…/tree/{rev}[/{path}]`.
pub(crate) async fn model_routes(
    State(hub): State<Arc<Hub>>,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Result<Response, HubError> {
    let rest = uri.path().strip_prefix("/api/models/").unwrap_or_default();
    let route = parse_route(rest)?;
    match route {
        Route::Info { repo, rev } => {
            let blobs = flag(&params, "blobs");
            let info = blocking(&hub, move |hub| model_info(hub, &repo, &rev, blobs)).await?;
            Ok(Json(info).into_response())
        }
        Route::Tree { repo, rev, path } => {
            tree::listing(hub, &uri, &headers, &params, repo, rev, path).await
        }
    }
}

#[derive(Debug, PartialEq)]
enum Route {
    Info {
        repo: String,
        rev: String,
    },
    Tree {
        repo: String,
        rev: String,
        path: String,
    },
}

/// Splits `{repo}[/revision/{rev} | /tree/{rev}[/{path}]]`. The repo is one or
/// two segments, so the keyword is looked for after two segments first, then
/// after one. Revisions arrive percent-encoded as one segment.
fn parse_route(rest: &str) -> Result<Route, HubError> {
    let raw: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    for k in [2, 1] {
        let (Some(keyword), Some(rev)) = (raw.get(k), raw.get(k + 1)) else {
            continue;
        };
        let repo = raw.get(..k).unwrap_or_default().join("/");
        match *keyword {
            "revision" if raw.len() == k + 2 => {
                return Ok(Route::Info {
                    repo,
                    rev: path::decode(rev)?,
                });
            }
            "tree" => {
                let path = path::tree_path(&raw.get(k + 2..).unwrap_or_default().join("/"))?;
                return Ok(Route::Tree {
                    repo,
                    rev: path::decode(rev)?,
                    path,
                });
            }
            _ => {}
        }
    }
    if raw.len() <= 2 {
        return Ok(Route::Info {
            repo: raw.join("/"),
            rev: repo::MAIN.into(),
        });
    }
    Err(HubError::RepoNotFound(rest.to_string()))
}

/// Hub timestamps carry milliseconds (`…T12:00:00.000Z`); ours are to the second.
pub(crate) fn hub_time(rfc3339: &str) -> String {
    match rfc3339.strip_suffix('Z') {
        Some(base) if !base.contains('.') => format!("{base}.000Z"),
        _ => rfc3339.to_string(),
    }
}

/// The fields the Hub lists for every model.
fn summary(repo: &Repo, main: &ModelEntry) -> Map<String, Value> {
    let sha = repo::commit_sha(main);
    let meta = ImportMetadata::from_entry(main);
    let mut tags: Vec<String> = Vec::new();
    if let Some(meta) = &meta {
        tags.push(meta.info.format.to_string());
        if let Some(license) = &meta.license {
            tags.push(format!("license:{}", license.to_lowercase()));
        }
    }
    let mut map = Map::new();
    map.insert("_id".into(), json!(sha));
    map.insert("id".into(), json!(repo.id));
    map.insert("modelId".into(), json!(repo.id));
    map.insert("author".into(), json!(repo.author()));
    map.insert("sha".into(), json!(sha));
    map.insert("lastModified".into(), json!(hub_time(&main.created_at)));
    map.insert(
        "createdAt".into(),
        json!(hub_time(repo.created_at().unwrap_or(&main.created_at))),
    );
    map.insert("private".into(), json!(false));
    map.insert("gated".into(), json!(false));
    map.insert("disabled".into(), json!(false));
    map.insert("downloads".into(), json!(0));
    map.insert("likes".into(), json!(0));
    map.insert("tags".into(), json!(tags));
    map
}

/// `ModelInfo` of a revision: the summary, the card's front matter, the files.
fn model_info(hub: &Hub, id: &str, rev: &str, blobs: bool) -> Result<Value, HubError> {
    let revision = repo::revision(&hub.store, id, rev)?;
    let mut info = summary(&revision.repo, &revision.entry);
    let card_data = card_data(&hub.store, &revision);
    if let Some(card) = &card_data {
        let mut tags: Vec<String> = info["tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for tag in card["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_string());
            }
        }
        info.insert("tags".into(), json!(tags));
        for key in ["library_name", "pipeline_tag"] {
            if let Some(value) = card.get(key).filter(|v| v.is_string()) {
                info.insert(key.into(), value.clone());
            }
        }
        info.insert("cardData".into(), card.clone());
    }
    if let Some(meta) = ImportMetadata::from_entry(&revision.entry) {
        if meta.info.format == ModelFormat::Gguf {
            let mut gguf = json!({ "total": meta.info.parameter_count });
            if let Some(arch) = &meta.info.architecture {
                gguf["architecture"] = json!(arch);
            }
            if let Some(ctx) = meta.info.context_length {
                gguf["context_length"] = json!(ctx);
            }
            if let Some(template) = &meta.info.chat_template {
                gguf["chat_template"] = json!(template);
            }
            info.insert("gguf".into(), gguf);
        }
    }
    info.insert("siblings".into(), siblings(hub, &revision.files, blobs)?);
    info.insert("usedStorage".into(), json!(revision.entry.size_bytes));
    Ok(Value::Object(info))
}

/// `siblings`: every file; with `blobs=true` also its size, git id and LFS info.
fn siblings(hub: &Hub, files: &[repo::RepoFile], blobs: bool) -> Result<Value, HubError> {
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let mut sibling = json!({ "rfilename": file.path });
        if blobs {
            sibling["size"] = json!(file.size);
            sibling["blobId"] = json!(hub.oids.oid(&hub.store, file)?);
            if let (Some(sha256), Some(pointer)) = (file.lfs_sha256(), file.lfs_pointer()) {
                sibling["lfs"] =
                    json!({ "size": file.size, "sha256": sha256, "pointerSize": pointer.len() });
            }
        }
        out.push(sibling);
    }
    Ok(Value::Array(out))
}

/// The front matter of the revision's README (its own or the generated one).
fn card_data(store: &Store, revision: &Revision) -> Option<Value> {
    let readme = revision
        .files
        .iter()
        .find(|f| f.path.eq_ignore_ascii_case(card::README) && f.size <= MAX_CARD_BYTES)?;
    let bytes = match &readme.content {
        Content::Generated(bytes) => bytes.to_vec(),
        Content::Blob(digest) => std::fs::read(store.blob_path(digest)).ok()?,
    };
    card::front_matter(&String::from_utf8_lossy(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(repo: &str, rev: &str) -> Route {
        Route::Info {
            repo: repo.into(),
            rev: rev.into(),
        }
    }

    fn tree(repo: &str, rev: &str, path: &str) -> Route {
        Route::Tree {
            repo: repo.into(),
            rev: rev.into(),
            path: path.into(),
        }
    }

    #[test]
    fn routes_split_repo_keyword_and_revision() {
        let parse = |s| parse_route(s).ok();
        assert_eq!(parse("smollm2"), Some(info("smollm2", "main")));
        assert_eq!(parse("org/name"), Some(info("org/name", "main")));
        assert_eq!(
            parse("smollm2/revision/main"),
            Some(info("smollm2", "main"))
        );
        assert_eq!(parse("org/name/revision/v1"), Some(info("org/name", "v1")));
        assert_eq!(
            parse("org/name/revision/refs%2Fpr%2F1"),
            Some(info("org/name", "refs/pr/1"))
        );
        assert_eq!(
            parse("smollm2/tree/main"),
            Some(tree("smollm2", "main", ""))
        );
        assert_eq!(
            parse("org/name/tree/abc/1_Pooling"),
            Some(tree("org/name", "abc", "1_Pooling"))
        );
        assert_eq!(
            parse("org/name/tree/abc/a%2Fb"),
            Some(tree("org/name", "abc", "a/b"))
        );
        // A repo may itself be called `tree` or `revision`.
        assert_eq!(parse("org/tree"), Some(info("org/tree", "main")));
        assert!(parse_route("a/b/c").is_err());
        assert!(parse_route("a/tree/main/..").is_err());
    }

    #[test]
    fn timestamps_get_milliseconds() {
        assert_eq!(hub_time("2026-01-02T03:04:05Z"), "2026-01-02T03:04:05.000Z");
        assert_eq!(
            hub_time("2026-01-02T03:04:05.123Z"),
            "2026-01-02T03:04:05.123Z"
        );
    }
}
