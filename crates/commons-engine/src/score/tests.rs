//! The planner against a fake KV cache that allocates cells as llama.cpp does and
//! computes "logits" from a query's visible tokens *in cache order*: a token placed
//! before one it follows, a missing or extra token, or a wrong position changes the
//! numbers, so equality with the reference means every score saw exactly its own
//! history, in order.

use std::collections::BTreeSet;

use super::*;

const VOCAB: usize = 16;

struct Cell {
    pos: u32,
    token: u32,
    seqs: BTreeSet<u32>,
}

#[derive(Default)]
struct FakeCache {
    cells: Vec<Option<Cell>>,
    head: usize,
    logits: Vec<Option<Vec<f32>>>,
    /// Tokens evaluated, over all decode calls.
    evaluated: usize,
    /// Fail the decode call with this number (counting from 1).
    fail_call: Option<usize>,
    calls: usize,
    /// One past the highest cell ever used.
    high_water: usize,
}

impl FakeCache {
    fn new(cells: usize) -> Self {
        Self {
            cells: (0..cells).map(|_| None).collect(),
            ..Self::default()
        }
    }

    /// llama.cpp's search: the first free cell from `head`, wrapping around.
    fn allocate(&mut self) -> Option<usize> {
        let n = self.cells.len();
        (0..n)
            .map(|i| (self.head + i) % n)
            .find(|&i| self.cells[i].is_none())
    }

    fn last_pos(&self, seq: u32) -> Option<u32> {
        self.cells
            .iter()
            .flatten()
            .filter(|c| c.seqs.contains(&seq))
            .map(|c| c.pos)
            .max()
    }
}

/// Logits that depend on every visible token and on their order.
fn logits_of(history: &[u32]) -> Vec<f32> {
    (0..VOCAB as u32)
        .map(|t| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for &x in history.iter().chain(std::iter::once(&t)) {
                h = (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3);
            }
            (h % 1000) as f32 / 100.0
        })
        .collect()
}

fn reference(history: &[u32], next: u32) -> ScoredToken {
    let logits = logits_of(history);
    ScoredToken {
        logprob: token_logprob(&logits, next, log_sum_exp(&logits)).unwrap(),
        top: Vec::new(),
    }
}

impl DecodeContext for FakeCache {
    fn decode(&mut self, batch: &[BatchToken]) -> Result<(), DecodeFailure> {
        self.calls += 1;
        if self.fail_call == Some(self.calls) {
            return Err(DecodeFailure::Other("injected".into()));
        }
        self.logits.clear();
        for entry in batch {
            let expected = self.last_pos(entry.seq).map_or(0, |p| p + 1);
            assert_eq!(
                entry.pos, expected,
                "positions of seq {} must be consecutive",
                entry.seq
            );
            let index = self.allocate().ok_or(DecodeFailure::NoSpace)?;
            self.cells[index] = Some(Cell {
                pos: entry.pos,
                token: entry.token,
                seqs: BTreeSet::from([entry.seq]),
            });
            self.head = index + 1;
            self.high_water = self.high_water.max(index + 1);
        }
        self.evaluated += batch.len();
        for entry in batch {
            let logits = entry.logits.then(|| {
                let history: Vec<u32> = self
                    .cells
                    .iter()
                    .flatten()
                    .filter(|c| c.seqs.contains(&entry.seq) && c.pos <= entry.pos)
                    .map(|c| c.token)
                    .collect();
                logits_of(&history)
            });
            self.logits.push(logits);
        }
        Ok(())
    }

    fn logits(&self, index: usize) -> Option<&[f32]> {
        self.logits.get(index)?.as_deref()
    }

    fn copy_prefix(&mut self, from_seq: u32, to_seq: u32, len: u32) {
        for cell in self.cells.iter_mut().flatten() {
            if cell.seqs.contains(&from_seq) && cell.pos < len {
                cell.seqs.insert(to_seq);
            }
        }
    }

    fn truncate(&mut self, seq: u32, keep: u32) -> bool {
        for (i, slot) in self.cells.iter_mut().enumerate() {
            if let Some(cell) = slot {
                if cell.pos >= keep && cell.seqs.remove(&seq) && cell.seqs.is_empty() {
                    *slot = None;
                    self.head = self.head.min(i);
                }
            }
        }
        true
    }
}

fn limits(cells: usize, sequences: usize, batch: usize) -> ScoreLimits {
    ScoreLimits {
        cells,
        round_cells: cells,
        sequences,
        batch,
    }
}

fn request(context: &[u32], continuations: &[&[u32]]) -> ScoreRequest {
    ScoreRequest {
        context: context.to_vec(),
        continuations: continuations.iter().map(|c| c.to_vec()).collect(),
        top_logprobs: 0,
    }
}

/// What a lone evaluation of `context + continuation` gives each continuation token.
fn expected(requests: &[ScoreRequest]) -> Scores {
    requests
        .iter()
        .map(|r| {
            r.continuations
                .iter()
                .map(|c| {
                    (0..c.len())
                        .map(|i| {
                            let mut history = r.context.clone();
                            history.extend_from_slice(&c[..i]);
                            reference(&history, c[i])
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Few-shot-like requests: a long shared preamble, then a question, then choices.
fn suite() -> Vec<ScoreRequest> {
    let preamble: Vec<u32> = (0..12).map(|i| 1 + i % 7).collect();
    (0..6u32)
        .map(|q| {
            let mut context = preamble.clone();
            context.extend([8 + q % 5, 9, 10 + q % 3]);
            request(&context, &[&[3], &[4, 5, 6], &[q % 16, 2], &[7, 7, 7, 7]])
        })
        .collect()
}

#[test]
fn scores_equal_lone_evaluations() {
    let requests = suite();
    let mut ctx = FakeCache::new(256);
    let scores = Scorer::new(limits(256, 64, 512))
        .score(&mut ctx, &requests)
        .unwrap();
    assert_eq!(scores, expected(&requests));
}

#[test]
fn tight_limits_force_rounds_and_split_requests_without_changing_a_bit() {
    let requests = suite();
    // 24 cells, 3 sequences and 5-token decode calls: many rounds, each request split.
    let mut ctx = FakeCache::new(24);
    let mut scorer = Scorer::new(limits(24, 3, 5));
    assert_eq!(
        scorer.score(&mut ctx, &requests).unwrap(),
        expected(&requests)
    );
    // Again on the same (now used) cache, and in reverse order.
    let reversed: Vec<_> = requests.iter().rev().cloned().collect();
    assert_eq!(
        scorer.score(&mut ctx, &reversed).unwrap(),
        expected(&reversed)
    );
}

#[test]
fn small_rounds_keep_the_cache_low_and_a_large_request_still_runs() {
    let mut requests = suite();
    let long: Vec<u32> = (0..40).map(|i| i % 13).collect();
    requests.push(request(&long, &[&[1, 2], &[3]]));
    let mut ctx = FakeCache::new(128);
    let mut scorer = Scorer::new(ScoreLimits {
        round_cells: 24,
        ..limits(128, 64, 512)
    });
    assert_eq!(
        scorer.score(&mut ctx, &requests).unwrap(),
        expected(&requests)
    );
    // Rounds of about 24 cells never reach far into the 128-cell cache, except the
    // lone 40-token request, which needs 41.
    let highest = ctx.high_water;
    assert!((40..=48).contains(&highest), "highest cell used: {highest}");
}

#[test]
fn shared_prefix_and_contexts_are_evaluated_once() {
    let requests = suite();
    let mut ctx = FakeCache::new(256);
    let mut scorer = Scorer::new(limits(256, 64, 512));
    scorer.score(&mut ctx, &requests).unwrap();
    // The 12-token preamble once, each context's own tokens once (question 5 starts
    // like question 0, so two of its tokens come from question 0's cells), each
    // continuation but its last token.
    let shared = 12;
    let contexts: usize = requests
        .iter()
        .map(|r| r.context.len() - shared)
        .sum::<usize>()
        - 2;
    let continuations: usize = requests
        .iter()
        .flat_map(|r| &r.continuations)
        .map(|c| c.len() - 1)
        .sum();
    assert_eq!(ctx.evaluated, shared + contexts + continuations);
    // The next call keeps the prefix: only suffixes and continuations again.
    scorer.score(&mut ctx, &requests).unwrap();
    assert_eq!(ctx.evaluated, shared + 2 * (contexts + continuations));
}

#[test]
fn questions_about_one_story_share_the_story() {
    let story: Vec<u32> = (0..20).map(|i| 1 + i % 9).collect();
    let ask = |question: &[u32]| {
        let mut context = story.clone();
        context.extend_from_slice(question);
        request(&context, &[&[3], &[4]])
    };
    // Two stories, each asked twice, and an unrelated context first (so the round's
    // common prefix is empty).
    let other: Vec<u32> = story.iter().map(|t| t + 1).collect();
    let mut other_twice = other.clone();
    other_twice.extend([5, 5]);
    let requests = vec![
        request(&[15, 14], &[&[1]]),
        ask(&[10, 11]),
        request(&other, &[&[2]]),
        ask(&[12]),
        request(&other_twice, &[&[2]]),
    ];
    let mut ctx = FakeCache::new(256);
    let scores = Scorer::new(limits(256, 16, 64))
        .score(&mut ctx, &requests)
        .unwrap();
    assert_eq!(scores, expected(&requests));
    // 2 + 22 + 20 + (only the question) 1 + (only the new tokens) 2.
    assert_eq!(ctx.evaluated, 2 + 22 + 20 + 1 + 2);
}

#[test]
fn a_changed_prefix_is_cut_back_and_rebuilt() {
    let mut ctx = FakeCache::new(128);
    let mut scorer = Scorer::new(limits(128, 8, 16));
    let first = vec![request(&[1, 2, 3, 4, 5, 6], &[&[7, 8]])];
    let second = vec![request(&[1, 2, 9, 9, 9], &[&[7, 8], &[1]])];
    for requests in [&first, &second, &first] {
        assert_eq!(
            scorer.score(&mut ctx, requests).unwrap(),
            expected(requests)
        );
    }
}

#[test]
fn a_failed_decode_resets_and_the_next_call_is_exact() {
    let requests = suite();
    let mut ctx = FakeCache::new(64);
    ctx.fail_call = Some(2);
    let mut scorer = Scorer::new(limits(64, 6, 16));
    let error = scorer.score(&mut ctx, &requests).unwrap_err();
    assert!(error.to_string().contains("injected"), "{error}");
    assert_eq!(ctx.cells.iter().flatten().count(), 0, "nothing left cached");
    assert_eq!(
        scorer.score(&mut ctx, &requests).unwrap(),
        expected(&requests)
    );
}

#[test]
fn bad_requests_are_refused_before_anything_runs() {
    let mut ctx = FakeCache::new(16);
    let mut scorer = Scorer::new(limits(16, 4, 8));
    let empty = scorer.score(&mut ctx, &[request(&[], &[&[1]])]);
    assert!(matches!(empty, Err(EngineError::EmptyPrompt)));
    let long: Vec<u32> = (0..14).collect();
    let too_long = scorer.score(&mut ctx, &[request(&long, &[&[1, 2, 3]])]);
    assert!(matches!(too_long, Err(EngineError::PromptTooLong { .. })));
    assert_eq!(ctx.calls, 0);
    // An empty continuation scores nothing (its sum is 0).
    let scores = scorer
        .score(&mut ctx, &[request(&[1, 2], &[&[], &[3]])])
        .unwrap();
    assert_eq!(scores[0][0], Vec::<ScoredToken>::new());
    assert_eq!(scores[0][1], vec![reference(&[1, 2], 3)]);
}

#[test]
fn top_logprobs_come_with_every_token_when_asked() {
    let mut ctx = FakeCache::new(64);
    let mut scorer = Scorer::new(limits(64, 8, 16));
    let asked = ScoreRequest {
        top_logprobs: 3,
        ..request(&[1, 2, 3], &[&[4, 5]])
    };
    let scores = scorer.score(&mut ctx, &[asked]).unwrap();
    for (i, history) in [vec![1, 2, 3], vec![1, 2, 3, 4]].iter().enumerate() {
        let logits = logits_of(history);
        let top = top_logprobs(&logits, 3, log_sum_exp(&logits));
        assert_eq!(scores[0][0][i].top, top);
        assert_eq!(
            scores[0][0][i].logprob,
            reference(history, [4, 5][i]).logprob
        );
    }
}
