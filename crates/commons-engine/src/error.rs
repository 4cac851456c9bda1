//! Errors of the engine: each says what failed, and `hint()` says what to do.

use std::path::PathBuf;

/// Everything that can go wrong while loading a model or answering a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The model file is missing or unreadable.
    #[error("model file {path} cannot be read: {reason}")]
    ModelNotFound { path: PathBuf, reason: String },

    /// llama.cpp refused to load the file (not GGUF, unsupported architecture, truncated...).
    #[error("failed to load model {path}: {reason}")]
    ModelLoad { path: PathBuf, reason: String },

    /// Creating an inference context failed (usually memory).
    #[error("failed to create an inference context: {0}")]
    Context(String),

    /// The scheduler queue is full; the caller should retry later (HTTP 503 + Retry-After).
    #[error("the model is busy: {queued} requests are already waiting")]
    Busy {
        queued: usize,
        retry_after_secs: u64,
    },

    /// The model's worker has stopped (it was unloaded or crashed).
    #[error("the model worker has stopped")]
    WorkerStopped,

    /// The prompt does not fit in the context window of one slot.
    #[error("the prompt has {prompt_tokens} tokens but a slot holds at most {context_length}")]
    PromptTooLong {
        prompt_tokens: usize,
        context_length: usize,
    },

    /// The prompt is empty after tokenization.
    #[error("the prompt is empty")]
    EmptyPrompt,

    /// A token id outside the vocabulary was given.
    #[error("token id {token} is outside the vocabulary (size {vocab_size})")]
    InvalidToken { token: u32, vocab_size: usize },

    /// A request parameter is out of range.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter { name: &'static str, reason: String },

    /// The grammar (GBNF or JSON schema) could not be compiled.
    #[error("invalid grammar: {0}")]
    Grammar(String),

    /// The model has no `tokenizer.chat_template` and no override was given.
    #[error("model has no chat template")]
    NoChatTemplate,

    /// The chat template failed to parse or render.
    #[error("chat template error: {0}")]
    ChatTemplate(String),

    /// llama.cpp failed while evaluating a batch.
    #[error("decoding failed: {0}")]
    Decode(String),

    /// Embedding extraction failed.
    #[error("embedding failed: {0}")]
    Embedding(String),

    /// The backend cannot do this.
    #[error("this engine does not support {0}")]
    Unsupported(&'static str),

    /// An encoder-only model (BERT) was asked to generate or score text.
    #[error("this is an embedding model: it makes embeddings, not text, so it cannot {0}")]
    EmbeddingOnly(&'static str),

    /// A model name is unknown to the manager.
    #[error("model {0} is not known")]
    UnknownModel(String),

    /// Loading this model would exceed the memory budget even with every other model unloaded.
    #[error(
        "model {name} needs {needed_bytes} bytes but the memory budget is {budget_bytes} bytes"
    )]
    OverBudget {
        name: String,
        needed_bytes: u64,
        budget_bytes: u64,
    },
}

impl EngineError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            Self::ModelNotFound { .. } => "check the path, or run `scripts/fetch-models` for test models",
            Self::ModelLoad { .. } => {
                "make sure the file is a complete GGUF model of an architecture llama.cpp supports"
            }
            Self::Context(_) => "lower the context length or the number of parallel slots",
            Self::Busy { .. } => "retry after the indicated delay, or raise the queue depth",
            Self::WorkerStopped => "load the model again",
            Self::PromptTooLong { .. } => "shorten the prompt or load the model with a larger context length",
            Self::EmptyPrompt => "send a non-empty prompt",
            Self::InvalidToken { .. } => "token ids must come from this model's tokenizer",
            Self::InvalidParameter { .. } => "see the API documentation for the allowed range",
            Self::Grammar(_) => "check the GBNF syntax or the JSON schema",
            Self::NoChatTemplate => {
                "pass a template with `--template FILE` (a Jinja chat template), or send a raw prompt instead of messages"
            }
            Self::ChatTemplate(_) => "fix the template, or override it with `--template FILE`",
            Self::Decode(_) => "retry; if it persists, lower the number of parallel slots or the context length",
            Self::Embedding(_) => "use a model that produces embeddings, with inputs shorter than its context",
            Self::Unsupported(_) => "use a GGUF model, which the llama.cpp engine runs",
            Self::EmbeddingOnly(_) => {
                "send it to /api/embed or /v1/embeddings, or pick a generative model for text"
            }
            Self::UnknownModel(_) => "list models with `commons list`",
            Self::OverBudget { .. } => "raise the memory budget or use a smaller quantization",
        };
        Some(hint.to_string())
    }

    /// Seconds a client should wait before retrying, for errors that are temporary.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Busy {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
