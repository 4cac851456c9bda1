//! `commons-eval`: pluralistic evaluation (docs/eval.md).
//!
//! - [`suite`] — the suite format: parsing, validation naming the bad item, the
//!   canonical bytes whose sha256 ([`digest`]) is a suite's identity.
//! - [`prompt`] builds an item's prompt; [`scoring`] judges outputs; [`stats`]
//!   gives Wilson intervals; [`code`] is the interface to the code sandbox.
//! - [`runner`] scores a suite on a backend: the local engine or an
//!   OpenAI-compatible endpoint. Same model, suite and settings ⇒ the same
//!   per-item results, byte for byte.
//! - [`attest`] — in-toto statements signed as DSSE envelopes; [`stored`] keeps
//!   suites and attestations in the store as OCI artifacts and referrers;
//!   [`compare`] lays evaluators side by side (never a single rank).
//!
//! Pure library: it never prints; the CLI owns output.

pub mod attest;
pub mod code;
pub mod compare;
pub mod digest;
pub mod error;
pub mod prompt;
pub mod runner;
pub mod sandbox;
pub mod scoring;
pub mod stats;
pub mod stored;
pub mod suite;

pub use error::EvalError;
pub use suite::Suite;

/// The commons version recorded in attestations.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
