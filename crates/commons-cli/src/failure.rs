//! How a failed command is reported: `error:` with the causes that led to it,
//! then a `hint:` saying what to do, as cargo and uv do. With `--json` the
//! same facts go to stdout as one JSON object so scripts can branch on them.

use std::fmt;

use serde::Serialize;

/// An error raised by the CLI itself that knows what the user should do next.
#[derive(Debug)]
pub struct Hinted {
    message: String,
    hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

pub fn hinted(message: impl Into<String>, hint: impl Into<String>) -> Hinted {
    Hinted {
        message: message.into(),
        hint: hint.into(),
    }
}

/// The first hint any error in the chain offers; library errors carry their
/// own `hint()` so the advice is written next to the failure it explains.
fn hint_of(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<Hinted>() {
            return Some(e.hint.clone());
        }
        if let Some(e) = cause.downcast_ref::<commons_distribution::DistributionError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<commons_store::StoreError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<commons_store::import::ImportError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<commons_formats::FormatError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<commons_provenance::RecordError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<commons_provenance::signing::SignatureError>() {
            return e.hint();
        }
        None
    })
}

#[derive(Serialize)]
struct JsonFailure {
    error: String,
    causes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

/// A failure whose report the command already printed (e.g. `license check
/// --json` prints its findings, then exits 1 because they include drift).
#[derive(Debug)]
pub struct AlreadyReported;

impl fmt::Display for AlreadyReported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the command reported a failure")
    }
}

impl std::error::Error for AlreadyReported {}

pub fn report(err: &anyhow::Error, json: bool) {
    if err.downcast_ref::<AlreadyReported>().is_some() {
        return;
    }
    let causes: Vec<String> = err.chain().skip(1).map(|c| c.to_string()).collect();
    let hint = hint_of(err);
    if json {
        let failure = JsonFailure {
            error: err.to_string(),
            causes,
            hint,
        };
        if let Ok(text) = serde_json::to_string_pretty(&failure) {
            println!("{text}");
        }
        return;
    }
    eprintln!("error: {err}");
    for cause in causes {
        eprintln!("  caused by: {cause}");
    }
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
}
