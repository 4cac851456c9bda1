//! Any OpenAI-compatible endpoint (`commons serve`, llama.cpp's server, …), so
//! other runtimes can be scored on the same suite.
//!
//! Loglikelihoods are asked the way lm-eval's `local-completions` asks them:
//! the pair is tokenized by the server (`POST /tokenize`), and the token ids are
//! sent to `/v1/completions` with `echo: true, logprobs: 1, max_tokens: 0`; the
//! continuation's loglikelihood is the sum of the last token logprobs. Sending
//! ids, not text, makes the split between context and continuation exact.
//! Generation uses `/v1/completions` (or `/v1/chat/completions` for chat suites)
//! at temperature 0 with a fixed seed. Requests go out from a few threads at
//! once so the server can batch them.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::{
    split_trailing_whitespace, Backend, EngineDescription, GenerationRequest, LoglikelihoodRequest,
};
use crate::error::EvalError;
use crate::prompt::PromptText;
use crate::scoring;

/// Requests in flight at once (the server's slots batch them).
const PARALLEL: usize = 4;

pub struct OpenAiBackend {
    base: String,
    model: String,
    client: reqwest::blocking::Client,
}

fn backend_error(message: impl Into<String>) -> EvalError {
    EvalError::Backend {
        backend: "openai",
        message: message.into(),
    }
}

impl OpenAiBackend {
    /// `base` is the server's root (`http://127.0.0.1:11434`; a trailing `/v1` is accepted);
    /// `model` is the name the server knows the model by.
    pub fn new(base: &str, model: &str) -> Result<Self, EvalError> {
        let base = base.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base).to_string();
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| backend_error(e.to_string()))?;
        Ok(Self {
            base,
            model: model.to_string(),
            client,
        })
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value, EvalError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .client
            .post(&url)
            .json(body)
            .send()
            .map_err(|e| backend_error(format!("POST {url}: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .map_err(|e| backend_error(format!("POST {url}: {e}")))?;
        if !status.is_success() {
            let snippet: String = text.chars().take(300).collect();
            return Err(backend_error(format!("POST {url}: {status}: {snippet}")));
        }
        serde_json::from_str(&text).map_err(|e| backend_error(format!("POST {url}: not JSON: {e}")))
    }

    fn tokenize(&self, text: &str) -> Result<Vec<u64>, EvalError> {
        let response = self.post(
            "/tokenize",
            &json!({"model": self.model, "content": text, "add_special": true}),
        )?;
        response["tokens"]
            .as_array()
            .and_then(|tokens| tokens.iter().map(Value::as_u64).collect())
            .ok_or_else(|| backend_error("/tokenize did not return a list of token ids"))
    }

    fn text_of(&self, prompt: &PromptText) -> Result<String, EvalError> {
        match prompt {
            PromptText::Raw(text) => Ok(text.clone()),
            PromptText::Chat { system, user } => {
                // The server renders its own chat template; ask it to, as tokens.
                let messages = chat_messages(system.as_deref(), user);
                let response = self.post(
                    "/tokenize",
                    &json!({"model": self.model, "messages": messages, "add_special": false}),
                )?;
                let tokens = response["tokens"].clone();
                let text = self.post(
                    "/detokenize",
                    &json!({"model": self.model, "tokens": tokens}),
                )?;
                text["content"]
                    .as_str()
                    .or_else(|| text["prompt"].as_str())
                    .map(str::to_string)
                    .ok_or_else(|| backend_error("/detokenize did not return text"))
            }
        }
    }

    fn loglikelihood(&self, request: &LoglikelihoodRequest) -> Result<f64, EvalError> {
        let context = self.text_of(&request.context)?;
        let (context, continuation) = split_trailing_whitespace(&context, &request.continuation);
        let whole = self.tokenize(&format!("{context}{continuation}"))?;
        let context_len = self.tokenize(&context)?.len().min(whole.len());
        let continuation_len = whole.len() - context_len;
        let response = self.post(
            "/v1/completions",
            &json!({
                "model": self.model,
                "prompt": whole,
                "max_tokens": 0,
                "echo": true,
                "logprobs": 1,
                "temperature": 0,
            }),
        )?;
        let logprobs = response["choices"][0]["logprobs"]["token_logprobs"]
            .as_array()
            .ok_or_else(|| {
                backend_error(
                    "/v1/completions returned no token_logprobs (does the server support echo?)",
                )
            })?;
        if logprobs.len() < continuation_len {
            return Err(backend_error(format!(
                "/v1/completions echoed {} token logprobs for a {}-token continuation",
                logprobs.len(),
                continuation_len
            )));
        }
        logprobs[logprobs.len() - continuation_len..]
            .iter()
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| backend_error("a continuation token has no logprob"))
            })
            .sum()
    }

    fn generate_one(&self, request: &GenerationRequest) -> Result<String, EvalError> {
        let text = match &request.prompt {
            PromptText::Raw(prompt) => {
                let response = self.post(
                    "/v1/completions",
                    &json!({
                        "model": self.model,
                        "prompt": prompt,
                        "max_tokens": request.max_tokens,
                        "temperature": 0,
                        "seed": request.seed,
                        "stop": request.stop,
                    }),
                )?;
                response["choices"][0]["text"].as_str().map(str::to_string)
            }
            PromptText::Chat { system, user } => {
                let messages = chat_messages(system.as_deref(), user);
                let response = self.post(
                    "/v1/chat/completions",
                    &json!({
                        "model": self.model,
                        "messages": messages,
                        "max_tokens": request.max_tokens,
                        "temperature": 0,
                        "seed": request.seed,
                        "stop": request.stop,
                    }),
                )?;
                response["choices"][0]["message"]["content"]
                    .as_str()
                    .map(str::to_string)
            }
        };
        let text = text.ok_or_else(|| backend_error("the completion has no text"))?;
        Ok(scoring::cut_at_stop(&text, &request.stop))
    }

    /// `f` over `inputs` from [`PARALLEL`] threads; results in input order.
    fn parallel<I: Sync, R: Send>(
        &self,
        inputs: &[I],
        f: impl Fn(&I) -> Result<R, EvalError> + Sync,
    ) -> Result<Vec<R>, EvalError> {
        let slots: Vec<Mutex<Option<Result<R, EvalError>>>> =
            inputs.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for worker in 0..PARALLEL.min(inputs.len()) {
                let (slots, f) = (&slots, &f);
                scope.spawn(move || {
                    for (i, input) in inputs.iter().enumerate().skip(worker).step_by(PARALLEL) {
                        let result = f(input);
                        let failed = result.is_err();
                        if let Ok(mut slot) = slots[i].lock() {
                            *slot = Some(result);
                        }
                        if failed {
                            return;
                        }
                    }
                });
            }
        });
        slots
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| Err(backend_error("a request was not answered")))
            })
            .collect()
    }
}

impl Backend for OpenAiBackend {
    fn kind(&self) -> &'static str {
        "openai"
    }

    fn describe(&self) -> EngineDescription {
        EngineDescription {
            name: "openai-compatible".into(),
            version: crate::VERSION.to_string(),
            endpoint: Some(self.base.clone()),
        }
    }

    fn settings(&self) -> Value {
        json!({"endpoint": self.base, "model": self.model})
    }

    fn loglikelihoods(&self, requests: &[LoglikelihoodRequest]) -> Result<Vec<f64>, EvalError> {
        self.parallel(requests, |r| self.loglikelihood(r))
    }

    fn generate(&self, requests: &[GenerationRequest]) -> Result<Vec<String>, EvalError> {
        self.parallel(requests, |r| self.generate_one(r))
    }
}

/// The OpenAI `messages` of a chat prompt: the system message, if any, then the user's.
fn chat_messages(system: Option<&str>, user: &str) -> Vec<Value> {
    let mut messages = Vec::new();
    if let Some(system) = system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": user}));
    messages
}
