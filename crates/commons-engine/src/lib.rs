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
//! Each loaded model has one scheduler thread that owns one llama.cpp context with a single
//! KV cache shared by `slots` sequences (plus one padding sequence, below). A *slot* is a
//! sequence id in that cache plus the exact list of tokens whose keys/values it holds.
//! Every step the scheduler builds a single batch: one token for each slot that is
//! generating, then chunks of prompts still being read (the oldest first, capped per step
//! while others generate, so a long prompt never stalls the token streams). All of it is
//! evaluated by one `decode` call — continuous batching: requests join and leave between
//! steps without waiting for each other.
//!
//! When a request arrives it goes to the free slot whose cached tokens share the longest
//! prefix with its prompt; only the rest of the prompt is evaluated. If another slot (even a
//! busy one) holds a longer prefix, its cells are shared into the chosen slot with a KV
//! sequence copy (in one cache that is bookkeeping, not a copy of data).
//! `Done::prompt_tokens_cached` and [`SchedulerStats`] report how much was reused. A bounded
//! queue in front of the slots rejects work with [`EngineError::Busy`] (HTTP 503 +
//! `Retry-After`) when it is full; dropping a [`GenerationStream`] frees its slot at the next
//! step.
//!
//! # Reproducibility
//! A request's output should not depend on what it is batched with. llama.cpp's CPU kernels
//! round differently depending on the batch shape, so the llama backend fixes the shape:
//! flash attention on (its per-query kernel ignores other sequences' cells), micro-batches of
//! at most 63 tokens (below the 64-query tile where another attention kernel takes over), and
//! never a micro-batch of one token or with one row of logits (a throwaway padding token or
//! an extra logits row is added; one-row products use other kernels). With these, prompt
//! logprobs are bit-identical alone or batched, and greedy and seeded outputs match their
//! solo runs (tests/scheduler.rs). Each request owns its sampler and RNG. It costs speed
//! (see `examples/engine_bench.rs`); `SchedulerConfig::batch_invariant = false` turns it off.
//! Remaining limit:
//! attention sums over a sequence's cells in cache order, so once heavy churn fragments the
//! shared cache a new token can land before older ones and results may differ in the last
//! bits (and then, rarely, in tokens). Loglikelihoods for evaluation do not share that
//! limit: [`Model::score`] runs on a context of its own that only ever places a cell after
//! the cells it attends to ([`score`]), so its numbers equal a lone evaluation's exactly.
//!
//! # Building llama.cpp
//! `llama-cpp-2` vendors llama.cpp and builds it with CMake (needs `cmake`, `clang`,
//! `libclang-dev`); a clean build takes 7–15 minutes on 2 busy cores. Its build script
//! compiles for the Rust target's CPU features, not the build machine's: by default AVX2/FMA/
//! F16C (ggml's non-native defaults), never AVX-512. `RUSTFLAGS="-C target-cpu=native"` turns
//! on `GGML_NATIVE`. Without it, Rust target features map to a few `GGML_*` options (avx2,
//! fma, f16c, bmi2, avx512vnni, avx512bf16, avx512vbmi — but not avx512f itself), and any
//! `GGML_*` environment variable the build script does not set (e.g. `GGML_AVX512=ON`) is
//! passed to CMake (llama-cpp-sys-2 0.1.161, `build.rs`).
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
pub mod score;
pub mod text_stream;
pub mod tools;
pub mod vector;

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
pub use score::{ScoreRequest, ScoredToken, Scores};
pub use tools::{parse_tool_calls, ParsedOutput, ParsedToolCall};
pub use vector::l2_normalised;
