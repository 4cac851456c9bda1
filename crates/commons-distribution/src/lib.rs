//! `commons-distribution`: the client side of sharing. Pulls models from OCI
//! registries, Hugging Face-compatible hubs and other commons nodes into the
//! store, pushes them out, and falls back across configured mirrors; every byte
//! is verified against its digest before it becomes visible.
//!
//! - [`location`] parses `oci://`, `http(s)://` and `hf://` locations;
//! - [`http`] is the HTTP client with the registry token challenge flow;
//! - [`oci`] speaks the OCI distribution API, referrers included (with the
//!   OCI 1.1 tag fallback for registries without the referrers API);
//! - [`transfer`] moves one blob: resumable, verified, downloaded once;
//! - [`pull`] pulls and pushes whole models with their referrers;
//! - [`hub`] pulls from Hugging Face-compatible hubs;
//! - [`attachments`] maps provenance records and signatures to referrers;
//! - [`mirrors`] keeps the node's mirror list.
//!
//! The library never prints: progress goes through [`pull::TransferProgress`].

pub mod attachments;
pub mod error;
pub mod http;
pub mod hub;
pub mod location;
pub mod mirrors;
pub mod oci;
pub mod pull;
pub mod transfer;

pub use error::{DistributionError, Result};
pub use location::{HubLocation, Location, OciLocation};
pub use mirrors::{Mirror, Mirrors};
pub use pull::{pull_oci, push_oci, PullReport, PushReport, Quiet, TransferProgress};
