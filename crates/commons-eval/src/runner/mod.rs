//! Scoring a suite against a backend: a local model through the engine
//! ([`engine::EngineBackend`]) or any OpenAI-compatible endpoint
//! ([`openai::OpenAiBackend`]).
//!
//! Items are sent in chunks so a backend can batch them: all choices of all the
//! multiple-choice items of a chunk go out together (the engine scores them in
//! shared decode steps, each context once). Results come back in item
//! order whatever order the backend finished in, and every number recorded is
//! computed the same way each time, so the same model, suite and settings give
//! the same per-item results byte for byte (on a batch-invariant engine).

pub mod engine;
pub mod openai;

use std::time::{Duration, Instant};

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::code::{self, CodeExecutor, Limits};
use crate::digest::{canonical_jsonl, sha256_digest};
use crate::error::EvalError;
use crate::prompt::{self, PromptText};
use crate::scoring;
use crate::stats::Proportion;
use crate::suite::{Item, Kind, Metric, Suite, Task};

/// Loglikelihood of `continuation` right after `context`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoglikelihoodRequest {
    pub context: PromptText,
    pub continuation: String,
}

/// A greedy generation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationRequest {
    pub prompt: PromptText,
    pub max_tokens: u32,
    pub stop: Vec<String>,
    pub seed: u32,
}

/// What ran the model, as recorded in an attestation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineDescription {
    /// `llama.cpp` for the local engine; for an endpoint, what it says it is (or `openai-compatible`).
    pub name: String,
    /// The commons version that drove it.
    pub version: String,
    /// The endpoint's base URL, when scored over HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// A model as the runner sees it.
pub trait Backend: Sync {
    /// `engine` or `openai`.
    fn kind(&self) -> &'static str;
    fn describe(&self) -> EngineDescription;
    /// Settings of the backend that can change results (recorded and replayed).
    fn settings(&self) -> Value;
    /// One loglikelihood per request, in order.
    fn loglikelihoods(&self, requests: &[LoglikelihoodRequest]) -> Result<Vec<f64>, EvalError>;
    /// One output text per request, in order, already cut at its stop strings.
    fn generate(&self, requests: &[GenerationRequest]) -> Result<Vec<String>, EvalError>;
}

/// Settings of a run that are not the backend's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    /// Score only the first N items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Seed for generation (greedy decoding does not use it, but endpoints may).
    pub seed: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            limit: None,
            seed: 42,
        }
    }
}

/// One metric of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    pub metric: String,
    #[serde(flatten)]
    pub proportion: Proportion,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub metrics: Vec<MetricValue>,
    /// One JSON object per item, in suite order (see docs/eval.md "Per-item results").
    pub results: Vec<Value>,
    /// Canonical JSON Lines of `results`.
    pub results_jsonl: Vec<u8>,
    /// `sha256:` of `results_jsonl`.
    pub results_digest: String,
    pub elapsed: Duration,
}

impl RunOutcome {
    pub fn items_per_second(&self) -> f64 {
        self.results.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Generation items per backend call: enough to fill the engine's slots several
/// times over, few enough that progress moves.
const CHUNK: usize = 8;

/// Multiple-choice items per backend call: more, so that items sharing context
/// (few-shot examples, several questions on one passage) meet in one call.
const CHOICE_CHUNK: usize = 32;

/// Scores `suite` (its first `options.limit` items) on `backend`.
/// `progress(done, total)` is called after every chunk.
pub fn run(
    suite: &Suite,
    backend: &dyn Backend,
    executor: Option<&dyn CodeExecutor>,
    options: &RunOptions,
    progress: &dyn Fn(usize, usize),
) -> Result<RunOutcome, EvalError> {
    let started = Instant::now();
    let count = options
        .limit
        .unwrap_or(suite.items.len())
        .min(suite.items.len());
    let items = &suite.items[..count];
    if suite.header.kind == Kind::Code && executor.is_none() {
        return Err(EvalError::NoExecutor);
    }
    let scorer = Scorer::new(suite)?;
    let mut results = Vec::with_capacity(count);
    progress(0, count);
    let chunk_size = match suite.header.kind {
        Kind::MultipleChoice => CHOICE_CHUNK,
        _ => CHUNK,
    };
    for chunk in items.chunks(chunk_size) {
        let scored = match suite.header.kind {
            Kind::MultipleChoice => scorer.multiple_choice(backend, chunk)?,
            _ => scorer.generated(backend, executor, chunk, options.seed)?,
        };
        results.extend(scored);
        progress(results.len(), count);
    }
    let metrics = metrics(suite, &results);
    let results_jsonl = canonical_jsonl(&results);
    let results_digest = sha256_digest(&results_jsonl);
    Ok(RunOutcome {
        metrics,
        results,
        results_jsonl,
        results_digest,
        elapsed: started.elapsed(),
    })
}

/// Proportions over the per-item verdicts (`correct`, and `correct_norm` for acc_norm).
pub fn metrics(suite: &Suite, results: &[Value]) -> Vec<MetricValue> {
    let n = results.len() as u64;
    suite
        .header
        .metrics()
        .into_iter()
        .map(|metric| {
            let field = if metric == Metric::AccNorm {
                "correct_norm"
            } else {
                "correct"
            };
            let k = results
                .iter()
                .filter(|r| r[field].as_bool() == Some(true))
                .count() as u64;
            MetricValue {
                metric: metric.as_str().to_string(),
                proportion: Proportion::new(k, n),
            }
        })
        .collect()
}

struct Scorer<'a> {
    suite: &'a Suite,
    metric: Metric,
    header_pattern: Option<Regex>,
    refusal_markers: Vec<String>,
}

impl<'a> Scorer<'a> {
    fn new(suite: &'a Suite) -> Result<Self, EvalError> {
        let header = &suite.header;
        let header_pattern = header
            .generation
            .as_ref()
            .and_then(|g| g.pattern.as_deref())
            .map(compile)
            .transpose()?;
        let refusal_markers = header.refusal_markers.clone().unwrap_or_else(|| {
            scoring::DEFAULT_REFUSAL_MARKERS
                .iter()
                .map(|m| m.to_string())
                .collect()
        });
        Ok(Self {
            suite,
            metric: header.metrics().first().copied().unwrap_or(Metric::Acc),
            header_pattern,
            refusal_markers,
        })
    }

    fn multiple_choice(
        &self,
        backend: &dyn Backend,
        items: &[Item],
    ) -> Result<Vec<Value>, EvalError> {
        let target = self
            .suite
            .header
            .prompt_settings()
            .target_delimiter()
            .to_string();
        let mut requests = Vec::new();
        for item in items {
            let context = prompt::build(&self.suite.header, item);
            if let Task::MultipleChoice { choices, .. } = &item.task {
                for choice in choices {
                    requests.push(LoglikelihoodRequest {
                        context: context.clone(),
                        continuation: format!("{target}{choice}"),
                    });
                }
            }
        }
        let lls = backend.loglikelihoods(&requests)?;
        let mut offset = 0;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let Task::MultipleChoice { choices, answer } = &item.task else {
                continue;
            };
            let item_lls =
                lls.get(offset..offset + choices.len())
                    .ok_or_else(|| EvalError::Backend {
                        backend: backend.kind(),
                        message: format!(
                            "{} loglikelihoods for {} requests",
                            lls.len(),
                            requests.len()
                        ),
                    })?;
            offset += choices.len();
            let (pred, pred_norm) = scoring::pick_choice(item_lls, choices);
            out.push(json!({
                "id": item.id,
                "answer": answer,
                "loglikelihoods": item_lls,
                "pred": pred,
                "pred_norm": pred_norm,
                "correct": pred == *answer,
                "correct_norm": pred_norm == *answer,
            }));
        }
        Ok(out)
    }

    fn generated(
        &self,
        backend: &dyn Backend,
        executor: Option<&dyn CodeExecutor>,
        items: &[Item],
        seed: u32,
    ) -> Result<Vec<Value>, EvalError> {
        let generation = self.suite.header.generation_settings();
        let requests: Vec<GenerationRequest> = items
            .iter()
            .map(|item| GenerationRequest {
                prompt: prompt::build(&self.suite.header, item),
                max_tokens: generation.max_tokens(),
                stop: generation.stop().to_vec(),
                seed,
            })
            .collect();
        let outputs = backend.generate(&requests)?;
        items
            .iter()
            .zip(outputs)
            .map(|(item, output)| self.judge(item, output, executor))
            .collect()
    }

    fn judge(
        &self,
        item: &Item,
        output: String,
        executor: Option<&dyn CodeExecutor>,
    ) -> Result<Value, EvalError> {
        Ok(match &item.task {
            Task::Generation { answers, pattern } => {
                let pattern = match pattern {
                    Some(p) => Some(compile(p)?),
                    None => self.header_pattern.clone(),
                };
                let (extracted, correct) = match self.metric {
                    Metric::Regex => {
                        let got = pattern
                            .as_ref()
                            .and_then(|p| scoring::regex_extract(p, &output));
                        let ok = got
                            .as_deref()
                            .is_some_and(|g| scoring::exact_match(g, answers));
                        (got, ok)
                    }
                    Metric::Numeric => {
                        let got = match &pattern {
                            Some(p) => scoring::regex_extract(p, &output),
                            None => scoring::last_number(&output),
                        };
                        let value = got.as_deref().and_then(scoring::parse_number);
                        let ok = value.is_some_and(|v| {
                            answers
                                .iter()
                                .filter_map(|a| scoring::parse_number(a))
                                .any(|a| scoring::numbers_equal(v, a))
                        });
                        (got, ok)
                    }
                    Metric::Contains => (None, scoring::contains(&output, answers)),
                    _ => (None, scoring::exact_match(&output, answers)),
                };
                json!({"id": item.id, "output": output, "extracted": extracted, "correct": correct})
            }
            Task::Code { tests, entry_point } => {
                let executor = executor.ok_or(EvalError::NoExecutor)?;
                let settings = self.suite.header.code_settings();
                let limits = Limits {
                    timeout: Duration::from_secs(u64::from(settings.timeout_s())),
                    memory_bytes: u64::from(settings.memory_mb()) << 20,
                };
                let program = code::program(&item.prompt, &output, tests, entry_point);
                let outcome = executor.run(&program, &limits);
                json!({"id": item.id, "completion": output, "outcome": outcome.label(), "correct": outcome.passed()})
            }
            Task::Probe { check } => {
                let refused = scoring::is_refusal(&output, &self.refusal_markers);
                let passed = scoring::probe_passes(check, &output, refused);
                json!({"id": item.id, "output": output, "refused": refused, "correct": passed})
            }
            Task::MultipleChoice { .. } => {
                return Err(EvalError::Backend {
                    backend: "runner",
                    message: format!("item {:?} is multiple choice in a generation run", item.id),
                })
            }
        })
    }
}

fn compile(pattern: &str) -> Result<Regex, EvalError> {
    Regex::new(pattern).map_err(|e| EvalError::InvalidSuite {
        origin: "pattern".into(),
        problems: vec![e.to_string()],
    })
}

/// lm-eval's split of a context/continuation pair: trailing whitespace of the
/// context moves to the continuation, so `"Q: x? "` + `"A"` scores `" A"`.
pub fn split_trailing_whitespace(context: &str, continuation: &str) -> (String, String) {
    let trimmed = context.trim_end();
    let moved = &context[trimmed.len()..];
    (trimmed.to_string(), format!("{moved}{continuation}"))
}

#[cfg(test)]
mod tests;
