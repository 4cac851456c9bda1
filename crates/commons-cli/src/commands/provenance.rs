//! `commons provenance show|set|edit|history`: a model's provenance record.
//!
//! The record is versioned in the catalog: import writes version 1 (what the
//! files state merged with `--provenance`), and every `set` or `edit` appends
//! a version, so the history of who claimed what is never lost. A model
//! imported before records existed gets its record derived from its import
//! metadata on the fly, and its first change stores it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use commons_provenance::{Completeness, Openness, ProvenanceRecord};
use commons_store::import::ImportMetadata;
use commons_store::{ModelEntry, Store};
use serde::Serialize;
use serde_json::json;

use super::Ctx;
use crate::failure::hinted;
use crate::output::print_json;

#[derive(Debug, Subcommand)]
pub enum ProvenanceCommand {
    /// Show the current record, its completeness and openness class.
    Show(ShowArgs),
    /// Set one field: `commons provenance set NAME training.method sft`.
    Set(SetArgs),
    /// Replace the record with a JSON file (merged over what the files state).
    Edit(EditArgs),
    /// Every version of the record, oldest first.
    History(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// NAME[:TAG] or a manifest digest.
    pub model: String,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// NAME[:TAG] or a manifest digest.
    pub model: String,
    /// A field, dotted for nested ones: `publisher`, `license.id`, `training.code`, `datasets`.
    pub key: String,
    /// The value: JSON for lists and objects (`'[{"name":"d","role":"fine-tuning"}]'`), else text.
    pub value: String,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// NAME[:TAG] or a manifest digest.
    pub model: String,
    /// A JSON provenance record (see docs/provenance.md).
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
}

pub use commons_catalog::{derived_record, CurrentRecord};

/// [`commons_catalog::current_record`], with the model named in the error.
pub fn current_record(store: &Store, entry: &ModelEntry) -> Result<CurrentRecord> {
    commons_catalog::current_record(store, entry)
        .with_context(|| format!("cannot read the provenance of {}", entry.reference()))
}

/// Records provenance after an import: the first import stores what the
/// files state merged with `--provenance`; importing the same model again
/// keeps the current record (edits are not lost), with a new `--provenance`
/// merged over it.
pub fn record_import(store: &Store, entry: &ModelEntry, meta: &ImportMetadata) -> Result<()> {
    let latest = store
        .latest_provenance(&entry.digest)
        .with_context(|| format!("cannot read the provenance of {}", entry.reference()))?
        .and_then(|v| ProvenanceRecord::from_json(&v.record).ok());
    let user = meta
        .provenance
        .as_ref()
        .and_then(|v| ProvenanceRecord::from_json(v).ok());
    let record = match (latest, user) {
        (None, _) => derived_record(meta),
        (Some(current), Some(user)) => current.merged_with(&user),
        (Some(_), None) => return Ok(()),
    };
    save_if_changed(store, entry, &record, "import")?;
    Ok(())
}

/// Stores `record` as a new version unless it equals the current one.
pub fn save_if_changed(
    store: &Store,
    entry: &ModelEntry,
    record: &ProvenanceRecord,
    change: &str,
) -> Result<u64> {
    let current = current_record(store, entry)?;
    if let Some(version) = current.version.filter(|_| current.record == *record) {
        return Ok(version);
    }
    let version = store
        .add_provenance(&entry.digest, &record.to_json(), change)
        .with_context(|| format!("cannot store the provenance of {}", entry.reference()))?;
    // As a referrer too, so the record travels with the model through registries.
    commons_distribution::attachments::attach_catalog_records(store, entry)
        .with_context(|| format!("cannot attach the provenance of {}", entry.reference()))?;
    Ok(version)
}

#[derive(Serialize)]
struct Report<'a> {
    name: String,
    digest: String,
    version: Option<u64>,
    completeness: f64,
    present: Vec<&'static str>,
    missing: Vec<&'static str>,
    openness_class: &'static str,
    openness_gaps: Vec<String>,
    record: &'a ProvenanceRecord,
}

pub fn run(ctx: &Ctx, command: ProvenanceCommand) -> Result<()> {
    match command {
        ProvenanceCommand::Show(args) => show(ctx, &args.model),
        ProvenanceCommand::History(args) => history(ctx, &args.model),
        ProvenanceCommand::Set(args) => {
            let entry = resolve(ctx, &args.model)?;
            let current = current_record(&ctx.store, &entry)?;
            let updated = current
                .record
                .set(&args.key, &args.value)
                .with_context(|| format!("cannot set `{}` of {}", args.key, entry.reference()))?;
            let version =
                save_if_changed(&ctx.store, &entry, &updated, &format!("set {}", args.key))?;
            super::audit::record(
                ctx,
                "provenance.change",
                &entry.reference(),
                Some(&entry.digest),
                serde_json::json!({ "change": format!("set {}", args.key), "version": version }),
            )?;
            show(ctx, &args.model)
        }
        ProvenanceCommand::Edit(args) => {
            let entry = resolve(ctx, &args.model)?;
            let edited = read_record_file(&args.file)?;
            let base = ImportMetadata::from_entry(&entry)
                .map(|m| derived_record(&m))
                .unwrap_or_default();
            let version = save_if_changed(&ctx.store, &entry, &base.merged_with(&edited), "edit")?;
            super::audit::record(
                ctx,
                "provenance.change",
                &entry.reference(),
                Some(&entry.digest),
                serde_json::json!({ "change": "edit", "version": version }),
            )?;
            show(ctx, &args.model)
        }
    }
}

/// Reads and validates a provenance file; errors name the bad field.
pub fn read_record_file(path: &std::path::Path) -> Result<ProvenanceRecord> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read provenance file {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        hinted(
            format!("provenance file {} is not valid JSON: {e}", path.display()),
            "the provenance record is a JSON object, see docs/provenance.md",
        )
    })?;
    ProvenanceRecord::from_json(&value).with_context(|| {
        format!(
            "provenance file {} does not match the schema",
            path.display()
        )
    })
}

fn resolve(ctx: &Ctx, model: &str) -> Result<ModelEntry> {
    ctx.store
        .resolve(model)
        .with_context(|| format!("cannot find `{model}`"))
}

fn show(ctx: &Ctx, model: &str) -> Result<()> {
    let entry = resolve(ctx, model)?;
    let current = current_record(&ctx.store, &entry)?;
    let completeness = Completeness::assess(&current.record);
    let openness = Openness::assess(&current.record);
    let report = Report {
        name: entry.reference(),
        digest: entry.digest.to_string(),
        version: current.version,
        completeness: completeness.score,
        present: completeness.present,
        missing: completeness.missing,
        openness_class: openness.class_name(),
        openness_gaps: openness.gaps,
        record: &current.record,
    };
    if ctx.json {
        return print_json(&report);
    }
    println!("{} ({})", report.name, report.digest);
    match report.version {
        Some(v) => println!("  record version {v}"),
        None => println!("  record derived from the files (no version stored yet)"),
    }
    println!(
        "  completeness   {:.0}%{}",
        report.completeness * 100.0,
        if report.missing.is_empty() {
            String::new()
        } else {
            format!(" (missing: {})", report.missing.join(", "))
        }
    );
    let label = openness.class.map_or("unclassified", |c| c.label());
    println!("  openness       {label}");
    for gap in &report.openness_gaps {
        println!("    needs: {gap}");
    }
    println!("{}", serde_json::to_string_pretty(report.record)?);
    Ok(())
}

fn history(ctx: &Ctx, model: &str) -> Result<()> {
    let entry = resolve(ctx, model)?;
    let versions = ctx
        .store
        .provenance_history(&entry.digest)
        .with_context(|| format!("cannot read the provenance of {}", entry.reference()))?;
    if ctx.json {
        return print_json(&json!({
            "name": entry.reference(),
            "digest": entry.digest.to_string(),
            "versions": versions,
        }));
    }
    if versions.is_empty() {
        println!("{}: no stored provenance versions yet", entry.reference());
    }
    for v in &versions {
        println!("version {}  {}  {}", v.version, v.created_at, v.change);
    }
    Ok(())
}
