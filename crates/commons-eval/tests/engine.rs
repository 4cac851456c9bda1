//! The engine backend on the real SmolLM2 model: a choice's loglikelihood must
//! not depend on what ran before it or beside it. The scoring context keeps a
//! shared prefix between calls and evaluates a question's context once for all
//! its choices, so the first continuation token is the one most at risk of being
//! scored from the wrong position; these tests pin it.

use std::path::PathBuf;
use std::sync::Arc;

use commons_engine::{Engine, LlamaEngine, LoadOptions, Model, SchedulerConfig};
use commons_eval::prompt::PromptText;
use commons_eval::runner::engine::EngineBackend;
use commons_eval::runner::{Backend, GenerationRequest, LoglikelihoodRequest};

/// The model `scripts/fetch-models` caches; the test fails (not skips) without it.
fn smollm2() -> PathBuf {
    let cache = std::env::var_os("COMMONS_MODEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/models"));
    let path = cache.join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.exists(),
        "test model {} is missing\nhint: run `scripts/fetch-models` first",
        path.display()
    );
    path
}

fn backend() -> EngineBackend {
    let config = SchedulerConfig {
        slots: 4,
        context_per_slot: 512,
        threads: 2,
        ..SchedulerConfig::default()
    };
    let engine = LlamaEngine::new();
    let options = LoadOptions {
        scheduler: config.clone(),
        embedding_context: 0,
    };
    let model: Arc<dyn Model> = engine.load(&smollm2(), &options).expect("load SmolLM2");
    EngineBackend::new(model, engine.name(), config)
}

fn request(continuation: &str) -> LoglikelihoodRequest {
    LoglikelihoodRequest {
        context: PromptText::Raw("Question: What is the capital of France?\nAnswer:".into()),
        continuation: continuation.into(),
    }
}

#[test]
fn a_choice_scores_the_same_alone_after_a_sibling_and_batched_with_siblings() {
    let alone = backend()
        .loglikelihoods(&[request(" Paris")])
        .expect("score alone")[0];
    assert!(alone < 0.0 && alone.is_finite(), "{alone}");

    // Same model instance: the sibling's context is in the cache when Paris is scored.
    let warm = backend();
    warm.loglikelihoods(&[request(" Berlin")])
        .expect("sibling first");
    let after_sibling = warm.loglikelihoods(&[request(" Paris")]).expect("after")[0];

    // All choices of the question at once, across slots.
    let batched = warm
        .loglikelihoods(&[
            request(" Berlin"),
            request(" Paris"),
            request(" Madrid"),
            request(" Rome"),
        ])
        .expect("batched");

    assert_eq!(
        alone.to_bits(),
        after_sibling.to_bits(),
        "{alone} vs {after_sibling}"
    );
    assert_eq!(
        alone.to_bits(),
        batched[1].to_bits(),
        "{alone} vs {}",
        batched[1]
    );
    // The right answer is the likeliest here; a sanity check that positions line up.
    assert!(
        batched[1] > batched[0] && batched[1] > batched[3],
        "{batched:?}"
    );
}

#[test]
fn greedy_generation_is_the_same_alone_and_batched() {
    let b = backend();
    let req = |q: &str| GenerationRequest {
        prompt: PromptText::Chat {
            system: None,
            user: q.into(),
        },
        max_tokens: 8,
        stop: vec![],
        seed: 42,
    };
    let alone = b.generate(&[req("What is 2 + 3?")]).expect("alone");
    let batched = b
        .generate(&[req("Name a color."), req("What is 2 + 3?"), req("Say hi.")])
        .expect("batched");
    assert_eq!(alone[0], batched[1]);
    assert!(!alone[0].is_empty());
}
