//! What every handler shares: the store, the model manager, and the server's limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use commons_engine::{EngineError, ManagerConfig, ModelLease, ModelManager};
use commons_registry::AuthPolicy;
use commons_store::import::ImportMetadata;
use commons_store::{ModelEntry, Store};

use crate::error::ApiError;
use crate::runnable::Runnable;

/// Shared state behind every route (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    models: ModelManager,
    limits: Limits,
    /// Who may read and write (see `commons_registry::auth`).
    auth: AuthPolicy,
    /// Manifest digest → the name it was last requested by, for `/api/ps`.
    display_names: Mutex<HashMap<String, String>>,
}

/// Bounds the server enforces on requests.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Context of one request slot, in tokens (the engine's `context_per_slot`, before the
    /// engine clamps it to the model's training context).
    pub context_per_slot: u32,
    /// Longest embedding input in tokens (0 = the engine's default).
    pub embedding_context: u32,
    /// Largest JSON request body.
    pub max_json_bytes: usize,
    /// Largest blob upload.
    pub max_upload_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            context_per_slot: 4096,
            embedding_context: 0,
            max_json_bytes: 32 * 1024 * 1024,
            max_upload_bytes: 256 * 1024 * 1024 * 1024,
        }
    }
}

/// A model name resolved against the store, ready to load.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    /// What the client asked for, as it should be echoed back (`name:tag`).
    pub display_name: String,
    pub entry: ModelEntry,
    pub metadata: Option<ImportMetadata>,
    /// How llama.cpp gets a GGUF file of it.
    pub runnable: Runnable,
}

impl ResolvedModel {
    /// The key models are loaded under: the manifest digest (two tags, one load).
    pub fn key(&self) -> &str {
        self.entry.digest.as_str()
    }
}

impl AppState {
    /// State with the default auth policy: anonymous reads, and anonymous writes
    /// until the node has a token with `push` or `delete`.
    pub fn new(store: Arc<Store>, manager: ManagerConfig, limits: Limits) -> Self {
        Self::with_auth(store, manager, limits, AuthPolicy::default())
    }

    pub fn with_auth(
        store: Arc<Store>,
        manager: ManagerConfig,
        limits: Limits,
        auth: AuthPolicy,
    ) -> Self {
        let models = ModelManager::new(Arc::new(commons_engine::LlamaEngine::new()), manager);
        models.start_reaper(Duration::from_secs(5));
        Self {
            inner: Arc::new(Inner {
                store,
                models,
                limits,
                auth,
                display_names: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    pub fn models(&self) -> &ModelManager {
        &self.inner.models
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    pub fn auth_policy(&self) -> &AuthPolicy {
        &self.inner.auth
    }

    /// The name a client last used for a loaded model (its digest if none).
    pub fn display_name(&self, key: &str) -> String {
        self.inner
            .display_names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_string())
    }

    /// Look `name` up in the store (`name`, `name:tag`, or a digest).
    pub fn resolve(&self, name: &str) -> Result<ResolvedModel, ApiError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(ApiError::invalid("model", "model is required"));
        }
        let entry = self
            .inner
            .store
            .resolve(name)
            .map_err(|error| ApiError::from_store(name, error))?;
        refuse_quarantined(&self.inner.store, name, &entry)?;
        let metadata = ImportMetadata::from_entry(&entry);
        let runnable =
            Runnable::plan(&self.inner.store, &entry, metadata.as_ref()).map_err(|reason| {
                ApiError::invalid("model", format!("model \"{name}\" cannot be run: {reason}"))
            })?;
        // Echo back what the client sent, completed with the tag as Ollama does.
        let display_name = if name.contains(':') || name.starts_with("sha256") {
            name.to_string()
        } else if name == entry.name {
            entry.reference()
        } else {
            name.to_string()
        };
        Ok(ResolvedModel {
            display_name,
            entry,
            metadata,
            runnable,
        })
    }

    /// [`AppState::acquire`] for a request that generates or scores text: an
    /// embedding model is refused (400) before any prompt work.
    pub async fn acquire_for_text(
        &self,
        model: &ResolvedModel,
        keep_alive: Option<Duration>,
    ) -> Result<ModelLease, ApiError> {
        let lease = self.acquire(model, keep_alive).await?;
        if lease.info().embedding_only {
            return Err(EngineError::EmbeddingOnly("generate or score text").into());
        }
        Ok(lease)
    }

    /// Load (or reuse) the model. Blocks while loading, so it runs on a blocking thread.
    pub async fn acquire(
        &self,
        model: &ResolvedModel,
        keep_alive: Option<Duration>,
    ) -> Result<ModelLease, ApiError> {
        self.inner
            .display_names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(model.key().to_string(), model.display_name.clone());
        let models = self.inner.models.clone();
        let store = Arc::clone(&self.inner.store);
        let key = model.key().to_string();
        let runnable = model.runnable.clone();
        let name = model.display_name.clone();
        tokio::task::spawn_blocking(move || {
            // Cheap once the derived files (shard links, a converted GGUF) exist.
            let path = runnable.prepare(&store).map_err(|reason| {
                ApiError::invalid("model", format!("model \"{name}\" cannot be run: {reason}"))
            })?;
            models
                .acquire(&key, &path, keep_alive)
                .map_err(ApiError::from)
        })
        .await
        .map_err(|e| ApiError::internal(format!("model loading was interrupted: {e}")))?
    }
}

/// A model the hosting policy quarantined is kept but never served: 403
/// with the rules that decided, so its owner knows what to fix.
fn refuse_quarantined(store: &Store, name: &str, entry: &ModelEntry) -> Result<(), ApiError> {
    let quarantine = store
        .model_quarantine(&entry.digest)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let Some(quarantine) = quarantine else {
        return Ok(());
    };
    let rules: Vec<&str> = quarantine.reason["rules"]
        .as_array()
        .map(|rules| rules.iter().filter_map(|r| r["rule"].as_str()).collect())
        .unwrap_or_default();
    Err(ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        format!(
            "model \"{name}\" is quarantined by this node's hosting policy ({}): it is kept but not served; \
             `commons policy check {name}` on the node explains",
            if rules.is_empty() { "no rule recorded".to_string() } else { rules.join(", ") }
        ),
    )
    .with_code("model_quarantined")
    .with_param("model"))
}

/// Every model that may be served: the store's list without quarantined models.
pub fn servable_models(store: &Store) -> Result<Vec<ModelEntry>, commons_store::StoreError> {
    let quarantined: std::collections::HashSet<String> = store
        .quarantined_models()?
        .into_iter()
        .map(|q| q.digest)
        .collect();
    let mut entries = store.list()?;
    entries.retain(|e| !quarantined.contains(e.digest.as_str()));
    Ok(entries)
}
