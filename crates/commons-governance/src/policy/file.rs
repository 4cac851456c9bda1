//! The policy file: TOML whose every key is a rule commons knows.
//!
//! Unknown keys are refused by name before anything else is read, so a typo
//! (`licences.deny`) never silently turns a rule off.

use serde::{Deserialize, Serialize};

use crate::GovernanceError;

/// What happens to a model that fails a rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFail {
    /// Kept, but not served or listed as runnable until released.
    #[default]
    Quarantine,
    /// Removed again; the import or pull fails.
    Reject,
}

/// License attributes from the knowledge base a rule can name.
pub const LICENSE_ATTRIBUTES: [&str; 8] = [
    "open",
    "osi_approved",
    "commercial_use",
    "non_commercial",
    "use_restrictions",
    "attribution",
    "share_alike",
    "user_limit",
];

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseRules {
    /// License ids (or aliases) that pass.
    #[serde(default)]
    pub allow: Vec<String>,
    /// License attributes that make a license pass (any of them).
    #[serde(default)]
    pub allow_if: Vec<String>,
    /// License ids that fail.
    #[serde(default)]
    pub deny: Vec<String>,
    /// License attributes that make a license fail (any of them).
    #[serde(default)]
    pub deny_if: Vec<String>,
    #[serde(default)]
    pub on_fail: OnFail,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceRules {
    /// Share of the provenance checklist answered, 0.0 to 1.0.
    pub min_completeness: Option<f64>,
    /// Checklist items that must be answered (`datasets`, `base_models`, ...).
    #[serde(default)]
    pub require: Vec<String>,
    #[serde(default)]
    pub on_fail: OnFail,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRules {
    /// A valid signature by a key in trust.toml (or the node key) over every file.
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub on_fail: OnFail,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationRules {
    /// Distinct evaluator keys among the model's signed evaluation attestations.
    #[serde(default)]
    pub min_evaluators: u32,
    #[serde(default)]
    pub on_fail: OnFail,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatRules {
    /// Refuse files that can run code when loaded (pickles). Import refuses
    /// them anyway; this catches them in manifests pulled from elsewhere.
    #[serde(default)]
    pub deny_unsafe: bool,
    #[serde(default)]
    pub on_fail: OnFail,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeRules {
    pub max_bytes: Option<u64>,
    #[serde(default)]
    pub on_fail: OnFail,
}

/// A hosting policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Free text: what this policy is for.
    pub description: Option<String>,
    pub licenses: Option<LicenseRules>,
    pub provenance: Option<ProvenanceRules>,
    pub signature: Option<SignatureRules>,
    pub evaluation: Option<EvaluationRules>,
    pub format: Option<FormatRules>,
    pub size: Option<SizeRules>,
}

/// Every rule a policy file may contain, as `section.key`.
pub const RULES: [&str; 17] = [
    "licenses.allow",
    "licenses.allow_if",
    "licenses.deny",
    "licenses.deny_if",
    "licenses.on_fail",
    "provenance.min_completeness",
    "provenance.require",
    "provenance.on_fail",
    "signature.required",
    "signature.on_fail",
    "evaluation.min_evaluators",
    "evaluation.on_fail",
    "format.deny_unsafe",
    "format.on_fail",
    "size.max_bytes",
    "size.on_fail",
    "description",
];

/// The policy that ships with commons, in force until one is set.
pub const DEFAULT_POLICY: &str = include_str!("../../../../data/policy/default.toml");

fn invalid(source_name: &str, reason: String) -> GovernanceError {
    GovernanceError::InvalidPolicy {
        source_name: source_name.to_string(),
        reason,
    }
}

impl Policy {
    /// Parses and checks a policy; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Policy, GovernanceError> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| invalid(source_name, format!("not valid TOML: {}", e.message())))?;
        for (section, value) in &table {
            let keys: Vec<String> = match value.as_table() {
                Some(inner) => inner.keys().map(|k| format!("{section}.{k}")).collect(),
                None => vec![section.clone()],
            };
            if let Some(unknown) = keys.iter().find(|k| !RULES.contains(&k.as_str())) {
                return Err(invalid(
                    source_name,
                    format!(
                        "unknown rule `{unknown}` (known rules: {})",
                        RULES.join(", ")
                    ),
                ));
            }
        }
        let policy: Policy =
            toml::from_str(text).map_err(|e| invalid(source_name, e.message().to_string()))?;
        policy
            .check()
            .map_err(|reason| invalid(source_name, reason))?;
        Ok(policy)
    }

    /// The shipped default policy.
    pub fn default_policy() -> Policy {
        // A unit test proves the shipped file parses.
        Policy::parse(DEFAULT_POLICY, "the default policy").unwrap_or_default()
    }

    /// Values serde cannot check: attribute and field names, ranges.
    fn check(&self) -> Result<(), String> {
        if let Some(l) = &self.licenses {
            for attribute in l.allow_if.iter().chain(&l.deny_if) {
                if !LICENSE_ATTRIBUTES.contains(&attribute.as_str()) {
                    return Err(format!(
                        "unknown license attribute `{attribute}` (known: {})",
                        LICENSE_ATTRIBUTES.join(", ")
                    ));
                }
            }
        }
        if let Some(p) = &self.provenance {
            if let Some(min) = p.min_completeness {
                if !(0.0..=1.0).contains(&min) {
                    return Err(format!(
                        "provenance.min_completeness is {min}; it is a share from 0.0 to 1.0"
                    ));
                }
            }
            let checklist = commons_provenance::completeness::CHECKLIST;
            if let Some(field) = p.require.iter().find(|f| !checklist.contains(&f.as_str())) {
                return Err(format!(
                    "provenance.require names `{field}`, which is not a provenance field (known: {})",
                    checklist.join(", ")
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_parses() {
        let policy = Policy::parse(DEFAULT_POLICY, "default").unwrap();
        assert!(policy.format.as_ref().is_some_and(|f| f.deny_unsafe));
        assert_eq!(Policy::default_policy(), policy);
    }

    #[test]
    fn an_unknown_rule_is_refused_by_name() {
        for (text, named) in [
            ("[licenses]\nalow = [\"MIT\"]\n", "licenses.alow"),
            ("[licences]\ndeny = []\n", "licences.deny"),
            ("max_size = 3\n", "max_size"),
        ] {
            let err = Policy::parse(text, "p.toml").unwrap_err().to_string();
            assert!(err.contains(&format!("unknown rule `{named}`")), "{err}");
            assert!(err.contains("p.toml"), "{err}");
        }
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        for (text, says) in [
            (
                "[licenses]\nallow_if = [\"free\"]\n",
                "unknown license attribute `free`",
            ),
            ("[provenance]\nmin_completeness = 2.0\n", "0.0 to 1.0"),
            ("[provenance]\nrequire = [\"weights\"]\n", "`weights`"),
            ("[size]\nmax_bytes = 5\non_fail = \"delete\"\n", "delete"),
            ("[signature]\nrequired = \"yes\"\n", "bool"),
        ] {
            let err = Policy::parse(text, "p.toml").unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
