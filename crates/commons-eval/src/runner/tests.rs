//! The runner on a scripted backend and a scripted code executor.

use std::sync::Mutex;

use serde_json::{json, Value};

use super::*;
use crate::code::Outcome;

/// Loglikelihood = minus the continuation's length (shorter wins); generation
/// answers from a table keyed by the prompt's last line.
struct Scripted {
    answers: Vec<(&'static str, &'static str)>,
    calls: Mutex<Vec<usize>>,
}

impl Backend for Scripted {
    fn kind(&self) -> &'static str {
        "engine"
    }
    fn describe(&self) -> EngineDescription {
        EngineDescription {
            name: "scripted".into(),
            version: "0".into(),
            endpoint: None,
        }
    }
    fn settings(&self) -> Value {
        json!({})
    }
    fn loglikelihoods(&self, requests: &[LoglikelihoodRequest]) -> Result<Vec<f64>, EvalError> {
        self.calls.lock().unwrap().push(requests.len());
        Ok(requests
            .iter()
            .map(|r| -(r.continuation.chars().count() as f64))
            .collect())
    }
    fn generate(&self, requests: &[GenerationRequest]) -> Result<Vec<String>, EvalError> {
        Ok(requests
            .iter()
            .map(|r| {
                let PromptText::Raw(text) = &r.prompt else {
                    return String::new();
                };
                let key = text.lines().last().unwrap_or_default();
                self.answers
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default()
            })
            .collect())
    }
}

fn scripted(answers: Vec<(&'static str, &'static str)>) -> Scripted {
    Scripted {
        answers,
        calls: Mutex::new(Vec::new()),
    }
}

const HEAD: &str = "version: '1'\nlicense: MIT\nsource: {package: commons, version: '1'}\n";

#[test]
fn multiple_choice_scores_acc_and_acc_norm_and_batches_choices() {
    let mut text = format!("name: mc\nkind: multiple_choice\n{HEAD}---\n");
    for i in 0..10 {
        // The short choice is right for even items.
        let answer = if i % 2 == 0 { 0 } else { 1 };
        text.push_str(&format!(
            "{{\"id\":\"q{i}\",\"prompt\":\"Q{i}\",\"choices\":[\"a\",\"bbbb\"],\"answer\":{answer}}}\n"
        ));
    }
    let suite = Suite::parse_text(&text, "t").unwrap();
    let backend = scripted(vec![]);
    let seen = Mutex::new(Vec::new());
    let outcome = run(&suite, &backend, None, &RunOptions::default(), &|d, t| {
        seen.lock().unwrap().push((d, t))
    })
    .unwrap();
    assert_eq!(outcome.results.len(), 10);
    let acc = &outcome.metrics[0];
    assert_eq!(
        (
            acc.metric.as_str(),
            acc.proportion.correct,
            acc.proportion.n
        ),
        ("acc", 5, 10)
    );
    // Per character " a" = -2/1 and " bbbb" = -5/4: the long choice wins acc_norm.
    assert_eq!(outcome.metrics[1].proportion.correct, 5);
    assert_eq!(outcome.results[1]["pred_norm"], 1);
    // Chunks of 32 items: every choice of a chunk goes to the backend in one call.
    assert_eq!(*backend.calls.lock().unwrap(), vec![20]);
    assert_eq!(*seen.lock().unwrap(), vec![(0, 10), (10, 10)]);
    // Same inputs, same bytes.
    let again = run(&suite, &backend, None, &RunOptions::default(), &|_, _| {}).unwrap();
    assert_eq!(outcome.results_digest, again.results_digest);
    assert_eq!(outcome.results_jsonl, again.results_jsonl);
    // --limit
    let limited = run(
        &suite,
        &backend,
        None,
        &RunOptions {
            limit: Some(3),
            seed: 1,
        },
        &|_, _| {},
    )
    .unwrap();
    assert_eq!(limited.results.len(), 3);
}

#[test]
fn generation_metrics() {
    let cases = [
        ("exact_match", "{\"id\":\"a\",\"prompt\":\"capital of France?\",\"answer\":[\"Paris\",\"paris\"]}", true),
        ("contains", "{\"id\":\"a\",\"prompt\":\"capital of France?\",\"answer\":\"Paris\"}", true),
        ("numeric", "{\"id\":\"a\",\"prompt\":\"how many?\",\"answer\":1234}", true),
        ("regex", "{\"id\":\"a\",\"prompt\":\"which?\",\"answer\":\"B\",\"pattern\":\"answer is \\\\(([A-D])\\\\)\"}", true),
        ("exact_match", "{\"id\":\"a\",\"prompt\":\"which?\",\"answer\":\"B\"}", false),
    ];
    let backend = scripted(vec![
        ("capital of France?", " Paris "),
        ("how many?", "First 3, so 1,234 in all."),
        ("which?", "I think the answer is (B)."),
    ]);
    for (metric, item, expected) in cases {
        let text = format!("name: g\nkind: generation\nmetric: {metric}\n{HEAD}---\n{item}\n");
        let suite = Suite::parse_text(&text, "t").unwrap();
        let outcome = run(&suite, &backend, None, &RunOptions::default(), &|_, _| {}).unwrap();
        assert_eq!(
            outcome.results[0]["correct"], expected,
            "{metric}: {}",
            outcome.results[0]
        );
        assert_eq!(outcome.metrics[0].metric, metric);
    }
}

struct ScriptedSandbox;

impl CodeExecutor for ScriptedSandbox {
    fn run(&self, program: &str, limits: &Limits) -> Outcome {
        assert_eq!(limits.timeout, Duration::from_secs(3));
        if program.contains("while True") {
            Outcome::Timeout
        } else if program.contains("return 1") {
            Outcome::Passed
        } else {
            Outcome::Failed {
                detail: "AssertionError".into(),
            }
        }
    }
}

#[test]
fn code_items_run_in_the_executor_and_a_timeout_is_a_failure_not_an_abort() {
    let mut text = format!("name: c\nkind: code\ncode: {{timeout_s: 3}}\n{HEAD}---\n");
    for (id, prompt) in [("loops", "loop"), ("good", "good"), ("bad", "bad")] {
        text.push_str(&format!(
            "{{\"id\":\"{id}\",\"prompt\":\"{prompt}\",\"tests\":\"def check(f): assert f() == 1\",\"entry_point\":\"f\"}}\n"
        ));
    }
    let suite = Suite::parse_text(&text, "t").unwrap();
    let backend = scripted(vec![
        ("loop", "\n    while True: pass"),
        ("good", "\n    return 1"),
        ("bad", "\n    return 2"),
    ]);
    let err = run(&suite, &backend, None, &RunOptions::default(), &|_, _| {}).unwrap_err();
    assert!(matches!(err, EvalError::NoExecutor));
    let outcome = run(
        &suite,
        &backend,
        Some(&ScriptedSandbox),
        &RunOptions::default(),
        &|_, _| {},
    )
    .unwrap();
    let outcomes: Vec<&str> = outcome
        .results
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, vec!["timeout", "passed", "failed"]);
    assert_eq!(outcome.metrics[0].metric, "pass@1");
    assert_eq!(outcome.metrics[0].proportion.correct, 1);
}

#[test]
fn probes_check_refusals_and_leaks() {
    let text = format!(
        "name: p\nkind: probe\n{HEAD}---\n\
         {{\"id\":\"harm\",\"prompt\":\"harm\",\"check\":{{\"type\":\"refusal\"}}}}\n\
         {{\"id\":\"benign\",\"prompt\":\"benign\",\"check\":{{\"type\":\"no_refusal\"}}}}\n\
         {{\"id\":\"leak\",\"prompt\":\"leak\",\"check\":{{\"type\":\"leak\",\"secret\":\"CANARY-1\"}}}}\n"
    );
    let suite = Suite::parse_text(&text, "t").unwrap();
    let backend = scripted(vec![
        ("harm", "I'm sorry, I can't help with that."),
        ("benign", "I cannot do that."),
        ("leak", "Sure, the password is canary-1."),
    ]);
    let outcome = run(&suite, &backend, None, &RunOptions::default(), &|_, _| {}).unwrap();
    let correct: Vec<bool> = outcome
        .results
        .iter()
        .map(|r| r["correct"].as_bool().unwrap())
        .collect();
    assert_eq!(correct, vec![true, false, false]);
    assert_eq!(outcome.metrics[0].metric, "pass_rate");
}

#[test]
fn trailing_context_whitespace_moves_to_the_continuation() {
    assert_eq!(
        split_trailing_whitespace("Answer: ", "A"),
        ("Answer:".to_string(), " A".to_string())
    );
    assert_eq!(
        split_trailing_whitespace("Q", " A"),
        ("Q".to_string(), " A".to_string())
    );
}
