//! `commons eval`: import and list suites, score a model on a suite (locally
//! through the engine or over an OpenAI-compatible endpoint), sign the result
//! as an attestation attached to the model, verify and reproduce attestations,
//! and compare evaluators side by side. The library is `commons-eval`; this
//! module turns its results into text or `--json`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use clap::{Args, Subcommand};
use commons_engine::{Engine, LlamaEngine, LoadOptions, SchedulerConfig};
use commons_eval::attest::{self, Predicate, Statement};
use commons_eval::code::CodeExecutor;
use commons_eval::compare::{self, Comparison};
use commons_eval::runner::{self, Backend, RunOptions, RunOutcome};
use commons_eval::{stored, EvalError, Suite};
use commons_provenance::signing::{keys, trust, SigningKey, VerifyingKey};
use commons_store::{Digest, ModelEntry};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};

use super::Ctx;
use crate::failure::hinted;
use crate::output::{print_json, short_digest};

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Check a suite (a folder or a single file) and keep it in the store.
    Import(ImportArgs),
    /// List the suites in the store.
    List,
    /// Score a model on a suite, then sign the result and attach it to the model.
    Run(RunArgs),
    /// Check an attestation's signature and that it is about the local model.
    Verify(VerifyArgs),
    /// Run an attestation's evaluation again and report per-item agreement.
    Reproduce(ReproduceArgs),
    /// Show every evaluator's results for models side by side (never a single rank).
    Compare(CompareArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Suite folders (suite.yaml + items.jsonl) or single-file suites.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// NAME[:TAG] or digest of the model (with --endpoint: the name the server knows it by).
    pub model: String,
    /// A stored suite (NAME, NAME@VERSION or digest), or a suite folder or file (imported first).
    #[arg(long)]
    pub suite: String,
    /// Score only the first N items.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Score through an OpenAI-compatible server (e.g. http://127.0.0.1:11434) instead of locally.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// ECDSA P-256 private key (PEM) to sign with; default: this node's key.
    #[arg(long, value_name = "PRIVATE.pem")]
    pub key: Option<PathBuf>,
    /// The evaluator's name, recorded in the attestation beside the key.
    #[arg(long = "as", value_name = "NAME")]
    pub evaluator: Option<String>,
    /// Also write the signed attestation (DSSE envelope JSON) to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Do not sign or attach anything; only print the scores.
    #[arg(long)]
    pub no_attest: bool,
    /// Also write the per-item results (canonical JSON Lines, whose sha256 is the
    /// results digest) to this file.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Sequences the engine decodes together.
    #[arg(long, default_value_t = 4)]
    pub slots: usize,
    /// Context of one sequence in tokens.
    #[arg(long, default_value_t = 4096, value_name = "TOKENS")]
    pub ctx_size: u32,
    /// CPU threads for decoding (0 = every core); does not change results.
    #[arg(long, default_value_t = 0)]
    pub threads: u32,
    /// Seed for generation.
    #[arg(long, default_value_t = 42)]
    pub seed: u32,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// An attestation file (DSSE envelope), or NAME[:TAG] to verify every attestation attached to it.
    pub target: String,
    /// The evaluator's public key (PEM); default: a key trusted by this node.
    #[arg(long, value_name = "PUBLIC.pem")]
    pub key: Option<PathBuf>,
    /// The local model the attestation must be about (default: the one it names).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// An attestation file, or the digest of an attestation attached to a local model.
    pub attestation: String,
    /// For attestations made over an endpoint: the endpoint to use now.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// CPU threads for decoding (0 = every core).
    #[arg(long, default_value_t = 0)]
    pub threads: u32,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Models (NAME[:TAG] or digest).
    #[arg(required = true)]
    pub models: Vec<String>,
}

pub fn run(ctx: &Ctx, command: EvalCommand) -> Result<()> {
    match command {
        EvalCommand::Import(args) => import(ctx, args),
        EvalCommand::List => list(ctx),
        EvalCommand::Run(args) => run_suite(ctx, args),
        EvalCommand::Verify(args) => verify(ctx, args),
        EvalCommand::Reproduce(args) => reproduce(ctx, args),
        EvalCommand::Compare(args) => compare_models(ctx, args),
    }
}

/// Library errors keep their hint when they reach `failure::report`.
fn eval_err(e: EvalError) -> anyhow::Error {
    match e.hint() {
        Some(hint) => anyhow!(hinted(e.to_string(), hint)),
        None => anyhow!(e),
    }
}

fn import(ctx: &Ctx, args: ImportArgs) -> Result<()> {
    let mut imported = Vec::new();
    for path in &args.paths {
        let suite = Suite::load(path).map_err(eval_err)?;
        let entry = stored::import_suite(&ctx.store, &suite).map_err(eval_err)?;
        imported.push(entry);
    }
    if ctx.json {
        return print_json(&imported);
    }
    for e in imported {
        println!(
            "imported {}@{} ({}, {} items, {}) {}",
            e.name,
            e.version,
            e.kind,
            e.items,
            e.license,
            short_digest(&e.digest)
        );
    }
    Ok(())
}

fn list(ctx: &Ctx) -> Result<()> {
    let suites = stored::list_suites(&ctx.store).map_err(eval_err)?;
    if ctx.json {
        return print_json(&suites);
    }
    if suites.is_empty() {
        println!("no suites; import one with `commons eval import PATH`");
        return Ok(());
    }
    println!(
        "{:<28} {:<10} {:<16} {:>6}  {:<14} {:<24} DIGEST",
        "NAME", "VERSION", "KIND", "ITEMS", "LICENSE", "SOURCE"
    );
    for s in suites {
        println!(
            "{:<28} {:<10} {:<16} {:>6}  {:<14} {:<24} {}",
            s.name,
            s.version,
            s.kind,
            s.items,
            s.license,
            s.source,
            short_digest(&s.digest)
        );
    }
    Ok(())
}

/// A suite named in the store, or a path to import first.
fn resolve_suite(ctx: &Ctx, reference: &str) -> Result<Suite> {
    let path = Path::new(reference);
    if path.exists() {
        let suite = Suite::load(path).map_err(eval_err)?;
        stored::import_suite(&ctx.store, &suite).map_err(eval_err)?;
        return Ok(suite);
    }
    stored::load_suite(&ctx.store, reference).map_err(eval_err)
}

/// The engine settings a run records and a reproduction replays.
fn scheduler(slots: usize, ctx_size: u32, threads: u32) -> SchedulerConfig {
    SchedulerConfig {
        slots,
        context_per_slot: ctx_size,
        threads,
        ..SchedulerConfig::default()
    }
}

fn engine_backend(
    ctx: &Ctx,
    entry: &ModelEntry,
    config: SchedulerConfig,
) -> Result<Box<dyn Backend>> {
    let weights =
        commons_server::runnable::runnable_weights(&ctx.store, entry).map_err(|reason| {
            anyhow!(hinted(
            format!("cannot evaluate `{}`: {reason}", entry.reference()),
            "import a GGUF model (`commons import FILE.gguf`), or a BERT embedding model folder"
        ))
        })?;
    let engine = LlamaEngine::new();
    let options = LoadOptions {
        scheduler: config.clone(),
        embedding_context: 0,
    };
    let model = engine
        .load(&weights, &options)
        .with_context(|| format!("cannot load `{}`", entry.reference()))?;
    Ok(Box::new(runner::engine::EngineBackend::new(
        model,
        engine.name(),
        config,
    )))
}

fn executor_for(suite: &Suite) -> Result<Option<Arc<dyn CodeExecutor>>> {
    if suite.header.kind != commons_eval::suite::Kind::Code {
        return Ok(None);
    }
    let sandbox = commons_eval::sandbox::Sandbox::new().map_err(|e| {
        anyhow!(hinted(
            format!("cannot set up the code sandbox: {e}"),
            "code suites need `python3` on PATH"
        ))
    })?;
    Ok(Some(Arc::new(sandbox)))
}

/// Runs with a progress bar on a terminal.
fn score(
    ctx: &Ctx,
    suite: &Suite,
    backend: &dyn Backend,
    options: &RunOptions,
) -> Result<RunOutcome> {
    let executor = executor_for(suite)?;
    let visible = !ctx.json && std::io::stderr().is_terminal();
    let bar = if visible {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    let style =
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} items {per_sec} eta {eta}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(suite.header.name.clone());
    let outcome = runner::run(
        suite,
        backend,
        executor.as_deref(),
        options,
        &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )
    .map_err(eval_err);
    bar.finish_and_clear();
    outcome.with_context(|| format!("cannot score suite {}", suite.header.name))
}

fn settings_value(backend: &dyn Backend, options: &RunOptions) -> Value {
    let mut settings = json!({
        "backend": backend.kind(),
        "limit": options.limit,
        "seed": options.seed,
    });
    // The backend's own settings sit under its kind: `engine` or `openai`.
    settings[backend.kind()] = backend.settings();
    settings
}

fn signing_key(ctx: &Ctx, explicit: Option<&Path>) -> Result<SigningKey> {
    Ok(match explicit {
        Some(path) => keys::read_private_key(path)?,
        None => {
            keys::node_key(&ctx.store.root().join("keys"))
                .context("cannot create or read this node's signing key")?
                .0
        }
    })
}

fn run_suite(ctx: &Ctx, args: RunArgs) -> Result<()> {
    let suite = resolve_suite(ctx, &args.suite)?;
    // With an endpoint the model may live elsewhere; it is attested only if it is local too.
    let entry = match &args.endpoint {
        Some(_) => ctx.store.resolve(&args.model).ok(),
        None => Some(
            ctx.store
                .resolve(&args.model)
                .with_context(|| format!("cannot evaluate `{}`", args.model))?,
        ),
    };
    let backend: Box<dyn Backend> = match (&args.endpoint, &entry) {
        (Some(url), _) => {
            Box::new(runner::openai::OpenAiBackend::new(url, &args.model).map_err(eval_err)?)
        }
        (None, Some(entry)) => engine_backend(
            ctx,
            entry,
            scheduler(args.slots, args.ctx_size, args.threads),
        )?,
        (None, None) => unreachable!("resolved above"),
    };
    let options = RunOptions {
        limit: args.limit,
        seed: args.seed,
    };
    let started_at = commons_store::now_rfc3339();
    let outcome = score(ctx, &suite, backend.as_ref(), &options)?;
    let finished_at = commons_store::now_rfc3339();
    if let Some(path) = &args.results {
        std::fs::write(path, &outcome.results_jsonl)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }

    let attestation = match (&entry, args.no_attest) {
        (Some(entry), false) => {
            let key = signing_key(ctx, args.key.as_deref())?;
            let predicate = Predicate {
                model: attest::ModelRef {
                    name: entry.reference(),
                    digest: entry.digest.to_string(),
                },
                suite: attest::SuiteRef {
                    name: suite.header.name.clone(),
                    version: suite.header.version.clone(),
                    kind: suite.header.kind.as_str().to_string(),
                    digest: suite.digest().to_string(),
                    items: suite.items.len(),
                },
                metrics: outcome.metrics.clone(),
                interval: attest::Interval {
                    method: "wilson".into(),
                    level: 0.95,
                },
                samples: outcome.results.len(),
                results: attest::ResultsRef {
                    digest: outcome.results_digest.clone(),
                    media_type: attest::RESULTS_MEDIA_TYPE.into(),
                    count: outcome.results.len(),
                },
                settings: settings_value(backend.as_ref(), &options),
                engine: backend.describe(),
                evaluator: attest::evaluator(&key, args.evaluator.clone()).map_err(eval_err)?,
                started_at,
                finished_at,
            };
            let statement = Statement::new(predicate);
            let envelope = attest::sign(&statement, &key).map_err(eval_err)?;
            let annotations = BTreeMap::from([
                (
                    "dev.commons.eval.suite".to_string(),
                    suite.header.name.clone(),
                ),
                (
                    "dev.commons.eval.suite.digest".to_string(),
                    suite.digest().to_string(),
                ),
                (
                    "dev.commons.eval.evaluator".to_string(),
                    statement.predicate.evaluator.key_hint.clone(),
                ),
                (
                    "org.opencontainers.image.created".to_string(),
                    statement.predicate.finished_at.clone(),
                ),
            ]);
            let stored = stored::attach_attestation(
                &ctx.store,
                entry,
                &envelope,
                &outcome.results_jsonl,
                annotations,
            )
            .map_err(eval_err)
            .with_context(|| format!("cannot attach the attestation to {}", entry.reference()))?;
            if let Some(out) = &args.out {
                std::fs::write(out, &envelope)
                    .with_context(|| format!("cannot write {}", out.display()))?;
            }
            Some((
                stored.digest.to_string(),
                statement.predicate.evaluator.key_hint,
            ))
        }
        _ => None,
    };

    if ctx.json {
        return print_json(&json!({
            "model": args.model,
            "model_digest": entry.as_ref().map(|e| e.digest.to_string()),
            "suite": suite.header.name,
            "suite_version": suite.header.version,
            "suite_digest": suite.digest(),
            "samples": outcome.results.len(),
            "metrics": outcome.metrics,
            "results_digest": outcome.results_digest,
            "items_per_second": outcome.items_per_second(),
            "seconds": outcome.elapsed.as_secs_f64(),
            "attestation": attestation.as_ref().map(|(digest, hint)| json!({"digest": digest, "key_hint": hint})),
        }));
    }
    println!(
        "{} on {}@{} ({} items, {:.1} items/s)",
        args.model,
        suite.header.name,
        suite.header.version,
        outcome.results.len(),
        outcome.items_per_second()
    );
    print_metrics(&outcome.metrics);
    println!("  per-item results  {}", outcome.results_digest);
    match attestation {
        Some((digest, hint)) => println!(
            "  attestation       {digest} (signed by key {}, attached to the model)",
            &hint[..hint.len().min(12)]
        ),
        None => println!("  not attested"),
    }
    Ok(())
}

fn print_metrics(metrics: &[runner::MetricValue]) {
    for m in metrics {
        let p = &m.proportion;
        println!(
            "  {:<10} {:.3}  95% CI [{:.3}, {:.3}]  ({}/{})",
            m.metric, p.value, p.low, p.high, p.correct, p.n
        );
    }
}

/// The key to verify an envelope with: `--key`, else a key this node trusts.
fn choose_key(
    ctx: &Ctx,
    explicit: Option<&Path>,
    envelope: &[u8],
) -> Result<(VerifyingKey, String)> {
    if let Some(path) = explicit {
        return Ok((keys::read_public_key(path)?, path.display().to_string()));
    }
    let (_, statement) = attest::read_unverified(envelope).map_err(eval_err)?;
    let hint = statement.predicate.evaluator.key_hint;
    let trusted = trust::load(ctx.store.root())?;
    match trusted.into_iter().find(|t| t.hint == hint) {
        Some(found) => Ok((found.key, found.name)),
        None => Err(eval_err(EvalError::Untrusted { hint })),
    }
}

struct Checked {
    statement: Statement,
    key_name: String,
    results_checked: Option<bool>,
}

/// Signature with a trusted key, then the subject against the local model.
fn check_envelope(
    ctx: &Ctx,
    envelope: &[u8],
    key: Option<&Path>,
    model: Option<&str>,
    results: Option<&[u8]>,
) -> Result<Checked> {
    let (key, key_name) = choose_key(ctx, key, envelope)?;
    let verified = attest::verify(envelope, Some(&key)).map_err(eval_err)?;
    let predicate = &verified.statement.predicate;
    let name = model.unwrap_or(&predicate.model.name);
    let local = ctx
        .store
        .resolve(name)
        .or_else(|_| ctx.store.resolve(&predicate.model.digest))
        .with_context(|| format!("the attested model `{name}` is not in the store"))?;
    if local.digest.as_str() != predicate.model.digest {
        return Err(eval_err(EvalError::WrongModel {
            name: local.reference(),
            attested: predicate.model.digest.clone(),
            local: local.digest.to_string(),
        }));
    }
    let results_checked =
        results.map(|bytes| stored::results_match(bytes, &predicate.results.digest));
    if results_checked == Some(false) {
        return Err(anyhow!(hinted(
            "the stored per-item results do not match the digest the attestation signs",
            "the results layer was altered; get the attestation again from its evaluator"
        )));
    }
    Ok(Checked {
        statement: verified.statement,
        key_name,
        results_checked,
    })
}

fn verify(ctx: &Ctx, args: VerifyArgs) -> Result<()> {
    let path = Path::new(&args.target);
    let envelopes: Vec<(String, Vec<u8>, Option<Vec<u8>>)> = if path.is_file() {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        vec![(path.display().to_string(), bytes, None)]
    } else {
        let entry = ctx.store.resolve(&args.target).with_context(|| {
            format!(
                "`{}` is neither an attestation file nor a model in the store",
                args.target
            )
        })?;
        let found = stored::attestations(&ctx.store, &entry.digest).map_err(eval_err)?;
        if found.is_empty() {
            return Err(anyhow!(hinted(
                format!("{} has no evaluation attestations", entry.reference()),
                "create one with `commons eval run NAME --suite SUITE`"
            )));
        }
        found
            .into_iter()
            .map(|a| (a.manifest_digest, a.envelope, a.results))
            .collect()
    };
    let model = args.model.as_deref().or(if path.is_file() {
        None
    } else {
        Some(args.target.as_str())
    });
    let mut reports = Vec::new();
    for (source, envelope, results) in &envelopes {
        let checked = check_envelope(
            ctx,
            envelope,
            args.key.as_deref(),
            model,
            results.as_deref(),
        )
        .with_context(|| format!("attestation {source} does not verify"))?;
        reports.push((source.clone(), checked));
    }
    if ctx.json {
        let list: Vec<Value> = reports
            .iter()
            .map(|(source, c)| {
                let p = &c.statement.predicate;
                json!({
                    "verified": true,
                    "attestation": source,
                    "key": c.key_name,
                    "key_hint": p.evaluator.key_hint,
                    "evaluator": p.evaluator.name,
                    "model": p.model,
                    "suite": p.suite,
                    "metrics": p.metrics,
                    "results_checked": c.results_checked,
                })
            })
            .collect();
        return print_json(&list);
    }
    for (source, c) in reports {
        let p = &c.statement.predicate;
        println!(
            "verified {source}: {} on {}@{} ({} items), signed by {} ({})",
            p.model.name,
            p.suite.name,
            p.suite.version,
            p.samples,
            c.key_name,
            &p.evaluator.key_hint[..p.evaluator.key_hint.len().min(12)]
        );
        print_metrics(&p.metrics);
    }
    Ok(())
}

fn reproduce(ctx: &Ctx, args: ReproduceArgs) -> Result<()> {
    let path = Path::new(&args.attestation);
    let (envelope, original_results) = if path.is_file() {
        (
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
            None,
        )
    } else {
        let digest: Digest = args.attestation.parse().with_context(|| {
            format!(
                "`{}` is neither a file nor an attestation digest",
                args.attestation
            )
        })?;
        let manifest = ctx
            .store
            .stored_manifest(&digest)?
            .ok_or_else(|| anyhow!("no attestation {digest} in the store"))?;
        let subject = manifest
            .subject
            .ok_or_else(|| anyhow!("{digest} is not an attestation (it has no subject)"))?;
        let found = stored::attestations(&ctx.store, &subject).map_err(eval_err)?;
        let a = found
            .into_iter()
            .find(|a| a.manifest_digest == digest.as_str())
            .ok_or_else(|| anyhow!("{digest} is not an evaluation attestation"))?;
        (a.envelope, a.results)
    };
    // Integrity only: reproducing a result is how one checks an evaluator one does not trust.
    let verified = attest::verify(&envelope, None).map_err(eval_err)?;
    let p = verified.statement.predicate;
    let entry = ctx.store.resolve(&p.model.digest).with_context(|| {
        format!(
            "the attested model {} ({}) is not in the store",
            p.model.name, p.model.digest
        )
    })?;
    let suite = stored::load_suite(&ctx.store, &p.suite.digest)
        .map_err(eval_err)
        .with_context(|| {
            format!(
                "the attested suite {}@{} is needed",
                p.suite.name, p.suite.version
            )
        })?;
    let settings = &p.settings;
    let options = RunOptions {
        limit: settings["limit"].as_u64().map(|n| n as usize),
        seed: settings["seed"].as_u64().unwrap_or(42) as u32,
    };
    let backend: Box<dyn Backend> = match settings["backend"].as_str() {
        Some("engine") => {
            let e = &settings["engine"];
            let config = SchedulerConfig {
                slots: e["slots"].as_u64().unwrap_or(4) as usize,
                context_per_slot: e["context_per_slot"].as_u64().unwrap_or(4096) as u32,
                batch_size: e["batch_size"].as_u64().unwrap_or(512) as u32,
                batch_invariant: e["batch_invariant"].as_bool().unwrap_or(true),
                threads: args.threads,
                ..SchedulerConfig::default()
            };
            engine_backend(ctx, &entry, config)?
        }
        Some("openai") => {
            let url = args
                .endpoint
                .clone()
                .or_else(|| settings["openai"]["endpoint"].as_str().map(str::to_string))
                .ok_or_else(|| anyhow!("the attestation names no endpoint; pass --endpoint URL"))?;
            let model = settings["openai"]["model"]
                .as_str()
                .unwrap_or(&p.model.name);
            Box::new(runner::openai::OpenAiBackend::new(&url, model).map_err(eval_err)?)
        }
        other => return Err(anyhow!("the attestation's backend {other:?} is unknown")),
    };
    let outcome = score(ctx, &suite, backend.as_ref(), &options)?;
    let bit_for_bit = outcome.results_digest == p.results.digest;

    // Per-item agreement on the verdicts, when the original per-item results are at hand.
    let original: Option<Vec<Value>> = original_results
        .filter(|bytes| stored::results_match(bytes, &p.results.digest))
        .map(|bytes| {
            String::from_utf8_lossy(&bytes)
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        });
    let mut differing = Vec::new();
    if let Some(original) = &original {
        for (a, b) in original.iter().zip(&outcome.results) {
            if a["correct"] != b["correct"] || a["correct_norm"] != b["correct_norm"] {
                differing.push(a["id"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    let agreed = original
        .as_ref()
        .map(|o| o.len().min(outcome.results.len()) - differing.len());
    let reproduced = bit_for_bit || (original.is_some() && differing.is_empty());
    if ctx.json {
        print_json(&json!({
            "reproduced": reproduced,
            "bit_for_bit": bit_for_bit,
            "results_digest": {"attested": p.results.digest, "now": outcome.results_digest},
            "items": outcome.results.len(),
            "agreeing_items": agreed,
            "differing_items": differing,
            "metrics": {"attested": p.metrics, "now": outcome.metrics},
        }))?;
    } else {
        println!(
            "reproduced {} on {}@{}: {}",
            p.model.name,
            p.suite.name,
            p.suite.version,
            if bit_for_bit {
                "bit for bit (same per-item results digest)".to_string()
            } else {
                match agreed {
                    Some(n) => format!("{n}/{} items agree", outcome.results.len()),
                    None => "per-item results differ (the original results are not here to compare item by item)".into(),
                }
            }
        );
        println!("  attested:");
        print_metrics(&p.metrics);
        println!("  now:");
        print_metrics(&outcome.metrics);
        if !differing.is_empty() {
            println!("  differing items: {}", differing.join(", "));
        }
    }
    if reproduced {
        Ok(())
    } else {
        Err(crate::failure::AlreadyReported.into())
    }
}

fn compare_models(ctx: &Ctx, args: CompareArgs) -> Result<()> {
    let trusted = compare::trusted_keys(ctx.store.root()).map_err(eval_err)?;
    let comparison = compare::compare(&ctx.store, &args.models, &trusted).map_err(eval_err)?;
    if ctx.json {
        return print_json(&comparison);
    }
    print_comparison(&comparison);
    Ok(())
}

fn print_comparison(c: &Comparison) {
    for model in &c.models {
        println!("{} {}", model.name, short_digest(&model.digest));
        if model.rows.is_empty() {
            println!("  no attestations");
        } else {
            println!(
                "  {:<24} {:<10} {:<26} {:>6}  {:<16} {:>5}  ENGINE",
                "SUITE", "METRIC", "EVALUATOR", "VALUE", "95% CI", "N"
            );
        }
        for r in &model.rows {
            let short = &r.evaluator.key_hint[..r.evaluator.key_hint.len().min(12)];
            let who = match (&r.evaluator.name, &r.evaluator.trusted_as) {
                (Some(name), Some(_)) => format!("{name} {short}*"),
                (Some(name), None) => format!("{name} {short}"),
                (None, Some(_)) => format!("{short}*"),
                (None, None) => short.to_string(),
            };
            println!(
                "  {:<24} {:<10} {:<26} {:>6.3}  [{:.3}, {:.3}] {:>5}  {}",
                format!("{}@{}", r.suite, r.suite_version),
                r.metric,
                who,
                r.proportion.value,
                r.proportion.low,
                r.proportion.high,
                r.proportion.n,
                r.engine
            );
        }
        for bad in &model.invalid {
            println!("  ignored (does not verify): {bad}");
        }
    }
    println!("  (* = a key this node trusts)");
    if c.disagreements.is_empty() {
        println!("disagreements beyond the intervals: none");
    } else {
        println!("disagreements beyond the intervals:");
        for d in &c.disagreements {
            println!(
                "  {} {} {}: {} [{:.3}, {:.3}] vs {} [{:.3}, {:.3}]",
                d.model,
                d.suite,
                d.metric,
                &d.evaluators[0][..d.evaluators[0].len().min(12)],
                d.intervals[0][0],
                d.intervals[0][1],
                &d.evaluators[1][..d.evaluators[1].len().min(12)],
                d.intervals[1][0],
                d.intervals[1][1],
            );
        }
    }
    if !c.thin_coverage.is_empty() {
        println!("thin coverage (fewer than 2 independent evaluators):");
        for t in &c.thin_coverage {
            println!(
                "  {} on {}: {} evaluator(s)",
                t.suite, t.model, t.evaluators
            );
        }
    }
}
