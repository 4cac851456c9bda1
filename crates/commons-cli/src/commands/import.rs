use std::cell::RefCell;
use std::time::Instant;

use anyhow::{Context, Result};
use commons_formats::Inspection;
use commons_store::import::{self, ImportOptions, ImportProgress};
use commons_store::Reference;
use serde_json::json;

use super::Ctx;
use crate::cli::ImportArgs;
use crate::output::{human_bytes, human_count, print_json};
use crate::progress;

/// Draws the copy as one byte bar; the bar exists once the total is known.
struct Bar {
    json: bool,
    bar: RefCell<Option<progress::Bytes>>,
}

impl ImportProgress for Bar {
    fn started(&self, _inspection: &Inspection, total_bytes: u64) {
        *self.bar.borrow_mut() = Some(progress::Bytes::new(total_bytes, "importing", self.json));
    }
    fn advanced(&self, bytes: u64) {
        if let Some(bar) = self.bar.borrow().as_ref() {
            bar.advance(bytes);
        }
    }
    fn finishing(&self) {
        if let Some(bar) = self.bar.borrow().as_ref() {
            bar.finish();
        }
    }
}

pub fn run(ctx: &Ctx, args: ImportArgs) -> Result<()> {
    let name = args
        .name
        .as_deref()
        .map(Reference::parse)
        .transpose()
        .context("invalid --name")?;
    // Checked against the schema before anything is written.
    let provenance = args
        .provenance
        .as_deref()
        .map(|path| super::provenance::read_record_file(path).map(|r| r.to_json()))
        .transpose()?;
    let opts = ImportOptions {
        name,
        license: args.license,
        provenance,
    };

    let started = Instant::now();
    let bar = Bar {
        json: ctx.json,
        bar: RefCell::new(None),
    };
    let outcome = import::import(&ctx.store, &args.path, opts, &bar)
        .with_context(|| format!("cannot import {}", args.path.display()))?;
    bar.finishing();
    super::provenance::record_import(&ctx.store, &outcome.entry, &outcome.metadata)?;
    super::audit::record(
        ctx,
        "import",
        &outcome.entry.reference(),
        Some(&outcome.entry.digest),
        json!({ "path": args.path.display().to_string(), "size_bytes": outcome.entry.size_bytes }),
    )?;
    super::policy::enforce(ctx, &outcome.entry, "import")?;
    let seconds = started.elapsed().as_secs_f64();

    let entry = &outcome.entry;
    let info = &outcome.metadata.info;
    if ctx.json {
        return print_json(&json!({
            "name": entry.name,
            "tag": entry.tag,
            "digest": entry.digest.to_string(),
            "size_bytes": entry.size_bytes,
            "files": outcome.metadata.files.len(),
            "tensor_count": outcome.tensor_count,
            "seconds": seconds,
        }));
    }
    println!("imported {}", entry.reference());
    println!("  digest   {}", entry.digest);
    println!(
        "  model    {} {}, {} parameters, {}",
        info.format.as_str(),
        info.architecture
            .as_deref()
            .unwrap_or("(unknown architecture)"),
        human_count(info.parameter_count),
        info.quantization.primary
    );
    println!(
        "  stored   {} in {} file(s), {} tensors hashed, {:.1}s",
        human_bytes(outcome.total_bytes),
        outcome.metadata.files.len(),
        outcome.tensor_count,
        seconds
    );
    for warning in &outcome.metadata.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(())
}
