use anyhow::{Context, Result};

use super::Ctx;
use crate::output;

pub fn run(ctx: &Ctx) -> Result<()> {
    let report = ctx.store.gc().context("garbage collection failed")?;
    if ctx.json {
        return output::print_json(&report);
    }
    println!(
        "removed {} unreferenced blob(s), {} stale temporary file(s) and {} folder(s) of derived files ({} in all)",
        report.removed_blobs,
        report.removed_tmp,
        report.removed_derived,
        output::human_bytes(report.freed_bytes),
    );
    Ok(())
}
