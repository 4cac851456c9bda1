//! Which provenance questions a model's record answers.
//!
//! The checklist follows what the Model Openness Framework asks of a release:
//! who published it, under which license, where it comes from, what it was
//! built on, with which data and method, how it was evaluated and what it is
//! for. Each item is present or missing; nothing is inferred or guessed.

use serde::Serialize;

use crate::record::ProvenanceRecord;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completeness {
    /// Share of checklist items present, 0.0 to 1.0.
    pub score: f64,
    pub present: Vec<&'static str>,
    pub missing: Vec<&'static str>,
}

/// The checklist, in the order it is reported.
pub const CHECKLIST: [&str; 8] = [
    "publisher",
    "license",
    "source",
    "base_models",
    "datasets",
    "training",
    "evaluation",
    "intended_use",
];

impl Completeness {
    pub fn assess(record: &ProvenanceRecord) -> Self {
        let (present, missing): (Vec<_>, Vec<_>) =
            CHECKLIST.iter().partition(|item| answers(record, item));
        let score = present.len() as f64 / CHECKLIST.len() as f64;
        Self {
            score,
            present,
            missing,
        }
    }
}

fn answers(r: &ProvenanceRecord, item: &str) -> bool {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    match item {
        "publisher" => r
            .publisher
            .as_ref()
            .is_some_and(|p| !p.name.trim().is_empty()),
        "license" => r.license_id().is_some(),
        "source" => set(&r.source),
        "base_models" => !r.base_models.is_empty(),
        "datasets" => !r.datasets.is_empty(),
        "training" => r.training.as_ref().is_some_and(|t| {
            set(&t.method) || set(&t.objective) || set(&t.compute) || set(&t.code)
        }),
        "evaluation" => !r.evaluation.is_empty(),
        "intended_use" => set(&r.intended_use) || set(&r.limitations),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_record_misses_everything() {
        let c = Completeness::assess(&ProvenanceRecord::default());
        assert_eq!(c.score, 0.0);
        assert_eq!(c.missing.len(), CHECKLIST.len());
        assert!(c.present.is_empty());
    }

    #[test]
    fn each_answered_item_counts() {
        let record = ProvenanceRecord::from_json(&json!({
            "publisher": "HuggingFaceTB",
            "license": "Apache-2.0",
            "datasets": ["smoltalk"],
            "training": {"method": "sft"},
            "intended_use": ""
        }))
        .unwrap();
        let c = Completeness::assess(&record);
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
