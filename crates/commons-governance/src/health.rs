//! The health of the commons this node holds: is provenance complete, are
//! the models open, are licenses drifting, is evaluation plural, are the
//! models held elsewhere, do a few publishers dominate, what is unsigned or
//! quarantined. Every figure comes with the models behind it, so a reader
//! can check it against the catalog.
//!
//! A model is a manifest: two tags of the same digest count once, named by
//! their first reference.

use std::collections::{BTreeMap, BTreeSet};

use commons_provenance::drift::{self, TaggedLicense};
use commons_store::{ModelEntry, Store};
use serde::Serialize;

use crate::facts::ModelFacts;
use crate::GovernanceError;

#[derive(Debug, Serialize)]
pub struct ModelFigure {
    pub model: String,
    pub value: f64,
}

#[derive(Debug, Serialize)]
pub struct Completeness {
    pub mean: f64,
    pub min: f64,
    /// The models at the minimum.
    pub min_models: Vec<String>,
    pub per_model: Vec<ModelFigure>,
}

#[derive(Debug, Serialize)]
pub struct Drift {
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct Evaluation {
    /// Distinct evaluators per model.
    pub per_model: Vec<ModelFigure>,
    pub without_evaluations: Vec<String>,
    /// Suites run by fewer than two distinct evaluators: no independent result.
    pub suites_without_independent_results: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Mirrors {
    /// Mirrors in `$COMMONS_HOME/mirrors.json`.
    pub configured: Vec<String>,
    /// How many mirrors hold each model: not known without asking them, which
    /// a health report does not do (it stays offline).
    pub per_model: &'static str,
}

#[derive(Debug, Serialize)]
pub struct PublisherShare {
    /// `unknown` for models whose record names no publisher.
    pub publisher: String,
    pub share: f64,
    pub models: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Publishers {
    /// Largest first.
    pub shares: Vec<PublisherShare>,
    /// Sum of squared shares: 1.0 is one publisher, 1/n is n equal ones.
    pub herfindahl: f64,
}

#[derive(Debug, Serialize)]
pub struct Health {
    pub models: usize,
    pub completeness: Completeness,
    /// Openness class → models.
    pub openness: BTreeMap<String, Vec<String>>,
    /// License as stated (`none` when missing) → models.
    pub licenses: BTreeMap<String, Vec<String>>,
    pub drift: Vec<Drift>,
    pub evaluation: Evaluation,
    pub mirrors: Mirrors,
    pub publishers: Publishers,
    pub unsigned: Vec<String>,
    pub quarantined: Vec<String>,
}

/// One entry per manifest, by the first `name:tag` that points at it.
fn distinct_models(entries: Vec<ModelEntry>) -> Vec<ModelEntry> {
    let mut seen = BTreeSet::new();
    entries
        .into_iter()
        .filter(|e| seen.insert(e.digest.to_string()))
        .collect()
}

fn configured_mirrors(store: &Store) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct File {
        mirrors: Vec<Url>,
    }
    #[derive(serde::Deserialize)]
    struct Url {
        url: String,
    }
    std::fs::read(store.root().join("mirrors.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<File>(&bytes).ok())
        .map(|f| f.mirrors.into_iter().map(|m| m.url).collect())
        .unwrap_or_default()
}

/// The health report for the node at `store`.
pub fn report(store: &Store) -> Result<Health, GovernanceError> {
    let all = store.list()?;
    let models = distinct_models(all.clone());
    let facts: Vec<ModelFacts> = models
        .iter()
        .map(|e| ModelFacts::gather(store, e))
        .collect::<Result<_, _>>()?;
    let quarantined_digests: BTreeSet<String> = store
        .quarantined_models()?
        .into_iter()
        .map(|q| q.digest)
        .collect();

    let per_model: Vec<ModelFigure> = facts
        .iter()
        .map(|f| ModelFigure {
            model: f.reference.clone(),
            value: f.completeness,
        })
        .collect();
    let min = per_model.iter().map(|m| m.value).fold(f64::NAN, f64::min);
    let min = if min.is_nan() { 0.0 } else { min };
    let mean = if per_model.is_empty() {
        0.0
    } else {
        per_model.iter().map(|m| m.value).sum::<f64>() / per_model.len() as f64
    };
    let completeness = Completeness {
        mean,
        min,
        min_models: per_model
            .iter()
            .filter(|m| m.value <= min)
            .map(|m| m.model.clone())
            .collect(),
        per_model,
    };

    let mut openness: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut licenses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut publishers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut suites: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &facts {
        openness
            .entry(f.openness_class.to_string())
            .or_default()
            .push(f.reference.clone());
        licenses
            .entry(f.license.clone().unwrap_or_else(|| "none".into()))
            .or_default()
            .push(f.reference.clone());
        publishers
            .entry(f.publisher.clone().unwrap_or_else(|| "unknown".into()))
            .or_default()
            .push(f.reference.clone());
        for (suite, evaluators) in &f.evaluations.suites {
            suites
                .entry(suite.clone())
                .or_default()
                .extend(evaluators.iter().cloned());
        }
    }

    let drift = license_drift(store, &all, &facts)?;

    let total = facts.len().max(1) as f64;
    let mut shares: Vec<PublisherShare> = publishers
        .into_iter()
        .map(|(publisher, models)| PublisherShare {
            share: models.len() as f64 / total,
            publisher,
            models,
        })
        .collect();
    shares.sort_by(|a, b| {
        b.models
            .len()
            .cmp(&a.models.len())
            .then(a.publisher.cmp(&b.publisher))
    });
    let herfindahl = shares.iter().map(|s| s.share * s.share).sum();

    Ok(Health {
        models: facts.len(),
        completeness,
        openness,
        licenses,
        drift,
        evaluation: Evaluation {
            per_model: facts
                .iter()
                .map(|f| ModelFigure {
                    model: f.reference.clone(),
                    value: f.evaluations.evaluators.len() as f64,
                })
                .collect(),
            without_evaluations: facts
                .iter()
                .filter(|f| f.evaluations.evaluators.is_empty())
                .map(|f| f.reference.clone())
                .collect(),
            suites_without_independent_results: suites
                .into_iter()
                .filter(|(_, evaluators)| evaluators.len() < 2)
                .map(|(suite, _)| suite)
                .collect(),
        },
        mirrors: Mirrors {
            configured: configured_mirrors(store),
            per_model: "unknown",
        },
        publishers: Publishers { shares, herfindahl },
        unsigned: facts
            .iter()
            .filter(|f| f.signatures == 0)
            .map(|f| f.reference.clone())
            .collect(),
        quarantined: facts
            .iter()
            .filter(|f| quarantined_digests.contains(&f.digest))
            .map(|f| f.reference.clone())
            .collect(),
    })
}

/// Missing or unknown licenses, and licenses that tighten across a name's
/// tags (oldest first), as `commons license check` flags them.
fn license_drift(
    store: &Store,
    all: &[ModelEntry],
    facts: &[ModelFacts],
) -> Result<Vec<Drift>, GovernanceError> {
    let mut findings = Vec::new();
    for f in facts {
        findings.extend(drift::license_findings(&f.reference, f.license.as_deref()));
    }
    let mut by_name: BTreeMap<&str, Vec<&ModelEntry>> = BTreeMap::new();
    for entry in all {
        by_name.entry(entry.name.as_str()).or_default().push(entry);
    }
    for (_, mut tags) in by_name {
        if tags.len() < 2 {
            continue;
        }
        tags.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.tag.cmp(&b.tag)));
        let history = tags
            .iter()
            .map(|e| {
                Ok(TaggedLicense {
                    reference: e.reference(),
                    license: commons_catalog::current_record(store, e)?
                        .record
                        .license_id()
                        .map(str::to_string),
                })
            })
            .collect::<Result<Vec<_>, GovernanceError>>()?;
        findings.extend(drift::tag_drift(&history));
    }
    Ok(findings
        .into_iter()
        .map(|f| Drift {
            kind: format!("{:?}", f.kind),
            message: f.message,
        })
        .collect())
}
