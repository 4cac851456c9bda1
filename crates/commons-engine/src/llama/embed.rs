//! Embeddings on a context of their own (`embeddings = true`), on a worker thread that owns it.

use std::sync::mpsc;
use std::sync::Arc;

use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::error::EngineError;
use crate::vector::l2_normalised;

type Reply = mpsc::Sender<Result<Vec<Vec<f32>>, EngineError>>;

struct EmbedJob {
    inputs: Vec<Vec<u32>>,
    reply: Reply,
}

/// Handle to a model's embedding worker.
pub(crate) struct EmbedWorker {
    jobs: mpsc::Sender<EmbedJob>,
    context: u32,
}

impl EmbedWorker {
    /// Start the worker and wait until its context exists.
    pub(crate) fn spawn(
        model: Arc<LlamaModel>,
        context: u32,
        threads: u32,
    ) -> Result<Self, EngineError> {
        let (jobs, rx) = mpsc::channel::<EmbedJob>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let pooling = pooling_of(&model);
        std::thread::Builder::new()
            .name("commons-embed".into())
            .spawn(move || {
                let threads = i32::try_from(threads).unwrap_or(1);
                let params = LlamaContextParams::default()
                    .with_n_ctx(std::num::NonZeroU32::new(context))
                    .with_n_batch(context)
                    .with_n_ubatch(context)
                    .with_n_seq_max(1)
                    .with_n_threads(threads)
                    .with_n_threads_batch(threads)
                    .with_embeddings(true)
                    .with_pooling_type(pooling);
                let created = super::create_context(&model, params);
                let mut ctx = match created {
                    Ok(ctx) => {
                        let _ = ready_tx.send(Ok(()));
                        ctx
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                let mut batch = LlamaBatch::new(context as usize, 1);
                while let Ok(job) = rx.recv() {
                    let mut out = Vec::with_capacity(job.inputs.len());
                    let mut failure = None;
                    for tokens in &job.inputs {
                        ctx.clear_kv_cache();
                        batch.clear();
                        let mut added = Ok(());
                        for (pos, &token) in tokens.iter().enumerate() {
                            added = batch.add(LlamaToken(token as i32), pos as i32, &[0], true);
                            if added.is_err() {
                                break;
                            }
                        }
                        let decoded = added
                            .map_err(|e| e.to_string())
                            .and_then(|()| ctx.decode(&mut batch).map_err(|e| e.to_string()));
                        let vector = decoded.and_then(|()| {
                            ctx.embeddings_seq_ith(0)
                                .map(|v| v.to_vec())
                                .map_err(|e| e.to_string())
                        });
                        match vector {
                            Ok(vector) => out.push(l2_normalised(vector)),
                            Err(message) => {
                                failure = Some(EngineError::Embedding(message));
                                break;
                            }
                        }
                    }
                    let _ = job.reply.send(match failure {
                        Some(error) => Err(error),
                        None => Ok(out),
                    });
                }
            })
            .map_err(|e| EngineError::Context(format!("cannot start the embedding thread: {e}")))?;
        ready_rx.recv().map_err(|_| EngineError::WorkerStopped)??;
        Ok(Self { jobs, context })
    }

    pub(crate) fn embed(&self, inputs: Vec<Vec<u32>>) -> Result<Vec<Vec<f32>>, EngineError> {
        for tokens in &inputs {
            if tokens.is_empty() {
                return Err(EngineError::EmptyPrompt);
            }
            if tokens.len() > self.context as usize {
                return Err(EngineError::PromptTooLong {
                    prompt_tokens: tokens.len(),
                    context_length: self.context as usize,
                });
            }
        }
        let (reply, answer) = mpsc::channel();
        self.jobs
            .send(EmbedJob { inputs, reply })
            .map_err(|_| EngineError::WorkerStopped)?;
        answer.recv().map_err(|_| EngineError::WorkerStopped)?
    }
}

/// The model's declared pooling, else mean pooling (decoder models declare none).
fn pooling_of(model: &LlamaModel) -> LlamaPoolingType {
    let arch = model
        .meta_val_str("general.architecture")
        .unwrap_or_default();
    let declared = model
        .meta_val_str(&format!("{arch}.pooling_type"))
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .map(LlamaPoolingType::from);
    match declared {
        Some(p @ (LlamaPoolingType::Mean | LlamaPoolingType::Cls | LlamaPoolingType::Last)) => p,
        _ => LlamaPoolingType::Mean,
    }
}
