//! Provenance: what is known about where a model came from, and how much of
//! what a user should be able to ask is actually answered.
//!
//! This crate starts with the completeness check that `commons show` reports;
//! the versioned provenance record, licenses, lineage and signing grow here.

mod completeness;

pub use completeness::{Completeness, ProvenanceFacts};
