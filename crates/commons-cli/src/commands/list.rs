use anyhow::{Context, Result};

use super::Ctx;
use crate::output;
use commons_catalog::ModelSummary;

pub fn run(ctx: &Ctx) -> Result<()> {
    let entries = ctx.store.list().context("cannot read the catalog")?;
    let models: Vec<ModelSummary> = entries.iter().map(ModelSummary::from_entry).collect();
    // Quarantined models are kept but not served (`commons policy check` explains).
    let quarantined: std::collections::HashSet<String> = ctx
        .store
        .quarantined_models()
        .context("cannot read the quarantine")?
        .into_iter()
        .map(|q| q.digest)
        .collect();
    let state = |m: &ModelSummary| {
        if quarantined.contains(&m.digest) {
            "quarantined"
        } else {
            "admitted"
        }
    };
    if ctx.json {
        let rows: Vec<serde_json::Value> = models
            .iter()
            .map(|m| {
                let mut row = serde_json::to_value(m).unwrap_or_default();
                row["state"] = state(m).into();
                row
            })
            .collect();
        return output::print_json(&rows);
    }
    if models.is_empty() {
        println!("no models yet: `commons import PATH` adds one");
        return Ok(());
    }
    let name_width = models
        .iter()
        .map(|m| m.name.len() + m.tag.len() + 1)
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<name_width$}  {:<12}  {:>9}  {:<11}  {:<12}  {:<8}  STATE",
        "NAME", "DIGEST", "SIZE", "FORMAT", "ARCH", "QUANT"
    );
    for m in &models {
        println!(
            "{:<name_width$}  {:<12}  {:>9}  {:<11}  {:<12}  {:<8}  {}",
            format!("{}:{}", m.name, m.tag),
            output::short_digest(&m.digest),
            output::human_bytes(m.size_bytes),
            m.format.as_deref().unwrap_or("-"),
            m.architecture.as_deref().unwrap_or("-"),
            m.quantization.as_deref().unwrap_or("-"),
            state(m),
        );
    }
    Ok(())
}
