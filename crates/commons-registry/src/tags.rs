//! `GET /v2/<name>/tags/list` and `GET /v2/_catalog`, both paginated with
//! `n` and `last` and a `Link: <…>; rel="next"` header while more remain.
//!
//! Lists come sorted bytewise from the catalog (SQLite's default collation),
//! which is the spec's "ASCIIbetical" order, so `last` is a plain comparison.

use axum::extract::Query;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::error::{Code, OciError};
use crate::header_value;
use crate::Registry;

/// The most entries one page holds, whatever `n` asks for; a `Link` follows.
pub const MAX_PAGE: usize = 1000;

#[derive(Deserialize)]
struct PageQuery {
    n: Option<String>,
    last: Option<String>,
}

/// One page of a sorted list, and the `last` of the next page if there is one.
#[derive(Debug, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<String>,
    pub next: Option<(usize, String)>,
}

/// Cuts the page `n`/`last` ask for out of `sorted`.
pub fn paginate(sorted: Vec<String>, n: Option<usize>, last: Option<&str>) -> Page {
    let after: Vec<String> = match last {
        Some(last) => sorted.into_iter().filter(|t| t.as_str() > last).collect(),
        None => sorted,
    };
    let n = match n {
        // The spec: n=0 is an empty list and no Link.
        Some(0) => {
            return Page {
                items: Vec::new(),
                next: None,
            }
        }
        Some(n) => n,
        None if after.len() <= MAX_PAGE => after.len(),
        None => MAX_PAGE,
    };
    let take = n.min(MAX_PAGE);
    let more = after.len() > take;
    let items: Vec<String> = after.into_iter().take(take).collect();
    let next = match (more, items.last()) {
        (true, Some(last)) => Some((take, last.clone())),
        _ => None,
    };
    Page { items, next }
}

fn page_query(uri: &Uri) -> Result<(Option<usize>, Option<String>), OciError> {
    let query = Query::<PageQuery>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| bad_page(format!("bad query string: {e}")))?;
    let n = query
        .n
        .map(|n| {
            n.parse::<usize>()
                .map_err(|_| bad_page(format!("n={n:?} is not a non-negative integer")))
        })
        .transpose()?;
    Ok((n, query.last))
}

fn bad_page(message: String) -> OciError {
    // The spec's code list has nothing closer for a bad `n` than UNSUPPORTED.
    OciError::new(StatusCode::BAD_REQUEST, Code::Unsupported, message)
}

fn respond(page: Page, path: &str, body: serde_json::Value) -> Response {
    let mut response = axum::Json(body).into_response();
    if let Some((n, last)) = page.next {
        response.headers_mut().insert(
            header::LINK,
            header_value(&format!("<{path}?n={n}&last={last}>; rel=\"next\"")),
        );
    }
    response
}

/// `GET /v2/<name>/tags/list`; 404 NAME_UNKNOWN for a repository without tags.
pub async fn list(registry: &Registry, name: &str, uri: &Uri) -> Result<Response, OciError> {
    let (n, last) = page_query(uri)?;
    let repository = name.to_string();
    let tags = registry
        .blocking(move |store| store.repository_tags(&repository))
        .await?;
    if tags.is_empty() {
        return Err(OciError::new(
            StatusCode::NOT_FOUND,
            Code::NameUnknown,
            format!("repository `{name}` is not on this node"),
        )
        .with_detail(json!({ "name": name })));
    }
    let page = paginate(tags, n, last.as_deref());
    let body = json!({ "name": name, "tags": page.items });
    Ok(respond(page, &format!("/v2/{name}/tags/list"), body))
}

/// `GET /v2/_catalog`: every repository with at least one tag.
pub async fn catalog(registry: &Registry, uri: &Uri) -> Result<Response, OciError> {
    let (n, last) = page_query(uri)?;
    let repositories = registry.blocking(|store| store.repositories()).await?;
    let page = paginate(repositories, n, last.as_deref());
    let body = json!({ "repositories": page.items });
    Ok(respond(page, "/v2/_catalog", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pages_follow_n_and_last() {
        let all = list(&["a", "b", "c", "d", "e"]);
        let first = paginate(all.clone(), Some(2), None);
        assert_eq!(first.items, list(&["a", "b"]));
        assert_eq!(first.next, Some((2, "b".into())));
        let second = paginate(all.clone(), Some(2), Some("b"));
        assert_eq!(second.items, list(&["c", "d"]));
        let third = paginate(all.clone(), Some(2), Some("d"));
        assert_eq!(third.items, list(&["e"]));
        assert_eq!(third.next, None);
        assert_eq!(paginate(all.clone(), Some(0), None).items, list(&[]));
        assert_eq!(paginate(all.clone(), Some(0), None).next, None);
        assert_eq!(
            paginate(all.clone(), None, Some("c")).items,
            list(&["d", "e"])
        );
        assert_eq!(paginate(all.clone(), Some(5), None).next, None);
        assert_eq!(paginate(all, None, Some("zz")).items, list(&[]));
    }

    #[test]
    fn pages_never_exceed_the_cap() {
        let many: Vec<String> = (0..MAX_PAGE + 5).map(|i| format!("{i:05}")).collect();
        let page = paginate(many.clone(), None, None);
        assert_eq!(page.items.len(), MAX_PAGE);
        assert!(page.next.is_some());
        let page = paginate(many, Some(MAX_PAGE * 2), None);
        assert_eq!(page.items.len(), MAX_PAGE);
        assert!(page.next.is_some());
    }
}
