//! `commons-catalog`: the views of the catalog that people read — what
//! `commons list` and `commons show --json` print and what the node's
//! `/commons/v1` API answers, built in one place so the two never drift.
//!
//! - [`record`] — a model's current provenance record: the latest stored
//!   version, or what its files state when none is stored yet;
//! - [`views`] — [`ModelSummary`] (a list row) and [`ModelDetails`] (one
//!   model: format facts, license, provenance completeness and openness,
//!   files, signatures and referrers).

pub mod record;
pub mod views;

pub use record::{current_record, derived_record, CurrentRecord};
pub use views::{
    CatalogRow, FileSummary, ModelDetails, ModelSummary, ProvenanceSummary, ReferrerSummary,
    SignatureSummary,
};
