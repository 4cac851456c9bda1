//! The backend-independent interface: an [`Engine`] loads files into [`Model`]s.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::chat_template::ChatTemplate;
use crate::error::EngineError;
use crate::request::{GenerateRequest, GenerationStream};
use crate::scheduler::{SchedulerConfig, SchedulerStats};
use crate::score::{ScoreRequest, Scores};

/// How to load a model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadOptions {
    pub scheduler: SchedulerConfig,
    /// Context of the embedding worker (longest input it accepts), 0 = min(training context, 2048).
    pub embedding_context: u32,
}

/// A special token: its id and how it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialToken {
    pub id: u32,
    pub text: String,
}

/// The tokens that frame text for this model.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SpecialTokens {
    pub bos: Option<SpecialToken>,
    pub eos: Option<SpecialToken>,
    /// End of turn (chat models); often differs from EOS.
    pub eot: Option<SpecialToken>,
    /// Whether tokenizing with `add_special` prepends BOS.
    pub add_bos: bool,
}

/// Facts about a loaded model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub architecture: Option<String>,
    /// Size of the weights file.
    pub size_bytes: u64,
    /// Estimated resident memory: weights plus the KV cache of all slots.
    pub memory_bytes: u64,
    pub parameters: u64,
    pub vocab_size: usize,
    /// Context the model was trained with.
    pub context_length_train: u32,
    /// Context of one slot (the longest prompt + answer a request may have).
    pub context_length: u32,
    pub embedding_length: usize,
    pub special_tokens: SpecialTokens,
    /// `tokenizer.chat_template` from the file, if any.
    pub chat_template: Option<String>,
    /// An encoder (BERT): it makes embeddings and cannot generate or score text.
    pub embedding_only: bool,
}

/// A loaded model, shared by every request (`Arc<dyn Model>`).
pub trait Model: Send + Sync {
    fn info(&self) -> &ModelInfo;

    /// Text to token ids. `add_special` adds BOS (if the model wants it); special-token text
    /// such as `<|im_start|>` is always parsed as the special token.
    fn tokenize(&self, text: &str, add_special: bool) -> Result<Vec<u32>, EngineError>;

    /// Token ids to text (special tokens rendered as text; invalid UTF-8 replaced).
    fn detokenize(&self, tokens: &[u32]) -> Result<String, EngineError>;

    /// Raw bytes of one token (may be part of a UTF-8 character).
    fn token_bytes(&self, token: u32) -> Result<Vec<u8>, EngineError>;

    /// Start a generation. Fails fast with `Busy` when the queue is full; other request
    /// errors (bad grammar, too long) are also reported here, before anything runs.
    fn generate(&self, request: GenerateRequest) -> Result<GenerationStream, EngineError>;

    /// Pooled, L2-normalised embeddings, one per text. Blocks; call from a blocking thread.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EngineError>;

    /// For each request, each continuation token's log-probability after the context and
    /// the continuation's earlier tokens, computed so that no number depends on the other
    /// requests or on what ran before ([`crate::score`]). Blocks; call from a blocking thread.
    fn score(&self, requests: &[ScoreRequest]) -> Result<Scores, EngineError> {
        let _ = requests;
        Err(EngineError::Unsupported("scoring continuations"))
    }

    /// Scheduler counters since load.
    fn stats(&self) -> SchedulerStats;

    /// The chat template to use: `override_source` if given, else the model's own.
    fn chat_template(&self, override_source: Option<&str>) -> Result<ChatTemplate, EngineError> {
        let info = self.info();
        let text =
            |t: &Option<SpecialToken>| t.as_ref().map(|t| t.text.clone()).unwrap_or_default();
        ChatTemplate::select(
            override_source,
            info.chat_template.as_deref(),
            &text(&info.special_tokens.bos),
            &text(&info.special_tokens.eos),
        )
    }
}

/// A backend that can load model files.
pub trait Engine: Send + Sync {
    /// Short backend name, e.g. `llama.cpp`.
    fn name(&self) -> &'static str;

    /// Load a model file (mmapped once; every request shares it).
    fn load(&self, path: &Path, options: &LoadOptions) -> Result<Arc<dyn Model>, EngineError>;
}
