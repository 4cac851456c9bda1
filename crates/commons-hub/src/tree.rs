//! `GET /api/models/{repo}/tree/{rev}[/{path}]`: a revision's files and folders
//! as `huggingface_hub` parses them (`RepoFile`, `RepoFolder`), paged like the
//! Hub with `Link: <…>; rel="next"`.

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use crate::api::{flag, hub_time, number, Params};
use crate::error::HubError;
use crate::{blocking, git, repo, Hub};

/// Entries per page, as on the Hub.
const PAGE: usize = 1000;

/// One page of the listing of `path` (`""` = root). `cursor` (an offset here;
/// opaque to clients) and `limit` (at most [`PAGE`]) select the page.
pub(crate) async fn listing(
    hub: Arc<Hub>,
    uri: &Uri,
    headers: &HeaderMap,
    params: &Params,
    repo: String,
    rev: String,
    path: String,
) -> Result<Response, HubError> {
    let recursive = flag(params, "recursive");
    let expand = flag(params, "expand");
    let cursor = number(params, "cursor")?.unwrap_or(0);
    let page = number(params, "limit")?.unwrap_or(PAGE).clamp(1, PAGE);
    let entries = blocking(&hub, move |hub| {
        tree(hub, &repo, &rev, &path, recursive, expand)
    })
    .await?;
    let end = cursor.saturating_add(page).min(entries.len());
    let body = entries
        .get(cursor.min(end)..end)
        .unwrap_or_default()
        .to_vec();
    let mut response = Json(body).into_response();
    if end < entries.len() {
        let next = next_page_url(headers, uri, params, end);
        if let Ok(value) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// The tree listing of `dir` (`""` = root): files and folders under it, every
/// level when `recursive`, sorted by path.
fn tree(
    hub: &Hub,
    id: &str,
    rev: &str,
    dir: &str,
    recursive: bool,
    expand: bool,
) -> Result<Vec<Value>, HubError> {
    let revision = repo::revision(&hub.store, id, rev)?;
    let mut oids = Vec::with_capacity(revision.files.len());
    for file in &revision.files {
        oids.push(hub.oids.oid(&hub.store, file)?);
    }
    let trees = git::tree_oids(
        revision
            .files
            .iter()
            .map(|f| f.path.as_str())
            .zip(oids.iter().map(String::as_str)),
    );
    if !trees.contains_key(dir) {
        return Err(HubError::EntryNotFound {
            path: dir.to_string(),
            commit: revision.sha.clone(),
        });
    }
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let wanted = |path: &str| {
        path.strip_prefix(&prefix)
            .is_some_and(|rest| !rest.is_empty() && (recursive || !rest.contains('/')))
    };
    let last_commit = expand.then(|| {
        json!({
            "id": revision.sha,
            "title": format!("{}:{}", revision.entry.name, revision.entry.tag),
            "date": hub_time(&revision.entry.created_at),
        })
    });

    let mut entries: Vec<(String, Value)> = Vec::new();
    for (folder, oid) in trees.iter().filter(|(p, _)| wanted(p)) {
        let mut entry = json!({ "type": "directory", "oid": oid, "size": 0, "path": folder });
        if let Some(commit) = &last_commit {
            entry["lastCommit"] = commit.clone();
        }
        entries.push((folder.clone(), entry));
    }
    for (file, oid) in revision
        .files
        .iter()
        .zip(&oids)
        .filter(|(f, _)| wanted(&f.path))
    {
        let mut entry = json!({ "type": "file", "oid": oid, "size": file.size, "path": file.path });
        if let (Some(sha256), Some(pointer)) = (file.lfs_sha256(), file.lfs_pointer()) {
            entry["lfs"] =
                json!({ "oid": sha256, "size": file.size, "pointerSize": pointer.len() });
        }
        if let Some(commit) = &last_commit {
            entry["lastCommit"] = commit.clone();
        }
        entries.push((file.path.clone(), entry));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries.into_iter().map(|(_, v)| v).collect())
}

/// The absolute URL of the next page (clients follow `Link` as is, so it must
/// name this node): the same path and parameters with the cursor moved on.
fn next_page_url(headers: &HeaderMap, uri: &Uri, params: &Params, cursor: usize) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|s| matches!(*s, "http" | "https"))
        .unwrap_or("http");
    let mut query: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "cursor")
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect();
    query.push(format!("cursor={cursor}"));
    format!("{scheme}://{host}{}?{}", uri.path(), query.join("&"))
}
