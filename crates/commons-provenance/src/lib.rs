//! Provenance: what is known about where a model came from, whether it can be
//! trusted, and what may be done with it.
//!
//! * [`record`]: the versioned provenance record and its strict parser;
//!   [`derive`] builds one from what the model's files state.
//! * [`completeness`] and [`openness`]: how much of it is answered, and the
//!   Model Openness Framework class it earns.
//! * [`licenses`]: the embedded license knowledge base; [`drift`] flags
//!   licenses that tighten between versions or loosen against a base.
//! * [`lineage`]: identical / derived / unrelated, from tensor digests and
//!   the cosine of dequantized values.
//! * [`signing`]: OpenSSF model-signing compatible signatures (Sigstore
//!   bundle, DSSE, in-toto) with local ECDSA P-256 keys, and the trust file.
//!
//! The library never prints and never touches the network.

pub mod completeness;
pub mod derive;
pub mod drift;
pub mod licenses;
pub mod lineage;
pub mod openness;
pub mod record;
pub mod signing;

pub use completeness::Completeness;
pub use openness::{Openness, OpennessClass};
pub use record::{ProvenanceRecord, RecordError};
