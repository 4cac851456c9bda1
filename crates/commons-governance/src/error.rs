//! One error type for governance, each with the advice a person needs.

use commons_provenance::signing::SignatureError;
use commons_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum GovernanceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The audit log is broken: checkpoints are not signed over a broken chain.
    #[error("the audit log does not verify: {0}")]
    BrokenLog(String),
    /// A policy file that does not parse or names a rule commons does not know.
    #[error("invalid policy {source_name}: {reason}")]
    InvalidPolicy { source_name: String, reason: String },
    /// Stewards or proposals: a bad key, threshold, proposal, or file.
    #[error("{0}")]
    Stewards(String),
}

impl GovernanceError {
    pub fn hint(&self) -> Option<String> {
        match self {
            GovernanceError::Store(e) => e.hint(),
            GovernanceError::Signature(e) => e.hint(),
            GovernanceError::BrokenLog(_) => Some(
                "run `commons audit verify` to see the first bad entry; keep a copy of the \
                 catalog for investigation before changing anything"
                    .into(),
            ),
            GovernanceError::InvalidPolicy { .. } => Some(
                "the policy in force was kept; see docs/governance.md for every rule, and \
                 `commons policy show` for the current policy"
                    .into(),
            ),
            GovernanceError::Stewards(_) => Some(
                "`commons steward list` shows the stewards, the threshold and every proposal; \
                 see docs/governance.md"
                    .into(),
            ),
        }
    }
}
