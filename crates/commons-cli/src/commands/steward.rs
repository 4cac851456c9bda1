//! `commons steward add-key|threshold|propose|approve|list`: M-of-N signed
//! approvals of policy changes and of releasing a quarantined model (see
//! `commons_governance::steward`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use commons_governance::audit::LOCAL_ACTOR;
use commons_governance::steward::{self, ApproveOutcome, Proposal, ProposalState};
use commons_provenance::signing::keys;
use serde_json::json;

use super::audit::governance_error;
use super::Ctx;
use crate::failure::hinted;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum StewardCommand {
    /// Add a steward's public key (ECDSA P-256 PEM).
    AddKey(AddKeyArgs),
    /// Set M, the approvals a proposal needs (1..=number of stewards).
    Threshold(ThresholdArgs),
    /// Propose a policy change or the release of a quarantined model.
    #[command(subcommand)]
    Propose(ProposeCommand),
    /// Approve a proposal with a steward's key (or hand in a signature made elsewhere).
    Approve(ApproveArgs),
    /// List the stewards, the threshold and every proposal with its approvals.
    #[command(visible_alias = "ls")]
    List,
}

#[derive(Debug, Args)]
pub struct AddKeyArgs {
    /// The steward's public key, PEM.
    pub public_key: PathBuf,
    /// A name to recognise the steward by.
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ThresholdArgs {
    pub m: usize,
}

#[derive(Debug, Subcommand)]
pub enum ProposeCommand {
    /// Propose a TOML policy file as the policy in force.
    Policy { file: PathBuf },
    /// Propose lifting the quarantine of a model (NAME[:TAG] or digest).
    Release { model: String },
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The proposal id (or its first 8+ characters).
    pub proposal: String,
    /// The steward's private key (PEM); signs the approval here.
    #[arg(long, conflicts_with_all = ["public_key", "signature"])]
    pub key: Option<PathBuf>,
    /// With --signature: the steward's public key (PEM), for a signature made elsewhere.
    #[arg(long, requires = "signature")]
    pub public_key: Option<PathBuf>,
    /// Base64 DER ECDSA signature over "commons.steward.approval.v1\n<id>\n".
    #[arg(long, requires = "public_key")]
    pub signature: Option<String>,
}

pub fn run(ctx: &Ctx, command: StewardCommand) -> Result<()> {
    match command {
        StewardCommand::AddKey(args) => add_key(ctx, args),
        StewardCommand::Threshold(args) => threshold(ctx, args),
        StewardCommand::Propose(ProposeCommand::Policy { file }) => propose_policy(ctx, &file),
        StewardCommand::Propose(ProposeCommand::Release { model }) => {
            let proposal = steward::propose_release(&ctx.store, &model, LOCAL_ACTOR)
                .map_err(governance_error)
                .with_context(|| format!("cannot propose releasing {model}"))?;
            print_proposed(ctx, &proposal)
        }
        StewardCommand::Approve(args) => approve(ctx, args),
        StewardCommand::List => list(ctx),
    }
}

fn read(path: &PathBuf, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        hinted(
            format!("cannot read {what} {}: {e}", path.display()),
            "pass a PEM file",
        )
        .into()
    })
}

fn add_key(ctx: &Ctx, args: AddKeyArgs) -> Result<()> {
    let pem = read(&args.public_key, "the public key")?;
    let added = steward::add_key(&ctx.store, &pem, args.name.as_deref(), LOCAL_ACTOR)
        .map_err(governance_error)
        .with_context(|| format!("cannot add {} as a steward", args.public_key.display()))?;
    let set = steward::load(&ctx.store).map_err(governance_error)?;
    if ctx.json {
        return output::print_json(&json!({
            "name": added.name,
            "key_id": added.key_id,
            "stewards": set.stewards.len(),
            "threshold": set.effective_threshold(),
        }));
    }
    println!(
        "steward {} added (key {}); {} of {} approvals are needed",
        added.name,
        &added.key_id[..12],
        set.effective_threshold(),
        set.stewards.len()
    );
    Ok(())
}

fn threshold(ctx: &Ctx, args: ThresholdArgs) -> Result<()> {
    let set = steward::set_threshold(&ctx.store, args.m, LOCAL_ACTOR)
        .map_err(governance_error)
        .context("cannot set the threshold")?;
    if ctx.json {
        return output::print_json(
            &json!({ "threshold": set.threshold, "stewards": set.stewards.len() }),
        );
    }
    println!(
        "{} of {} stewards must approve a proposal",
        set.threshold,
        set.stewards.len()
    );
    Ok(())
}

/// Proposes a policy file; `commons policy set` calls this once stewards exist.
pub fn propose_policy(ctx: &Ctx, file: &PathBuf) -> Result<()> {
    let text = read(file, "the policy")?;
    let proposal =
        steward::propose_policy(&ctx.store, &text, &file.display().to_string(), LOCAL_ACTOR)
            .map_err(governance_error)
            .context("cannot propose the policy")?;
    print_proposed(ctx, &proposal)
}

fn print_proposed(ctx: &Ctx, proposal: &Proposal) -> Result<()> {
    if ctx.json {
        return output::print_json(proposal);
    }
    println!("{}", proposal.id);
    eprintln!(
        "proposal to {} {}: takes effect when {} stewards approve \
         (`commons steward approve {} --key PRIVATE.pem`)",
        match proposal.kind {
            steward::ProposalKind::Policy => "change",
            steward::ProposalKind::Release => "release",
        },
        proposal.target,
        proposal.threshold,
        &proposal.id[..12]
    );
    Ok(())
}

fn approve(ctx: &Ctx, args: ApproveArgs) -> Result<()> {
    let (public_key_pem, signature) = match (&args.key, &args.public_key, &args.signature) {
        (Some(key), _, _) => {
            let key = keys::read_private_key(key)?;
            let set = steward::load(&ctx.store).map_err(governance_error)?;
            // Sign the full id even when a prefix was given.
            let id = set
                .proposals
                .iter()
                .find(|p| p.id == args.proposal || p.id.starts_with(&args.proposal))
                .map_or_else(|| args.proposal.clone(), |p| p.id.clone());
            (
                keys::public_key_pem(key.verifying_key())?,
                steward::sign_approval(&key, &id),
            )
        }
        (None, Some(public_key), Some(signature)) => {
            (read(public_key, "the public key")?, signature.clone())
        }
        _ => {
            return Err(hinted(
                "an approval needs --key PRIVATE.pem, or --public-key PUB.pem --signature SIG",
                "see `commons steward approve --help`",
            )
            .into())
        }
    };
    let outcome = steward::approve(
        &ctx.store,
        &args.proposal,
        &public_key_pem,
        &signature,
        LOCAL_ACTOR,
    )
    .map_err(governance_error)
    .with_context(|| format!("cannot approve {}", args.proposal))?;
    print_outcome(ctx, &outcome)
}

fn print_outcome(ctx: &Ctx, outcome: &ApproveOutcome) -> Result<()> {
    if ctx.json {
        return output::print_json(outcome);
    }
    let p = &outcome.proposal;
    println!(
        "{}: {} ({} of {} approvals)",
        &p.id[..12],
        outcome.note,
        p.counted,
        p.threshold
    );
    if outcome.enacted {
        println!("enacted: {} {}", p.kind.as_str(), p.target);
    }
    Ok(())
}

fn list(ctx: &Ctx) -> Result<()> {
    let set = steward::load(&ctx.store).map_err(governance_error)?;
    if ctx.json {
        return output::print_json(&json!({
            "version": set.version,
            "threshold": set.effective_threshold(),
            "stewards": set.stewards,
            "proposals": set.proposals,
        }));
    }
    if !set.configured() {
        println!(
            "no stewards (`commons steward add-key PUB.pem`); `commons policy set` applies at once"
        );
        return Ok(());
    }
    println!(
        "{} of {} stewards must approve:",
        set.effective_threshold(),
        set.stewards.len()
    );
    for s in &set.stewards {
        println!("  {:<20} {}", s.name, &s.key_id[..12]);
    }
    for p in &set.proposals {
        let state = match p.state {
            ProposalState::Open => "open",
            ProposalState::Enacted => "enacted",
        };
        println!(
            "{}  {:<7} {} {}  {} of {} approvals  (proposed {} by {})",
            &p.id[..12],
            state,
            p.kind.as_str(),
            p.target,
            p.counted,
            p.threshold,
            p.created_at,
            p.proposer
        );
        for a in &p.approvals {
            println!("    {}  {}", &a.key_id[..a.key_id.len().min(12)], a.note);
        }
    }
    Ok(())
}
