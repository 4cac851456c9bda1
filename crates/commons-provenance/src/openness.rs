//! The openness class, in the spirit of the Model Openness Framework (MOF):
//!
//! * class III, open model: the weights are released under an open license;
//! * class II, open tooling: also the training code is referenced, the
//!   training data is documented (named) and evaluations are published;
//! * class I, open science: also every dataset is itself released (a digest
//!   or reference) under an open license, and the method is documented.
//!
//! A model under a license that is not open (use restrictions, non-commercial,
//! user limits) or unknown has no class. Each class needs the one below it; the
//! gaps to the next class are named so a publisher knows what to release.

use serde::Serialize;

use crate::licenses;
use crate::record::ProvenanceRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum OpennessClass {
    #[serde(rename = "class III")]
    III,
    #[serde(rename = "class II")]
    II,
    #[serde(rename = "class I")]
    I,
}

impl OpennessClass {
    pub fn label(self) -> &'static str {
        match self {
            OpennessClass::III => "class III (open model)",
            OpennessClass::II => "class II (open tooling)",
            OpennessClass::I => "class I (open science)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Openness {
    /// `None`: not even class III.
    pub class: Option<OpennessClass>,
    /// What the next class up still needs.
    pub gaps: Vec<String>,
}

impl Openness {
    pub fn assess(record: &ProvenanceRecord) -> Self {
        let class_iii = gaps_iii(record);
        if !class_iii.is_empty() {
            return Self {
                class: None,
                gaps: class_iii,
            };
        }
        let class_ii = gaps_ii(record);
        if !class_ii.is_empty() {
            return Self {
                class: Some(OpennessClass::III),
                gaps: class_ii,
            };
        }
        let class_i = gaps_i(record);
        let class = if class_i.is_empty() {
            OpennessClass::I
        } else {
            OpennessClass::II
        };
        Self {
            class: Some(class),
            gaps: class_i,
        }
    }

    /// `class I` … `class III`, or `unclassified`.
    pub fn class_name(&self) -> &'static str {
        match self.class {
            Some(OpennessClass::I) => "class I",
            Some(OpennessClass::II) => "class II",
            Some(OpennessClass::III) => "class III",
            None => "unclassified",
        }
    }
}

fn is_open(license: Option<&str>) -> bool {
    license.is_some_and(|l| licenses::assess(l).effective.is_some_and(|l| l.open))
}

fn set(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.trim().is_empty())
}

fn gaps_iii(r: &ProvenanceRecord) -> Vec<String> {
    match r.license_id() {
        None => vec!["weights license: not stated".into()],
        Some(id) if !licenses::assess(id).known => {
            vec![format!(
                "weights license `{id}`: unknown, cannot tell whether it is open"
            )]
        }
        Some(id) if !is_open(Some(id)) => {
            vec![format!("weights license `{id}`: not an open license")]
        }
        Some(_) => Vec::new(),
    }
}

fn gaps_ii(r: &ProvenanceRecord) -> Vec<String> {
    let mut gaps = Vec::new();
    if !r.training.as_ref().is_some_and(|t| set(&t.code)) {
        gaps.push("training code: no reference (training.code)".into());
    }
    if r.datasets.is_empty() {
        gaps.push("training data: not documented (datasets)".into());
    }
    if r.evaluation.is_empty() {
        gaps.push("evaluation: no results or attestations (evaluation)".into());
    }
    gaps
}

fn gaps_i(r: &ProvenanceRecord) -> Vec<String> {
    let mut gaps = Vec::new();
    for d in &r.datasets {
        if !set(&d.digest) && !set(&d.reference) {
            gaps.push(format!(
                "dataset `{}`: not released (no digest or reference)",
                d.name
            ));
        }
        if !is_open(d.license.as_deref()) {
            gaps.push(format!(
                "dataset `{}`: {}",
                d.name,
                match &d.license {
                    Some(l) => format!("license `{l}` is not a known open license"),
                    None => "license not stated".into(),
                }
            ));
        }
    }
    if !r
        .training
        .as_ref()
        .is_some_and(|t| set(&t.method) && set(&t.objective))
    {
        gaps.push("training method and objective: not documented".into());
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(v: serde_json::Value) -> ProvenanceRecord {
        ProvenanceRecord::from_json(&v).unwrap()
    }

    #[test]
    fn restricted_or_unknown_licenses_are_unclassified() {
        for license in ["llama3.1", "cc-by-nc-4.0", "other", "gemma"] {
            let o = Openness::assess(&record(json!({ "license": license })));
            assert_eq!(o.class, None, "{license}");
            assert_eq!(o.gaps.len(), 1);
        }
        assert_eq!(
            Openness::assess(&ProvenanceRecord::default()).class_name(),
            "unclassified"
        );
    }

    #[test]
    fn classes_climb_with_what_is_released() {
        let o = Openness::assess(&record(json!({"license": "apache-2.0"})));
        assert_eq!(o.class, Some(OpennessClass::III));
        assert_eq!(o.gaps.len(), 3);

        let ii = json!({
            "license": "apache-2.0",
            "training": {"code": "repo", "method": "sft"},
            "datasets": [{"name": "d", "license": "cc-by-nc-4.0"}],
            "evaluation": ["sha256:00"]
        });
        let o = Openness::assess(&record(ii));
        assert_eq!(o.class, Some(OpennessClass::II));
        assert!(
            o.gaps.iter().any(|g| g.contains("not released")),
            "{:?}",
            o.gaps
        );
        assert!(o.gaps.iter().any(|g| g.contains("cc-by-nc-4.0")));

        let i = json!({
            "license": "MIT",
            "training": {"code": "repo", "method": "sft", "objective": "next token"},
            "datasets": [{"name": "d", "license": "CC-BY-4.0", "reference": "somewhere"}],
            "evaluation": ["sha256:00"]
        });
        let o = Openness::assess(&record(i));
        assert_eq!(o.class, Some(OpennessClass::I));
        assert!(o.gaps.is_empty());
        assert_eq!(o.class_name(), "class I");
    }
}
