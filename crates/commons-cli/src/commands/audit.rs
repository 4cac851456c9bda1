//! `commons audit verify|list|export|checkpoint`: the node's tamper-evident
//! log of changes, and [`record`], the one call every changing command makes
//! after it succeeded.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use commons_governance::audit::{self, LOCAL_ACTOR};
use commons_governance::GovernanceError;
use commons_store::audit::AuditDraft;
use commons_store::Digest;
use serde_json::{json, Value};

use super::Ctx;
use crate::failure::{hinted, AlreadyReported};
use crate::output;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and the signed checkpoints; name the first bad entry.
    Verify,
    /// Show the newest entries.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Write every entry as JSON Lines (stdout, or --out FILE).
    Export(ExportArgs),
    /// Sign the head of the log with the node key now.
    Checkpoint,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// How many of the newest entries to show.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// A governance error as the CLI reports it: its hint travels along.
pub fn governance_error(err: GovernanceError) -> anyhow::Error {
    match err.hint() {
        Some(hint) => hinted(err.to_string(), hint).into(),
        None => err.into(),
    }
}

/// Records a change this command made (actor `local`). A command whose
/// change could not be recorded fails: a silent gap would defeat the log.
pub fn record(
    ctx: &Ctx,
    action: &str,
    subject: &str,
    digest: Option<&Digest>,
    details: Value,
) -> Result<()> {
    let mut draft = AuditDraft::new(LOCAL_ACTOR, action)
        .subject(subject)
        .details(details);
    draft.digest = digest.map(Digest::to_string);
    audit::record(&ctx.store, &draft)
        .map_err(governance_error)
        .with_context(|| {
            format!("the change to {subject} was made but not recorded in the audit log")
        })?;
    Ok(())
}

pub fn run(ctx: &Ctx, command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Verify => verify(ctx),
        AuditCommand::List(args) => list(ctx, args),
        AuditCommand::Export(args) => export(ctx, args),
        AuditCommand::Checkpoint => checkpoint(ctx),
    }
}

fn verify(ctx: &Ctx) -> Result<()> {
    let report = audit::verify(&ctx.store).map_err(governance_error)?;
    if ctx.json {
        output::print_json(&report)?;
    } else if let Some(bad) = &report.first_bad {
        eprintln!("error: the audit log does not verify");
        eprintln!("  first bad entry: {} ({:?})", bad.seq, bad.problem);
        eprintln!("  {}", bad.message);
        eprintln!(
            "hint: keep a copy of catalog.db for investigation; `commons audit export` shows the entries"
        );
    } else {
        println!(
            "audit log verified: {} entries, {} signed checkpoints{}",
            report.entries,
            report.checkpoints,
            if report.unanchored > 0 {
                format!(
                    ", {} entries after the newest checkpoint (`commons audit checkpoint` signs them)",
                    report.unanchored
                )
            } else {
                String::new()
            }
        );
    }
    if report.ok {
        Ok(())
    } else {
        Err(AlreadyReported.into())
    }
}

fn list(ctx: &Ctx, args: ListArgs) -> Result<()> {
    let entries = ctx
        .store
        .audit_tail(args.limit)
        .context("cannot read the audit log")?;
    let lines: Vec<_> = entries
        .into_iter()
        .map(|e| audit::ExportLine::new(e, None))
        .collect();
    if ctx.json {
        return output::print_json(&lines);
    }
    if lines.is_empty() {
        println!("the audit log is empty: imports, pulls, tags and deletes are recorded here");
        return Ok(());
    }
    for line in &lines {
        println!(
            "{:>6}  {}  {:<10}  {:<16}  {}{}",
            line.seq,
            line.time,
            line.actor,
            line.action,
            line.subject.as_deref().unwrap_or("-"),
            line.digest
                .as_deref()
                .map(|d| format!(" ({})", output::short_digest(d)))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn export(ctx: &Ctx, args: ExportArgs) -> Result<()> {
    let lines = audit::export(&ctx.store).map_err(governance_error)?;
    let mut text = String::new();
    for line in &lines {
        text.push_str(&serde_json::to_string(line)?);
        text.push('\n');
    }
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if ctx.json {
                return output::print_json(
                    &json!({ "entries": lines.len(), "out": path.display().to_string() }),
                );
            }
            eprintln!("wrote {} entries to {}", lines.len(), path.display());
        }
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .context("cannot write to stdout")?,
    }
    Ok(())
}

fn checkpoint(ctx: &Ctx) -> Result<()> {
    let checkpoint = audit::checkpoint(&ctx.store).map_err(governance_error)?;
    if ctx.json {
        return output::print_json(&checkpoint);
    }
    match checkpoint {
        Some(cp) => println!(
            "signed checkpoint at entry {} ({}) with key {}",
            cp.seq,
            output::short_digest(&cp.hash),
            cp.key_hint
        ),
        None => println!("the audit log is empty: nothing to sign yet"),
    }
    Ok(())
}
