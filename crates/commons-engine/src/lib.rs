//! `commons-engine`: local inference for `commons`.
//!
//! # Shape
//! - [`Engine`] loads a model file into a [`Model`] (`Arc<dyn Model>`); [`LlamaEngine`] is the
//!   llama.cpp backend, the only code that touches `llama-cpp-2` (module `llama`). Weights are
//!   mmapped once and shared by every request of that model.
//! - [`Model::generate`] takes a [`GenerateRequest`] and returns a [`GenerationStream`] of
//!   [`Event`]s (`Token`… then `Done` or `Error`) on a tokio channel; dropping the stream
//!   cancels the request.
//!
//! # Scheduling: slots, continuous batching, prefix reuse
//! Each loaded model has one scheduler thread that owns one llama.cpp context with
//! `n_seq_max = slots` and a unified KV cache. A *slot* is a sequence id in that cache plus the
//! exact list of tokens whose keys/values it holds. Every step the scheduler builds a single
//! batch: one token for each slot that is generating, then chunks of prompts still being read
//! (the oldest first, capped per step while others generate, so a long prompt never stalls
//! the token streams). All of it is evaluated by one `decode` call — continuous batching:
//! requests join and leave between steps without waiting for each other.
//!
//! When a request arrives it goes to the free slot whose cached tokens share the longest
//! prefix with its prompt; only the rest of the prompt is evaluated. If another slot (even a
//! busy one) holds a longer prefix, that prefix is shared into the chosen slot with a KV
//! sequence copy, which in a unified cache costs no memory. `Done::prompt_tokens_cached` and
//! [`SchedulerStats`] report how much was reused. A bounded queue in front of the slots
//! rejects work with [`EngineError::Busy`] (HTTP 503 + `Retry-After`) when it is full.
//!
//! # Around it
//! [`sampling`] (parameters; llama.cpp's sampler chain does the drawing, one per request so a
//! seed reproduces under batching), [`chat_template`] (Hugging Face Jinja templates via
//! minijinja), [`tools`] (tool calls in model output), [`manager`] (load on first use,
//! keep-alive, memory budget, LRU unload).

pub mod chat_template;
pub mod engine;
pub mod error;
mod llama;
pub mod manager;
pub mod request;
pub mod sampling;
pub mod scheduler;
pub mod text_stream;
pub mod tools;

pub use chat_template::{ChatMessage, ChatTemplate, FunctionCall, ToolCall};
pub use engine::{Engine, LoadOptions, Model, ModelInfo, SpecialToken, SpecialTokens};
pub use error::EngineError;
pub use llama::{LlamaEngine, LlamaLoadedModel};
pub use manager::{LoadedModelInfo, ManagerConfig, ModelLease, ModelManager};
pub use request::{
    Completion, Done, Event, FinishReason, GenerateRequest, GenerationStream, Grammar, Prompt,
    Timings, TokenEvent, TopLogprob,
};
pub use sampling::{Mirostat, SamplingParams};
pub use scheduler::{SchedulerConfig, SchedulerStats};
pub use tools::{parse_tool_calls, ParsedOutput, ParsedToolCall};
