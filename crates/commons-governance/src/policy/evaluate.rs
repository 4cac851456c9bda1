//! A policy applied to one model's facts: which rules pass, which fail, and
//! the outcome they decide (the harshest `on_fail` among the failures).

use commons_provenance::licenses::{self, LicenseInfo};
use serde::Serialize;

use super::file::{LicenseRules, OnFail, Policy};
use crate::facts::ModelFacts;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Admit,
    Quarantine,
    Reject,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Admit => "admit",
            Outcome::Quarantine => "quarantine",
            Outcome::Reject => "reject",
        }
    }
}

/// One rule checked against the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleResult {
    /// `section.key`, as in the policy file.
    pub rule: String,
    pub passed: bool,
    pub on_fail: OnFail,
    /// What was found, in words.
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    pub model: String,
    pub digest: String,
    pub outcome: Outcome,
    /// The rules that decided: every failed rule with the outcome's `on_fail`,
    /// or, for an admit, every rule checked.
    pub decided_by: Vec<RuleResult>,
    pub checked: Vec<RuleResult>,
}

impl Decision {
    /// The names of the deciding rules.
    pub fn rule_names(&self) -> Vec<&str> {
        self.decided_by.iter().map(|r| r.rule.as_str()).collect()
    }
}

fn result(rule: &str, on_fail: OnFail, failure: Option<String>, ok: String) -> RuleResult {
    RuleResult {
        rule: rule.to_string(),
        passed: failure.is_none(),
        on_fail,
        reason: failure.unwrap_or(ok),
    }
}

/// Whether a known license has `attribute` (names from `LICENSE_ATTRIBUTES`).
fn has(info: &LicenseInfo, attribute: &str) -> bool {
    match attribute {
        "open" => info.open,
        "osi_approved" => info.osi_approved,
        "commercial_use" => info.commercial_use,
        "non_commercial" => !info.commercial_use,
        "use_restrictions" => info.use_restrictions,
        "attribution" => info.attribution,
        "share_alike" => info.share_alike,
        "user_limit" => info.user_limit.is_some(),
        _ => false,
    }
}

/// Whether `listed` names the model's license (ids and aliases, any case).
fn names(listed: &str, license: &str, info: Option<&LicenseInfo>) -> bool {
    listed.eq_ignore_ascii_case(license.trim())
        || matches!((licenses::lookup(listed), info), (Some(a), Some(b)) if a.id == b.id)
}

fn license_rules(rules: &LicenseRules, facts: &ModelFacts, out: &mut Vec<RuleResult>) {
    let on_fail = rules.on_fail;
    let license = facts.license.as_deref();
    let info = facts.license_info.as_ref();
    let shown = license.unwrap_or("no license");
    if !rules.deny.is_empty() {
        let hit = license.and_then(|l| rules.deny.iter().find(|d| names(d, l, info)));
        out.push(result(
            "licenses.deny",
            on_fail,
            hit.map(|d| format!("the license `{shown}` is denied (`{d}`)")),
            format!("`{shown}` is not denied"),
        ));
    }
    if !rules.deny_if.is_empty() {
        let hit = info.and_then(|i| rules.deny_if.iter().find(|a| has(i, a)));
        out.push(result(
            "licenses.deny_if",
            on_fail,
            hit.map(|a| format!("the license `{shown}` has `{a}`, which is denied")),
            format!("`{shown}` has none of {}", rules.deny_if.join(", ")),
        ));
    }
    if !rules.allow.is_empty() || !rules.allow_if.is_empty() {
        let by_id = license.is_some_and(|l| rules.allow.iter().any(|a| names(a, l, info)));
        let by_attribute = info.is_some_and(|i| rules.allow_if.iter().any(|a| has(i, a)));
        let rule = if rules.allow.is_empty() {
            "licenses.allow_if"
        } else {
            "licenses.allow"
        };
        let failure = (!by_id && !by_attribute).then(|| match (license, info) {
            (None, _) => "the model states no license".to_string(),
            (Some(l), None) => format!(
                "the license `{l}` is not in the allow list and unknown to the license knowledge base"
            ),
            (Some(l), Some(_)) => format!("the license `{l}` is not allowed"),
        });
        out.push(result(
            rule,
            on_fail,
            failure,
            format!("`{shown}` is allowed"),
        ));
    }
}

/// Checks every rule of `policy` against `facts`.
pub fn evaluate(policy: &Policy, facts: &ModelFacts) -> Decision {
    let mut checked = Vec::new();
    if let Some(rules) = &policy.licenses {
        license_rules(rules, facts, &mut checked);
    }
    if let Some(rules) = &policy.provenance {
        if let Some(min) = rules.min_completeness {
            // A small tolerance: 3/8 must meet 0.375 whatever the rounding.
            let failure = (facts.completeness + 1e-9 < min).then(|| {
                format!(
                    "provenance is {:.0}% complete, the policy asks for {:.0}% (missing: {})",
                    facts.completeness * 100.0,
                    min * 100.0,
                    facts.missing.join(", ")
                )
            });
            let ok = format!("provenance is {:.0}% complete", facts.completeness * 100.0);
            checked.push(result(
                "provenance.min_completeness",
                rules.on_fail,
                failure,
                ok,
            ));
        }
        if !rules.require.is_empty() {
            let missing: Vec<&str> = rules
                .require
                .iter()
                .map(String::as_str)
                .filter(|f| facts.missing.contains(f))
                .collect();
            let failure = (!missing.is_empty())
                .then(|| format!("the provenance record lacks {}", missing.join(", ")));
            let ok = format!("the record has {}", rules.require.join(", "));
            checked.push(result("provenance.require", rules.on_fail, failure, ok));
        }
    }
    if let Some(rules) = policy.signature.as_ref().filter(|r| r.required) {
        let failure = facts.trusted_signers.is_empty().then(|| {
            format!(
                "no valid signature by a trusted key ({} signature(s) kept)",
                facts.signatures
            )
        });
        let ok = format!("signed by {}", facts.trusted_signers.join(", "));
        checked.push(result("signature.required", rules.on_fail, failure, ok));
    }
    if let Some(rules) = policy.evaluation.as_ref().filter(|r| r.min_evaluators > 0) {
        let count = facts.evaluations.evaluators.len();
        let failure = (count < rules.min_evaluators as usize).then(|| {
            format!(
                "{count} distinct evaluator(s) attested results; the policy asks for {}",
                rules.min_evaluators
            )
        });
        let ok = format!("{count} distinct evaluator(s)");
        checked.push(result(
            "evaluation.min_evaluators",
            rules.on_fail,
            failure,
            ok,
        ));
    }
    if let Some(rules) = policy.format.as_ref().filter(|r| r.deny_unsafe) {
        let failure = (!facts.unsafe_files.is_empty()).then(|| {
            format!(
                "files that run code when loaded: {}",
                facts.unsafe_files.join(", ")
            )
        });
        let ok = "no file runs code when loaded".to_string();
        checked.push(result("format.deny_unsafe", rules.on_fail, failure, ok));
    }
    if let Some((rules, max)) = policy
        .size
        .as_ref()
        .and_then(|r| r.max_bytes.map(|m| (r, m)))
    {
        let failure = (facts.size_bytes > max)
            .then(|| format!("{} bytes, over the limit of {max}", facts.size_bytes));
        let ok = format!("{} bytes", facts.size_bytes);
        checked.push(result("size.max_bytes", rules.on_fail, failure, ok));
    }
    let worst = checked
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.on_fail)
        .max();
    let outcome = match worst {
        None => Outcome::Admit,
        Some(OnFail::Quarantine) => Outcome::Quarantine,
        Some(OnFail::Reject) => Outcome::Reject,
    };
    let decided_by = checked
        .iter()
        .filter(|r| worst.is_none_or(|w| !r.passed && r.on_fail == w))
        .cloned()
        .collect();
    Decision {
        model: facts.reference.clone(),
        digest: facts.digest.clone(),
        outcome,
        decided_by,
        checked,
    }
}
