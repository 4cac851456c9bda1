//! Where a node keeps its data: `--home`, `$COMMONS_HOME`, else the XDG data dir.

use std::path::PathBuf;

use anyhow::{bail, Result};

pub fn resolve(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(data).join("commons"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/commons")),
        None => bail!(crate::failure::hinted(
            "cannot find a data directory: neither COMMONS_HOME, XDG_DATA_HOME nor HOME is set",
            "pass `--home DIR` or set COMMONS_HOME"
        )),
    }
}
