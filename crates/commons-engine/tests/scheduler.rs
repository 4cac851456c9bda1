//! Scheduler behaviour on the real model: batching, cancellation, back-pressure, prefix reuse.
//! Each test loads its own instance so its counters and slots are its own.

mod common;

use std::time::Duration;

use commons_engine::{
    EngineError, Event, FinishReason, GenerateRequest, GenerationStream, Prompt, SamplingParams,
    SchedulerConfig,
};

fn greedy(question: &str, max_tokens: u32) -> GenerateRequest {
    let mut request = GenerateRequest::new(common::chat_prompt(question), max_tokens);
    request.sampling.ignore_eos = true;
    request
}

/// A request that keeps its slot busy until cancelled.
fn endless() -> GenerateRequest {
    greedy("Tell me everything about the history of Rome.", 100_000)
}

fn first_token(stream: &mut GenerationStream) {
    loop {
        match stream.blocking_recv() {
            Some(Event::Token(_)) => return,
            Some(Event::PromptToken(_)) => continue,
            other => panic!("expected a token, got {other:?}"),
        }
    }
}

const QUESTIONS: [&str; 8] = [
    "What is the capital of France?",
    "Name three colors.",
    "Why is the sky blue?",
    "What is two plus two?",
    "Write a haiku about rain.",
    "Who wrote Hamlet?",
    "What do bees make?",
    "How many legs does a spider have?",
];

#[test]
fn eight_concurrent_requests_on_four_slots_match_their_solo_runs() {
    let model = common::load(SchedulerConfig {
        slots: 4,
        context_per_slot: 256,
        ..SchedulerConfig::default()
    });
    let solo: Vec<Vec<u32>> = QUESTIONS
        .iter()
        .map(|q| {
            let out = model
                .generate(greedy(q, 12))
                .unwrap()
                .collect_blocking()
                .unwrap();
            out.tokens.iter().map(|t| t.id).collect()
        })
        .collect();

    // Another instance, so nothing is cached from the solo runs: all eight race for 4 slots.
    let model = common::load(SchedulerConfig {
        slots: 4,
        context_per_slot: 256,
        ..SchedulerConfig::default()
    });
    let streams: Vec<GenerationStream> = QUESTIONS
        .iter()
        .map(|q| model.generate(greedy(q, 12)).expect("accepted"))
        .collect();
    for (i, stream) in streams.into_iter().enumerate() {
        let out = stream.collect_blocking().expect("completed");
        assert_eq!(out.done.finish_reason, FinishReason::Length);
        let ids: Vec<u32> = out.tokens.iter().map(|t| t.id).collect();
        assert_eq!(
            ids, solo[i],
            "request {i} ({}) differs when batched",
            QUESTIONS[i]
        );
    }
    let stats = model.stats();
    assert_eq!(stats.requests_completed, 8);
    // Batching happened: far fewer decode calls than one per token per request.
    assert!(
        stats.decode_calls < 8 * 12,
        "decode calls {}",
        stats.decode_calls
    );
}

#[test]
fn seeded_sampling_is_identical_alone_and_under_batching() {
    let sampled = || {
        let mut request = greedy("Write a short poem about the sea.", 16);
        request.sampling = SamplingParams {
            temperature: 0.9,
            top_k: 50,
            top_p: 0.9,
            seed: Some(7),
            ignore_eos: true,
            ..SamplingParams::default()
        };
        request
    };
    let model = common::load(SchedulerConfig {
        slots: 4,
        context_per_slot: 256,
        ..SchedulerConfig::default()
    });
    let alone = model
        .generate(sampled())
        .unwrap()
        .collect_blocking()
        .unwrap();
    let noise: Vec<_> = QUESTIONS[..3]
        .iter()
        .map(|q| model.generate(greedy(q, 20)).unwrap())
        .collect();
    let batched = model
        .generate(sampled())
        .unwrap()
        .collect_blocking()
        .unwrap();
    assert_eq!(alone.text, batched.text);
    for stream in noise {
        stream.collect_blocking().unwrap();
    }
}

#[test]
fn prompt_logprobs_are_bit_identical_alone_and_batched() {
    let config = || SchedulerConfig {
        slots: 4,
        context_per_slot: 256,
        ..SchedulerConfig::default()
    };
    let scored = |model: &std::sync::Arc<dyn commons_engine::Model>, text: &str| {
        let tokens = model.tokenize(text, true).unwrap();
        // One new token, so the scheduler evaluates the prompt (an `echo` without new
        // tokens goes to the scoring context instead).
        let request = GenerateRequest {
            echo: true,
            ..GenerateRequest::new(Prompt::Tokens(tokens), 1)
        };
        model.generate(request).unwrap()
    };
    let x = "The quick brown fox jumps over the lazy dog and then runs into the forest.";
    let y = "Zebras are African equines with black-and-white striped coats.";
    let model = common::load(config());
    let alone = scored(&model, x).collect_blocking().unwrap();
    let model = common::load(config());
    let other = scored(&model, y);
    let together = scored(&model, x).collect_blocking().unwrap();
    other.collect_blocking().unwrap();
    let lp = |c: &commons_engine::Completion| {
        c.prompt_tokens
            .iter()
            .map(|t| t.logprob)
            .collect::<Vec<_>>()
    };
    assert_eq!(lp(&alone), lp(&together));
}

#[test]
fn dropped_receiver_frees_the_slot() {
    let model = common::load(SchedulerConfig {
        slots: 1,
        context_per_slot: 512,
        ..SchedulerConfig::default()
    });
    let mut running = model.generate(endless()).unwrap();
    first_token(&mut running);
    drop(running);
    // With one slot, this can only finish if the cancelled request gave its slot back.
    let next = model
        .generate(greedy("Say hi.", 4))
        .unwrap()
        .collect_blocking()
        .unwrap();
    assert_eq!(next.done.completion_tokens, 4);
    let stats = model.stats();
    assert_eq!(stats.requests_cancelled, 1);
    assert_eq!(stats.requests_completed, 1);
}

#[test]
fn full_queue_answers_busy_with_retry_after() {
    let model = common::load(SchedulerConfig {
        slots: 1,
        queue_depth: 1,
        context_per_slot: 512,
        ..SchedulerConfig::default()
    });
    let mut running = model.generate(endless()).unwrap();
    first_token(&mut running); // now in the slot, the queue is empty
    let queued = model.generate(greedy("Say hi.", 2)).expect("one may wait");
    let err = model.generate(greedy("Say hi.", 2)).unwrap_err();
    match &err {
        EngineError::Busy {
            retry_after_secs, ..
        } => assert!(*retry_after_secs >= 1),
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(err.retry_after_secs().is_some());
    assert!(err.hint().is_some());
    drop(running);
    let out = queued.collect_blocking().unwrap();
    assert_eq!(out.done.completion_tokens, 2);
    assert!(out.done.timings.queued_ns > 0);
}

#[test]
fn shared_prefix_is_not_evaluated_again() {
    let model = common::load(SchedulerConfig {
        slots: 2,
        context_per_slot: 1024,
        ..SchedulerConfig::default()
    });
    let document = "Commons keeps open models with their provenance. ".repeat(20);
    let ask = |question: &str| {
        let prompt = common::chat_prompt(&format!("{document}\n\n{question}"));
        GenerateRequest::new(prompt, 2)
    };
    let document_tokens = model
        .tokenize(&common::chat_prompt(&document), false)
        .unwrap()
        .len();

    let first = model
        .generate(ask("Summarise."))
        .unwrap()
        .collect_blocking()
        .unwrap();
    assert_eq!(first.done.prompt_tokens_cached, 0);
    let evaluated_before = model.stats().prompt_tokens_evaluated;
    assert_eq!(evaluated_before, first.done.prompt_tokens as u64);

    // Same slot: only the new question is evaluated.
    let second = model
        .generate(ask("What does it keep?"))
        .unwrap()
        .collect_blocking()
        .unwrap();
    let evaluated = model.stats().prompt_tokens_evaluated - evaluated_before;
    assert!(
        second.done.prompt_tokens_cached + 20 >= document_tokens,
        "cached {} of ~{document_tokens}",
        second.done.prompt_tokens_cached
    );
    assert_eq!(
        evaluated as usize,
        second.done.prompt_tokens - second.done.prompt_tokens_cached
    );
    assert!(evaluated < 40, "evaluated {evaluated} prompt tokens again");

    // Two at once: one reuses its own slot, the other gets the prefix copied from it.
    let third = model.generate(ask("Who keeps it?")).unwrap();
    let fourth = model.generate(ask("Is it open?")).unwrap();
    let third = third.collect_blocking().unwrap();
    let fourth = fourth.collect_blocking().unwrap();
    for done in [&third.done, &fourth.done] {
        assert!(
            done.prompt_tokens_cached + 20 >= document_tokens,
            "cached {}",
            done.prompt_tokens_cached
        );
    }
    let stats = model.stats();
    assert_eq!(
        stats.prompt_tokens_cached,
        (second.done.prompt_tokens_cached
            + third.done.prompt_tokens_cached
            + fourth.done.prompt_tokens_cached) as u64
    );
}

#[test]
fn a_prefix_copied_between_kv_streams_answers_like_a_fresh_evaluation() {
    // Without batch invariance every slot has a KV stream of its own, and a shared
    // prefix is copied stream to stream (then cut to the prefix). The copy must hold
    // the same cells a fresh evaluation computes.
    let config = SchedulerConfig {
        slots: 2,
        context_per_slot: 1024,
        batch_invariant: false,
        ..SchedulerConfig::default()
    };
    let document = "Commons keeps open models with their provenance. ".repeat(20);
    let ask = |question: &str| {
        let mut request =
            GenerateRequest::new(common::chat_prompt(&format!("{document}\n\n{question}")), 4);
        request.sampling.ignore_eos = true;
        request
    };
    let solo = common::load(config.clone())
        .generate(ask("What does it keep?"))
        .unwrap()
        .collect_blocking()
        .unwrap();

    let model = common::load(config);
    // The first slot holds the document and stays busy, so the second request gets
    // the other slot and the prefix copied from the busy one.
    let mut busy = model
        .generate(ask("Summarise in a thousand words."))
        .unwrap();
    first_token(&mut busy);
    let copied = model
        .generate(ask("What does it keep?"))
        .unwrap()
        .collect_blocking()
        .unwrap();
    drop(busy);
    assert!(
        copied.done.prompt_tokens_cached + 20 >= solo.done.prompt_tokens,
        "cached {} of {}",
        copied.done.prompt_tokens_cached,
        solo.done.prompt_tokens
    );
    assert_eq!(copied.text, solo.text);
}

#[test]
fn many_queued_requests_all_complete_and_stats_settle() {
    // Also exercises the faster, non-batch-invariant configuration.
    let model = common::load(SchedulerConfig {
        slots: 2,
        context_per_slot: 256,
        batch_invariant: false,
        ..SchedulerConfig::default()
    });
    let streams: Vec<_> = (0..6)
        .map(|i| model.generate(greedy(QUESTIONS[i], 3)).unwrap())
        .collect();
    for stream in streams {
        assert_eq!(stream.collect_blocking().unwrap().done.completion_tokens, 3);
    }
    // The scheduler publishes its idle state right after the last step.
    std::thread::sleep(Duration::from_millis(50));
    let stats = model.stats();
    assert_eq!(stats.requests_completed, 6);
    assert_eq!(stats.queued, 0);
    assert_eq!(stats.active_slots, 0);
}

#[test]
fn manager_loads_on_first_use_and_honours_keep_alive_zero() {
    use commons_engine::{LlamaEngine, LoadOptions, ManagerConfig, ModelManager};
    use std::sync::Arc;
    let manager = ModelManager::new(
        Arc::new(LlamaEngine::new()),
        ManagerConfig {
            load_options: LoadOptions {
                scheduler: SchedulerConfig {
                    slots: 1,
                    context_per_slot: 256,
                    threads: common::threads(),
                    ..SchedulerConfig::default()
                },
                ..LoadOptions::default()
            },
            ..ManagerConfig::default()
        },
    );
    let path = common::model_path();
    let lease = manager.acquire("smollm2", &path, None).expect("loads");
    assert!(lease.load_ns > 0);
    let out = lease
        .generate(greedy("Hi", 2))
        .unwrap()
        .collect_blocking()
        .unwrap();
    assert_eq!(out.done.completion_tokens, 2);
    drop(lease);
    let loaded = manager.loaded();
    assert_eq!(loaded.len(), 1);
    assert!(loaded[0].expires_at.is_some());
    assert!(loaded[0].memory_bytes > loaded[0].size_bytes);

    // Already loaded: no load time; keep_alive 0 unloads once the request is done.
    let lease = manager
        .acquire("smollm2", &path, Some(Duration::ZERO))
        .unwrap();
    assert_eq!(lease.load_ns, 0);
    drop(lease);
    assert!(manager.loaded().is_empty());

    let missing = manager.acquire(
        "nope",
        std::path::Path::new("/nonexistent/model.gguf"),
        None,
    );
    let err = missing.err().expect("missing file fails");
    assert!(matches!(err, EngineError::ModelNotFound { .. }));
    assert!(err.hint().is_some());
}
