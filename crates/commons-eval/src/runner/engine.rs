//! The local backend: a model loaded by `commons-engine`, driven directly.
//!
//! Loglikelihoods come from the engine's scoring context (`Model::score`): each
//! question's context is evaluated once, its choices together, and the numbers
//! depend on nothing else, so results reproduce bit for bit. Generations go
//! through the scheduler: every request of a chunk is submitted before any is
//! collected, so it batches them across its slots; results are read back in
//! submission order.

use std::collections::VecDeque;
use std::sync::Arc;

use commons_engine::{
    ChatMessage, ChatTemplate, EngineError, GenerateRequest, GenerationStream, Model, Prompt,
    SamplingParams, SchedulerConfig, ScoreRequest,
};
use serde_json::{json, Value};

use super::{
    split_trailing_whitespace, Backend, EngineDescription, GenerationRequest, LoglikelihoodRequest,
};
use crate::error::EvalError;
use crate::prompt::PromptText;
use crate::scoring;

pub struct EngineBackend {
    model: Arc<dyn Model>,
    engine_name: String,
    scheduler: SchedulerConfig,
    chat_template: Option<ChatTemplate>,
}

fn backend_error(e: impl std::fmt::Display) -> EvalError {
    EvalError::Backend {
        backend: "engine",
        message: e.to_string(),
    }
}

impl EngineBackend {
    /// `scheduler` is the configuration the model was loaded with (recorded in results).
    pub fn new(model: Arc<dyn Model>, engine_name: &str, scheduler: SchedulerConfig) -> Self {
        // A model without a chat template can still run non-chat suites.
        let chat_template = model.chat_template(None).ok();
        Self {
            model,
            engine_name: engine_name.to_string(),
            scheduler,
            chat_template,
        }
    }

    fn render(&self, prompt: &PromptText) -> Result<String, EvalError> {
        match prompt {
            PromptText::Raw(text) => Ok(text.clone()),
            PromptText::Chat { system, user } => {
                let template = self.chat_template.as_ref().ok_or_else(|| {
                    backend_error("the suite is a chat suite but the model has no chat template")
                })?;
                let mut messages = Vec::new();
                if let Some(system) = system {
                    messages.push(ChatMessage::new("system", system.clone()));
                }
                messages.push(ChatMessage::new("user", user.clone()));
                template
                    .render(&messages, None, true)
                    .map_err(backend_error)
            }
        }
    }

    /// Context and whole-sequence tokens, split as lm-eval does: the continuation's
    /// tokens are those of `context + continuation` past the context's own tokens.
    fn encode_pair(&self, request: &LoglikelihoodRequest) -> Result<(Vec<u32>, usize), EvalError> {
        let context = self.render(&request.context)?;
        let (context, continuation) = split_trailing_whitespace(&context, &request.continuation);
        let whole = self
            .model
            .tokenize(&format!("{context}{continuation}"), true)
            .map_err(backend_error)?;
        let context_len = self
            .model
            .tokenize(&context, true)
            .map_err(backend_error)?
            .len();
        if context_len == 0 {
            return Err(backend_error(
                "the context is empty and the model adds no BOS: the first token cannot be scored",
            ));
        }
        let context_len = context_len.min(whole.len());
        Ok((whole, context_len))
    }

    /// Submits `jobs` keeping at most the scheduler's queue depth waiting, and
    /// collects their results in order with `finish`.
    fn pipeline<J, R>(
        &self,
        jobs: Vec<J>,
        request: impl Fn(&J) -> GenerateRequest,
        finish: impl Fn(&J, commons_engine::Completion) -> Result<R, EvalError>,
    ) -> Result<Vec<R>, EvalError> {
        let window = (self.scheduler.queue_depth + self.scheduler.slots).max(1);
        let mut in_flight: VecDeque<(J, GenerationStream)> = VecDeque::new();
        let mut out = Vec::with_capacity(jobs.len());
        let collect = |(job, stream): (J, GenerationStream)| -> Result<R, EvalError> {
            let completion = stream.collect_blocking().map_err(backend_error)?;
            finish(&job, completion)
        };
        for job in jobs {
            if in_flight.len() >= window {
                if let Some(front) = in_flight.pop_front() {
                    out.push(collect(front)?);
                }
            }
            loop {
                match self.model.generate(request(&job)) {
                    Ok(stream) => {
                        in_flight.push_back((job, stream));
                        break;
                    }
                    // The queue is shared with other users of the model: drain ours and retry.
                    Err(EngineError::Busy { .. }) if !in_flight.is_empty() => {
                        if let Some(front) = in_flight.pop_front() {
                            out.push(collect(front)?);
                        }
                    }
                    Err(e) => return Err(backend_error(e)),
                }
            }
        }
        while let Some(front) = in_flight.pop_front() {
            out.push(collect(front)?);
        }
        Ok(out)
    }
}

impl Backend for EngineBackend {
    fn kind(&self) -> &'static str {
        "engine"
    }

    fn describe(&self) -> EngineDescription {
        EngineDescription {
            name: self.engine_name.clone(),
            version: crate::VERSION.to_string(),
            endpoint: None,
        }
    }

    fn settings(&self) -> Value {
        // Slots, context and batch invariance decide how generation prompts are batched
        // and so, without batch invariance, the last bits of logprobs. Threads do not.
        // Loglikelihoods depend on none of them (`Model::score`).
        json!({
            "slots": self.scheduler.slots,
            "context_per_slot": self.scheduler.context_per_slot,
            "batch_size": self.scheduler.batch_size,
            "batch_invariant": self.scheduler.batch_invariant,
        })
    }

    fn loglikelihoods(&self, requests: &[LoglikelihoodRequest]) -> Result<Vec<f64>, EvalError> {
        // Consecutive pairs with the same context tokens (a question's choices) become one
        // scoring request, so the context is evaluated once; the engine's scoring context
        // makes every number independent of that grouping (commons_engine::score).
        let mut groups: Vec<ScoreRequest> = Vec::new();
        for request in requests {
            let (tokens, context_len) = self.encode_pair(request)?;
            let (context, continuation) = tokens.split_at(context_len);
            match groups.last_mut() {
                Some(group) if group.context == context => {
                    group.continuations.push(continuation.to_vec());
                }
                _ => groups.push(ScoreRequest {
                    context: context.to_vec(),
                    continuations: vec![continuation.to_vec()],
                    top_logprobs: 0,
                }),
            }
        }
        let scores = self.model.score(&groups).map_err(backend_error)?;
        // Summed in f64 in token order: the same logprobs give the same bits.
        Ok(scores
            .iter()
            .flatten()
            .map(|tokens| tokens.iter().map(|t| f64::from(t.logprob)).sum())
            .collect())
    }

    fn generate(&self, requests: &[GenerationRequest]) -> Result<Vec<String>, EvalError> {
        let jobs = requests
            .iter()
            .map(|r| Ok((self.render(&r.prompt)?, r)))
            .collect::<Result<Vec<_>, EvalError>>()?;
        self.pipeline(
            jobs,
            |(text, request)| GenerateRequest {
                sampling: SamplingParams {
                    seed: Some(request.seed),
                    ..SamplingParams::greedy()
                },
                stop: request.stop.clone(),
                ..GenerateRequest::new(Prompt::Text(text.clone()), request.max_tokens)
            },
            |(_, request), completion| Ok(scoring::cut_at_stop(&completion.text, &request.stop)),
        )
    }
}
