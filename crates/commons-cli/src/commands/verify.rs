use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use commons_store::{BlobProblem, BlobProblemKind};

use super::Ctx;
use crate::cli::VerifyArgs;
use crate::failure::hinted;
use crate::{output, progress};

pub fn run(ctx: &Ctx, args: VerifyArgs) -> Result<()> {
    let total = bytes_to_verify(ctx, args.model.as_deref())?;
    let bar = progress::Bytes::new(total, "verifying", ctx.json);
    let report = ctx
        .store
        .verify(args.model.as_deref(), &|n| bar.advance(n))
        .context("verification could not run")?;
    bar.finish();

    if ctx.json {
        output::print_json(&report)?;
    } else {
        println!(
            "checked {} blob(s), {}",
            report.checked_blobs,
            output::human_bytes(report.checked_bytes)
        );
        for problem in &report.problems {
            println!("  {}", describe(problem));
        }
    }
    if report.problems.is_empty() {
        if !ctx.json {
            println!("all blobs intact");
        }
        return Ok(());
    }
    bail!(hinted(
        format!("{} blob(s) failed verification", report.problems.len()),
        "corrupt blobs were moved aside and will not be served; re-import or pull the affected models"
    ))
}

/// The progress bar's total: the layers of the model, or of every model (each
/// blob once). Unreferenced blobs are verified too but not counted here.
fn bytes_to_verify(ctx: &Ctx, model: Option<&str>) -> Result<u64> {
    let entries = match model {
        Some(reference) => vec![ctx
            .store
            .resolve(reference)
            .with_context(|| format!("cannot verify `{reference}`"))?],
        None => ctx.store.list().context("cannot read the catalog")?,
    };
    let mut sizes = BTreeMap::new();
    for entry in &entries {
        for layer in entry.manifest.blob_digests() {
            sizes.insert(layer.digest.to_string(), layer.size);
        }
    }
    Ok(sizes.values().sum())
}

fn describe(problem: &BlobProblem) -> String {
    let used_by = if problem.models.is_empty() {
        "unreferenced".to_owned()
    } else {
        format!("used by {}", problem.models.join(", "))
    };
    match &problem.kind {
        BlobProblemKind::Missing => format!("missing  {} ({used_by})", problem.digest),
        BlobProblemKind::Corrupt {
            actual,
            quarantined_to,
        } => format!(
            "corrupt  {} ({used_by}): its bytes hash to {actual}{}",
            problem.digest,
            quarantined_to
                .as_ref()
                .map(|p| format!("; moved to {}", p.display()))
                .unwrap_or_default()
        ),
    }
}
