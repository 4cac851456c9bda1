//! `commons-ui`: the node's web dashboard, served under `/ui`.
//!
//! The dashboard is a single-page app written by hand — HTML, CSS and
//! JavaScript ES modules, charts drawn as inline SVG by its own code — so
//! building the binary needs no npm, no bundler and no network, and the page
//! loads nothing from anywhere but this node. Every asset is embedded with
//! `include_bytes!` ([`assets`]) and read only through the node's own HTTP
//! APIs (`/commons/v1`, `/api`, `/v1`) from the browser.
//!
//! Routes:
//! - `/ui`, `/ui/` and any other path under `/ui/` that is not an asset: the
//!   app's `index.html`, so deep links such as `/ui/models/smollm2:latest`
//!   open the right page (the app routes on the path itself);
//! - `/ui/assets/...`: the embedded files with their `Content-Type`, an
//!   `ETag` (sha256 of the bytes) and `Cache-Control: no-cache`, so a browser
//!   revalidates cheaply (`304`) and never runs a stale app after an upgrade;
//!   an unknown asset is a `404`, never the index.

mod assets;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub use assets::{asset, Asset};

/// The path prefix the dashboard lives under.
pub const PREFIX: &str = "/ui";

/// The dashboard's routes, for any router state (they use none).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/{*route}", get(route))
}

/// Everything under `/ui/`: an asset under `assets/`, else the app's index
/// (a client-side route). One handler, so `/ui/assets/` and unknown assets
/// are 404s whatever the router's matching priorities are.
async fn route(Path(route): Path<String>, headers: HeaderMap) -> Response {
    match route.strip_prefix("assets/") {
        Some(path) => asset_route(path, &headers),
        None if route == "assets" => asset_route("", &headers),
        None => index(headers).await,
    }
}

async fn index(headers: HeaderMap) -> Response {
    match asset("index.html") {
        Some(index) => respond(index, &headers),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the dashboard was built without index.html",
        )
            .into_response(),
    }
}

fn asset_route(path: &str, headers: &HeaderMap) -> Response {
    match asset(path) {
        Some(found) => respond(found, headers),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no dashboard asset {path}\n"),
        )
            .into_response(),
    }
}

/// The asset's bytes, or `304 Not Modified` when the browser already has them.
fn respond(asset: &Asset, headers: &HeaderMap) -> Response {
    let etag = asset.etag();
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.bytes.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The app loads scripts, styles and data from this node only.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    if let Ok(value) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, value);
    }
    response
}

#[cfg(test)]
mod tests;
