//! `commons policy show|check|set`: the node's hosting criteria, and
//! [`enforce`], which import and pull call once a model is stored.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use commons_governance::audit::LOCAL_ACTOR;
use commons_governance::policy::{self, Decision, Outcome};
use commons_store::ModelEntry;
use serde_json::json;

use super::audit::governance_error;
use super::Ctx;
use crate::failure::hinted;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the policy in force (the shipped default until one is set).
    Show,
    /// Explain what the policy decides for a stored model, rule by rule.
    Check(CheckArgs),
    /// Check a policy file and make it the policy in force (every version is kept);
    /// with stewards configured, propose it to them instead.
    Set(SetArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// NAME[:TAG] or a manifest digest.
    pub model: String,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// A TOML policy file (see docs/governance.md).
    pub file: PathBuf,
}

pub fn run(ctx: &Ctx, command: PolicyCommand) -> Result<()> {
    match command {
        PolicyCommand::Show => show(ctx),
        PolicyCommand::Check(args) => check(ctx, args),
        PolicyCommand::Set(args) => set(ctx, args),
    }
}

fn show(ctx: &Ctx) -> Result<()> {
    let current = policy::current(&ctx.store).map_err(governance_error)?;
    if ctx.json {
        return output::print_json(&current);
    }
    match current.version {
        Some(v) => eprintln!("policy version {v} (sha256 {})", current.sha256),
        None => eprintln!(
            "the default policy (no policy set; `commons policy set FILE` sets one), sha256 {}",
            current.sha256
        ),
    }
    print!("{}", current.text);
    Ok(())
}

fn print_decision(decision: &Decision) {
    println!("{}: {}", decision.model, decision.outcome.as_str());
    for rule in &decision.checked {
        let mark = if rule.passed { "pass" } else { "FAIL" };
        println!("  {mark}  {:<28} {}", rule.rule, rule.reason);
    }
    if decision.checked.is_empty() {
        println!("  (the policy has no rules)");
    }
}

fn check(ctx: &Ctx, args: CheckArgs) -> Result<()> {
    let entry = ctx
        .store
        .resolve(&args.model)
        .with_context(|| format!("cannot check `{}`", args.model))?;
    let decision = policy::check(&ctx.store, &entry).map_err(governance_error)?;
    if ctx.json {
        return output::print_json(&decision);
    }
    print_decision(&decision);
    Ok(())
}

fn set(ctx: &Ctx, args: SetArgs) -> Result<()> {
    // With stewards configured, a policy change is a proposal they approve.
    if commons_governance::steward::load(&ctx.store)
        .map_err(governance_error)?
        .configured()
    {
        return super::steward::propose_policy(ctx, &args.file);
    }
    let text = std::fs::read_to_string(&args.file).map_err(|e| {
        hinted(
            format!("cannot read the policy {}: {e}", args.file.display()),
            "pass a TOML policy file; `commons policy show` prints the one in force",
        )
    })?;
    let current = policy::set(
        &ctx.store,
        &text,
        &args.file.display().to_string(),
        LOCAL_ACTOR,
    )
    .map_err(governance_error)?;
    if ctx.json {
        return output::print_json(
            &json!({ "version": current.version, "sha256": current.sha256 }),
        );
    }
    println!(
        "policy version {} is in force (sha256 {}); it applies to models imported or pulled from now on",
        current.version.unwrap_or(0),
        current.sha256
    );
    Ok(())
}

/// Applies the policy to a model just stored by `trigger` (`import`, `pull`):
/// a quarantine is a warning, a rejection fails the command naming the rules.
pub fn enforce(ctx: &Ctx, entry: &ModelEntry, trigger: &str) -> Result<()> {
    let decision = policy::enforce(&ctx.store, entry, LOCAL_ACTOR, trigger)
        .map_err(governance_error)
        .with_context(|| format!("cannot apply the hosting policy to {}", entry.reference()))?;
    let reasons = || {
        decision
            .decided_by
            .iter()
            .map(|r| format!("{} ({})", r.rule, r.reason))
            .collect::<Vec<_>>()
            .join("; ")
    };
    match decision.outcome {
        Outcome::Admit => Ok(()),
        Outcome::Quarantine => {
            if !ctx.json {
                eprintln!(
                    "warning: {} is quarantined by this node's policy: {}; it is kept but not served \
                     (`commons policy check {}` explains)",
                    entry.reference(),
                    reasons(),
                    entry.reference()
                );
            }
            Ok(())
        }
        Outcome::Reject => Err(hinted(
            format!(
                "{} was rejected by this node's policy and removed again: {}",
                entry.reference(),
                reasons()
            ),
            format!(
                "the rules are in `commons policy show`; rules: {}",
                decision.rule_names().join(", ")
            ),
        )
        .into()),
    }
}

/// [`enforce`] for a model known by its reference (after a pull).
pub fn enforce_reference(ctx: &Ctx, reference: &str, trigger: &str) -> Result<()> {
    let entry = ctx
        .store
        .resolve(reference)
        .with_context(|| format!("cannot find {reference} to apply the hosting policy"))?;
    enforce(ctx, &entry, trigger)
}
