//! Comparison, not a leaderboard: for each model, every suite and every
//! evaluator that attested it, the metric with its interval; evaluators whose
//! intervals do not overlap are flagged; suites with fewer than two independent
//! evaluators are listed as thin coverage. Nothing is ranked or averaged.

use std::collections::{BTreeMap, BTreeSet};

use commons_store::Store;
use serde::{Deserialize, Serialize};

use crate::attest;
use crate::error::EvalError;
use crate::stats::Proportion;
use crate::stored;

/// Names of the keys this node trusts, by key hint.
pub type Trust = BTreeMap<String, String>;

/// The keys trusted at `home`: the node's own and those in `trust.toml`.
pub fn trusted_keys(home: &std::path::Path) -> Result<Trust, EvalError> {
    Ok(commons_provenance::signing::trust::load(home)?
        .into_iter()
        .map(|k| (k.hint, k.name))
        .collect())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluatorInfo {
    pub key_hint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The name this node trusts the key under, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_as: Option<String>,
}

/// One metric of one evaluator's latest run of one suite on one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub suite: String,
    pub suite_version: String,
    pub suite_digest: String,
    pub evaluator: EvaluatorInfo,
    pub metric: String,
    #[serde(flatten)]
    pub proportion: Proportion,
    pub engine: String,
    pub finished_at: String,
    /// Digest of the attestation's referrer manifest.
    pub attestation: String,
}

/// Two evaluators whose intervals for the same model, suite and metric do not overlap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disagreement {
    pub model: String,
    pub suite: String,
    pub metric: String,
    pub evaluators: [String; 2],
    pub intervals: [[f64; 2]; 2],
}

/// How many independent evaluators attested a suite on a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub model: String,
    pub suite: String,
    pub suite_digest: String,
    pub evaluators: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelComparison {
    pub name: String,
    pub digest: String,
    pub rows: Vec<Row>,
    /// Attestations whose signature or statement did not check out (not shown in `rows`).
    pub invalid: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub models: Vec<ModelComparison>,
    pub disagreements: Vec<Disagreement>,
    /// Model × suite pairs with fewer than two evaluators, including stored suites
    /// nobody has run on the model yet.
    pub thin_coverage: Vec<Coverage>,
}

/// Compares what every evaluator attested for `models` (names or digests).
pub fn compare(store: &Store, models: &[String], trust: &Trust) -> Result<Comparison, EvalError> {
    let suites = stored::list_suites(store)?;
    let mut out = Comparison {
        models: Vec::new(),
        disagreements: Vec::new(),
        thin_coverage: Vec::new(),
    };
    for reference in models {
        let entry = store.resolve(reference)?;
        let model_name = entry.reference();
        // Latest attestation per (suite digest, evaluator).
        let mut latest: BTreeMap<(String, String), (attest::Predicate, String)> = BTreeMap::new();
        let mut invalid = Vec::new();
        for stored in stored::attestations(store, &entry.digest)? {
            match attest::verify(&stored.envelope, None) {
                Ok(verified) => {
                    let p = verified.statement.predicate;
                    if p.model.digest != entry.digest.as_str() {
                        invalid.push(format!("{}: about another model", stored.manifest_digest));
                        continue;
                    }
                    let key = (p.suite.digest.clone(), verified.key_hint.clone());
                    let newer = latest
                        .get(&key)
                        .is_none_or(|(old, _)| old.finished_at <= p.finished_at);
                    if newer {
                        latest.insert(key, (p, stored.manifest_digest));
                    }
                }
                Err(e) => invalid.push(format!("{}: {e}", stored.manifest_digest)),
            }
        }
        let mut rows = Vec::new();
        for ((_, hint), (p, attestation)) in &latest {
            for m in &p.metrics {
                rows.push(Row {
                    suite: p.suite.name.clone(),
                    suite_version: p.suite.version.clone(),
                    suite_digest: p.suite.digest.clone(),
                    evaluator: EvaluatorInfo {
                        key_hint: hint.clone(),
                        name: p.evaluator.name.clone(),
                        trusted_as: trust.get(hint).cloned(),
                    },
                    metric: m.metric.clone(),
                    proportion: m.proportion,
                    engine: match &p.engine.endpoint {
                        Some(endpoint) => format!("{} ({endpoint})", p.engine.name),
                        None => p.engine.name.clone(),
                    },
                    finished_at: p.finished_at.clone(),
                    attestation: attestation.clone(),
                });
            }
        }
        rows.sort_by(|a, b| {
            (&a.suite, &a.suite_digest, &a.metric, &a.evaluator.key_hint).cmp(&(
                &b.suite,
                &b.suite_digest,
                &b.metric,
                &b.evaluator.key_hint,
            ))
        });
        out.disagreements.extend(disagreements(&model_name, &rows));

        let mut evaluators: BTreeMap<&str, (String, BTreeSet<&str>)> = BTreeMap::new();
        for suite in &suites {
            evaluators.insert(&suite.digest, (suite.name.clone(), BTreeSet::new()));
        }
        for row in &rows {
            evaluators
                .entry(&row.suite_digest)
                .or_insert_with(|| (row.suite.clone(), BTreeSet::new()))
                .1
                .insert(&row.evaluator.key_hint);
        }
        for (digest, (suite, keys)) in evaluators {
            if keys.len() < 2 {
                out.thin_coverage.push(Coverage {
                    model: model_name.clone(),
                    suite,
                    suite_digest: digest.to_string(),
                    evaluators: keys.len(),
                });
            }
        }
        out.models.push(ModelComparison {
            name: model_name,
            digest: entry.digest.to_string(),
            rows,
            invalid,
        });
    }
    Ok(out)
}

/// Pairs of rows for the same suite and metric whose intervals are disjoint.
fn disagreements(model: &str, rows: &[Row]) -> Vec<Disagreement> {
    let mut out = Vec::new();
    for (i, a) in rows.iter().enumerate() {
        for b in &rows[i + 1..] {
            let same = a.suite_digest == b.suite_digest && a.metric == b.metric;
            if same
                && a.evaluator.key_hint != b.evaluator.key_hint
                && a.proportion.disjoint(&b.proportion)
            {
                out.push(Disagreement {
                    model: model.to_string(),
                    suite: a.suite.clone(),
                    metric: a.metric.clone(),
                    evaluators: [a.evaluator.key_hint.clone(), b.evaluator.key_hint.clone()],
                    intervals: [
                        [a.proportion.low, a.proportion.high],
                        [b.proportion.low, b.proportion.high],
                    ],
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(hint: &str, k: u64) -> Row {
        Row {
            suite: "s".into(),
            suite_version: "1".into(),
            suite_digest: "sha256:x".into(),
            evaluator: EvaluatorInfo {
                key_hint: hint.into(),
                name: None,
                trusted_as: None,
            },
            metric: "acc".into(),
            proportion: Proportion::new(k, 20),
            engine: "llama.cpp".into(),
            finished_at: String::new(),
            attestation: String::new(),
        }
    }

    #[test]
    fn only_disjoint_intervals_of_different_evaluators_are_flagged() {
        let rows = vec![row("a", 19), row("b", 2), row("c", 17)];
        let found = disagreements("m", &rows);
        let pairs: Vec<_> = found.iter().map(|d| d.evaluators.clone()).collect();
        assert_eq!(
            pairs,
            vec![
                ["a".to_string(), "b".to_string()],
                ["b".to_string(), "c".to_string()]
            ]
        );
    }
}
