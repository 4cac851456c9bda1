//! Loglikelihoods of continuations after a context — what evaluation harnesses ask
//! for — computed so that every number depends only on its own tokens.
//!
//! The scheduler's `echo` can score prompts too, but it shares one KV cache with
//! whatever else is running, and llama.cpp places a sequence's cells wherever the
//! cache has room. Flash attention sums a query's visible cells in *cache* order,
//! so a context reused from the cache (or a fresh one in a fragmented cache) may be
//! summed in another order than a lone evaluation would, which changes the last
//! bits of a logprob — and with it, now and then, which choice wins.
//!
//! Scoring therefore runs on a context of its own, in rounds, with one rule: a
//! cell is only ever allocated after every cell it attends to. Sequence 0 holds the
//! prefix that the round's contexts share (few-shot preambles; kept across rounds
//! while it still matches). Each request's context is evaluated once, in the first
//! of its sequences, starting from the cells of the earlier context it shares most
//! with (two questions about one story) or from the prefix, and shared (a KV
//! sequence copy: the cells gain owners, nothing moves) into one sequence per
//! continuation; then all continuations are evaluated together. Before each round every sequence but the prefix is dropped,
//! so the cache is free from the prefix's end on and cells are handed out in
//! order. Each sequence's cells are therefore in position order, as in a lone
//! evaluation; with the batch-invariant micro-batch rules (see the crate docs)
//! matrix products do not depend on their neighbours either, so no result depends
//! on how requests were grouped into rounds, nor on what ran before.
//!
//! This file knows nothing about llama.cpp: it drives a [`DecodeContext`].

use crate::error::EngineError;
use crate::sampling::{log_sum_exp, token_logprob, top_logprobs};
use crate::scheduler::{common_prefix, BatchToken, DecodeContext, DecodeFailure};

/// One context and the continuations to score after it, as token ids (the context
/// with its BOS, if the model wants one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScoreRequest {
    pub context: Vec<u32>,
    pub continuations: Vec<Vec<u32>>,
    /// Also report this many most likely tokens at each position (0: none).
    pub top_logprobs: usize,
}

/// One continuation token: `log p(token | everything before it)`, and the most
/// likely tokens at its position (id, log-probability), most likely first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScoredToken {
    pub logprob: f32,
    pub top: Vec<(u32, f32)>,
}

/// For each request, for each continuation, each of its tokens.
pub type Scores = Vec<Vec<Vec<ScoredToken>>>;

/// The size of the scoring context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScoreLimits {
    /// KV cells, including one for the padding token.
    pub cells: usize,
    /// Cells a round aims to stay under (a lone request may use them all). Attention
    /// visits every cell up to the highest one in use, so a round that fills a large
    /// cache makes each query walk past other sequences' cells.
    pub round_cells: usize,
    /// Sequences for continuations (sequence 0, the prefix, comes on top).
    pub sequences: usize,
    /// Most tokens per decode call.
    pub batch: usize,
}

/// A request's context with some of its continuations: the piece a round takes.
struct Unit<'a> {
    request: usize,
    top_logprobs: usize,
    context: &'a [u32],
    /// (index in the request, tokens)
    continuations: Vec<(usize, &'a [u32])>,
}

impl Unit<'_> {
    /// Cells the unit needs beyond a shared prefix of `prefix` tokens: its context
    /// suffix and every continuation token but the last (whose output nobody reads).
    fn cells_after(&self, prefix: usize) -> usize {
        self.context.len() - prefix
            + self
                .continuations
                .iter()
                .map(|(_, c)| c.len() - 1)
                .sum::<usize>()
    }
}

/// A continuation token a logits row scores: `units[unit]`'s continuation
/// `continuation` (its index in the request), token `index`, which is `token`.
#[derive(Clone, Copy)]
struct Target {
    unit: usize,
    continuation: usize,
    index: usize,
    token: u32,
}

/// The units the next round takes, the prefix length they all share, and for each
/// unit the earlier unit in the round whose context it shares most of ([`best_earlier`]).
struct Round {
    len: usize,
    shared: usize,
    best: Vec<(usize, Option<usize>)>,
}

/// The scoring state kept between calls: which prefix sequence 0 holds, and how
/// many other sequences the last round used.
pub(crate) struct Scorer {
    limits: ScoreLimits,
    prefix: Vec<u32>,
    used: usize,
}

impl Scorer {
    pub(crate) fn new(limits: ScoreLimits) -> Self {
        Self {
            limits,
            prefix: Vec::new(),
            used: 0,
        }
    }

    /// Scores every request. Requests that share a context prefix are evaluated
    /// together; the results do not depend on that grouping.
    pub(crate) fn score(
        &mut self,
        ctx: &mut dyn DecodeContext,
        requests: &[ScoreRequest],
    ) -> Result<Scores, EngineError> {
        let units = self.units(requests)?;
        let mut scores: Scores = requests
            .iter()
            .map(|r| {
                r.continuations
                    .iter()
                    .map(|c| vec![ScoredToken::default(); c.len()])
                    .collect()
            })
            .collect();
        let mut start = 0;
        while start < units.len() {
            let plan = self.plan_round(&units[start..]);
            let end = start + plan.len;
            if let Err(error) = self.round(ctx, &units[start..end], &plan, &mut scores) {
                self.reset(ctx);
                return Err(error);
            }
            start = end;
        }
        Ok(scores)
    }

    /// Checks the requests and splits them into units that each fit a round alone.
    fn units<'a>(&self, requests: &'a [ScoreRequest]) -> Result<Vec<Unit<'a>>, EngineError> {
        let room = self.limits.cells.saturating_sub(1);
        let mut units = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            if request.context.is_empty() {
                return Err(EngineError::EmptyPrompt);
            }
            let empty = || Unit {
                request: index,
                top_logprobs: request.top_logprobs,
                context: &request.context,
                continuations: Vec::new(),
            };
            let mut unit = empty();
            for (j, continuation) in request.continuations.iter().enumerate() {
                // An empty continuation has nothing to score (its sum is 0).
                if continuation.is_empty() {
                    continue;
                }
                let alone = request.context.len() + continuation.len() - 1;
                if alone > room {
                    return Err(EngineError::PromptTooLong {
                        prompt_tokens: alone + 1,
                        context_length: room,
                    });
                }
                let full = unit.continuations.len() == self.limits.sequences
                    || unit.cells_after(0) + continuation.len() - 1 > room;
                if full {
                    units.push(std::mem::replace(&mut unit, empty()));
                }
                unit.continuations.push((j, continuation));
            }
            if !unit.continuations.is_empty() {
                units.push(unit);
            }
        }
        Ok(units)
    }

    /// Which of `units` the next round takes, and how their contexts share.
    fn plan_round(&self, units: &[Unit]) -> Round {
        let room = self
            .limits
            .round_cells
            .min(self.limits.cells)
            .saturating_sub(1);
        let first = units[0].context;
        // At least the last context token stays out of the prefix: its logits are needed.
        let mut shared = first.len() - 1;
        let mut sequences = 0;
        let mut best = Vec::with_capacity(units.len());
        for (k, unit) in units.iter().enumerate() {
            let prefix = shared
                .min(common_prefix(first, unit.context))
                .min(unit.context.len() - 1);
            best.push(best_earlier(&units[..k], unit));
            let cells = prefix
                + units[..=k]
                    .iter()
                    .zip(&best)
                    .map(|(u, &(b, _))| u.cells_after(prefix.max(b)))
                    .sum::<usize>();
            let seqs = sequences + unit.continuations.len();
            if k > 0 && (cells > room || seqs > self.limits.sequences) {
                best.truncate(k);
                return Round {
                    len: k,
                    shared,
                    best,
                };
            }
            shared = prefix;
            sequences = seqs;
        }
        Round {
            len: units.len(),
            shared,
            best,
        }
    }

    /// One round: the shared prefix, then every context's own tokens, then every
    /// continuation.
    fn round(
        &mut self,
        ctx: &mut dyn DecodeContext,
        units: &[Unit],
        plan: &Round,
        scores: &mut Scores,
    ) -> Result<(), EngineError> {
        let shared = plan.shared;
        // Free everything after the prefix, so new cells come after every kept one.
        for seq in 1..=self.used {
            ctx.truncate(seq as u32, 0);
        }
        self.used = 0;
        let prefix = &units[0].context[..shared];
        let keep = common_prefix(&self.prefix, prefix);
        if keep < self.prefix.len() {
            ctx.truncate(0, keep as u32);
            self.prefix.truncate(keep);
        }
        let entries: Vec<(BatchToken, Vec<Target>)> = prefix[keep..]
            .iter()
            .enumerate()
            .map(|(i, &token)| (batch_token(token, keep + i, 0, false), Vec::new()))
            .collect();
        self.evaluate(ctx, &entries, units, scores)?;
        self.prefix = prefix.to_vec();

        // Sequences: each unit's first one holds its context, the others share it.
        let mut first_seq = Vec::with_capacity(units.len());
        let mut next = 1;
        for unit in units {
            first_seq.push(next);
            next += unit.continuations.len();
        }
        self.used = next - 1;

        // A context starts from the earlier context it shares most with (a story asked
        // two questions), else from the prefix. A context is evaluated in the stage
        // after the one it starts from, so the cells it shares already exist and its
        // own come after them.
        let mut links: Vec<(usize, Option<usize>)> = Vec::with_capacity(units.len());
        let mut stage = Vec::with_capacity(units.len());
        for &best in &plan.best {
            let (share, parent) = match best {
                (share, Some(parent)) if share > shared => (share, Some(parent)),
                _ => (shared, None),
            };
            stage.push(parent.map_or(0, |p: usize| stage[p] + 1));
            links.push((share, parent));
        }
        let stages = stage.iter().copied().max().unwrap_or(0);
        for current in 0..=stages {
            let mut entries = Vec::new();
            for (u, unit) in units.iter().enumerate() {
                if stage[u] != current {
                    continue;
                }
                let seq = first_seq[u];
                let (share, parent) = links[u];
                let from = parent.map_or(0, |p| first_seq[p]);
                if share > 0 {
                    ctx.copy_prefix(from as u32, seq as u32, share as u32);
                }
                // The last context token's logits score every continuation's first token.
                let last = unit.context.len() - 1;
                for (pos, &token) in unit.context.iter().enumerate().skip(share) {
                    let targets = if pos == last {
                        unit.continuations
                            .iter()
                            .map(|&(j, continuation)| Target {
                                unit: u,
                                continuation: j,
                                index: 0,
                                token: continuation[0],
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    entries.push((batch_token(token, pos, seq, pos == last), targets));
                }
            }
            self.evaluate(ctx, &entries, units, scores)?;
        }

        // Every continuation in a sequence of its own that shares the context's cells;
        // token i's logits score token i + 1.
        let mut entries = Vec::new();
        for (u, unit) in units.iter().enumerate() {
            let context_len = unit.context.len();
            for (k, &(j, continuation)) in unit.continuations.iter().enumerate() {
                let seq = first_seq[u] + k;
                if k > 0 {
                    ctx.copy_prefix(first_seq[u] as u32, seq as u32, context_len as u32);
                }
                for (i, pair) in continuation.windows(2).enumerate() {
                    entries.push((
                        batch_token(pair[0], context_len + i, seq, true),
                        vec![Target {
                            unit: u,
                            continuation: j,
                            index: i + 1,
                            token: pair[1],
                        }],
                    ));
                }
            }
        }
        self.evaluate(ctx, &entries, units, scores)
    }

    /// Decodes `entries` in calls of at most `limits.batch` tokens and writes the
    /// log-probabilities each logits row is for.
    fn evaluate(
        &self,
        ctx: &mut dyn DecodeContext,
        entries: &[(BatchToken, Vec<Target>)],
        units: &[Unit],
        scores: &mut Scores,
    ) -> Result<(), EngineError> {
        for chunk in entries.chunks(self.limits.batch.max(1)) {
            let batch: Vec<BatchToken> = chunk.iter().map(|(token, _)| *token).collect();
            ctx.decode(&batch).map_err(|failure| match failure {
                DecodeFailure::NoSpace => {
                    EngineError::Decode("the scoring context ran out of KV cells".into())
                }
                DecodeFailure::Other(message) => EngineError::Decode(message),
            })?;
            for (index, (_, targets)) in chunk.iter().enumerate() {
                if targets.is_empty() {
                    continue;
                }
                let logits = ctx.logits(index).ok_or_else(|| {
                    EngineError::Decode(format!("no logits for batch entry {index}"))
                })?;
                let lse = log_sum_exp(logits);
                // Every target of a row belongs to one unit.
                let top_n = targets.first().map_or(0, |t| units[t.unit].top_logprobs);
                let top = top_logprobs(logits, top_n, lse);
                for target in targets {
                    let token = target.token;
                    let logprob =
                        token_logprob(logits, token, lse).ok_or(EngineError::InvalidToken {
                            token,
                            vocab_size: logits.len(),
                        })?;
                    let request = units[target.unit].request;
                    scores[request][target.continuation][target.index] = ScoredToken {
                        logprob,
                        top: top.clone(),
                    };
                }
            }
        }
        Ok(())
    }

    /// After a failure nothing in the cache can be trusted: drop every sequence.
    fn reset(&mut self, ctx: &mut dyn DecodeContext) {
        for seq in 0..=self.limits.sequences {
            ctx.truncate(seq as u32, 0);
        }
        self.prefix.clear();
        self.used = 0;
    }
}

/// The earlier unit whose context shares the most leading tokens with `unit`'s,
/// and how many (never its last token: its logits are needed).
fn best_earlier(earlier: &[Unit], unit: &Unit) -> (usize, Option<usize>) {
    earlier
        .iter()
        .enumerate()
        .map(|(v, other)| {
            let share = common_prefix(other.context, unit.context).min(unit.context.len() - 1);
            (share, Some(v))
        })
        .fold((0, None), |best, candidate| {
            if candidate.0 > best.0 {
                candidate
            } else {
                best
            }
        })
}

fn batch_token(token: u32, pos: usize, seq: usize, logits: bool) -> BatchToken {
    BatchToken {
        token,
        pos: pos as u32,
        seq: seq as u32,
        logits,
    }
}

#[cfg(test)]
mod tests;
