//! Continuation scoring ([`crate::score`]) on a context of its own, on a worker
//! thread that owns it. Always batch-invariant, whatever the scheduler's setting:
//! scores are what evaluations sign.

use std::sync::mpsc;
use std::sync::Arc;

use llama_cpp_2::model::LlamaModel;

use super::context::{DecodeSizing, LlamaDecodeContext};
use crate::error::EngineError;
use crate::score::{ScoreLimits, ScoreRequest, Scorer, Scores};

/// Called on the worker thread with the job's scores.
pub(crate) type Reply = Box<dyn FnOnce(Result<Scores, EngineError>) + Send>;

struct ScoreJob {
    requests: Vec<ScoreRequest>,
    reply: Reply,
}

/// Handle to a model's scoring worker.
pub(crate) struct ScoreWorker {
    jobs: mpsc::Sender<ScoreJob>,
}

/// Continuations scored together in one round at most.
const SEQUENCES: usize = 64;

/// KV cells a round aims for (see `ScoreLimits::round_cells`). Measured on SmolLM2 with
/// 2 threads: 512 to 4096 change throughput by a few percent; small rounds help long
/// contexts a little (attention walks fewer foreign cells).
const ROUND_CELLS: usize = 1024;

impl ScoreWorker {
    /// Start the worker with `cells` KV cells and wait until its context exists.
    pub(crate) fn spawn(
        model: Arc<LlamaModel>,
        cells: u32,
        batch: u32,
        threads: u32,
    ) -> Result<Self, EngineError> {
        let (jobs, rx) = mpsc::channel::<ScoreJob>();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("commons-score".into())
            .spawn(move || {
                let sizing = DecodeSizing {
                    cells,
                    batch,
                    // The prefix and one per continuation.
                    sequences: SEQUENCES as u32 + 1,
                    // Scores are what evaluations sign: always batch-invariant.
                    batch_invariant: true,
                    threads,
                };
                let mut decode = match LlamaDecodeContext::create(&model, &sizing) {
                    Ok(decode) => decode,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                let mut scorer = Scorer::new(ScoreLimits {
                    cells: cells as usize,
                    round_cells: ROUND_CELLS,
                    sequences: SEQUENCES,
                    batch: batch as usize,
                });
                let _ = ready_tx.send(Ok(()));
                while let Ok(job) = rx.recv() {
                    // Jobs that queued up meanwhile are scored together: they batch, and
                    // share context, and no number depends on the grouping.
                    let mut jobs = vec![job];
                    jobs.extend(rx.try_iter());
                    run_together(&mut scorer, &mut decode, jobs);
                }
            })
            .map_err(|e| EngineError::Context(format!("cannot start the scoring thread: {e}")))?;
        ready_rx.recv().map_err(|_| EngineError::WorkerStopped)??;
        Ok(Self { jobs })
    }

    /// Scores `requests`, blocking until done.
    pub(crate) fn score(&self, requests: Vec<ScoreRequest>) -> Result<Scores, EngineError> {
        let (tx, answer) = mpsc::channel();
        self.submit(
            requests,
            Box::new(move |scores| {
                let _ = tx.send(scores);
            }),
        )?;
        answer.recv().map_err(|_| EngineError::WorkerStopped)?
    }

    /// Queues `requests`; `reply` gets their scores on the worker thread.
    pub(crate) fn submit(
        &self,
        requests: Vec<ScoreRequest>,
        reply: Reply,
    ) -> Result<(), EngineError> {
        self.jobs
            .send(ScoreJob { requests, reply })
            .map_err(|_| EngineError::WorkerStopped)
    }
}

/// Scores every job's requests in one call and hands each job its share. A job
/// whose own requests are invalid fails alone: the others are scored again without it.
fn run_together(scorer: &mut Scorer, decode: &mut LlamaDecodeContext<'_>, jobs: Vec<ScoreJob>) {
    if jobs.len() > 1 {
        let all: Vec<ScoreRequest> = jobs.iter().flat_map(|j| j.requests.clone()).collect();
        if let Ok(mut scores) = scorer.score(decode, &all) {
            for job in jobs {
                let rest = scores.split_off(job.requests.len());
                (job.reply)(Ok(std::mem::replace(&mut scores, rest)));
            }
            return;
        }
    }
    for job in jobs {
        let scores = scorer.score(decode, &job.requests);
        (job.reply)(scores);
    }
}
