//! `commons-governance`: how a node decides what it hosts and keeps a trace
//! nobody can quietly rewrite.
//!
//! - [`audit`] — the tamper-evident audit log: recording (with signed
//!   checkpoints every [`audit::CHECKPOINT_EVERY`] entries), verification that
//!   names the first edited, removed or reordered entry, and export.
//!
//! Pure library over `commons-store`: no printing, no network.

pub mod audit;
mod error;

pub use error::GovernanceError;
