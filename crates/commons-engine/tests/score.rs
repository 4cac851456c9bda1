//! `Model::score` on the real model: the same bits as a lone evaluation, whatever
//! the grouping, order or history.

mod common;

use std::sync::Arc;

use commons_engine::{GenerateRequest, Model, Prompt, SchedulerConfig, ScoreRequest};

const PREAMBLE: &str = "Answer each question with one word.\n\nQ: What colour is grass?\nA: green\n\nQ: What do bees make?\nA: honey\n\n";

fn questions(model: &dyn Model) -> Vec<ScoreRequest> {
    let items = [
        (
            "What colour is the sky on a clear day?",
            [" blue", " red", " a deep shade of purple"],
        ),
        (
            "What animal says moo?",
            [" cow", " dog", " the small grey mouse"],
        ),
        (
            "What is frozen water called?",
            [" ice", " steam", " liquid sunshine"],
        ),
    ];
    items
        .iter()
        .map(|(question, choices)| ScoreRequest {
            context: model
                .tokenize(&format!("{PREAMBLE}Q: {question}\nA:"), true)
                .unwrap(),
            continuations: choices
                .iter()
                .map(|c| model.tokenize(c, false).unwrap())
                .collect(),
            top_logprobs: 0,
        })
        .collect()
}

/// The continuation's logprobs from the scheduler's `echo` on a fresh one-slot model (nothing
/// else in its cache). One new token is asked for, so the scheduler (not the scoring
/// context, which answers `echo` without new tokens) evaluates the prompt.
fn echoed(request: &ScoreRequest, continuation: &[u32]) -> Vec<f32> {
    let model = common::load(SchedulerConfig {
        slots: 1,
        context_per_slot: 256,
        ..SchedulerConfig::default()
    });
    let mut tokens = request.context.clone();
    tokens.extend_from_slice(continuation);
    let completion = model
        .generate(GenerateRequest {
            echo: true,
            ..GenerateRequest::new(Prompt::Tokens(tokens), 1)
        })
        .unwrap()
        .collect_blocking()
        .unwrap();
    completion.prompt_tokens[request.context.len()..]
        .iter()
        .map(|t| t.logprob.unwrap())
        .collect()
}

fn scorer_model() -> Arc<dyn Model> {
    common::load(SchedulerConfig {
        slots: 1,
        context_per_slot: 512,
        ..SchedulerConfig::default()
    })
}

#[test]
fn scores_equal_a_lone_echo_bit_for_bit() {
    let model = scorer_model();
    let requests = questions(model.as_ref());
    let scores = model.score(&requests).unwrap();
    // One question's choices, each against its own fresh model.
    for (j, continuation) in requests[1].continuations.iter().enumerate() {
        let logprobs: Vec<f32> = scores[1][j].iter().map(|t| t.logprob).collect();
        assert_eq!(logprobs, echoed(&requests[1], continuation), "choice {j}");
    }
    // The right answer wins on every question (a sanity check on the numbers).
    for (i, per_choice) in scores.iter().enumerate() {
        let sums: Vec<f32> = per_choice
            .iter()
            .map(|tokens| tokens.iter().map(|t| t.logprob).sum())
            .collect();
        assert!(
            sums[0] > sums[1] && sums[0] > sums[2],
            "question {i}: {sums:?}"
        );
    }
}

#[test]
fn grouping_order_and_history_do_not_change_a_bit() {
    let model = scorer_model();
    let requests = questions(model.as_ref());
    let together = model.score(&requests).unwrap();
    // Reversed, one by one, and after unrelated work in between.
    let reversed: Vec<_> = requests.iter().rev().cloned().collect();
    let mut back = model.score(&reversed).unwrap();
    back.reverse();
    assert_eq!(together, back);
    let noise = ScoreRequest {
        context: model.tokenize("Zebras have stripes.", true).unwrap(),
        continuations: vec![model.tokenize(" Lions have manes.", false).unwrap()],
        top_logprobs: 0,
    };
    for (i, request) in requests.iter().enumerate() {
        model.score(std::slice::from_ref(&noise)).unwrap();
        let alone = model.score(std::slice::from_ref(request)).unwrap();
        assert_eq!(alone[0], together[i], "question {i}");
    }
    // A second model instance (fresh caches) agrees too.
    assert_eq!(scorer_model().score(&requests).unwrap(), together);
}

#[test]
fn bad_requests_are_refused() {
    let model = common::shared();
    let vocab = model.info().vocab_size as u32;
    let bad_token = ScoreRequest {
        context: vec![1, 2],
        continuations: vec![vec![vocab]],
        top_logprobs: 0,
    };
    assert!(model.score(&[bad_token]).is_err());
    let empty = ScoreRequest {
        context: Vec::new(),
        continuations: vec![vec![1]],
        top_logprobs: 0,
    };
    assert!(model.score(&[empty]).is_err());
    // The worker still answers afterwards.
    let ok = ScoreRequest {
        context: vec![1, 2],
        continuations: vec![vec![3]],
        top_logprobs: 0,
    };
    assert_eq!(model.score(&[ok]).unwrap()[0][0].len(), 1);
}

#[test]
fn a_batch_size_one_past_the_micro_batch_still_decodes() {
    // 64 tokens split into micro-batches of 63 leave one token, which gets a padding
    // partner: the context must take batch_size + 1 tokens per call.
    let config = SchedulerConfig {
        slots: 1,
        context_per_slot: 512,
        batch_size: 64,
        ..SchedulerConfig::default()
    };
    let model = common::load(config);
    let long = "one two three four five six seven eight nine ten ".repeat(12);
    let request = ScoreRequest {
        context: model.tokenize(&long, true).unwrap(),
        continuations: vec![model.tokenize(" eleven", false).unwrap()],
        top_logprobs: 0,
    };
    assert!(request.context.len() > 64);
    let scores = model.score(std::slice::from_ref(&request)).unwrap();
    assert_eq!(scores, scorer_model().score(&[request]).unwrap());
    // The scheduler too: a generation over the same prompt.
    let tokens = model.tokenize(&long, true).unwrap();
    let completion = model
        .generate(GenerateRequest::new(Prompt::Tokens(tokens), 2))
        .unwrap()
        .collect_blocking()
        .unwrap();
    assert_eq!(completion.done.completion_tokens, 2);
}
