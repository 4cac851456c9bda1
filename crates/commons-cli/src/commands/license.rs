//! `commons license check|show|list`: what a model's license allows, and
//! whether it drifted — tightened across the tags of one name, or loosened
//! against a base model.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use commons_provenance::drift::{self, Finding, TaggedLicense};
use commons_provenance::licenses::{self, Assessment};
use commons_store::ModelEntry;
use serde::Serialize;

use super::provenance::current_record;
use super::Ctx;
use crate::failure::{hinted, AlreadyReported};
use crate::output::print_json;

#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Check a model's license; exits 1 when drift is found.
    Check(CheckArgs),
    /// What a license id (or SPDX expression) allows, from the knowledge base.
    Show(ShowArgs),
    /// Every license in the knowledge base.
    List,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// NAME[:TAG] or a manifest digest.
    pub model: String,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A license id such as `apache-2.0` or `llama3.1`, or `MIT OR Apache-2.0`.
    pub id: String,
}

#[derive(Serialize)]
struct CheckReport {
    name: String,
    digest: String,
    license: Option<Assessment>,
    /// Licenses of the other tags of this name, oldest first.
    tags: Vec<TagLicense>,
    /// The base models compared against, with the license each is under.
    bases: Vec<BaseLicense>,
    findings: Vec<Finding>,
    drift: bool,
}

#[derive(Serialize)]
struct TagLicense {
    reference: String,
    license: Option<String>,
}

#[derive(Serialize)]
struct BaseLicense {
    base: String,
    /// `store` when the base is on this node, `record` when only the record names its license.
    from: &'static str,
    license: Option<String>,
}

pub fn run(ctx: &Ctx, command: LicenseCommand) -> Result<()> {
    match command {
        LicenseCommand::Check(args) => check(ctx, &args.model),
        LicenseCommand::Show(args) => show(ctx, &args.id),
        LicenseCommand::List => {
            let all = licenses::known_licenses();
            if ctx.json {
                return print_json(all);
            }
            for l in all {
                println!("{:<26} rank {}  {}", l.id, l.rank, l.name);
            }
            Ok(())
        }
    }
}

fn license_of(ctx: &Ctx, entry: &ModelEntry) -> Result<Option<String>> {
    let current = current_record(&ctx.store, entry)?;
    Ok(current.record.license_id().map(String::from))
}

fn check(ctx: &Ctx, model: &str) -> Result<()> {
    let entry = ctx
        .store
        .resolve(model)
        .with_context(|| format!("cannot find `{model}`"))?;
    let record = current_record(&ctx.store, &entry)?.record;
    let license = record.license_id().map(String::from);
    let reference = entry.reference();
    let mut findings = drift::license_findings(&reference, license.as_deref());

    // The name's history, oldest manifest first.
    let mut same_name: Vec<ModelEntry> = ctx
        .store
        .list()
        .context("cannot read the catalog")?
        .into_iter()
        .filter(|e| e.name == entry.name)
        .collect();
    same_name.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.tag.cmp(&b.tag)));
    let mut tags = Vec::new();
    for e in &same_name {
        tags.push(TagLicense {
            reference: e.reference(),
            license: license_of(ctx, e)?,
        });
    }
    let history: Vec<TaggedLicense> = tags
        .iter()
        .map(|t| TaggedLicense {
            reference: t.reference.clone(),
            license: t.license.clone(),
        })
        .collect();
    findings.extend(drift::tag_drift(&history));

    let mut bases = Vec::new();
    for base in &record.base_models {
        let wanted = base.digest.as_deref().or(base.name.as_deref());
        let Some(wanted) = wanted else { continue };
        let on_node = ctx.store.resolve(wanted).ok();
        let (label, from, base_license) = match &on_node {
            Some(b) => (
                b.reference(),
                "store",
                license_of(ctx, b)?.or(base.license.clone()),
            ),
            None => (wanted.to_string(), "record", base.license.clone()),
        };
        findings.extend(drift::base_drift(
            &reference,
            license.as_deref(),
            &label,
            base_license.as_deref(),
        ));
        bases.push(BaseLicense {
            base: label,
            from,
            license: base_license,
        });
    }

    let drift = findings.iter().any(|f| f.kind.is_drift());
    let report = CheckReport {
        name: reference.clone(),
        digest: entry.digest.to_string(),
        license: license.as_deref().map(licenses::assess),
        tags,
        bases,
        findings,
        drift,
    };
    if ctx.json {
        print_json(&report)?;
        if drift {
            bail!(AlreadyReported);
        }
        return Ok(());
    }
    match &report.license {
        Some(a) => match &a.effective {
            Some(l) => println!("{reference}: {} ({}), {}", a.given, l.name, describe(l)),
            None => println!("{reference}: {} (unknown license)", a.given),
        },
        None => println!("{reference}: no license stated"),
    }
    for f in &report.findings {
        let level = if f.kind.is_drift() {
            "drift"
        } else {
            "warning"
        };
        println!("  {level}: {}", f.message);
    }
    if drift {
        bail!(hinted(
            format!("license drift found for {reference}"),
            "check the license each version and base model really grants; fix the record with `commons provenance set NAME license ID`",
        ));
    }
    if report.findings.is_empty() {
        println!("  ok: known license, no drift");
    }
    Ok(())
}

fn describe(l: &licenses::LicenseInfo) -> String {
    let mut facts = vec![format!("rank {}", l.rank)];
    facts.push(if l.open { "open" } else { "not open" }.into());
    if l.osi_approved {
        facts.push("OSI-approved".into());
    }
    if !l.commercial_use {
        facts.push("non-commercial".into());
    }
    if l.use_restrictions {
        facts.push("use restrictions".into());
    }
    if l.share_alike {
        facts.push("share-alike".into());
    }
    if let Some(limit) = l.user_limit {
        facts.push(format!("user limit {limit}"));
    }
    facts.join(", ")
}

fn show(ctx: &Ctx, id: &str) -> Result<()> {
    let a = licenses::assess(id);
    if ctx.json {
        return print_json(&a);
    }
    match &a.effective {
        Some(l) => println!("{}: {} ({})", a.given, l.name, describe(l)),
        None => bail!(hinted(
            format!("unknown license `{id}`"),
            "`commons license list` shows the licenses commons knows; unknown ids are never guessed",
        )),
    }
    Ok(())
}
