use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

use super::*;
use crate::assets::ASSETS;

async fn get(path: &str) -> Response {
    get_with(path, None).await
}

async fn get_with(path: &str, if_none_match: Option<&str>) -> Response {
    let app: Router = router();
    let mut request = Request::get(path);
    if let Some(tag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, tag);
    }
    app.oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn content_type(response: &Response) -> &str {
    response.headers()[header::CONTENT_TYPE].to_str().unwrap()
}

async fn text(response: Response) -> String {
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn ui_and_ui_slash_serve_the_index() {
    for path in ["/ui", "/ui/"] {
        let response = get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(content_type(&response), "text/html; charset=utf-8");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
        assert!(text(response).await.contains("<title>commons</title>"));
    }
}

#[tokio::test]
async fn deep_links_serve_the_index() {
    for path in [
        "/ui/models/smollm2:latest",
        "/ui/models/org%2Fmodel:tag",
        "/ui/playground",
        "/ui/health",
        "/ui/governance",
    ] {
        let response = get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            content_type(&response),
            "text/html; charset=utf-8",
            "{path}"
        );
    }
}

#[tokio::test]
async fn assets_have_their_content_type() {
    for (path, expected) in [
        ("/ui/assets/app.js", "text/javascript; charset=utf-8"),
        (
            "/ui/assets/pages/catalog.js",
            "text/javascript; charset=utf-8",
        ),
        ("/ui/assets/style.css", "text/css; charset=utf-8"),
        ("/ui/assets/favicon.svg", "image/svg+xml"),
    ] {
        let response = get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(content_type(&response), expected, "{path}");
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
    }
}

#[tokio::test]
async fn unknown_assets_are_404_not_the_index() {
    for path in [
        "/ui/assets/nope.js",
        "/ui/assets/pages/../app.js",
        "/ui/assets/",
    ] {
        let response = get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(!text(response).await.contains("<html"), "{path}");
    }
}

#[tokio::test]
async fn etag_revalidates_with_304() {
    let response = get("/ui/assets/app.js").await;
    let etag = response.headers()[header::ETAG]
        .to_str()
        .unwrap()
        .to_string();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    let again = get_with("/ui/assets/app.js", Some(&etag)).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::ETAG].to_str().unwrap(), etag);
    assert!(text(again).await.is_empty());
    let other = get_with("/ui/assets/app.js", Some("\"something-else\"")).await;
    assert_eq!(other.status(), StatusCode::OK);
}

/// Every listed asset is used, and every file the app references is listed,
/// so a missing `embed!` line fails here rather than as a 404 in a browser.
#[test]
fn asset_list_matches_the_references() {
    let sources: String = ASSETS
        .iter()
        .filter(|a| a.path.ends_with(".js") || a.path.ends_with(".html"))
        .map(|a| std::str::from_utf8(a.bytes).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    for listed in ASSETS.iter().filter(|a| a.path != "index.html") {
        let name = listed.path.rsplit('/').next().unwrap();
        assert!(
            sources.contains(name),
            "{} is embedded but never referenced",
            listed.path
        );
    }
    // `import ... from "./x.js"` / `"../x.js"` and `/ui/assets/x` references.
    for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
        let text = std::str::from_utf8(asset.bytes).unwrap();
        let dir = asset.path.rsplit_once('/').map_or("", |(d, _)| d);
        for line in text
            .lines()
            .filter(|l| l.trim_start().starts_with("import "))
        {
            let Some(spec) = line.split('"').nth(1) else {
                continue;
            };
            let resolved = resolve(dir, spec);
            assert!(
                asset_exists(&resolved),
                "{} imports {spec} ({resolved}), which is not embedded",
                asset.path
            );
        }
    }
}

fn resolve(dir: &str, spec: &str) -> String {
    let mut parts: Vec<&str> = if dir.is_empty() {
        vec![]
    } else {
        dir.split('/').collect()
    };
    for piece in spec.split('/') {
        match piece {
            "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

fn asset_exists(path: &str) -> bool {
    asset(path).is_some()
}
