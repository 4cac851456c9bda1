//! Hosting criteria as policy: the rules a node's community reads and
//! changes (`file`), applied to a model's facts (`evaluate`), and enforced
//! when a model arrives (`enforce`): admitted, quarantined (kept, not
//! served) or rejected (removed again), always with the rules that decided.
//!
//! The policy in force is the newest version kept in the catalog (every
//! version stays), or the shipped default until one is set.

pub mod evaluate;
pub mod file;

use commons_store::audit::AuditDraft;
use commons_store::{ModelEntry, Store};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

pub use evaluate::{evaluate, Decision, Outcome, RuleResult};
pub use file::{OnFail, Policy, DEFAULT_POLICY};

use crate::audit;
use crate::facts::ModelFacts;
use crate::GovernanceError;

/// The policy in force and where it came from.
#[derive(Clone, Debug, Serialize)]
pub struct CurrentPolicy {
    /// `None`: the shipped default (no policy was set on this node).
    pub version: Option<u64>,
    pub text: String,
    pub sha256: String,
    pub policy: Policy,
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The policy in force on the node at `store`.
pub fn current(store: &Store) -> Result<CurrentPolicy, GovernanceError> {
    match store.policy_history()?.pop() {
        Some(kept) => Ok(CurrentPolicy {
            policy: Policy::parse(
                &kept.policy_toml,
                &format!("policy version {}", kept.version),
            )?,
            sha256: sha256_hex(&kept.policy_toml),
            version: Some(kept.version),
            text: kept.policy_toml,
        }),
        None => Ok(CurrentPolicy {
            version: None,
            text: DEFAULT_POLICY.to_string(),
            sha256: sha256_hex(DEFAULT_POLICY),
            policy: Policy::default_policy(),
        }),
    }
}

/// Makes `text` the policy in force, after checking it; an invalid policy
/// changes nothing. Recorded in the audit log as `policy.change`.
pub fn set(
    store: &Store,
    text: &str,
    source_name: &str,
    actor: &str,
) -> Result<CurrentPolicy, GovernanceError> {
    let policy = Policy::parse(text, source_name)?;
    let version = store.add_policy_version(text, &format!("set {source_name}"))?;
    let sha256 = sha256_hex(text);
    audit::record(
        store,
        &AuditDraft::new(actor, "policy.change")
            .subject("policy")
            .details(json!({ "version": version, "sha256": sha256, "source": source_name })),
    )?;
    Ok(CurrentPolicy {
        version: Some(version),
        text: text.to_string(),
        sha256,
        policy,
    })
}

/// What the policy in force decides for `entry` (changes nothing).
pub fn check(store: &Store, entry: &ModelEntry) -> Result<Decision, GovernanceError> {
    let policy = current(store)?;
    let facts = ModelFacts::gather(store, entry)?;
    Ok(evaluate(&policy.policy, &facts))
}

/// Applies the policy to a model that just arrived (`trigger`: `import`,
/// `pull`, ...): quarantines it, lifts an old quarantine when it is now
/// admitted, or removes its name again when rejected. The decision is
/// recorded in the audit log either way; the caller reports a rejection.
pub fn enforce(
    store: &Store,
    entry: &ModelEntry,
    actor: &str,
    trigger: &str,
) -> Result<Decision, GovernanceError> {
    let policy = current(store)?;
    let facts = ModelFacts::gather(store, entry)?;
    let decision = evaluate(&policy.policy, &facts);
    let reason = json!({
        "outcome": decision.outcome,
        "trigger": trigger,
        "policy_version": policy.version,
        "policy_sha256": policy.sha256,
        "rules": decision.decided_by,
    });
    match decision.outcome {
        Outcome::Admit => {
            store.release_model(&entry.digest)?;
        }
        Outcome::Quarantine => store.quarantine_model(&entry.digest, &reason)?,
        Outcome::Reject => {
            store.remove(&entry.reference())?;
        }
    }
    audit::record(
        store,
        &AuditDraft::new(actor, "policy.decision")
            .subject(entry.reference())
            .digest(&entry.digest)
            .details(reason),
    )?;
    if decision.outcome == Outcome::Reject {
        audit::record(
            store,
            &AuditDraft::new(actor, "delete")
                .subject(entry.reference())
                .digest(&entry.digest)
                .details(json!({ "reason": "rejected by policy" })),
        )?;
    }
    Ok(decision)
}
