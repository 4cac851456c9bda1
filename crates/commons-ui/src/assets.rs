//! The embedded files. To add one, put it under `assets/` and list it in
//! [`ASSETS`]; a unit test checks that every listed file is referenced from
//! the app and that every module the app imports is listed.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// One embedded file.
pub struct Asset {
    /// Path under `assets/` (and under `/ui/assets/`).
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    etag: OnceLock<String>,
}

impl Asset {
    /// A strong ETag: the first 32 hex digits of the bytes' sha256, quoted.
    pub fn etag(&self) -> &str {
        self.etag.get_or_init(|| {
            let digest = hex::encode(Sha256::digest(self.bytes));
            format!("\"{}\"", &digest[..32])
        })
    }
}

macro_rules! embed {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)),
            etag: OnceLock::new(),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the dashboard.
pub(crate) static ASSETS: [Asset; 14] = [
    embed!("index.html", "text/html; charset=utf-8"),
    embed!("style.css", "text/css; charset=utf-8"),
    embed!("favicon.svg", "image/svg+xml"),
    embed!("app.js", JS),
    embed!("api.js", JS),
    embed!("dom.js", JS),
    embed!("charts.js", JS),
    embed!("pages/catalog.js", JS),
    embed!("pages/model.js", JS),
    embed!("pages/lineage.js", JS),
    embed!("pages/playground.js", JS),
    embed!("pages/health.js", JS),
    embed!("pages/governance.js", JS),
    embed!("pages/live.js", JS),
];

/// The embedded file at `path` (relative to `assets/`), if there is one.
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}
