//! Which models are in memory: load on first use, keep alive for a while after the last
//! request, and unload the least recently used ones when a memory budget would be exceeded.
//!
//! A caller takes a [`ModelLease`] for the duration of a request (including streaming the
//! answer). While any lease is held the model is never unloaded; when the last one is dropped
//! the model's expiry is set to now + keep-alive (0 ⇒ unloaded at once).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::engine::{Engine, LoadOptions, Model};
use crate::error::EngineError;
use crate::scheduler::SchedulerStats;

/// Manager settings.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// How long an idle model stays loaded, unless a request says otherwise.
    pub default_keep_alive: Duration,
    /// Unload least-recently-used idle models to keep the estimated total under this.
    pub memory_budget_bytes: Option<u64>,
    pub load_options: LoadOptions,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            default_keep_alive: Duration::from_secs(5 * 60),
            memory_budget_bytes: None,
            load_options: LoadOptions::default(),
        }
    }
}

/// A loaded model as `/api/ps` and `/commons/v1/status` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadedModelInfo {
    pub name: String,
    pub path: PathBuf,
    pub size_bytes: u64,
    pub memory_bytes: u64,
    /// `None` while in use, or when kept forever.
    pub expires_at: Option<SystemTime>,
    /// Leases held: requests running or waiting for a slot, and streams still being sent.
    pub active_requests: usize,
    /// Sequences the model's scheduler decodes together.
    pub slots: usize,
    /// The scheduler's counters (running slots, queue depth, tokens), read without
    /// touching the model's keep-alive.
    pub stats: SchedulerStats,
}

struct Entry {
    path: PathBuf,
    model: Arc<dyn Model>,
    leases: usize,
    keep_alive: Duration,
    last_used: Instant,
    /// Deadline as `Instant` for logic and `SystemTime` for display; `None` = in use or forever.
    expires: Option<(Instant, SystemTime)>,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Entry>,
}

struct Inner {
    engine: Arc<dyn Engine>,
    config: ManagerConfig,
    state: Mutex<State>,
    /// Loads happen one at a time, outside the state lock (they take seconds).
    loading: Mutex<()>,
}

/// Keeps track of loaded models. Cheap to clone (shared inside).
#[derive(Clone)]
pub struct ModelManager {
    inner: Arc<Inner>,
}

/// Use of a loaded model; the model stays loaded while this lives.
pub struct ModelLease {
    model: Arc<dyn Model>,
    name: String,
    keep_alive: Duration,
    /// Nanoseconds spent loading for this lease (0 when it was already loaded).
    pub load_ns: u64,
    manager: Weak<Inner>,
}

impl std::ops::Deref for ModelLease {
    type Target = dyn Model;
    fn deref(&self) -> &Self::Target {
        self.model.as_ref()
    }
}

impl ModelLease {
    /// The shared model handle (e.g. to move into a task; the lease must still be kept).
    pub fn model(&self) -> &Arc<dyn Model> {
        &self.model
    }
}

impl Drop for ModelLease {
    fn drop(&mut self) {
        if let Some(inner) = self.manager.upgrade() {
            inner.release(&self.name, self.keep_alive);
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ModelManager {
    pub fn new(engine: Arc<dyn Engine>, config: ManagerConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                engine,
                config,
                state: Mutex::new(State::default()),
                loading: Mutex::new(()),
            }),
        }
    }

    /// The model called `name` (loading `path` if it is not in memory). `keep_alive`
    /// overrides the default for what happens after this request; `Duration::MAX` = forever.
    pub fn acquire(
        &self,
        name: &str,
        path: &Path,
        keep_alive: Option<Duration>,
    ) -> Result<ModelLease, EngineError> {
        let keep_alive = keep_alive.unwrap_or(self.inner.config.default_keep_alive);
        self.sweep();
        if let Some(lease) = self.lease_existing(name, path, keep_alive) {
            return Ok(lease);
        }
        let _one_load = self.inner.loading.lock().unwrap_or_else(|p| p.into_inner());
        // Someone may have loaded it while we waited.
        if let Some(lease) = self.lease_existing(name, path, keep_alive) {
            return Ok(lease);
        }
        let estimate = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        self.make_room(name, estimate)?;
        let started = Instant::now();
        let model = self
            .inner
            .engine
            .load(path, &self.inner.config.load_options)?;
        let load_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut state = lock(&self.inner.state);
        state.entries.insert(
            name.to_string(),
            Entry {
                path: path.to_path_buf(),
                model: Arc::clone(&model),
                leases: 1,
                keep_alive,
                last_used: Instant::now(),
                expires: None,
            },
        );
        // The real footprint (with KV cache) is known now; trim others if it is larger.
        drop(state);
        if let Err(error) = self.make_room(name, 0) {
            tracing::warn!(%error, "loaded model is over the memory budget");
        }
        Ok(ModelLease {
            model,
            name: name.to_string(),
            keep_alive,
            load_ns,
            manager: Arc::downgrade(&self.inner),
        })
    }

    fn lease_existing(&self, name: &str, path: &Path, keep_alive: Duration) -> Option<ModelLease> {
        let mut state = lock(&self.inner.state);
        let entry = state.entries.get_mut(name)?;
        if entry.path != path {
            // Same name now points at different bytes: the old one goes when idle.
            if entry.leases == 0 {
                state.entries.remove(name);
            }
            return None;
        }
        entry.leases += 1;
        entry.keep_alive = keep_alive;
        entry.last_used = Instant::now();
        entry.expires = None;
        Some(ModelLease {
            model: Arc::clone(&entry.model),
            name: name.to_string(),
            keep_alive,
            load_ns: 0,
            manager: Arc::downgrade(&self.inner),
        })
    }

    /// Unload least-recently-used idle models until `extra` more bytes fit the budget.
    fn make_room(&self, loading: &str, extra: u64) -> Result<(), EngineError> {
        let Some(budget) = self.inner.config.memory_budget_bytes else {
            return Ok(());
        };
        if extra > budget {
            return Err(EngineError::OverBudget {
                name: loading.to_string(),
                needed_bytes: extra,
                budget_bytes: budget,
            });
        }
        let mut state = lock(&self.inner.state);
        loop {
            let used: u64 = state
                .entries
                .values()
                .map(|e| e.model.info().memory_bytes)
                .sum();
            if used + extra <= budget {
                return Ok(());
            }
            let victim = state
                .entries
                .iter()
                .filter(|(name, e)| e.leases == 0 && name.as_str() != loading)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(name, _)| name.clone());
            match victim {
                Some(name) => {
                    tracing::info!(model = %name, "unloading to stay within the memory budget");
                    state.entries.remove(&name);
                }
                // Everything else is busy: go over the budget rather than fail the request.
                None => return Ok(()),
            }
        }
    }

    /// Unload idle models whose keep-alive has passed. Call it periodically (or rely on the
    /// calls `acquire` and `loaded` make).
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut state = lock(&self.inner.state);
        state.entries.retain(|name, entry| {
            let expired = entry.leases == 0 && entry.expires.is_some_and(|(at, _)| at <= now);
            if expired {
                tracing::info!(model = %name, "keep-alive expired; unloading");
            }
            !expired
        });
    }

    /// Unload now (in-flight requests finish; the memory goes when they do).
    pub fn unload(&self, name: &str) -> bool {
        lock(&self.inner.state).entries.remove(name).is_some()
    }

    /// Loaded models, most recently used first.
    pub fn loaded(&self) -> Vec<LoadedModelInfo> {
        self.sweep();
        let state = lock(&self.inner.state);
        let mut list: Vec<(Instant, LoadedModelInfo)> = state
            .entries
            .iter()
            .map(|(name, e)| {
                let info = e.model.info();
                (
                    e.last_used,
                    LoadedModelInfo {
                        name: name.clone(),
                        path: e.path.clone(),
                        size_bytes: info.size_bytes,
                        memory_bytes: info.memory_bytes,
                        expires_at: e.expires.map(|(_, at)| at),
                        active_requests: e.leases,
                        slots: self.inner.config.load_options.scheduler.slots,
                        stats: e.model.stats(),
                    },
                )
            })
            .collect();
        list.sort_by_key(|(last_used, _)| std::cmp::Reverse(*last_used));
        list.into_iter().map(|(_, info)| info).collect()
    }

    /// Start a thread that sweeps every `interval` for as long as the manager exists.
    pub fn start_reaper(&self, interval: Duration) {
        let weak = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("commons-model-reaper".into())
            .spawn(move || loop {
                std::thread::sleep(interval);
                match weak.upgrade() {
                    Some(inner) => ModelManager { inner }.sweep(),
                    None => return,
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the keep-alive reaper; expiry happens on use only");
        }
    }
}

impl Inner {
    fn release(&self, name: &str, keep_alive: Duration) {
        let mut state = lock(&self.state);
        let Some(entry) = state.entries.get_mut(name) else {
            return;
        };
        entry.leases = entry.leases.saturating_sub(1);
        entry.last_used = Instant::now();
        if entry.leases > 0 {
            return;
        }
        if keep_alive.is_zero() {
            tracing::info!(model = %name, "keep_alive 0: unloading after the request");
            state.entries.remove(name);
            return;
        }
        entry.expires = Instant::now()
            .checked_add(keep_alive)
            .zip(SystemTime::now().checked_add(keep_alive));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ModelInfo, SpecialTokens};
    use crate::request::{GenerateRequest, GenerationStream};
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct FakeModel(ModelInfo);

    impl Model for FakeModel {
        fn info(&self) -> &ModelInfo {
            &self.0
        }
        fn tokenize(&self, _: &str, _: bool) -> Result<Vec<u32>, EngineError> {
            Ok(Vec::new())
        }
        fn detokenize(&self, _: &[u32]) -> Result<String, EngineError> {
            Ok(String::new())
        }
        fn token_bytes(&self, _: u32) -> Result<Vec<u8>, EngineError> {
            Ok(Vec::new())
        }
        fn generate(&self, _: GenerateRequest) -> Result<GenerationStream, EngineError> {
            Err(EngineError::WorkerStopped)
        }
        fn embed(&self, _: &[String]) -> Result<Vec<Vec<f32>>, EngineError> {
            Ok(Vec::new())
        }
        fn stats(&self) -> SchedulerStats {
            SchedulerStats::default()
        }
    }

    #[derive(Default)]
    struct FakeEngine {
        loads: AtomicUsize,
    }

    impl Engine for FakeEngine {
        fn name(&self) -> &'static str {
            "fake"
        }
        fn load(&self, path: &Path, _: &LoadOptions) -> Result<Arc<dyn Model>, EngineError> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            Ok(Arc::new(FakeModel(ModelInfo {
                path: path.to_path_buf(),
                architecture: None,
                size_bytes: 100,
                memory_bytes: 100,
                parameters: 0,
                vocab_size: 0,
                context_length_train: 0,
                context_length: 0,
                embedding_length: 0,
                special_tokens: SpecialTokens::default(),
                chat_template: None,
                embedding_only: false,
            })))
        }
    }

    fn manager(budget: Option<u64>) -> (ModelManager, Arc<FakeEngine>) {
        let engine = Arc::new(FakeEngine::default());
        let config = ManagerConfig {
            memory_budget_bytes: budget,
            ..ManagerConfig::default()
        };
        (ModelManager::new(engine.clone(), config), engine)
    }

    fn names(m: &ModelManager) -> Vec<String> {
        let mut n: Vec<_> = m.loaded().into_iter().map(|i| i.name).collect();
        n.sort();
        n
    }

    #[test]
    fn loads_once_and_reports_expiry_after_release() {
        let (m, engine) = manager(None);
        let a = m.acquire("a", Path::new("/a"), None).unwrap();
        let b = m.acquire("a", Path::new("/a"), None).unwrap();
        assert_eq!(engine.loads.load(Ordering::SeqCst), 1);
        let listed = m.loaded();
        assert_eq!(listed[0].active_requests, 2);
        assert_eq!(listed[0].expires_at, None);
        drop((a, b));
        let listed = m.loaded();
        assert_eq!(listed[0].active_requests, 0);
        let expires = listed[0].expires_at.unwrap();
        assert!(expires > SystemTime::now() + Duration::from_secs(200));
    }

    #[test]
    fn listing_reports_scheduler_state_without_touching_keep_alive() {
        let (m, _) = manager(None);
        drop(m.acquire("a", Path::new("/a"), None).unwrap());
        let first = m.loaded();
        std::thread::sleep(Duration::from_millis(5));
        let second = m.loaded();
        assert_eq!(first, second, "listing must not refresh the expiry");
        assert!(first[0].expires_at.is_some());
        assert_eq!(
            first[0].slots,
            crate::scheduler::SchedulerConfig::default().slots
        );
        assert_eq!(first[0].stats, SchedulerStats::default());
    }

    #[test]
    fn keep_alive_zero_unloads_after_the_request() {
        let (m, _) = manager(None);
        let lease = m
            .acquire("a", Path::new("/a"), Some(Duration::ZERO))
            .unwrap();
        assert_eq!(names(&m), vec!["a"]);
        drop(lease);
        assert!(m.loaded().is_empty());
    }

    #[test]
    fn expired_models_are_swept() {
        let (m, _) = manager(None);
        drop(
            m.acquire("a", Path::new("/a"), Some(Duration::from_millis(1)))
                .unwrap(),
        );
        std::thread::sleep(Duration::from_millis(5));
        assert!(m.loaded().is_empty());
    }

    #[test]
    fn budget_evicts_least_recently_used_idle_model() {
        let (m, _) = manager(Some(250));
        drop(m.acquire("a", Path::new("/a"), None).unwrap());
        std::thread::sleep(Duration::from_millis(2));
        drop(m.acquire("b", Path::new("/b"), None).unwrap());
        // 100 + 100 + 100 > 250: "a" (least recently used) must go.
        let _c = m.acquire("c", Path::new("/c"), None).unwrap();
        assert_eq!(names(&m), vec!["b", "c"]);
    }

    #[test]
    fn busy_models_are_never_evicted() {
        let (m, _) = manager(Some(150));
        let _a = m.acquire("a", Path::new("/a"), None).unwrap();
        let _b = m.acquire("b", Path::new("/b"), None).unwrap();
        assert_eq!(names(&m), vec!["a", "b"]);
    }
}
