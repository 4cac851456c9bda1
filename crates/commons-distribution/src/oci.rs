//! An OCI distribution client: manifests, blobs, uploads and referrers (with
//! the OCI 1.1 tag-schema fallback for registries without the referrers API).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use commons_store::registry::{
    MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_OCI_INDEX,
};
use commons_store::{manifest::MEDIA_TYPE_OCI_MANIFEST, Descriptor, Digest};
use reqwest::blocking::Body;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Method, StatusCode};

use crate::error::{DistributionError, Result};
use crate::http::Remote;
use crate::transfer::BlobSource;

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest as fetched: its exact bytes, media type and (verified) digest.
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// What a registry told us when we pushed a manifest.
pub struct PushedManifest {
    /// True when it answered with `OCI-Subject`: it indexes referrers itself.
    pub indexes_referrers: bool,
}

/// One OCI registry (or commons node).
pub struct Registry {
    pub remote: Remote,
}

impl Registry {
    pub fn new(base: &str, token: Option<String>) -> Result<Registry> {
        Ok(Registry {
            remote: Remote::new(base, token)?,
        })
    }

    pub fn name(&self) -> &str {
        self.remote.name()
    }

    /// The manifest `reference` names in `repository`, or `None` when the
    /// registry does not have it. The bytes are checked against the digest
    /// asked for, or against the one the registry states.
    pub fn manifest(&self, repository: &str, reference: &str) -> Result<Option<FetchedManifest>> {
        let action = format!("fetching manifest {repository}:{reference}");
        let response = self.remote.send(
            Method::GET,
            &format!("/v2/{repository}/manifests/{reference}"),
            &action,
            &|r| r.header(ACCEPT, MANIFEST_ACCEPT),
        )?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(self.remote.status_error(&action, response)),
        }
        let media_type = header(&response, CONTENT_TYPE.as_str());
        let stated = header(&response, "docker-content-digest");
        let bytes = read_limited(response, commons_store::manifest::MAX_MANIFEST_BYTES)
            .map_err(|e| self.remote.io_error(&action, &e))?
            .ok_or_else(|| DistributionError::Protocol {
                source_name: self.name().to_string(),
                problem: format!("manifest {repository}:{reference} is larger than 4 MiB"),
            })?;
        let digest = Digest::of_bytes(&bytes);
        let expected = if reference.starts_with("sha256:") {
            Some(reference.to_string())
        } else {
            stated.filter(|s| s.starts_with("sha256:"))
        };
        if let Some(expected) = expected {
            if expected != digest.as_str() {
                return Err(DistributionError::BadContent {
                    source_name: self.name().to_string(),
                    what: format!("manifest {repository}:{reference}"),
                    expected,
                    actual: digest.to_string(),
                });
            }
        }
        let media_type = media_type
            .filter(|m| is_manifest_type(m))
            .or_else(|| media_type_field(&bytes))
            .unwrap_or_else(|| MEDIA_TYPE_OCI_MANIFEST.to_string());
        Ok(Some(FetchedManifest {
            bytes,
            media_type,
            digest,
        }))
    }

    /// True when the registry has the blob in `repository`.
    pub fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool> {
        let action = format!("checking for blob {}", digest.short());
        let response = self.remote.send(
            Method::HEAD,
            &format!("/v2/{repository}/blobs/{digest}"),
            &action,
            &|r| r,
        )?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.remote.status_error(&action, response)),
        }
    }

    /// Uploads the file at `path` as blob `digest` (one POST, one PUT).
    pub fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
    ) -> Result<()> {
        let action = format!("uploading blob {}", digest.short());
        let response = self.remote.send(
            Method::POST,
            &format!("/v2/{repository}/blobs/uploads/"),
            &action,
            &|r| r.header(CONTENT_LENGTH, 0),
        )?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.remote.status_error(&action, response));
        }
        let location =
            header(&response, LOCATION.as_str()).ok_or_else(|| DistributionError::Protocol {
                source_name: self.name().to_string(),
                problem: "an upload was started without a Location".into(),
            })?;
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let response =
            self.remote
                .send(Method::PUT, &url, &action, &|r| match File::open(path) {
                    Ok(file) => r
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_LENGTH, size)
                        .body(Body::sized(file, size)),
                    Err(_) => r.body(Vec::new()),
                })?;
        if response.status() != StatusCode::CREATED {
            return Err(self.remote.status_error(&action, response));
        }
        Ok(())
    }

    /// Puts manifest bytes under `reference` (a tag, or the digest).
    pub fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<PushedManifest> {
        let action = format!("pushing manifest {repository}:{reference}");
        let response = self.remote.send(
            Method::PUT,
            &format!("/v2/{repository}/manifests/{reference}"),
            &action,
            &|r| r.header(CONTENT_TYPE, media_type).body(bytes.to_vec()),
        )?;
        if response.status() != StatusCode::CREATED {
            return Err(self.remote.status_error(&action, response));
        }
        Ok(PushedManifest {
            indexes_referrers: response.headers().contains_key("oci-subject"),
        })
    }

    /// The referrers of `subject`: from the referrers API, or else from the
    /// fallback index tagged `sha256-<hex>`.
    pub fn referrers(&self, repository: &str, subject: &Digest) -> Result<Vec<Descriptor>> {
        let action = format!("listing referrers of {}", subject.short());
        let response = self.remote.send(
            Method::GET,
            &format!("/v2/{repository}/referrers/{subject}"),
            &action,
            &|r| r.header(ACCEPT, MEDIA_TYPE_OCI_INDEX),
        )?;
        let index = if response.status() == StatusCode::OK
            && header(&response, CONTENT_TYPE.as_str()).as_deref() == Some(MEDIA_TYPE_OCI_INDEX)
        {
            read_limited(response, commons_store::manifest::MAX_MANIFEST_BYTES)
                .map_err(|e| self.remote.io_error(&action, &e))?
        } else {
            self.manifest(repository, &fallback_tag(subject))?
                .map(|m| m.bytes)
        };
        let Some(index) = index else {
            return Ok(Vec::new());
        };
        #[derive(serde::Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        let index: Index =
            serde_json::from_slice(&index).map_err(|e| DistributionError::Protocol {
                source_name: self.name().to_string(),
                problem: format!("the referrers index of {subject} is not an index: {e}"),
            })?;
        Ok(index.manifests)
    }

    /// Adds `referrer` to the fallback referrers index of `subject` (OCI 1.1
    /// tag schema) for registries that do not index referrers themselves.
    pub fn add_fallback_referrer(
        &self,
        repository: &str,
        subject: &Digest,
        referrer: Descriptor,
    ) -> Result<()> {
        let tag = fallback_tag(subject);
        let mut manifests: Vec<Descriptor> = match self.manifest(repository, &tag)? {
            Some(existing) => serde_json::from_slice::<serde_json::Value>(&existing.bytes)
                .ok()
                .and_then(|v| serde_json::from_value(v["manifests"].clone()).ok())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        if manifests.iter().any(|d| d.digest == referrer.digest) {
            return Ok(());
        }
        manifests.push(referrer);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_OCI_INDEX,
            "manifests": manifests,
        });
        let bytes = serde_json::to_vec(&index).unwrap_or_default();
        self.push_manifest(repository, &tag, &bytes, MEDIA_TYPE_OCI_INDEX)?;
        Ok(())
    }
}

/// A blob of one repository of one registry, as a download source.
pub struct RegistryBlob<'a> {
    pub registry: &'a Registry,
    pub repository: String,
}

impl BlobSource for RegistryBlob<'_> {
    fn name(&self) -> String {
        format!("{}/{}", self.registry.name(), self.repository)
    }

    fn open(&self, digest: &Digest, offset: u64) -> Result<Box<dyn Read + Send>> {
        let action = format!("downloading blob {}", digest.short());
        let response = self.registry.remote.send(
            Method::GET,
            &format!("/v2/{}/blobs/{digest}", self.repository),
            &action,
            &|r| {
                if offset > 0 {
                    r.header(RANGE, format!("bytes={offset}-"))
                } else {
                    r
                }
            },
        )?;
        check_ranged(&self.registry.remote, &action, response, offset)
    }
}

/// Accepts a 200 for offset 0 and a 206 that starts at `offset`.
pub(crate) fn check_ranged(
    remote: &Remote,
    action: &str,
    response: reqwest::blocking::Response,
    offset: u64,
) -> Result<Box<dyn Read + Send>> {
    match response.status() {
        StatusCode::OK if offset == 0 => Ok(Box::new(response)),
        StatusCode::PARTIAL_CONTENT => {
            let starts_at = header(&response, "content-range")
                .and_then(|r| r.strip_prefix("bytes ").map(str::to_string))
                .and_then(|r| r.split('-').next().and_then(|s| s.parse::<u64>().ok()));
            if starts_at == Some(offset) {
                Ok(Box::new(response))
            } else {
                Err(DistributionError::Protocol {
                    source_name: remote.name().to_string(),
                    problem: format!("asked for bytes from {offset}, got range {starts_at:?}"),
                })
            }
        }
        StatusCode::OK => Err(DistributionError::Protocol {
            source_name: remote.name().to_string(),
            problem: "it ignores Range requests, so a transfer cannot resume".into(),
        }),
        _ => Err(remote.status_error(action, response)),
    }
}

/// The OCI 1.1 fallback tag of a subject's referrers index.
pub fn fallback_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

fn is_manifest_type(media_type: &str) -> bool {
    matches!(
        media_type,
        MEDIA_TYPE_OCI_MANIFEST
            | MEDIA_TYPE_OCI_INDEX
            | MEDIA_TYPE_DOCKER_MANIFEST
            | MEDIA_TYPE_DOCKER_LIST
    )
}

fn media_type_field(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    value["mediaType"].as_str().map(str::to_string)
}

fn header(response: &reqwest::blocking::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
}

/// The body, or `None` when it is longer than `limit`.
fn read_limited(
    response: reqwest::blocking::Response,
    limit: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    response.take(limit as u64 + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() <= limit).then_some(bytes))
}
