//! `commons-governance`: how a node decides what it hosts and keeps a trace
//! nobody can quietly rewrite.
//!
//! - [`audit`] — the tamper-evident audit log: recording (with signed
//!   checkpoints every [`audit::CHECKPOINT_EVERY`] entries), verification that
//!   names the first edited, removed or reordered entry, and export.
//! - [`policy`] — hosting criteria as a TOML policy (every version kept),
//!   evaluated on a model's [`facts`] to admit, quarantine or reject it.
//! - [`health`] — the health of the commons: completeness, openness,
//!   licenses and drift, evaluation plurality, publisher concentration,
//!   unsigned and quarantined models, each figure with its models.
//! - [`evaluators`] — distinct evaluators among a model's signed evaluation
//!   attestations.
//! - [`steward`] — M-of-N signed approvals of policy changes and releases.
//!
//! Pure library over `commons-store`: no printing, no network.

pub mod audit;
mod error;
pub mod evaluators;
pub mod facts;
pub mod health;
pub mod policy;
pub mod steward;

pub use error::GovernanceError;
