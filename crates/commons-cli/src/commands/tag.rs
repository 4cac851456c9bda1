use anyhow::{Context, Result};
use serde_json::json;

use super::Ctx;
use crate::cli::TagArgs;
use crate::output;

pub fn run(ctx: &Ctx, args: TagArgs) -> Result<()> {
    let entry = ctx
        .store
        .tag(&args.source, &args.target)
        .with_context(|| format!("cannot tag `{}` as `{}`", args.source, args.target))?;
    super::audit::record(
        ctx,
        "tag",
        &entry.reference(),
        Some(&entry.digest),
        json!({ "source": args.source }),
    )?;
    if ctx.json {
        return output::print_json(&json!({
            "name": entry.name,
            "tag": entry.tag,
            "digest": entry.digest.to_string(),
        }));
    }
    println!(
        "tagged {}:{} -> {}",
        entry.name,
        entry.tag,
        output::short_digest(&entry.digest.to_string())
    );
    Ok(())
}
