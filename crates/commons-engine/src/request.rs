//! What a caller asks for (`GenerateRequest`) and what it gets back (`Event`s on a stream).

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::error::EngineError;
use crate::sampling::SamplingParams;

/// The prompt: raw text (tokenized with the model's special-token parsing) or token ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    /// Text; special tokens such as `<|im_start|>` written in it are parsed as such.
    Text(String),
    /// Already tokenized prompt.
    Tokens(Vec<u32>),
}

impl From<&str> for Prompt {
    fn from(text: &str) -> Self {
        Prompt::Text(text.to_string())
    }
}

impl From<String> for Prompt {
    fn from(text: String) -> Self {
        Prompt::Text(text)
    }
}

/// Constrain the output to a formal language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Grammar {
    /// Any JSON value (object at the top level, as OpenAI's `json_object` mode).
    Json,
    /// JSON matching this schema.
    JsonSchema(serde_json::Value),
    /// A llama.cpp GBNF grammar whose start rule is `root`.
    Gbnf(String),
}

/// One generation request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    #[serde(default)]
    pub sampling: SamplingParams,
    /// Upper bound on generated tokens; `None` means until the context is full.
    /// `Some(0)` evaluates the prompt only (useful with `echo` for scoring).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Stop when any of these strings appears; the stop string itself is not returned.
    #[serde(default)]
    pub stop: Vec<String>,
    #[serde(default)]
    pub grammar: Option<Grammar>,
    /// Report the log-probability of each generated token and the `n` most likely alternatives.
    #[serde(default)]
    pub logprobs: Option<u32>,
    /// Stream the prompt tokens back first (as `Event::PromptToken`) with their log-probabilities.
    #[serde(default)]
    pub echo: bool,
    /// With `echo`, log-probabilities are needed only for prompt tokens from this
    /// position on. Earlier tokens may then come from the prefix cache (their
    /// events carry no log-probability), so scoring several continuations of one
    /// context evaluates the context once. `0`: every prompt token is scored.
    /// Cached cells lie elsewhere in the unified KV cache, which can change the
    /// last bits of the scores: use `0` where results must be bit-reproducible.
    #[serde(default)]
    pub echo_from: usize,
}

impl GenerateRequest {
    /// A request with default sampling (greedy) and no limits other than `max_tokens`.
    pub fn new(prompt: impl Into<Prompt>, max_tokens: u32) -> Self {
        Self {
            prompt: prompt.into(),
            sampling: SamplingParams::default(),
            max_tokens: Some(max_tokens),
            stop: Vec::new(),
            grammar: None,
            logprobs: None,
            echo: false,
            echo_from: 0,
        }
    }
}

/// A token with its text and (when asked) log-probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenEvent {
    pub id: u32,
    /// Text released to the client with this token. It may be empty (an incomplete UTF-8
    /// sequence, or a possible beginning of a stop string is held back) or contain text held
    /// back from earlier tokens.
    pub text: String,
    /// `log p(token | previous tokens)`; `None` for the first prompt token or when not requested.
    pub logprob: Option<f32>,
    /// The most likely tokens at this position with their log-probabilities, most likely first.
    pub top_logprobs: Vec<TopLogprob>,
}

/// One alternative at a position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    pub id: u32,
    pub text: String,
    pub logprob: f32,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// End-of-generation token or a stop string.
    Stop,
    /// `max_tokens` or the context window was reached.
    Length,
    /// The client went away.
    Cancelled,
}

/// Where the time went, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// Time spent loading the model (0 when it was already loaded).
    pub load_ns: u64,
    /// Time from the request entering a slot until its first token was sampled.
    pub prompt_eval_ns: u64,
    /// Time spent generating the remaining tokens.
    pub eval_ns: u64,
    /// Time the request waited in the queue for a free slot.
    pub queued_ns: u64,
}

/// Summary sent as the last event of a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub finish_reason: FinishReason,
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV entries were reused from an earlier request (not evaluated again).
    pub prompt_tokens_cached: usize,
    pub completion_tokens: usize,
    pub timings: Timings,
}

/// One item on a generation stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A prompt token, sent only when `echo` was requested.
    PromptToken(TokenEvent),
    /// A generated token.
    Token(TokenEvent),
    /// Generation ended normally; nothing follows.
    Done(Done),
    /// Generation failed; nothing follows.
    Error(EngineError),
}

/// The receiving end of a generation. Dropping it cancels the request.
#[derive(Debug)]
pub struct GenerationStream {
    pub(crate) events: mpsc::UnboundedReceiver<Event>,
}

/// A whole generation collected from a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub tokens: Vec<TokenEvent>,
    pub prompt_tokens: Vec<TokenEvent>,
    pub done: Done,
}

impl GenerationStream {
    /// Next event, awaiting it (for async servers).
    pub async fn recv(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Next event, blocking the current thread (not inside an async runtime).
    pub fn blocking_recv(&mut self) -> Option<Event> {
        self.events.blocking_recv()
    }

    /// Access to the underlying receiver, e.g. to build a `Stream`.
    pub fn into_inner(self) -> mpsc::UnboundedReceiver<Event> {
        self.events
    }

    /// Block until the generation ends and return everything it produced.
    pub fn collect_blocking(mut self) -> Result<Completion, EngineError> {
        let mut collector = CompletionCollector::default();
        while let Some(event) = self.blocking_recv() {
            if let Some(result) = collector.push(event) {
                return result;
            }
        }
        Err(EngineError::WorkerStopped)
    }

    /// Await the end of the generation and return everything it produced.
    pub async fn collect(mut self) -> Result<Completion, EngineError> {
        let mut collector = CompletionCollector::default();
        while let Some(event) = self.recv().await {
            if let Some(result) = collector.push(event) {
                return result;
            }
        }
        Err(EngineError::WorkerStopped)
    }
}

#[derive(Default)]
struct CompletionCollector {
    text: String,
    tokens: Vec<TokenEvent>,
    prompt_tokens: Vec<TokenEvent>,
}

impl CompletionCollector {
    fn push(&mut self, event: Event) -> Option<Result<Completion, EngineError>> {
        match event {
            Event::PromptToken(token) => self.prompt_tokens.push(token),
            Event::Token(token) => {
                self.text.push_str(&token.text);
                self.tokens.push(token);
            }
            Event::Done(done) => {
                return Some(Ok(Completion {
                    text: std::mem::take(&mut self.text),
                    tokens: std::mem::take(&mut self.tokens),
                    prompt_tokens: std::mem::take(&mut self.prompt_tokens),
                    done,
                }))
            }
            Event::Error(error) => return Some(Err(error)),
        }
        None
    }
}
