use anyhow::{Context, Result};
use serde::Serialize;

use super::Ctx;
use crate::cli::RmArgs;
use crate::output;

#[derive(Serialize)]
struct Removed {
    name: String,
    tag: String,
    digest: String,
}

pub fn run(ctx: &Ctx, args: RmArgs) -> Result<()> {
    let mut removed = Vec::new();
    for model in &args.models {
        let entry = ctx
            .store
            .remove(model)
            .with_context(|| format!("cannot remove `{model}`"))?;
        super::audit::record(
            ctx,
            "delete",
            &entry.reference(),
            Some(&entry.digest),
            serde_json::json!({}),
        )?;
        removed.push(Removed {
            name: entry.name,
            tag: entry.tag,
            digest: entry.digest.to_string(),
        });
    }
    if ctx.json {
        return output::print_json(&removed);
    }
    for r in &removed {
        println!(
            "removed {}:{} ({})",
            r.name,
            r.tag,
            output::short_digest(&r.digest)
        );
    }
    println!("run `commons gc` to reclaim the space of blobs no model uses any more");
    Ok(())
}
