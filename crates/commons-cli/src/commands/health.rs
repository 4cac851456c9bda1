//! `commons health`: the health of the commons this node holds.

use anyhow::Result;
use commons_governance::health;

use super::audit::governance_error;
use super::Ctx;
use crate::output;

fn names(models: &[String]) -> String {
    if models.is_empty() {
        "-".to_string()
    } else {
        models.join(", ")
    }
}

pub fn run(ctx: &Ctx) -> Result<()> {
    let report = health::report(&ctx.store).map_err(governance_error)?;
    if ctx.json {
        return output::print_json(&report);
    }
    println!("{} models", report.models);
    let c = &report.completeness;
    println!(
        "provenance completeness  mean {:.0}%, min {:.0}% ({})",
        c.mean * 100.0,
        c.min * 100.0,
        names(&c.min_models)
    );
    println!("openness");
    for (class, models) in &report.openness {
        println!("  {class:<14} {:>3}  {}", models.len(), names(models));
    }
    println!("licenses");
    for (license, models) in &report.licenses {
        println!("  {license:<14} {:>3}  {}", models.len(), names(models));
    }
    for d in &report.drift {
        println!("  drift: {}", d.message);
    }
    println!(
        "evaluation  without evaluations: {}; suites without independent results: {}",
        names(&report.evaluation.without_evaluations),
        names(&report.evaluation.suites_without_independent_results)
    );
    println!(
        "mirrors     {} configured; which hold each model: {}",
        report.mirrors.configured.len(),
        report.mirrors.per_model
    );
    println!(
        "publishers  Herfindahl index {:.2}",
        report.publishers.herfindahl
    );
    for share in &report.publishers.shares {
        println!(
            "  {:<14} {:>3.0}%  {}",
            share.publisher,
            share.share * 100.0,
            names(&share.models)
        );
    }
    println!("unsigned    {}", names(&report.unsigned));
    println!("quarantined {}", names(&report.quarantined));
    Ok(())
}
