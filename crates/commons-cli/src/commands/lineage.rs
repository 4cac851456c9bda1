//! `commons lineage NAME [--base OTHER]`: is NAME identical to, derived from
//! or unrelated to another model, judged from the weights, and is the base
//! model its provenance record claims consistent with that evidence?

use std::collections::HashMap;

use anyhow::{Context, Result};
use clap::Args;
use commons_formats::gguf::GgufFile;
use commons_formats::safetensors::SafetensorsFile;
use commons_provenance::lineage::{self, Comparison, TensorBytes, TensorFacts, Verdict};
use commons_store::{ModelEntry, Store};
use serde::Serialize;

use super::provenance::current_record;
use super::Ctx;
use crate::failure::hinted;
use crate::output::print_json;

#[derive(Debug, Args)]
pub struct LineageArgs {
    /// NAME[:TAG] or a manifest digest.
    pub model: String,
    /// The model to compare with (default: the claimed base models on this
    /// node and every model sharing tensors with NAME).
    #[arg(long, value_name = "OTHER")]
    pub base: Option<String>,
}

/// The weight files of a stored model, mapped, with a name → tensor index.
struct StoredWeights {
    gguf: Vec<GgufFile>,
    safetensors: Vec<SafetensorsFile>,
    /// name → (is_gguf, file index, tensor index)
    index: HashMap<String, (bool, usize, usize)>,
}

impl StoredWeights {
    fn open(store: &Store, entry: &ModelEntry) -> Result<Self> {
        let mut weights = StoredWeights {
            gguf: Vec::new(),
            safetensors: Vec::new(),
            index: HashMap::new(),
        };
        for layer in entry.weight_layers() {
            let path = store.blob_path(&layer.digest);
            let is_gguf = layer.filepath().is_some_and(|p| p.ends_with(".gguf"));
            if is_gguf {
                let file = GgufFile::open(&path)
                    .with_context(|| format!("cannot read the weights of {}", entry.reference()))?;
                let i = weights.gguf.len();
                for (t, info) in file.tensors().iter().enumerate() {
                    weights.index.insert(info.name.clone(), (true, i, t));
                }
                weights.gguf.push(file);
            } else {
                let file = SafetensorsFile::open(&path)
                    .with_context(|| format!("cannot read the weights of {}", entry.reference()))?;
                let i = weights.safetensors.len();
                for (t, info) in file.tensors().iter().enumerate() {
                    weights.index.insert(info.name.clone(), (false, i, t));
                }
                weights.safetensors.push(file);
            }
        }
        Ok(weights)
    }
}

impl TensorBytes for StoredWeights {
    fn tensor(&self, name: &str) -> Option<(&str, &[u8])> {
        let &(is_gguf, file, tensor) = self.index.get(name)?;
        if is_gguf {
            let f = self.gguf.get(file)?;
            let info = f.tensors().get(tensor)?;
            Some((info.ggml_type.name(), f.tensor_data(info)?))
        } else {
            let f = self.safetensors.get(file)?;
            let info = f.tensors().get(tensor)?;
            Some((info.dtype.name(), f.tensor_data(info)?))
        }
    }
}

#[derive(Serialize)]
struct Report {
    name: String,
    digest: String,
    comparisons: Vec<Against>,
}

#[derive(Serialize)]
struct Against {
    base: String,
    digest: String,
    /// Whether NAME's provenance record names this model as a base.
    claimed_base: bool,
    /// `consistent`, `inconsistent` (claimed but unrelated), `unclaimed` (derived
    /// but not claimed), `not claimed` (unrelated, not claimed) or `same model`.
    claim: &'static str,
    #[serde(flatten)]
    comparison: Comparison,
}

fn facts(store: &Store, entry: &ModelEntry) -> Result<Vec<TensorFacts>> {
    Ok(store
        .tensors(&entry.digest)
        .with_context(|| format!("cannot read the tensor digests of {}", entry.reference()))?
        .into_iter()
        .map(|t| TensorFacts {
            name: t.name,
            dtype: t.dtype,
            shape: t.shape,
            sha256: t.sha256,
        })
        .collect())
}

pub fn run(ctx: &Ctx, args: LineageArgs) -> Result<()> {
    let store = &ctx.store;
    let entry = store
        .resolve(&args.model)
        .with_context(|| format!("cannot find `{}`", args.model))?;
    let record = current_record(store, &entry)?.record;
    // The bases the record claims that are on this node.
    let claimed: Vec<ModelEntry> = record
        .base_models
        .iter()
        .filter_map(|b| b.digest.as_deref().or(b.name.as_deref()))
        .filter_map(|wanted| store.resolve(wanted).ok())
        .collect();

    let candidates: Vec<ModelEntry> = match &args.base {
        Some(base) => vec![store
            .resolve(base)
            .with_context(|| format!("cannot find the base `{base}`"))?],
        None => {
            let mut all = claimed.clone();
            for (digest, _) in store
                .models_sharing_tensors(&entry.digest)
                .context("cannot look up shared tensors")?
            {
                if let Ok(other) = store.resolve(digest.as_str()) {
                    all.push(other);
                }
            }
            all.sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));
            all.dedup_by(|a, b| a.digest == b.digest);
            all
        }
    };
    if candidates.is_empty() {
        return Err(hinted(
            format!(
                "{} shares no tensor with any model on this node and claims no base that is here",
                entry.reference()
            ),
            "compare with a specific model: `commons lineage NAME --base OTHER`",
        )
        .into());
    }

    let own_facts = facts(store, &entry)?;
    let own_weights = StoredWeights::open(store, &entry)?;
    let mut comparisons = Vec::new();
    for base in &candidates {
        let base_facts = facts(store, base)?;
        let base_weights = StoredWeights::open(store, base)?;
        let comparison = lineage::compare(&own_facts, &own_weights, &base_facts, &base_weights);
        let claimed_base = claimed.iter().any(|c| c.digest == base.digest);
        let claim = match (claimed_base, comparison.verdict) {
            _ if base.digest == entry.digest => "same model",
            (true, Verdict::Unrelated) => "inconsistent",
            (true, _) => "consistent",
            (false, Verdict::Unrelated) => "not claimed",
            (false, _) => "unclaimed",
        };
        comparisons.push(Against {
            base: base.reference(),
            digest: base.digest.to_string(),
            claimed_base,
            claim,
            comparison,
        });
    }

    let report = Report {
        name: entry.reference(),
        digest: entry.digest.to_string(),
        comparisons,
    };
    if ctx.json {
        return print_json(&report);
    }
    for c in &report.comparisons {
        let verdict = match (c.comparison.verdict, c.comparison.relation) {
            (Verdict::Derived, Some(relation)) => format!("derived ({relation})"),
            (Verdict::Derived, None) => "derived".into(),
            (Verdict::Identical, _) => "identical".into(),
            (Verdict::Unrelated, _) => "unrelated".into(),
        };
        println!("{} vs {}: {verdict}", report.name, c.base);
        println!("  {}", c.comparison.explanation);
        match c.claim {
            "inconsistent" => println!(
                "  claimed base: INCONSISTENT — the record names {} as a base but the weights are unrelated",
                c.base
            ),
            "consistent" => println!("  claimed base: consistent with the weights"),
            "unclaimed" => println!("  the record does not name {} as a base", c.base),
            _ => {}
        }
    }
    Ok(())
}
