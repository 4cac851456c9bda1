//! Shared helpers: find the real test model and load it once per test binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use commons_engine::{Engine, LlamaEngine, LoadOptions, Model, SchedulerConfig};

const RELATIVE: &str = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

/// `$COMMONS_TEST_GGUF`, else the fetch-models cache. Panics (fails the test) when absent:
/// a missing model must never make these tests pass silently.
pub fn model_path() -> PathBuf {
    if let Some(path) = std::env::var_os("COMMONS_TEST_GGUF") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "COMMONS_TEST_GGUF={} does not exist",
            path.display()
        );
        return path;
    }
    let cache = std::env::var_os("COMMONS_MODEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/models"));
    let path = cache.join(RELATIVE);
    assert!(
        path.is_file(),
        "test model not found at {}\nhint: run `scripts/fetch-models` (or set COMMONS_TEST_GGUF to a SmolLM2-135M-Instruct GGUF)",
        path.display()
    );
    path
}

pub fn threads() -> u32 {
    2
}

/// Load a fresh instance with its own scheduler (weights are shared through the page cache).
pub fn load(config: SchedulerConfig) -> Arc<dyn Model> {
    let options = LoadOptions {
        scheduler: SchedulerConfig {
            threads: threads(),
            ..config
        },
        embedding_context: 512,
    };
    match LlamaEngine::new().load(&model_path(), &options) {
        Ok(model) => model,
        Err(error) => panic!("loading the test model failed: {error}"),
    }
}

/// One instance shared by the tests that do not depend on scheduler counters.
pub fn shared() -> Arc<dyn Model> {
    static MODEL: OnceLock<Arc<dyn Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            load(SchedulerConfig {
                slots: 4,
                context_per_slot: 1024,
                ..SchedulerConfig::default()
            })
        })
        .clone()
}

/// A one-slot instance for tests that compare outputs across runs. Outputs are batch-invariant
/// only while the shared KV cache is not fragmented by many other requests coming and going
/// (see the crate docs); with one slot nothing else is ever in the cache.
pub fn quiet() -> Arc<dyn Model> {
    static MODEL: OnceLock<Arc<dyn Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            load(SchedulerConfig {
                slots: 1,
                context_per_slot: 512,
                ..SchedulerConfig::default()
            })
        })
        .clone()
}

/// A chat prompt in SmolLM2's format.
pub fn chat_prompt(user: &str) -> String {
    format!("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
}
