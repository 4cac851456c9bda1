//! The one error type of distribution: every message names the source and the problem.

use commons_store::StoreError;

/// Everything that can go wrong while pulling, pushing or mirroring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistributionError {
    /// The source or destination string is not understood.
    #[error("invalid location `{input}`: {reason}")]
    InvalidLocation { input: String, reason: String },

    /// A network request failed before an answer arrived.
    #[error("{source_name}: {action} failed: {error}")]
    Transport {
        source_name: String,
        action: String,
        error: String,
    },

    /// The remote answered with an error status.
    #[error("{source_name}: {action} answered {status}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Remote {
        source_name: String,
        action: String,
        status: u16,
        detail: Option<String>,
    },

    /// The remote wants credentials we do not have, or refused ours.
    #[error("{source_name}: {action} needs a token with the right scope ({status})")]
    Unauthorized {
        source_name: String,
        action: String,
        status: u16,
    },

    /// Bytes from a source did not hash to what they claimed.
    #[error("{source_name} served bad bytes for {what}: expected {expected}, got {actual}")]
    BadContent {
        source_name: String,
        what: String,
        expected: String,
        actual: String,
    },

    /// The remote's answer is not what the protocol says.
    #[error("{source_name}: {problem}")]
    Protocol {
        source_name: String,
        problem: String,
    },

    /// Every source was tried and none delivered.
    #[error("no source could deliver {what}:\n{}", failures.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n"))]
    AllSourcesFailed { what: String, failures: Vec<String> },

    /// Nothing to pull from: no location given and no mirror configured.
    #[error("no source for `{name}`: it is not a URL and no mirror is configured")]
    NoSource { name: String },

    #[error(transparent)]
    Store(#[from] StoreError),

    /// The local import of a downloaded folder failed.
    #[error("importing the downloaded files failed: {0}")]
    Import(String),

    #[error("could not {action} `{path}`: {error}")]
    Io {
        action: &'static str,
        path: String,
        error: std::io::Error,
    },
}

impl DistributionError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            DistributionError::InvalidLocation { .. } => Some(
                "use oci://HOST[:PORT]/REPO[:TAG|@DIGEST], http(s)://NODE/NAME[:TAG] or hf://ORG/REPO[@REV]"
                    .into(),
            ),
            DistributionError::Unauthorized { .. } => Some(
                "pass --token TOKEN (or set COMMONS_TOKEN); on a commons node, create one with `commons token create NAME --scope push`"
                    .into(),
            ),
            DistributionError::Transport { .. } => {
                Some("check that the source is running and reachable, or add a mirror with `commons mirror add URL`".into())
            }
            DistributionError::BadContent { .. } => Some(
                "nothing from that source was kept; pull again from another source or mirror".into(),
            ),
            DistributionError::AllSourcesFailed { failures, .. } => Some(
                if failures.iter().any(|f| f.contains("served bad bytes")) {
                    "nothing unverified was kept; pull from another source, or add a good one with `commons mirror add URL`"
                } else {
                    "check the location (repository and tag) and that the source is up, or add a mirror with `commons mirror add URL`"
                }
                .into(),
            ),
            DistributionError::Remote { status: 404, .. } => {
                Some("check the repository, tag or revision; `commons list` on the source node shows what it has".into())
            }
            DistributionError::NoSource { .. } => Some(
                "pull from a URL (oci://…, http://…, hf://…) or configure one with `commons mirror add URL`".into(),
            ),
            DistributionError::Store(e) => e.hint(),
            _ => None,
        }
    }
}

pub type Result<T, E = DistributionError> = std::result::Result<T, E>;
