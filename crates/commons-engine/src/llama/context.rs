//! The scheduler's [`DecodeContext`] on top of a llama.cpp context.

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::DecodeError;

use super::{create_context, FLASH_ATTENTION_AUTO, FLASH_ATTENTION_ENABLED, MAX_UBATCH};
use crate::error::EngineError;
use crate::scheduler::{BatchToken, DecodeContext, DecodeFailure};

/// The shape of a decode context: its KV cells, tokens per call and sequences.
pub(crate) struct DecodeSizing {
    /// KV cells, the padding token's included.
    pub cells: u32,
    /// Most tokens per decode call (the padding token comes on top).
    pub batch: u32,
    /// Sequences for requests (the padding sequence comes on top).
    pub sequences: u32,
    pub batch_invariant: bool,
    pub threads: u32,
}

pub(crate) struct LlamaDecodeContext<'model> {
    ctx: LlamaContext<'model>,
    batch: LlamaBatch<'static>,
    capacity: usize,
    /// Sequence id (one past the slots) used only for padding single-token batches.
    pad_seq: i32,
    /// Micro-batch size llama.cpp splits batches into.
    ubatch: usize,
    /// Pad micro-batches so no sequence is computed with single-row kernels.
    batch_invariant: bool,
    /// Which entries of the last successful decode have logits (llama.cpp aborts on others).
    has_logits: Vec<bool>,
}

impl<'model> LlamaDecodeContext<'model> {
    /// A context on `model` shaped by `sizing`, under the batch-invariance rules when asked.
    pub(crate) fn create(
        model: &'model LlamaModel,
        sizing: &DecodeSizing,
    ) -> Result<Self, EngineError> {
        let threads = i32::try_from(sizing.threads).unwrap_or(1);
        let ubatch = if sizing.batch_invariant {
            sizing.batch.min(MAX_UBATCH)
        } else {
            sizing.batch
        };
        let params = LlamaContextParams::default()
            .with_n_ctx(std::num::NonZeroU32::new(sizing.cells))
            // + the padding token a batch-invariant call may add (see `decode`);
            // llama.cpp also wants room for one output per sequence.
            .with_n_batch(sizing.batch.saturating_add(1).max(sizing.sequences + 1))
            .with_n_ubatch(ubatch)
            .with_n_seq_max(if sizing.batch_invariant {
                sizing.sequences + 1 // + the padding sequence
            } else {
                sizing.sequences
            })
            // A request's output must not depend on what it is batched with. Measured on
            // this llama.cpp: without flash attention a unified cache shifts a sequence's
            // logprobs (up to 0.2) when other sequences' cells are present; separate KV
            // streams split micro-batches by sequence and produce single-token ones. With
            // one unified cache + flash attention + micro-batches below the attention tile
            // + no single-token micro-batch, logprobs are bit-identical alone or batched.
            //
            // Without batch invariance each sequence gets a KV stream of its own, as in
            // llama-server: a decode step then attends over its own cells only, not over
            // the cells idle slots keep for prefix reuse (which cost single-stream decode
            // about 20% with 4 slots' caches kept; docs/benchmarks.md).
            .with_kv_unified(sizing.batch_invariant)
            // A full-size sliding-window cache (llama.cpp's default, stated because scoring
            // relies on it): cells are never recycled out of order.
            .with_swa_full(true)
            .with_flash_attention_policy(if sizing.batch_invariant {
                FLASH_ATTENTION_ENABLED
            } else {
                FLASH_ATTENTION_AUTO
            })
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let ctx = create_context(model, params)?;
        Ok(Self::new(
            ctx,
            sizing.batch as usize,
            ubatch as usize,
            sizing.sequences as usize,
            sizing.batch_invariant,
        ))
    }

    /// `slots` sequences for requests; the context must allow `slots + 1` (see `pad_seq`).
    fn new(
        ctx: LlamaContext<'model>,
        batch_size: usize,
        ubatch: usize,
        slots: usize,
        batch_invariant: bool,
    ) -> Self {
        let pad_seq = i32::try_from(slots).unwrap_or(i32::MAX - 1);
        Self {
            ctx,
            // Room for the padding token as well.
            batch: LlamaBatch::new(batch_size + 1, pad_seq + 1),
            capacity: batch_size,
            pad_seq,
            ubatch: ubatch.max(2),
            batch_invariant,
            has_logits: Vec::new(),
        }
    }
}

impl DecodeContext for LlamaDecodeContext<'_> {
    fn decode(&mut self, batch: &[BatchToken]) -> Result<(), DecodeFailure> {
        self.has_logits.clear();
        if batch.is_empty() || batch.len() > self.capacity {
            return Err(DecodeFailure::Other(format!(
                "batch of {} tokens does not fit the capacity {}",
                batch.len(),
                self.capacity
            )));
        }
        // ggml computes a single-row matrix product with other kernels (vec_dot instead of
        // GEMM, split-KV attention) whose rounding differs enough to change sampled tokens.
        // A sequence's logits must not depend on what it is batched with, so no micro-batch
        // may hold one token, nor ask for exactly one row of logits (the output projection
        // runs on the requested rows only). A throwaway token pads a lone last token, and a
        // micro-batch with one requested row computes a second, unused one.
        let padded = self.batch_invariant && batch.len() % self.ubatch == 1;
        let mut outputs: Vec<bool> = batch.iter().map(|e| e.logits).collect();
        if padded {
            outputs.push(false);
        }
        if self.batch_invariant {
            for chunk in outputs.chunks_mut(self.ubatch) {
                if chunk.iter().filter(|&&o| o).count() == 1 {
                    if let Some(extra) = chunk.iter_mut().find(|o| !**o) {
                        *extra = true;
                    }
                }
            }
        }
        self.batch.clear();
        for (entry, &output) in batch.iter().zip(&outputs) {
            let token = LlamaToken(i32::try_from(entry.token).unwrap_or(0));
            let pos = i32::try_from(entry.pos).unwrap_or(i32::MAX);
            let seq = i32::try_from(entry.seq).unwrap_or(0);
            self.batch
                .add(token, pos, &[seq], output)
                .map_err(|e| DecodeFailure::Other(e.to_string()))?;
        }
        if padded {
            let output = outputs.last().copied().unwrap_or(false);
            self.batch
                .add(LlamaToken(0), 0, &[self.pad_seq], output)
                .map_err(|e| DecodeFailure::Other(e.to_string()))?;
        }
        let result = self.ctx.decode(&mut self.batch);
        if padded {
            let _ = self
                .ctx
                .clear_kv_cache_seq(Some(self.pad_seq as u32), None, None);
        }
        match result {
            Ok(()) => {
                self.has_logits.extend(batch.iter().map(|e| e.logits));
                Ok(())
            }
            Err(DecodeError::NoKvCacheSlot) => Err(DecodeFailure::NoSpace),
            Err(other) => Err(DecodeFailure::Other(other.to_string())),
        }
    }

    fn logits(&self, index: usize) -> Option<&[f32]> {
        if !self.has_logits.get(index).copied().unwrap_or(false) {
            return None;
        }
        Some(self.ctx.get_logits_ith(i32::try_from(index).ok()?))
    }

    fn copy_prefix(&mut self, from_seq: u32, to_seq: u32, len: u32) {
        let from = i32::try_from(from_seq).unwrap_or(0);
        let to = i32::try_from(to_seq).unwrap_or(0);
        // A batch-invariant context has one unified cache (see `create`).
        let copied = if self.batch_invariant {
            // The cells just gain another owner, nothing is copied.
            self.ctx.copy_kv_cache_seq(from, to, Some(0), Some(len))
        } else {
            // Per-sequence streams: llama.cpp copies only whole streams (it aborts on a
            // partial copy), so copy the stream and drop what follows the prefix.
            self.ctx
                .copy_kv_cache_seq(from, to, None, None)
                .map(|()| self.truncate(to_seq, len))
                .map(drop)
        };
        if let Err(error) = copied {
            tracing::warn!(%error, "KV prefix copy failed");
        }
    }

    fn truncate(&mut self, seq: u32, keep: u32) -> bool {
        self.ctx
            .clear_kv_cache_seq(Some(seq), Some(keep), None)
            .unwrap_or(false)
    }
}
