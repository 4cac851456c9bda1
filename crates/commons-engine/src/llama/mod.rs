//! The llama.cpp backend (through `llama-cpp-2`). All use of that crate lives in this module.
//!
//! Its API is low-level and partly unsound around contexts, so we follow three rules:
//! contexts are created one at a time (a global lock: creating one mutates the model),
//! every context lives on exactly one thread for its whole life, and the model is an
//! `Arc` that those threads hold, so it outlives every context made from it.

mod context;
mod embed;
mod sampler;
mod score;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::engine::{Engine, LoadOptions, Model, ModelInfo, SpecialToken, SpecialTokens};
use crate::error::EngineError;
use crate::request::{
    Done, Event, FinishReason, GenerateRequest, GenerationStream, Prompt, Timings,
};
use crate::scheduler::{self, Counters, Job, SchedulerHandle, SchedulerStats, TokenText};
use crate::score::{ScoreRequest, Scores};

use self::context::{DecodeSizing, LlamaDecodeContext};
use self::embed::EmbedWorker;
use self::sampler::ChainSampler;
use self::score::ScoreWorker;

/// `LLAMA_FLASH_ATTN_TYPE_ENABLED` (llama-cpp-2 does not re-export the enum).
const FLASH_ATTENTION_ENABLED: i32 = 1;
/// `LLAMA_FLASH_ATTN_TYPE_AUTO`.
const FLASH_ATTENTION_AUTO: i32 = -1;

/// Largest micro-batch: one below ggml's flash-attention query tile (`GGML_FA_TILE_Q` = 64),
/// so every micro-batch uses the same attention kernel (see the context parameters below).
const MAX_UBATCH: u32 = 63;

/// llama.cpp may be initialised once per process.
fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // Its own log lines go to `tracing` instead of stderr: libraries never print.
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::Context(format!("llama.cpp backend: {e}")))
}

/// Creating a context writes to the model, so only one may be created at a time.
fn create_context(
    model: &LlamaModel,
    params: LlamaContextParams,
) -> Result<LlamaContext<'_>, EngineError> {
    static CREATING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = CREATING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    model
        .new_context(backend()?, params)
        .map_err(|e| EngineError::Context(e.to_string()))
}

/// The llama.cpp engine.
#[derive(Debug, Default, Clone, Copy)]
pub struct LlamaEngine;

impl LlamaEngine {
    pub fn new() -> Self {
        Self
    }
}

impl Engine for LlamaEngine {
    fn name(&self) -> &'static str {
        "llama.cpp"
    }

    fn load(&self, path: &Path, options: &LoadOptions) -> Result<Arc<dyn Model>, EngineError> {
        Ok(Arc::new(LlamaLoadedModel::load(path, options)?))
    }
}

/// Token bytes and end-of-generation checks for the scheduler thread.
struct Vocabulary {
    model: Arc<LlamaModel>,
    n_vocab: usize,
    /// Every end-of-generation token (EOS, EOT, <|im_end|>...), for `ignore_eos`.
    end_of_generation: Vec<u32>,
}

impl TokenText for Vocabulary {
    fn piece(&self, token: u32) -> Vec<u8> {
        // Ids outside the vocabulary make llama.cpp throw across FFI (abort): never pass them.
        if token as usize >= self.n_vocab {
            return Vec::new();
        }
        self.model
            .vocab()
            .token_to_piece(LlamaToken(token as i32), true, None)
    }

    fn is_end_of_generation(&self, token: u32) -> bool {
        (token as usize) < self.n_vocab && self.model.vocab().is_eog(LlamaToken(token as i32))
    }
}

/// A GGUF model loaded through llama.cpp, with its scheduler and (lazily) its embedding
/// and scoring workers.
pub struct LlamaLoadedModel {
    model: Arc<LlamaModel>,
    vocabulary: Arc<Vocabulary>,
    info: ModelInfo,
    /// `None` for an encoder-only (embedding) model, which cannot generate.
    scheduler: Option<SchedulerHandle>,
    embedder: Mutex<Option<Arc<EmbedWorker>>>,
    scorer: Mutex<Option<Arc<ScoreWorker>>>,
    /// Scoring requests submitted and not yet answered (bounded like the scheduler's queue).
    scoring: Arc<AtomicUsize>,
    options: LoadOptions,
    load_ns: u64,
    load_reported: AtomicBool,
}

impl std::fmt::Debug for LlamaLoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaLoadedModel")
            .field("path", &self.info.path)
            .finish_non_exhaustive()
    }
}

impl LlamaLoadedModel {
    /// Map the file, start the scheduler thread and wait until its context exists.
    pub fn load(path: &Path, options: &LoadOptions) -> Result<Self, EngineError> {
        let started = Instant::now();
        options.scheduler.validate()?;
        let metadata = std::fs::metadata(path).map_err(|e| EngineError::ModelNotFound {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if !metadata.is_file() {
            return Err(EngineError::ModelNotFound {
                path: path.to_path_buf(),
                reason: "not a regular file".into(),
            });
        }
        let load_error = |reason: String| EngineError::ModelLoad {
            path: path.to_path_buf(),
            reason,
        };
        let params = LlamaModelParams::default().with_use_mmap(true);
        let model = LlamaModel::load_from_file(backend()?, path, &params)
            .map_err(|e| load_error(format!("{e} (see the llama.cpp log for the cause)")))?;
        let model = Arc::new(model);
        let n_vocab = usize::try_from(model.n_vocab()).unwrap_or(0);
        if n_vocab == 0 {
            return Err(load_error("the model has no vocabulary".into()));
        }

        let mut scheduler_config = options.scheduler.clone();
        // A slot larger than the training context only produces garbage.
        let train = model.n_ctx_train().max(16);
        scheduler_config.context_per_slot = scheduler_config.context_per_slot.min(train);
        scheduler_config.batch_size = scheduler_config
            .batch_size
            .min(scheduler_config.context_per_slot);
        let embedding_only = is_embedding_only(&model);
        let info = describe(
            &model,
            path,
            metadata.len(),
            &scheduler_config,
            embedding_only,
        );

        let end_of_generation = (0..n_vocab as u32)
            .filter(|&t| model.vocab().is_eog(LlamaToken(t as i32)))
            .collect();
        let vocabulary = Arc::new(Vocabulary {
            model: Arc::clone(&model),
            n_vocab,
            end_of_generation,
        });
        // An encoder-only model (BERT) attends both ways and has no KV cache to
        // generate with: it gets the embedding worker only.
        let scheduler = if embedding_only {
            None
        } else {
            Some(spawn_scheduler(
                Arc::clone(&model),
                Arc::clone(&vocabulary),
                scheduler_config,
            )?)
        };
        let load_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        tracing::info!(path = %path.display(), load_ms = load_ns / 1_000_000, "model loaded");
        Ok(Self {
            model,
            vocabulary,
            info,
            scheduler,
            embedder: Mutex::new(None),
            scorer: Mutex::new(None),
            scoring: Arc::new(AtomicUsize::new(0)),
            options: options.clone(),
            load_ns,
            load_reported: AtomicBool::new(false),
        })
    }

    fn check_tokens(&self, tokens: &[u32]) -> Result<(), EngineError> {
        match tokens
            .iter()
            .find(|&&t| t as usize >= self.vocabulary.n_vocab)
        {
            Some(&token) => Err(EngineError::InvalidToken {
                token,
                vocab_size: self.vocabulary.n_vocab,
            }),
            None => Ok(()),
        }
    }

    fn prompt_tokens(&self, prompt: &Prompt) -> Result<Vec<u32>, EngineError> {
        let mut tokens = match prompt {
            Prompt::Text(text) => self.tokenize(text, true)?,
            Prompt::Tokens(tokens) => {
                self.check_tokens(tokens)?;
                tokens.clone()
            }
        };
        // A chat template that writes `bos_token` plus tokenizer-added BOS gives two: keep one.
        if let Some(bos) = &self.info.special_tokens.bos {
            if tokens.len() >= 2 && tokens[0] == bos.id && tokens[1] == bos.id {
                tokens.remove(0);
            }
        }
        if tokens.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        Ok(tokens)
    }

    fn embedder(&self) -> Result<Arc<EmbedWorker>, EngineError> {
        started_once(&self.embedder, || {
            let context = match self.options.embedding_context {
                0 => self.info.context_length_train.clamp(16, 2048),
                n => n.clamp(16, self.info.context_length_train.max(16)),
            };
            EmbedWorker::spawn(
                Arc::clone(&self.model),
                context,
                self.options.scheduler.effective_threads(),
            )
        })
    }

    /// The generation scheduler; an embedding model cannot `what`.
    fn scheduler(&self, what: &'static str) -> Result<&SchedulerHandle, EngineError> {
        self.scheduler
            .as_ref()
            .ok_or(EngineError::EmbeddingOnly(what))
    }

    fn scorer(&self) -> Result<Arc<ScoreWorker>, EngineError> {
        let config = self.scheduler("score text")?.config();
        started_once(&self.scorer, || {
            // As long a sequence as a slot holds, plus the padding token's cell.
            ScoreWorker::spawn(
                Arc::clone(&self.model),
                config.context_per_slot.saturating_add(1),
                config.batch_size,
                config.effective_threads(),
            )
        })
    }
}

/// The worker in `slot`, started by `start` on first use.
fn started_once<W>(
    slot: &Mutex<Option<Arc<W>>>,
    start: impl FnOnce() -> Result<W, EngineError>,
) -> Result<Arc<W>, EngineError> {
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(worker) = slot.as_ref() {
        return Ok(Arc::clone(worker));
    }
    let worker = Arc::new(start()?);
    *slot = Some(Arc::clone(&worker));
    Ok(worker)
}

/// Whether the model attends both ways (`{arch}.attention.causal = false`):
/// an encoder such as BERT, which makes embeddings and cannot generate.
fn is_embedding_only(model: &LlamaModel) -> bool {
    let arch = model
        .meta_val_str("general.architecture")
        .unwrap_or_default();
    model
        .meta_val_str(&format!("{arch}.attention.causal"))
        .is_ok_and(|causal| causal.trim() == "false")
}

fn spawn_scheduler(
    model: Arc<LlamaModel>,
    vocabulary: Arc<Vocabulary>,
    config: scheduler::SchedulerConfig,
) -> Result<SchedulerHandle, EngineError> {
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
    let (ready_tx, ready_rx) = mpsc::channel();
    let counters = Arc::new(Counters::default());
    let thread_counters = Arc::clone(&counters);
    let thread_config = config.clone();
    std::thread::Builder::new()
        .name("commons-scheduler".into())
        .spawn(move || {
            let config = thread_config;
            let slots = u32::try_from(config.slots).unwrap_or(1);
            let sizing = DecodeSizing {
                // Room for every slot, plus the padding token (see `context`).
                cells: config
                    .context_per_slot
                    .saturating_mul(slots)
                    .saturating_add(1),
                batch: config.batch_size,
                sequences: slots,
                batch_invariant: config.batch_invariant,
                threads: config.effective_threads(),
            };
            let mut decode = match LlamaDecodeContext::create(&model, &sizing) {
                Ok(decode) => decode,
                Err(error) => {
                    let _ = ready_tx.send(Err(error));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            scheduler::run(
                &mut decode,
                vocabulary.as_ref(),
                jobs_rx,
                thread_counters,
                config,
            );
            tracing::debug!("scheduler stopped");
        })
        .map_err(|e| EngineError::Context(format!("cannot start the scheduler thread: {e}")))?;
    ready_rx.recv().map_err(|_| EngineError::WorkerStopped)??;
    Ok(SchedulerHandle::new(jobs_tx, counters, config))
}

fn special(model: &LlamaModel, token: LlamaToken, n_vocab: usize) -> Option<SpecialToken> {
    let id = u32::try_from(token.0)
        .ok()
        .filter(|&id| (id as usize) < n_vocab)?;
    let bytes = model.vocab().token_to_piece(token, true, None);
    Some(SpecialToken {
        id,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

fn describe(
    model: &LlamaModel,
    path: &Path,
    size_bytes: u64,
    config: &scheduler::SchedulerConfig,
    embedding_only: bool,
) -> ModelInfo {
    let vocab = model.vocab();
    let n_vocab = usize::try_from(model.n_vocab()).unwrap_or(0);
    let bos = special(model, vocab.bos(), n_vocab);
    let eos = special(model, vocab.eos(), n_vocab);
    let eot = special(model, vocab.eot(), n_vocab);
    // KV cache: K and V, f16, per layer, per KV head dimension, for every cell of every slot.
    let n_head = u64::from(model.n_head().max(1));
    let n_embd_kv =
        u64::try_from(model.n_embd()).unwrap_or(0) * u64::from(model.n_head_kv()) / n_head;
    let cells = if embedding_only {
        0 // no generation slots, and an encoder keeps no cache
    } else {
        u64::from(config.context_per_slot) * config.slots as u64
    };
    let kv_bytes = 2 * 2 * u64::from(model.n_layer()) * n_embd_kv * cells;
    ModelInfo {
        path: path.to_path_buf(),
        architecture: model.meta_val_str("general.architecture").ok(),
        size_bytes,
        memory_bytes: size_bytes + kv_bytes,
        parameters: model.n_params(),
        vocab_size: n_vocab,
        context_length_train: model.n_ctx_train(),
        context_length: config.context_per_slot,
        embedding_length: usize::try_from(model.n_embd()).unwrap_or(0),
        special_tokens: SpecialTokens {
            bos,
            eos,
            eot,
            add_bos: vocab.should_add_bos(),
        },
        chat_template: model
            .chat_template(None)
            .ok()
            .and_then(|t| t.to_string().ok()),
        embedding_only,
    }
}

impl Model for LlamaLoadedModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn tokenize(&self, text: &str, add_special: bool) -> Result<Vec<u32>, EngineError> {
        if text.len() > i32::MAX as usize / 2 {
            return Err(EngineError::InvalidParameter {
                name: "prompt",
                reason: "text is larger than 1 GiB".into(),
            });
        }
        let tokens = self
            .model
            .vocab()
            .tokenize(text.as_bytes(), add_special, true);
        Ok(tokens.into_iter().map(|t| t.0 as u32).collect())
    }

    fn detokenize(&self, tokens: &[u32]) -> Result<String, EngineError> {
        self.check_tokens(tokens)?;
        let mut decoder = crate::text_stream::Utf8Decoder::default();
        let mut text = String::new();
        for &token in tokens {
            text.push_str(&decoder.push(&self.vocabulary.piece(token)));
        }
        text.push_str(&decoder.finish());
        Ok(text)
    }

    fn token_bytes(&self, token: u32) -> Result<Vec<u8>, EngineError> {
        self.check_tokens(&[token])?;
        Ok(self.vocabulary.piece(token))
    }

    fn generate(&self, request: GenerateRequest) -> Result<GenerationStream, EngineError> {
        let scheduler = self.scheduler("generate text")?;
        let prompt = self.prompt_tokens(&request.prompt)?;
        let context_length = self.info.context_length as usize;
        if prompt.len() >= context_length {
            return Err(EngineError::PromptTooLong {
                prompt_tokens: prompt.len(),
                context_length,
            });
        }
        if request.logprobs.is_some_and(|n| n > 100) {
            return Err(EngineError::InvalidParameter {
                name: "logprobs",
                reason: "at most 100 alternatives per token".into(),
            });
        }
        // Scoring a prompt without generating: the scoring context gives the same numbers
        // whatever else runs, which the shared scheduler cache cannot (see `crate::score`).
        if request.echo && request.max_tokens == Some(0) {
            return self.score_prompt(prompt, request.echo_from, request.logprobs);
        }
        let sampler = ChainSampler::new(
            &self.model,
            &request.sampling,
            request.grammar.as_ref(),
            &prompt,
            &self.vocabulary.end_of_generation,
        )?;
        let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
        let load_ns = self.load_ns_once();
        scheduler.submit(Job {
            prompt,
            sampler: Box::new(sampler),
            max_tokens: request.max_tokens,
            stop: request.stop,
            logprobs: request.logprobs,
            echo: request.echo,
            echo_from: request.echo_from,
            events,
            submitted_at: Instant::now(),
            load_ns,
        })?;
        Ok(GenerationStream { events: receiver })
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EngineError> {
        let inputs = texts
            .iter()
            .map(|text| self.tokenize(text, true))
            .collect::<Result<Vec<_>, _>>()?;
        self.embedder()?.embed(inputs)
    }

    fn score(&self, requests: &[ScoreRequest]) -> Result<Scores, EngineError> {
        for request in requests {
            self.check_tokens(&request.context)?;
            for continuation in &request.continuations {
                self.check_tokens(continuation)?;
            }
        }
        self.scorer()?.score(requests.to_vec())
    }

    fn stats(&self) -> SchedulerStats {
        self.scheduler
            .as_ref()
            .map(SchedulerHandle::stats)
            .unwrap_or_default()
    }
}

impl LlamaLoadedModel {
    /// The load time for the first request after loading (as Ollama reports it), else 0.
    fn load_ns_once(&self) -> u64 {
        if self.load_reported.swap(true, Ordering::Relaxed) {
            0
        } else {
            self.load_ns
        }
    }

    /// An `echo` request with no new tokens, answered by the scoring worker as the same
    /// events the scheduler would send: prompt tokens (scored from `echo_from`, at least
    /// from the second), then `Done`.
    fn score_prompt(
        &self,
        prompt: Vec<u32>,
        echo_from: usize,
        top_logprobs: Option<u32>,
    ) -> Result<GenerationStream, EngineError> {
        let config = self.scheduler("score text")?.config();
        let waiting = self.scoring.fetch_add(1, Ordering::SeqCst);
        if waiting >= config.queue_depth + config.slots {
            self.scoring.fetch_sub(1, Ordering::SeqCst);
            return Err(EngineError::Busy {
                queued: waiting,
                retry_after_secs: 1,
            });
        }
        let context_len = echo_from.clamp(1, prompt.len());
        let request = ScoreRequest {
            context: prompt[..context_len].to_vec(),
            continuations: vec![prompt[context_len..].to_vec()],
            top_logprobs: top_logprobs.unwrap_or(0) as usize,
        };
        let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
        let vocabulary = Arc::clone(&self.vocabulary);
        let scoring = Arc::clone(&self.scoring);
        let load_ns = self.load_ns_once();
        let submitted = Instant::now();
        let reply: score::Reply = Box::new(move |scores| {
            scoring.fetch_sub(1, Ordering::SeqCst);
            let scored = match scores {
                Ok(mut scores) => scores.pop().and_then(|mut s| s.pop()).unwrap_or_default(),
                Err(error) => {
                    let _ = events.send(Event::Error(error));
                    return;
                }
            };
            for &token in &prompt[..context_len] {
                let _ = events.send(Event::PromptToken(scheduler::unscored_token(
                    token,
                    vocabulary.as_ref(),
                )));
            }
            for (&token, scored) in prompt[context_len..].iter().zip(&scored) {
                let _ = events.send(Event::PromptToken(scheduler::token_event(
                    token,
                    Some(scored.logprob),
                    &scored.top,
                    vocabulary.as_ref(),
                )));
            }
            let _ = events.send(Event::Done(Done {
                finish_reason: FinishReason::Length,
                prompt_tokens: prompt.len(),
                prompt_tokens_cached: 0,
                completion_tokens: 0,
                timings: Timings {
                    load_ns,
                    prompt_eval_ns: u64::try_from(submitted.elapsed().as_nanos())
                        .unwrap_or(u64::MAX),
                    ..Timings::default()
                },
            }));
        });
        if let Err(error) = self
            .scorer()
            .and_then(|worker| worker.submit(vec![request], reply))
        {
            self.scoring.fetch_sub(1, Ordering::SeqCst);
            return Err(error);
        }
        Ok(GenerationStream { events: receiver })
    }
}
