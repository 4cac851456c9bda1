use anyhow::{Context, Result};

use super::Ctx;
use crate::output;

pub fn run(ctx: &Ctx) -> Result<()> {
    let report = ctx.store.gc().context("garbage collection failed")?;
    if ctx.json {
        return output::print_json(&report);
    }
    println!(
        "removed {} unreferenced blob(s) ({}) and {} stale temporary file(s)",
        report.removed_blobs,
        output::human_bytes(report.freed_bytes),
        report.removed_tmp
    );
    Ok(())
}
