//! The scheduler's [`DecodeContext`] on top of a llama.cpp context.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::DecodeError;

use crate::scheduler::{BatchToken, DecodeContext, DecodeFailure};

pub(crate) struct LlamaDecodeContext<'model> {
    ctx: LlamaContext<'model>,
    batch: LlamaBatch<'static>,
    capacity: usize,
    /// Which entries of the last successful decode have logits (llama.cpp aborts on others).
    has_logits: Vec<bool>,
}

impl<'model> LlamaDecodeContext<'model> {
    pub(crate) fn new(ctx: LlamaContext<'model>, batch_size: usize, max_sequences: usize) -> Self {
        let n_seq = i32::try_from(max_sequences).unwrap_or(i32::MAX);
        Self {
            ctx,
            batch: LlamaBatch::new(batch_size, n_seq),
            capacity: batch_size,
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
        self.batch.clear();
        for entry in batch {
            let token = LlamaToken(i32::try_from(entry.token).unwrap_or(0));
            let pos = i32::try_from(entry.pos).unwrap_or(i32::MAX);
            let seq = i32::try_from(entry.seq).unwrap_or(0);
            self.batch
                .add(token, pos, &[seq], entry.logits)
                .map_err(|e| DecodeFailure::Other(e.to_string()))?;
        }
        match self.ctx.decode(&mut self.batch) {
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
        if let Err(error) = self.ctx.copy_kv_cache_seq(
            i32::try_from(from_seq).unwrap_or(0),
            i32::try_from(to_seq).unwrap_or(0),
            Some(0),
            Some(len),
        ) {
            tracing::warn!(%error, "KV prefix copy failed");
        }
    }

    fn truncate(&mut self, seq: u32, keep: u32) -> bool {
        self.ctx
            .clear_kv_cache_seq(Some(seq), Some(keep), None)
            .unwrap_or(false)
    }
}
