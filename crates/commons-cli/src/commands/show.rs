use anyhow::{Context, Result};

use super::Ctx;
use crate::cli::ShowArgs;
use crate::output::{human_bytes, human_count, print_json};
use commons_catalog::ModelDetails;

pub fn run(ctx: &Ctx, args: ShowArgs) -> Result<()> {
    let entry = ctx
        .store
        .resolve(&args.model)
        .with_context(|| format!("cannot show `{}`", args.model))?;
    let mut details = ModelDetails::load(&ctx.store, &entry)
        .with_context(|| format!("cannot read the catalog entry of `{}`", args.model))?;
    if args.tensors {
        let tensors = ctx
            .store
            .tensors(&entry.digest)
            .with_context(|| format!("cannot read the tensor digests of `{}`", args.model))?;
        details.tensors = Some(tensors);
    }
    if ctx.json {
        return print_json(&details);
    }
    print_human(&details);
    Ok(())
}

fn print_human(d: &ModelDetails) {
    let or_dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
    println!("{}:{}", d.name, d.tag);
    let rows = [
        ("digest", d.digest.clone()),
        ("format", or_dash(d.format.as_deref())),
        ("architecture", or_dash(d.architecture.as_deref())),
        ("parameters", d.parameters.map_or("-".into(), human_count)),
        ("quantization", or_dash(d.quantization.as_deref())),
        (
            "context",
            d.context_length.map_or("-".into(), |c| c.to_string()),
        ),
        (
            "tensors",
            d.tensor_count.map_or("-".into(), |c| c.to_string()),
        ),
        ("size", human_bytes(d.size_bytes)),
        ("license", or_dash(d.license.as_deref())),
        ("tokenizer", or_dash(d.tokenizer.as_deref())),
        (
            "chat template",
            if d.chat_template { "yes" } else { "no" }.into(),
        ),
        (
            "provenance",
            format!(
                "{:.0}% complete{}",
                d.provenance.completeness * 100.0,
                if d.provenance.missing.is_empty() {
                    String::new()
                } else {
                    format!(" (missing: {})", d.provenance.missing.join(", "))
                }
            ),
        ),
        ("openness", d.provenance.openness_class.to_string()),
        (
            "signatures",
            match d.signatures.as_deref() {
                Some([]) | None => "none".to_string(),
                Some(sigs) => sigs
                    .iter()
                    .map(|s| {
                        let key = &s.key_hint[..s.key_hint.len().min(12)];
                        match &s.trusted_as {
                            Some(name) => format!("key {key} ({name})"),
                            None => format!("key {key}"),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            },
        ),
        (
            "referrers",
            d.referrers.as_ref().map_or(0, Vec::len).to_string(),
        ),
    ];
    for (key, value) in rows {
        println!("  {key:<14} {value}");
    }
    println!("  files");
    for f in &d.files {
        println!(
            "    {:<40} {:>9}  {}",
            f.path,
            human_bytes(f.size),
            &f.digest
        );
    }
    if let Some(tensors) = &d.tensors {
        println!("  tensor digests");
        for t in tensors {
            println!(
                "    {:<40} {:<6} {:?} {}",
                t.name, t.dtype, t.shape, t.sha256
            );
        }
    }
}
