//! `commons-registry`: the OCI distribution API (`/v2/…`) of a commons node,
//! backed by the store, with the referrers API and token auth.
//!
//! A repository is a model name and a tag a model tag, so the model
//! `smollm2:latest` is `/v2/smollm2/manifests/latest`. Manifests and blobs live
//! in one content-addressed store shared by every repository: a digest is
//! served under any repository name, and a cross-repository mount succeeds
//! whenever the blob is on the node. Repositories scope tags only.
//!
//! - [`path`] turns `/v2/…` paths into routes (names contain `/`);
//! - [`manifests`], [`blobs`], [`uploads`], [`tags`] (tags and catalog),
//!   [`referrers`] answer them; [`error`] renders OCI error bodies;
//! - [`auth`] is the token layer the server puts in front of every API, and
//!   answers the token endpoint `/v2/token`.
//!
//! Every store call blocks, so it runs on the blocking pool; request and
//! response bodies of blobs are streamed, never held whole in memory.

pub mod auth;
pub mod blobs;
pub mod error;
pub mod manifests;
pub mod path;
mod range;
pub mod referrers;
pub mod tags;
pub mod uploads;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use commons_store::{Store, StoreError};

pub use auth::AuthPolicy;
use error::OciError;
use path::Route;

/// `Docker-Content-Digest`: the digest of the manifest or blob a response is about.
pub const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
/// `Docker-Upload-UUID`: the id of an upload session.
pub const DOCKER_UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
/// `OCI-Subject`: answers a manifest push whose `subject` was recorded.
pub const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
/// `OCI-Filters-Applied`: which referrers filters were applied.
pub const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");
/// Clients of the Docker registry API look for it on `/v2/`.
pub const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");

/// The `/v2/` routes over `store`, ready to merge into any router.
pub fn router<S: Clone + Send + Sync + 'static>(store: Arc<Store>) -> Router<S> {
    let registry = Registry::new(store);
    Router::new()
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/{*rest}", any(dispatch))
        .with_state(registry)
}

/// What every `/v2` handler shares.
#[derive(Clone)]
pub struct Registry {
    store: Arc<Store>,
    /// Uploads a request is writing to right now: a second writer is refused
    /// rather than interleaving its bytes with the first.
    busy_uploads: Arc<Mutex<HashSet<String>>>,
}

impl Registry {
    pub fn new(store: Arc<Store>) -> Registry {
        Registry {
            store,
            busy_uploads: Arc::default(),
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Runs a blocking store call on the blocking pool.
    pub(crate) async fn blocking<T, F>(&self, call: F) -> Result<T, OciError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || call(&store))
            .await
            .map_err(|e| OciError::internal(format!("a store task failed: {e}")))?
            .map_err(OciError::from_store)
    }
}

async fn dispatch(State(registry): State<Registry>, request: Request) -> Response {
    let rest = request.uri().path().strip_prefix("/v2").unwrap_or_default();
    let rest = rest.strip_prefix('/').unwrap_or(rest).to_string();
    let route = match path::parse(&rest) {
        Ok(Some(route)) => route,
        Ok(None) => {
            return OciError::new(
                StatusCode::NOT_FOUND,
                error::Code::NameUnknown,
                format!("no /v2 route for {}", request.uri().path()),
            )
            .into_response()
        }
        Err(error) => return error.into_response(),
    };
    let method = request.method().clone();
    let result = match (route, method) {
        (Route::Base, Method::GET | Method::HEAD) => Ok(base()),
        (Route::Catalog, Method::GET) => tags::catalog(&registry, request.uri()).await,
        (Route::Manifest { name, reference }, m @ (Method::GET | Method::HEAD)) => {
            manifests::get(&registry, &name, &reference, m == Method::HEAD).await
        }
        (Route::Manifest { name, reference }, Method::PUT) => {
            manifests::put(&registry, &name, &reference, request).await
        }
        (Route::Manifest { name, reference }, Method::DELETE) => {
            manifests::delete(&registry, &name, &reference, auth::Actor::of(&request)).await
        }
        (Route::Blob { digest, .. }, m @ (Method::GET | Method::HEAD)) => {
            blobs::get(&registry, &digest, request.headers(), m == Method::HEAD).await
        }
        (Route::Blob { digest, .. }, Method::DELETE) => blobs::delete(&registry, &digest).await,
        (Route::UploadStart { name }, Method::POST) => {
            uploads::start(&registry, &name, request).await
        }
        (Route::Upload { name, id }, Method::GET) => uploads::status(&registry, &name, &id).await,
        (Route::Upload { name, id }, Method::PATCH) => {
            uploads::patch(&registry, &name, &id, request).await
        }
        (Route::Upload { name, id }, Method::PUT) => {
            uploads::finish(&registry, &name, &id, request).await
        }
        (Route::Upload { id, .. }, Method::DELETE) => uploads::cancel(&registry, &id).await,
        (Route::Tags { name }, Method::GET) => tags::list(&registry, &name, request.uri()).await,
        (Route::Referrers { digest, .. }, Method::GET) => {
            referrers::list(&registry, &digest, request.uri()).await
        }
        (_, method) => Err(OciError::unsupported(format!(
            "{method} is not supported on {}",
            request.uri().path()
        ))),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Header values from strings the store validated (digests, media types);
/// anything unprintable becomes an empty value rather than a panic.
pub(crate) fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""))
}

/// `GET /v2/`: "this is a distribution API", with an empty JSON object as the
/// reference registry answers.
fn base() -> Response {
    (
        [(API_VERSION, "registry/2.0")],
        axum::Json(serde_json::json!({})),
    )
        .into_response()
}
