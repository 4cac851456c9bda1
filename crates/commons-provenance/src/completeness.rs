//! Which provenance questions a model's files and records answer.
//!
//! The checklist follows what the Model Openness Framework asks of a release:
//! who published it, under which license, where it comes from, what it was
//! built on, with which data and method, how it was evaluated and what it is
//! for. Each item is present or missing; nothing is inferred or guessed.

use commons_formats::GeneralMetadata;
use serde::Serialize;
use serde_json::Value;

/// The facts completeness is judged on: what the weights' own metadata says,
/// plus the license given at import and any user-supplied provenance record.
#[derive(Debug, Clone, Copy)]
pub struct ProvenanceFacts<'a> {
    pub general: &'a GeneralMetadata,
    pub license: Option<&'a str>,
    pub record: Option<&'a Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completeness {
    /// Share of checklist items present, 0.0 to 1.0.
    pub score: f64,
    pub present: Vec<&'static str>,
    pub missing: Vec<&'static str>,
}

/// One checklist item: its name, and the provenance-record keys that answer it
/// when the weights' metadata does not.
struct Item {
    name: &'static str,
    record_keys: &'static [&'static str],
}

const CHECKLIST: [Item; 8] = [
    Item {
        name: "publisher",
        record_keys: &["publisher", "author", "organization"],
    },
    Item {
        name: "license",
        record_keys: &["license"],
    },
    Item {
        name: "source",
        record_keys: &["source", "url", "repo_url"],
    },
    Item {
        name: "base_models",
        record_keys: &["base_models", "base_model"],
    },
    Item {
        name: "datasets",
        record_keys: &["datasets"],
    },
    Item {
        name: "training",
        record_keys: &["training", "training_methodology"],
    },
    Item {
        name: "evaluation",
        record_keys: &["evaluation", "evaluations"],
    },
    Item {
        name: "intended_use",
        record_keys: &["intended_use", "limitations"],
    },
];

impl Completeness {
    pub fn assess(facts: ProvenanceFacts<'_>) -> Self {
        let mut present = Vec::new();
        let mut missing = Vec::new();
        for item in &CHECKLIST {
            let answered = answered_by_metadata(item.name, &facts)
                || item
                    .record_keys
                    .iter()
                    .any(|key| record_answers(facts.record, key));
            if answered {
                present.push(item.name);
            } else {
                missing.push(item.name);
            }
        }
        let score = present.len() as f64 / CHECKLIST.len() as f64;
        Self {
            score,
            present,
            missing,
        }
    }
}

fn answered_by_metadata(item: &str, facts: &ProvenanceFacts<'_>) -> bool {
    let g = facts.general;
    match item {
        "publisher" => is_set(&g.author) || is_set(&g.organization),
        "license" => facts.license.is_some_and(|l| !l.trim().is_empty()) || is_set(&g.license),
        "source" => is_set(&g.url) || is_set(&g.repo_url),
        "base_models" => !g.base_models.is_empty(),
        "datasets" => !g.datasets.is_empty(),
        _ => false,
    }
}

fn is_set(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.trim().is_empty())
}

/// A record answers a key when it holds something other than null, "" or [].
fn record_answers(record: Option<&Value>, key: &str) -> bool {
    match record.and_then(|r| r.get(key)) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_metadata_misses_everything() {
        let general = GeneralMetadata::default();
        let c = Completeness::assess(ProvenanceFacts {
            general: &general,
            license: None,
            record: None,
        });
        assert_eq!(c.score, 0.0);
        assert_eq!(c.missing.len(), CHECKLIST.len());
        assert!(c.present.is_empty());
    }

    #[test]
    fn metadata_license_and_record_each_count() {
        let general = GeneralMetadata {
            author: Some("HuggingFaceTB".into()),
            datasets: vec!["smoltalk".into()],
            ..GeneralMetadata::default()
        };
        let record = json!({"training": {"method": "sft"}, "evaluation": [], "intended_use": ""});
        let c = Completeness::assess(ProvenanceFacts {
            general: &general,
            license: Some("Apache-2.0"),
            record: Some(&record),
        });
        assert_eq!(
            c.present,
            vec!["publisher", "license", "datasets", "training"]
        );
        assert_eq!(
            c.missing,
            vec!["source", "base_models", "evaluation", "intended_use"]
        );
        assert_eq!(c.score, 0.5);
    }
}
