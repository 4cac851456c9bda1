//! `commons-hub`: the Hugging Face Hub-compatible read API of a commons node
//! (`/api/models…`, `/{repo}/resolve/{rev}/{path}`), served from the store so that
//! `huggingface_hub` downloads models from a node unchanged (`HF_ENDPOINT`).
//!
//! - [`repo`] maps the catalog to repos: a model name is a repo, its tags are
//!   revisions, the manifest digest gives the commit sha, the layers are the files;
//! - [`card`] writes a model card for models that came without a README;
//! - [`api`] answers `/api/models` (list, info) and [`tree`] file listings in the Hub's JSON;
//! - [`resolve`] serves file bytes with the headers the client's cache relies on;
//! - [`git`] computes the git object ids the Hub reports, [`path`] decodes and
//!   checks raw request paths, [`range`] reads `Range`, [`error`] shapes errors.
//!
//! Read-only and anonymous, like every read of a node. Files are streamed
//! straight from the blob store (no redirects) with single-range support.

mod api;
mod card;
mod error;
mod git;
mod path;
mod range;
mod repo;
mod resolve;
mod tree;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use commons_store::Store;

pub use error::HubError;

/// What every Hub handler shares.
struct Hub {
    store: Arc<Store>,
    oids: repo::OidCache,
}

/// Runs blocking store work (SQLite, file hashing) off the async runtime.
async fn blocking<T: Send + 'static>(
    hub: &Arc<Hub>,
    work: impl FnOnce(&Hub) -> Result<T, HubError> + Send + 'static,
) -> Result<T, HubError> {
    let hub = hub.clone();
    tokio::task::spawn_blocking(move || work(&hub)).await?
}

/// The Hub routes over `store`, ready to merge into any router.
///
/// Repo ids contain `/`, so the routes are wildcards and the handlers parse the
/// raw path themselves; `get` routes answer `HEAD` as well.
pub fn router<S: Clone + Send + Sync + 'static>(store: Arc<Store>) -> Router<S> {
    let hub = Arc::new(Hub {
        store,
        oids: repo::OidCache::default(),
    });
    Router::new()
        .route("/api/models", get(api::list_models))
        .route("/api/models/{*rest}", get(api::model_routes))
        .route("/{a}/resolve/{*rest}", get(resolve::resolve_in_name))
        .route(
            "/{a}/{b}/resolve/{*rest}",
            get(resolve::resolve_in_namespace),
        )
        .with_state(hub)
}

#[cfg(test)]
mod tests;
