//! Continuous batching over N slots that share one inference context.
//!
//! One OS thread per loaded model owns the context and runs `run`. Each step it:
//! 1. takes new jobs from the channel (blocking only when there is nothing to do),
//! 2. frees slots whose client dropped its receiver (cancellation),
//! 3. places waiting jobs into free slots, reusing the longest cached prompt prefix,
//! 4. builds one batch: one token for every generating slot, then prompt chunks of slots
//!    still reading their prompt (bounded, so a long prompt cannot starve decoding),
//! 5. decodes it, samples a token for every slot that asked for logits, and streams events.
//!
//! The context is reached only through `DecodeContext`, so this file knows nothing about
//! llama.cpp; `llama::context` implements it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::EngineError;
use crate::request::{Done, Event, FinishReason, Timings, TokenEvent, TopLogprob};
use crate::sampling::{log_sum_exp, token_logprob, top_logprobs};
use crate::text_stream::{StopMatcher, StopOutcome, Utf8Decoder};

/// Sizing of a model's scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchedulerConfig {
    /// Sequences decoded together.
    pub slots: usize,
    /// Context window of each slot in tokens (the shared KV cache holds `slots × this`).
    pub context_per_slot: u32,
    /// Most tokens evaluated in one decode call.
    pub batch_size: u32,
    /// Most prompt tokens one slot may add to a step while other slots are generating.
    pub prompt_chunk: u32,
    /// Jobs that may wait for a free slot before new ones are rejected with `Busy`.
    pub queue_depth: usize,
    /// CPU threads for decoding; 0 = all available cores.
    pub threads: u32,
    /// Make each request's output independent of what it is batched with (see the crate
    /// docs). Costs some speed: single-stream decode pads every step to two tokens and
    /// prompts are evaluated in micro-batches of at most 63 tokens.
    pub batch_invariant: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            slots: 4,
            context_per_slot: 4096,
            batch_size: 512,
            prompt_chunk: 128,
            queue_depth: 64,
            threads: 0,
            batch_invariant: true,
        }
    }
}

impl SchedulerConfig {
    pub(crate) fn validate(&self) -> Result<(), EngineError> {
        let invalid = |name: &'static str, reason: &str| EngineError::InvalidParameter {
            name,
            reason: reason.to_string(),
        };
        if self.slots == 0 || self.slots > 256 {
            return Err(invalid("slots", "must be between 1 and 256"));
        }
        if self.context_per_slot < 16 {
            return Err(invalid("context_per_slot", "must be at least 16"));
        }
        if self.batch_size == 0 || self.prompt_chunk == 0 {
            return Err(invalid(
                "batch_size",
                "batch_size and prompt_chunk must be > 0",
            ));
        }
        Ok(())
    }

    /// Threads to use, resolving 0 to the number of available cores.
    pub fn effective_threads(&self) -> u32 {
        if self.threads > 0 {
            return self.threads;
        }
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    }
}

/// Counters since the model was loaded, for tests, `/api/ps` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerStats {
    pub prompt_tokens_evaluated: u64,
    pub prompt_tokens_cached: u64,
    pub completion_tokens: u64,
    pub requests_completed: u64,
    pub requests_cancelled: u64,
    pub requests_failed: u64,
    pub decode_calls: u64,
    pub active_slots: u64,
    pub queued: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    prompt_tokens_evaluated: AtomicU64,
    prompt_tokens_cached: AtomicU64,
    completion_tokens: AtomicU64,
    requests_completed: AtomicU64,
    requests_cancelled: AtomicU64,
    requests_failed: AtomicU64,
    decode_calls: AtomicU64,
    active_slots: AtomicU64,
    /// Jobs submitted but not yet placed in a slot.
    pub(crate) queued: AtomicUsize,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> SchedulerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SchedulerStats {
            prompt_tokens_evaluated: get(&self.prompt_tokens_evaluated),
            prompt_tokens_cached: get(&self.prompt_tokens_cached),
            completion_tokens: get(&self.completion_tokens),
            requests_completed: get(&self.requests_completed),
            requests_cancelled: get(&self.requests_cancelled),
            requests_failed: get(&self.requests_failed),
            decode_calls: get(&self.decode_calls),
            active_slots: get(&self.active_slots),
            queued: self.queued.load(Ordering::Relaxed) as u64,
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// One token of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchToken {
    pub token: u32,
    pub pos: u32,
    pub seq: u32,
    pub logits: bool,
}

/// Why a decode failed.
#[derive(Debug)]
pub(crate) enum DecodeFailure {
    /// The KV cache has no room; evicting idle sequences may help.
    NoSpace,
    Other(String),
}

/// The backend's inference context as the scheduler needs it.
pub(crate) trait DecodeContext {
    /// Evaluate a batch. Afterwards `logits(i)` returns the logits of entry `i` if it asked.
    fn decode(&mut self, batch: &[BatchToken]) -> Result<(), DecodeFailure>;
    /// Logits of batch entry `index` of the last decode (only entries with `logits: true`).
    fn logits(&self, index: usize) -> Option<&[f32]>;
    /// Make `to_seq` hold the first `len` positions of `from_seq` (its old contents are dropped).
    fn copy_prefix(&mut self, from_seq: u32, to_seq: u32, len: u32);
    /// Drop positions `keep..` of `seq`; false if the backend cannot drop partially.
    fn truncate(&mut self, seq: u32, keep: u32) -> bool;
}

/// A per-request sampler (owns its RNG, so seeds reproduce under batching).
pub(crate) trait TokenSampler: Send {
    /// Choose the next token from raw logits and record it (penalties, grammar state).
    fn sample(&mut self, logits: &[f32]) -> u32;
}

/// What the scheduler needs to know about tokens.
pub(crate) trait TokenText: Send + Sync {
    /// Bytes of one token as it appears in text.
    fn piece(&self, token: u32) -> Vec<u8>;
    /// Whether the token ends generation (EOS, EOT, ...).
    fn is_end_of_generation(&self, token: u32) -> bool;
}

/// A request as the scheduler sees it: already tokenized, with its sampler built.
pub(crate) struct Job {
    pub prompt: Vec<u32>,
    pub sampler: Box<dyn TokenSampler>,
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    pub logprobs: Option<u32>,
    pub echo: bool,
    /// With `echo`: the first prompt position whose log-probability is needed.
    pub echo_from: usize,
    pub events: UnboundedSender<Event>,
    pub submitted_at: Instant,
    pub load_ns: u64,
}

/// The caller's side of a running scheduler.
pub(crate) struct SchedulerHandle {
    jobs: mpsc::Sender<Job>,
    counters: Arc<Counters>,
    config: SchedulerConfig,
}

impl SchedulerHandle {
    pub(crate) fn new(
        jobs: mpsc::Sender<Job>,
        counters: Arc<Counters>,
        config: SchedulerConfig,
    ) -> Self {
        Self {
            jobs,
            counters,
            config,
        }
    }

    /// Queue a job, or refuse with `Busy` when the queue is full.
    pub(crate) fn submit(&self, job: Job) -> Result<(), EngineError> {
        let queued = self.counters.queued.fetch_add(1, Ordering::SeqCst);
        if queued >= self.config.queue_depth {
            self.counters.queued.fetch_sub(1, Ordering::SeqCst);
            // A rough wait: one "round" of the slots per queue-full of jobs, at least a second.
            let retry_after_secs = 1 + (queued / self.config.slots.max(1)) as u64;
            return Err(EngineError::Busy {
                queued,
                retry_after_secs,
            });
        }
        self.jobs.send(job).map_err(|_| {
            self.counters.queued.fetch_sub(1, Ordering::SeqCst);
            EngineError::WorkerStopped
        })
    }

    pub(crate) fn stats(&self) -> SchedulerStats {
        self.counters.snapshot()
    }

    pub(crate) fn config(&self) -> &SchedulerConfig {
        &self.config
    }
}

/// A request that occupies a slot.
struct Active {
    job: Job,
    /// Prompt tokens already in the KV cache (reused or evaluated).
    prompt_done: usize,
    cached: usize,
    /// Sampled but not yet evaluated (it is evaluated in the next step).
    pending: Option<u32>,
    generated: usize,
    utf8: Utf8Decoder,
    stop: StopMatcher,
    assigned_at: Instant,
    first_token_at: Option<Instant>,
    /// Order of arrival, so the oldest prompt is read first.
    ticket: u64,
}

struct Slot {
    seq: u32,
    /// Exactly the tokens whose KV entries this sequence holds, in position order.
    tokens: Vec<u32>,
    active: Option<Active>,
    last_used: u64,
}

/// What a batch entry was for, so its logits go to the right place.
#[derive(Clone, Copy)]
struct BatchOwner {
    slot: usize,
    /// Prompt position of this token, or `None` for a generated token.
    prompt_pos: Option<usize>,
}

/// How many leading tokens `a` and `b` share.
pub(crate) fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The scheduler loop. Returns when the job channel is closed and no work is left.
pub(crate) fn run(
    ctx: &mut dyn DecodeContext,
    text: &dyn TokenText,
    jobs: mpsc::Receiver<Job>,
    counters: Arc<Counters>,
    config: SchedulerConfig,
) {
    let mut state = State {
        slots: (0..config.slots)
            .map(|i| Slot {
                seq: i as u32,
                tokens: Vec::new(),
                active: None,
                last_used: 0,
            })
            .collect(),
        waiting: VecDeque::new(),
        clock: 0,
        counters,
        config,
    };
    let mut closed = false;
    loop {
        let idle = state.waiting.is_empty() && state.slots.iter().all(|s| s.active.is_none());
        if idle {
            if closed {
                return;
            }
            match jobs.recv() {
                Ok(job) => state.waiting.push_back(job),
                Err(_) => return,
            }
        }
        loop {
            match jobs.try_recv() {
                Ok(job) => state.waiting.push_back(job),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        state.drop_cancelled();
        state.assign_waiting(ctx, text);
        state.step(ctx, text);
        let active = state.slots.iter().filter(|s| s.active.is_some()).count();
        state
            .counters
            .active_slots
            .store(active as u64, Ordering::Relaxed);
    }
}

struct State {
    slots: Vec<Slot>,
    waiting: VecDeque<Job>,
    clock: u64,
    counters: Arc<Counters>,
    config: SchedulerConfig,
}

impl State {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn drop_cancelled(&mut self) {
        let before = self.waiting.len();
        self.waiting.retain(|job| !job.events.is_closed());
        let dropped = before - self.waiting.len();
        if dropped > 0 {
            self.counters.queued.fetch_sub(dropped, Ordering::SeqCst);
            Counters::add(&self.counters.requests_cancelled, dropped as u64);
        }
        for slot in &mut self.slots {
            if slot
                .active
                .as_ref()
                .is_some_and(|a| a.job.events.is_closed())
            {
                tracing::debug!(seq = slot.seq, "client went away; freeing slot");
                slot.active = None;
                Counters::add(&self.counters.requests_cancelled, 1);
            }
        }
    }

    fn assign_waiting(&mut self, ctx: &mut dyn DecodeContext, text: &dyn TokenText) {
        while !self.waiting.is_empty() {
            let Some(slot_index) = self.pick_slot() else {
                return;
            };
            let Some(job) = self.waiting.pop_front() else {
                return;
            };
            self.counters.queued.fetch_sub(1, Ordering::SeqCst);
            self.assign(ctx, text, slot_index, job);
        }
    }

    /// The free slot sharing the longest prefix with the next job; ties go to the least
    /// recently used slot so hot prefixes survive longer.
    fn pick_slot(&self) -> Option<usize> {
        let job = self.waiting.front()?;
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.active.is_none())
            .max_by_key(|(_, s)| {
                (
                    common_prefix(&s.tokens, &job.prompt),
                    u64::MAX - s.last_used,
                )
            })
            .map(|(i, _)| i)
    }

    fn assign(
        &mut self,
        ctx: &mut dyn DecodeContext,
        text: &dyn TokenText,
        index: usize,
        job: Job,
    ) {
        let ticket = self.tick();
        // At least the last prompt token is evaluated again: its logits pick the first token.
        // Echo needs the logits that predict every token from `echo_from` on, so
        // it reuses at most the tokens before `echo_from - 1`.
        let reusable = if job.echo {
            job.echo_from
                .saturating_sub(1)
                .min(job.prompt.len().saturating_sub(1))
        } else {
            job.prompt.len().saturating_sub(1)
        };
        let own = common_prefix(&self.slots[index].tokens, &job.prompt).min(reusable);

        // Another slot (busy or idle) may hold a longer prefix: share it instead.
        let donor = self
            .slots
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(i, s)| (i, common_prefix(&s.tokens, &job.prompt).min(reusable)))
            .filter(|&(_, len)| len > own)
            .max_by_key(|&(_, len)| len);

        let seq = self.slots[index].seq;
        let mut keep = own;
        if let Some((donor_index, len)) = donor {
            let donor_seq = self.slots[donor_index].seq;
            if ctx.truncate(seq, 0) {
                ctx.copy_prefix(donor_seq, seq, len as u32);
                keep = len;
                tracing::debug!(
                    seq,
                    donor_seq,
                    len,
                    "sharing a cached prefix from another slot"
                );
            }
        } else if !ctx.truncate(seq, keep as u32) {
            ctx.truncate(seq, 0);
            keep = 0;
        }
        let slot = &mut self.slots[index];
        slot.tokens.clear();
        slot.tokens.extend_from_slice(&job.prompt[..keep]);
        slot.last_used = ticket;
        Counters::add(&self.counters.prompt_tokens_cached, keep as u64);

        let now = Instant::now();
        let stop = StopMatcher::new(&job.stop);
        let active = Active {
            prompt_done: keep,
            cached: keep,
            pending: None,
            generated: 0,
            utf8: Utf8Decoder::default(),
            stop,
            assigned_at: now,
            first_token_at: None,
            ticket,
            job,
        };
        if active.job.echo {
            // The first prompt token has no context to be predicted from, and the
            // ones the cache supplies (up to `keep`) were not predicted here.
            for &token in active.job.prompt.iter().take(keep + 1) {
                let _ = active
                    .job
                    .events
                    .send(Event::PromptToken(unscored_token(token, text)));
            }
        }
        slot.active = Some(active);
    }

    fn step(&mut self, ctx: &mut dyn DecodeContext, text: &dyn TokenText) {
        let (batch, owners) = self.build_batch();
        if batch.is_empty() {
            return;
        }
        Counters::add(&self.counters.decode_calls, 1);
        let mut result = ctx.decode(&batch);
        if matches!(result, Err(DecodeFailure::NoSpace)) {
            // Idle slots keep their KV only as a cache; give it up and try once more.
            for slot in self.slots.iter_mut().filter(|s| s.active.is_none()) {
                if !slot.tokens.is_empty() && ctx.truncate(slot.seq, 0) {
                    slot.tokens.clear();
                }
            }
            result = ctx.decode(&batch);
        }
        if let Err(failure) = result {
            let message = match failure {
                DecodeFailure::NoSpace => "the KV cache is full".to_string(),
                DecodeFailure::Other(message) => message,
            };
            tracing::warn!(%message, "decode failed; failing the requests in this batch");
            let mut failed: Vec<usize> = owners.iter().map(|o| o.slot).collect();
            failed.dedup();
            for index in failed {
                let slot = &mut self.slots[index];
                ctx.truncate(slot.seq, 0);
                slot.tokens.clear();
                if let Some(active) = slot.active.take() {
                    let _ = active
                        .job
                        .events
                        .send(Event::Error(EngineError::Decode(message.clone())));
                    Counters::add(&self.counters.requests_failed, 1);
                }
            }
            return;
        }

        // The batch is in the KV cache now: record it per slot.
        for (entry, owner) in batch.iter().zip(&owners) {
            let slot = &mut self.slots[owner.slot];
            slot.tokens.push(entry.token);
            if let (Some(active), Some(_)) = (slot.active.as_mut(), owner.prompt_pos) {
                active.prompt_done += 1;
            }
        }
        let evaluated_prompt = owners.iter().filter(|o| o.prompt_pos.is_some()).count();
        Counters::add(
            &self.counters.prompt_tokens_evaluated,
            evaluated_prompt as u64,
        );

        for (i, (entry, owner)) in batch.iter().zip(&owners).enumerate() {
            if !entry.logits {
                // Echo below `echo_from`: the next prompt token is streamed unscored.
                let slot = &self.slots[owner.slot];
                if let (Some(active), Some(pos)) = (slot.active.as_ref(), owner.prompt_pos) {
                    if let Some(&token) = active.job.prompt.get(pos + 1).filter(|_| active.job.echo)
                    {
                        let _ = active
                            .job
                            .events
                            .send(Event::PromptToken(unscored_token(token, text)));
                    }
                }
                continue;
            }
            let Some(logits) = ctx.logits(i) else {
                continue;
            };
            let slot = &mut self.slots[owner.slot];
            let context_per_slot = self.config.context_per_slot as usize;
            let Some(active) = slot.active.as_mut() else {
                continue;
            };
            let next_prompt_pos = owner.prompt_pos.map(|p| p + 1);
            match next_prompt_pos {
                Some(next) if next < active.job.prompt.len() => {
                    // Echo: these logits score the next prompt token.
                    let token = active.job.prompt[next];
                    let event = score_token(logits, token, active.job.logprobs, text);
                    if active.job.events.send(Event::PromptToken(event)).is_err() {
                        continue;
                    }
                }
                _ => {
                    let finished = advance(
                        active,
                        logits,
                        slot.tokens.len(),
                        context_per_slot,
                        text,
                        &self.counters,
                    );
                    if finished {
                        slot.active = None;
                    }
                }
            }
        }
    }

    /// One token per generating slot first (decoding is never starved), then prompt chunks,
    /// oldest request first.
    fn build_batch(&mut self) -> (Vec<BatchToken>, Vec<BatchOwner>) {
        let mut batch = Vec::new();
        let mut owners = Vec::new();
        let limit = self.config.batch_size as usize;
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let Some(active) = slot.active.as_mut() else {
                continue;
            };
            if let Some(token) = active.pending.take() {
                batch.push(BatchToken {
                    token,
                    pos: slot.tokens.len() as u32,
                    seq: slot.seq,
                    logits: true,
                });
                owners.push(BatchOwner {
                    slot: index,
                    prompt_pos: None,
                });
            }
        }
        let generating = batch.len();
        let mut prefilling: Vec<(u64, usize)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let a = s.active.as_ref()?;
                (a.prompt_done < a.job.prompt.len()).then_some((a.ticket, i))
            })
            .collect();
        prefilling.sort_unstable();
        for (_, index) in prefilling {
            let budget = limit.saturating_sub(batch.len());
            if budget == 0 {
                break;
            }
            // While others generate, cap each prompt's share so their next token is not delayed much.
            let chunk = if generating > 0 {
                budget.min(self.config.prompt_chunk as usize)
            } else {
                budget
            };
            let slot = &self.slots[index];
            let Some(active) = slot.active.as_ref() else {
                continue;
            };
            let start = active.prompt_done;
            let end = active.job.prompt.len().min(start + chunk);
            let last = active.job.prompt.len().saturating_sub(1);
            for pos in start..end {
                batch.push(BatchToken {
                    token: active.job.prompt[pos],
                    pos: pos as u32,
                    seq: slot.seq,
                    logits: (active.job.echo && pos + 1 >= active.job.echo_from) || pos == last,
                });
                owners.push(BatchOwner {
                    slot: index,
                    prompt_pos: Some(pos),
                });
            }
        }
        (batch, owners)
    }
}

/// A prompt token streamed back without a log-probability.
pub(crate) fn unscored_token(token: u32, text: &dyn TokenText) -> TokenEvent {
    token_event(token, None, &[], text)
}

/// Log-probabilities of `token` at a position, as an event.
fn score_token(logits: &[f32], token: u32, top_n: Option<u32>, text: &dyn TokenText) -> TokenEvent {
    let lse = log_sum_exp(logits);
    let top = top_n
        .map(|n| top_logprobs(logits, n as usize, lse))
        .unwrap_or_default();
    token_event(token, token_logprob(logits, token, lse), &top, text)
}

/// A token with its log-probability and the most likely alternatives, as an event.
pub(crate) fn token_event(
    token: u32,
    logprob: Option<f32>,
    top: &[(u32, f32)],
    text: &dyn TokenText,
) -> TokenEvent {
    TokenEvent {
        id: token,
        text: String::from_utf8_lossy(&text.piece(token)).into_owned(),
        logprob,
        top_logprobs: top
            .iter()
            .map(|&(id, logprob)| TopLogprob {
                id,
                text: String::from_utf8_lossy(&text.piece(id)).into_owned(),
                logprob,
            })
            .collect(),
    }
}

/// Sample the next token of a slot from its logits, stream it, and say whether it finished.
fn advance(
    active: &mut Active,
    logits: &[f32],
    kv_len: usize,
    context_per_slot: usize,
    text: &dyn TokenText,
    counters: &Counters,
) -> bool {
    let now = Instant::now();
    if active.first_token_at.is_none() {
        active.first_token_at = Some(now);
    }
    if active.job.max_tokens == Some(0) {
        return finish(active, FinishReason::Length, None, counters);
    }
    let token = active.job.sampler.sample(logits);
    if text.is_end_of_generation(token) {
        let tail = active.utf8.finish();
        let mut tail = active.stop.push(&tail).into_text();
        tail.push_str(&active.stop.finish());
        let last = (!tail.is_empty()).then(|| plain_token(token, tail));
        return finish(active, FinishReason::Stop, last, counters);
    }
    active.generated += 1;
    Counters::add(&counters.completion_tokens, 1);

    let mut event = match active.job.logprobs {
        Some(n) => score_token(logits, token, Some(n), text),
        None => plain_token(token, String::new()),
    };
    let decoded = active.utf8.push(&text.piece(token));
    event.text = match active.stop.push(&decoded) {
        StopOutcome::Continue(released) => released,
        StopOutcome::Stopped(released) => {
            event.text = released;
            return finish(active, FinishReason::Stop, Some(event), counters);
        }
    };

    let hit_max = active
        .job
        .max_tokens
        .is_some_and(|max| active.generated >= max as usize);
    // The sampled token still needs a KV cell, and the slot must not outgrow its window.
    let context_full = kv_len + 1 >= context_per_slot;
    if hit_max || context_full {
        let tail = active.utf8.finish();
        let tail = active.stop.push(&tail).into_text();
        event.text.push_str(&tail);
        event.text.push_str(&active.stop.finish());
        return finish(active, FinishReason::Length, Some(event), counters);
    }
    if active.job.events.send(Event::Token(event)).is_err() {
        return finish(active, FinishReason::Cancelled, None, counters);
    }
    active.pending = Some(token);
    false
}

fn plain_token(id: u32, text: String) -> TokenEvent {
    TokenEvent {
        id,
        text,
        logprob: None,
        top_logprobs: Vec::new(),
    }
}

impl StopOutcome {
    fn into_text(self) -> String {
        match self {
            StopOutcome::Continue(text) | StopOutcome::Stopped(text) => text,
        }
    }
}

/// Send the last token (if any) and the summary; the slot is free afterwards.
fn finish(
    active: &mut Active,
    reason: FinishReason,
    last: Option<TokenEvent>,
    counters: &Counters,
) -> bool {
    let now = Instant::now();
    if let Some(event) = last {
        let _ = active.job.events.send(Event::Token(event));
    }
    let first = active.first_token_at.unwrap_or(now);
    let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let done = Done {
        finish_reason: reason,
        prompt_tokens: active.job.prompt.len(),
        prompt_tokens_cached: active.cached,
        completion_tokens: active.generated,
        timings: Timings {
            load_ns: active.job.load_ns,
            prompt_eval_ns: nanos(first.duration_since(active.assigned_at)),
            eval_ns: nanos(now.duration_since(first)),
            queued_ns: nanos(active.assigned_at.duration_since(active.job.submitted_at)),
        },
    };
    if reason == FinishReason::Cancelled {
        Counters::add(&counters.requests_cancelled, 1);
    } else {
        Counters::add(&counters.requests_completed, 1);
    }
    let _ = active.job.events.send(Event::Done(done));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_counts_equal_leading_tokens() {
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4]), 2);
        assert_eq!(common_prefix(&[], &[1]), 0);
        assert_eq!(common_prefix(&[5, 6], &[5, 6, 7]), 2);
    }

    #[test]
    fn config_validation_rejects_zero_slots() {
        let config = SchedulerConfig {
            slots: 0,
            ..SchedulerConfig::default()
        };
        assert!(config.validate().is_err());
        assert!(SchedulerConfig::default().validate().is_ok());
    }
}
