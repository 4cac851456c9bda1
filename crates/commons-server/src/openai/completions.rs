//! `POST /v1/completions`: the legacy text completion, which lm-eval's `local-completions`
//! uses to score log-likelihoods (`max_tokens: 0`, `echo: true`, `logprobs: N`).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use commons_engine::{Done, Event, GenerateRequest, Model, Prompt};
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};

use super::logprobs::LegacyLogprobs;
use super::types::{check_max_tokens, check_n, CompletionRequest};
use super::{check_fits, finish_reason, usage};
use crate::error::{ApiError, OpenAiError};
use crate::inference::{fresh_id, unix_now};
use crate::json::parse;
use crate::state::AppState;
use crate::stream::{sse, Generation};

/// OpenAI's default when `max_tokens` is left out.
const DEFAULT_MAX_TOKENS: usize = 16;

/// One prompt as the client gave it.
enum PromptInput {
    Text(String),
    Tokens(Vec<u32>),
}

fn prompts(value: &Value) -> Result<Vec<PromptInput>, ApiError> {
    let invalid = || {
        ApiError::invalid(
            "prompt",
            "prompt must be a string, a list of strings, a list of token ids, or a list of lists of token ids",
        )
    };
    let token = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    match value {
        Value::String(s) => Ok(vec![PromptInput::Text(s.clone())]),
        Value::Array(items) if items.is_empty() => {
            Err(ApiError::invalid("prompt", "prompt must not be empty"))
        }
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(items
            .iter()
            .map(|s| PromptInput::Text(s.as_str().unwrap_or_default().to_string()))
            .collect()),
        Value::Array(items) if items.iter().all(Value::is_number) => {
            let tokens = items.iter().map(token).collect::<Option<Vec<_>>>();
            tokens
                .map(|t| vec![PromptInput::Tokens(t)])
                .ok_or_else(invalid)
        }
        Value::Array(items) if items.iter().all(Value::is_array) => items
            .iter()
            .map(|list| {
                list.as_array()
                    .and_then(|l| l.iter().map(token).collect::<Option<Vec<_>>>())
                    .map(PromptInput::Tokens)
                    .ok_or_else(invalid)
            })
            .collect(),
        _ => Err(invalid()),
    }
}

/// One prompt's running generation and what its choice needs besides the tokens.
struct Job {
    index: usize,
    generation: Generation,
    /// The prompt's text, sent first when `echo`.
    echo_text: Option<String>,
    /// The first echoed token is a BOS this server added, not part of the client's prompt.
    skip_first_prompt_token: bool,
    logprobs: Option<LegacyLogprobs>,
}

pub async fn completions(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, OpenAiError> {
    let started = Instant::now();
    let request: CompletionRequest = parse(&body)?;
    check_n(request.n)?;
    if request.best_of.is_some_and(|b| b > 1) {
        return Err(ApiError::invalid("best_of", "best_of > 1 is not supported").into());
    }
    if request.suffix.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::invalid("suffix", "suffix is not supported").into());
    }
    let model = state.resolve(&request.model)?;
    let inputs = prompts(&request.prompt)?;
    let sampling = request.sampling().params()?;
    let max_tokens =
        check_max_tokens(request.max_tokens, "max_tokens", true)?.unwrap_or(DEFAULT_MAX_TOKENS);
    if request.logprobs.is_some_and(|n| n > 20) {
        return Err(ApiError::invalid("logprobs", "logprobs must be at most 20").into());
    }
    let stop = request
        .stop
        .clone()
        .map(|s| s.into_vec())
        .unwrap_or_default();

    let lease = state.acquire_for_text(&model, None).await?;
    let bos = lease.info().special_tokens.bos.as_ref().map(|b| b.id);
    let mut jobs = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.into_iter().enumerate() {
        let (tokens, echo_text, added_bos) = match input {
            PromptInput::Text(text) => {
                let tokens = lease.tokenize(&text, true)?;
                let plain = lease.tokenize(&text, false)?;
                let added = tokens.len() > plain.len() && tokens.first().copied() == bos;
                (tokens, text, added)
            }
            PromptInput::Tokens(tokens) => {
                let text = lease.detokenize(&tokens)?;
                (tokens, text, false)
            }
        };
        if tokens.is_empty() {
            return Err(ApiError::invalid("prompt", "prompt must not be empty").into());
        }
        let param = if index == 0 {
            "prompt".to_string()
        } else {
            format!("prompt[{index}]")
        };
        check_fits(
            &*lease,
            tokens.len(),
            Some(max_tokens),
            "max_tokens",
            &param,
        )?;
        let score_prompt = request.echo && request.logprobs.is_some();
        let engine_request = GenerateRequest {
            prompt: Prompt::Tokens(tokens),
            sampling: sampling.clone(),
            max_tokens: Some(max_tokens as u32),
            stop: stop.clone(),
            grammar: None,
            logprobs: request.logprobs,
            echo: score_prompt,
            echo_from: 0,
        };
        let stream = lease.generate(engine_request)?;
        let offset = if request.echo {
            0
        } else {
            echo_text.chars().count()
        };
        // Each job holds its own lease so the model stays loaded until the last one ends.
        let job_lease = state.acquire_for_text(&model, None).await?;
        jobs.push(Job {
            index,
            generation: Generation::new(stream, job_lease, started),
            echo_text: request.echo.then_some(echo_text),
            skip_first_prompt_token: added_bos,
            logprobs: request
                .logprobs
                .map(|_| LegacyLogprobs::starting_at(offset)),
        });
    }
    drop(lease);
    let reply = Arc::new(Reply {
        id: fresh_id("cmpl-"),
        created: unix_now(),
        model: model.display_name.clone(),
    });
    if request.stream {
        let include_usage = request.stream_options.unwrap_or_default().include_usage;
        return Ok(sse(stream_jobs(jobs, reply, include_usage)));
    }
    let mut choices = Vec::with_capacity(jobs.len());
    let mut totals = Totals::default();
    for job in jobs {
        let (choice, done) = collect(job).await?;
        totals.add(&done);
        choices.push(choice);
    }
    Ok(axum::Json(json!({
        "id": reply.id,
        "object": "text_completion",
        "created": reply.created,
        "model": reply.model,
        "system_fingerprint": super::SYSTEM_FINGERPRINT,
        "choices": choices,
        "usage": totals.usage(),
    }))
    .into_response())
}

struct Reply {
    id: String,
    created: u64,
    model: String,
}

impl Reply {
    fn chunk(&self, index: usize, text: &str, logprobs: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": super::SYSTEM_FINGERPRINT,
            "choices": [{"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish}],
        })
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    prompt: usize,
    completion: usize,
    cached: usize,
}

impl Totals {
    fn add(&mut self, done: &Done) {
        self.prompt += done.prompt_tokens;
        self.completion += done.completion_tokens;
        self.cached += done.prompt_tokens_cached;
    }

    fn usage(&self) -> Value {
        usage(&Done {
            finish_reason: commons_engine::FinishReason::Stop,
            prompt_tokens: self.prompt,
            prompt_tokens_cached: self.cached,
            completion_tokens: self.completion,
            timings: Default::default(),
        })
    }
}

impl Job {
    /// Record a token's log-probabilities; false if the token is not reported at all.
    fn record(&mut self, model: &dyn Model, token: &commons_engine::TokenEvent, prompt: bool) {
        if prompt && self.skip_first_prompt_token {
            self.skip_first_prompt_token = false;
            return;
        }
        if let Some(logprobs) = self.logprobs.as_mut() {
            logprobs.push(model, token);
        }
    }
}

async fn collect(mut job: Job) -> Result<(Value, Done), ApiError> {
    let mut text = job.echo_text.take().unwrap_or_default();
    let done = loop {
        match job.generation.next().await {
            Some(Event::PromptToken(token)) => {
                let lease = job.generation.lease.model().clone();
                job.record(&*lease, &token, true);
            }
            Some(Event::Token(token)) => {
                text.push_str(&token.text);
                let lease = job.generation.lease.model().clone();
                job.record(&*lease, &token, false);
            }
            Some(Event::Done(done)) => break done,
            Some(Event::Error(error)) => return Err(error.into()),
            None => return Err(ApiError::internal("the model worker stopped")),
        }
    };
    let logprobs = job
        .logprobs
        .as_ref()
        .map(LegacyLogprobs::to_json)
        .unwrap_or(Value::Null);
    let choice = json!({
        "text": text,
        "index": job.index,
        "logprobs": logprobs,
        "finish_reason": finish_reason(&done),
    });
    Ok((choice, done))
}

/// The chunks of every job, one job after the other (they all run at once in the engine;
/// later ones wait in their channels), then the usage chunk if asked for.
fn stream_jobs(
    jobs: Vec<Job>,
    reply: Arc<Reply>,
    include_usage: bool,
) -> impl Stream<Item = Value> {
    let totals = Arc::new(Mutex::new(Totals::default()));
    let per_job = {
        let totals = Arc::clone(&totals);
        let reply = Arc::clone(&reply);
        futures_util::stream::iter(jobs)
            .flat_map(move |job| job_chunks(job, Arc::clone(&reply), Arc::clone(&totals)))
    };
    let usage_chunk = futures_util::stream::once(async move {
        let totals = *totals.lock().unwrap_or_else(|p| p.into_inner());
        include_usage.then(|| {
            json!({
                "id": reply.id,
                "object": "text_completion",
                "created": reply.created,
                "model": reply.model,
                "choices": [],
                "usage": totals.usage(),
            })
        })
    })
    .filter_map(|chunk| async move { chunk });
    per_job.chain(usage_chunk)
}

fn job_chunks(
    job: Job,
    reply: Arc<Reply>,
    totals: Arc<Mutex<Totals>>,
) -> impl Stream<Item = Value> {
    futures_util::stream::unfold(Some(job), move |state| {
        let reply = Arc::clone(&reply);
        let totals = Arc::clone(&totals);
        async move {
            let mut job = state?;
            loop {
                let model = job.generation.lease.model().clone();
                match job.generation.next().await {
                    Some(Event::PromptToken(token)) => job.record(&*model, &token, true),
                    Some(Event::Token(token)) => {
                        job.record(&*model, &token, false);
                        let echo = job.echo_text.take().unwrap_or_default();
                        if token.text.is_empty() && echo.is_empty() {
                            continue;
                        }
                        let logprobs = job
                            .logprobs
                            .as_mut()
                            .map(LegacyLogprobs::drain)
                            .unwrap_or(Value::Null);
                        let text = format!("{echo}{}", token.text);
                        let chunk = reply.chunk(job.index, &text, logprobs, None);
                        return Some((chunk, Some(job)));
                    }
                    Some(Event::Done(done)) => {
                        totals.lock().unwrap_or_else(|p| p.into_inner()).add(&done);
                        let echo = job.echo_text.take().unwrap_or_default();
                        let logprobs = match job.logprobs.as_mut() {
                            Some(l) if !l.is_empty() => l.drain(),
                            _ => Value::Null,
                        };
                        let chunk =
                            reply.chunk(job.index, &echo, logprobs, Some(finish_reason(&done)));
                        return Some((chunk, None));
                    }
                    Some(Event::Error(error)) => {
                        return Some((ApiError::from(error).openai_body(), None));
                    }
                    None => {
                        let error = ApiError::internal("the model worker stopped");
                        return Some((error.openai_body(), None));
                    }
                }
            }
        }
    })
}
