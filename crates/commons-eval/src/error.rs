//! One error type for the crate; every variant says what failed and on which
//! input, and `hint()` says what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("invalid suite {origin}: {}", summarize(.problems))]
    InvalidSuite {
        origin: String,
        problems: Vec<String>,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no suite `{0}` in the store")]
    SuiteNotFound(String),
    #[error("`{name}` names {count} stored suites")]
    AmbiguousSuite { name: String, count: usize },
    #[error("the {backend} backend failed: {message}")]
    Backend {
        backend: &'static str,
        message: String,
    },
    #[error("a `code` suite needs a sandbox to run its tests, and none was given")]
    NoExecutor,
    #[error("the attestation is malformed: {0}")]
    MalformedAttestation(String),
    #[error("the attestation's signature does not match its payload: it was altered or made with another key")]
    BadSignature,
    #[error("the attestation was signed by key {signed_by}, not by the key given ({given})")]
    KeyMismatch { signed_by: String, given: String },
    #[error("no trusted key matches the attestation's key {hint}")]
    Untrusted { hint: String },
    #[error("the attestation is about model {attested}, but the local `{name}` is {local}")]
    WrongModel {
        name: String,
        attested: String,
        local: String,
    },
    #[error("{0}")]
    Signing(#[from] commons_provenance::signing::SignatureError),
    #[error("{0}")]
    Store(#[from] commons_store::StoreError),
    #[error("{context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
}

fn summarize(problems: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = problems
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > SHOWN {
        text.push_str(&format!(" (and {} more)", problems.len() - SHOWN));
    }
    text
}

impl EvalError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            EvalError::InvalidSuite { .. } => {
                "fix the named items or header fields; the format is in docs/eval.md".into()
            }
            EvalError::Io { .. } => return None,
            EvalError::SuiteNotFound(_) => {
                "import it with `commons eval import PATH`; `commons eval list` shows what is stored"
                    .into()
            }
            EvalError::AmbiguousSuite { .. } => {
                "name it by digest (see `commons eval list`)".into()
            }
            EvalError::Backend { .. } => {
                "check that the model loads (`commons run NAME hi`) or that the endpoint answers"
                    .into()
            }
            EvalError::NoExecutor => "run code suites from the `commons` CLI, which has one".into(),
            EvalError::MalformedAttestation(_) | EvalError::BadSignature => {
                "the attestation was altered or truncated; get it again from its evaluator".into()
            }
            EvalError::KeyMismatch { .. } | EvalError::Untrusted { .. } => {
                "pass the evaluator's public key with `--key PUBLIC.pem`, or trust it in $COMMONS_HOME/trust.toml".into()
            }
            EvalError::WrongModel { .. } => {
                "verify it against the model it names (pull that exact digest), not another one"
                    .into()
            }
            EvalError::Signing(e) => return e.hint(),
            EvalError::Store(e) => return e.hint(),
            EvalError::Json { .. } => return None,
        })
    }
}
