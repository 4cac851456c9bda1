//! `/v2/<name>/manifests/<reference>`: GET, HEAD, PUT, DELETE.
//!
//! Manifests are kept as the exact bytes pushed; the store validates them,
//! checks that every blob (and every child of an index) is present, and turns
//! a ModelPack model into a model the other APIs can list and run.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use commons_store::audit::AuditDraft;
use commons_store::manifest::MAX_MANIFEST_BYTES;
use commons_store::{Digest, StoreError};
use futures_util::StreamExt;
use serde_json::json;

use crate::error::{Code, OciError};
use crate::header_value;
use crate::path::{is_digest_reference, is_valid_tag, parse_digest};
use crate::{Registry, DOCKER_CONTENT_DIGEST, OCI_SUBJECT};

/// A tag or a digest, checked.
enum Target {
    Tag(String),
    Digest(Digest),
}

/// Reads `reference` for a read or a delete: a bad tag can name nothing.
fn target_to_read(name: &str, reference: &str) -> Result<Target, OciError> {
    if is_digest_reference(reference) {
        return Ok(Target::Digest(parse_digest(reference)?));
    }
    if !is_valid_tag(reference) {
        return Err(unknown(name, reference));
    }
    Ok(Target::Tag(reference.to_string()))
}

fn unknown(name: &str, reference: &str) -> OciError {
    OciError::new(
        StatusCode::NOT_FOUND,
        Code::ManifestUnknown,
        format!("manifest `{reference}` is not in repository `{name}`"),
    )
    .with_detail(json!({ "name": name, "reference": reference }))
}

/// `GET`/`HEAD`: the stored bytes with their media type and digest.
pub async fn get(
    registry: &Registry,
    name: &str,
    reference: &str,
    head: bool,
) -> Result<Response, OciError> {
    let target = target_to_read(name, reference)?;
    let (repository, lookup) = (name.to_string(), reference.to_string());
    let manifest = registry
        .blocking(move |store| match target {
            Target::Digest(digest) => store.stored_manifest(&digest),
            Target::Tag(_) => match store.get_manifest(&repository, &lookup) {
                Ok(manifest) => Ok(Some(manifest)),
                Err(StoreError::NotFound { .. }) => Ok(None),
                Err(other) => Err(other),
            },
        })
        .await?
        .ok_or_else(|| unknown(name, reference))?;
    let headers = [
        (header::CONTENT_TYPE, header_value(&manifest.media_type)),
        (
            DOCKER_CONTENT_DIGEST,
            header_value(manifest.digest.as_str()),
        ),
        (
            header::ETAG,
            header_value(&format!("\"{}\"", manifest.digest)),
        ),
        (
            header::CONTENT_LENGTH,
            HeaderValue::from(manifest.bytes.len()),
        ),
    ];
    let body = if head {
        Body::empty()
    } else {
        Body::from(manifest.bytes)
    };
    Ok((headers, body).into_response())
}

/// `PUT`: store the pushed bytes under a tag, or by digest (which must match).
pub async fn put(
    registry: &Registry,
    name: &str,
    reference: &str,
    request: Request,
) -> Result<Response, OciError> {
    let tag = if is_digest_reference(reference) {
        None
    } else if is_valid_tag(reference) {
        Some(reference.to_string())
    } else {
        return Err(OciError::new(
            StatusCode::BAD_REQUEST,
            Code::ManifestInvalid,
            format!(
                "invalid tag `{reference}`: up to 128 of A-Za-z0-9_.- , not starting with . or -"
            ),
        ));
    };
    let claimed = match &tag {
        None => Some(parse_digest(reference)?),
        Some(_) => None,
    };
    let actor = crate::auth::Actor::of(&request);
    let bytes = read_limited(request.into_body()).await?;
    if let Some(claimed) = &claimed {
        let actual = Digest::of_bytes(&bytes);
        if actual != *claimed {
            return Err(OciError::digest_invalid(format!(
                "the manifest's bytes hash to {actual}, not to {claimed} named in the URL"
            ))
            .with_detail(json!({ "expected": claimed.as_str(), "actual": actual.as_str() })));
        }
    }
    let repository = name.to_string();
    let stored = registry
        .blocking(move |store| store.put_manifest(&repository, tag.as_deref(), &bytes))
        .await
        .map_err(|e| match e.code {
            // The name was checked by the router, so a bad reference is the tag.
            Code::NameInvalid => OciError::new(e.status, Code::ManifestInvalid, e.message),
            _ => e,
        })?;
    tracing::info!(repository = name, reference, digest = %stored.digest, model = stored.is_model, "manifest pushed");
    let draft = AuditDraft::new(&actor, "push")
        .subject(subject_of(name, reference))
        .digest(&stored.digest)
        .details(json!({ "api": "registry", "is_model": stored.is_model }));
    audit(registry, draft).await;
    let mut response = (
        StatusCode::CREATED,
        [
            (
                header::LOCATION,
                header_value(&format!("/v2/{name}/manifests/{}", stored.digest)),
            ),
            (DOCKER_CONTENT_DIGEST, header_value(stored.digest.as_str())),
            (header::CONTENT_LENGTH, HeaderValue::from_static("0")),
        ],
    )
        .into_response();
    if let Some(subject) = &stored.subject {
        response
            .headers_mut()
            .insert(OCI_SUBJECT, header_value(subject.as_str()));
    }
    Ok(response)
}

/// `DELETE`: by tag removes the tag (the manifest goes with its last tag); by
/// digest removes the manifest everywhere, with its tags and its referrers.
pub async fn delete(
    registry: &Registry,
    name: &str,
    reference: &str,
    actor: String,
) -> Result<Response, OciError> {
    let target = target_to_read(name, reference)?;
    let repository = name.to_string();
    let deleted = registry
        .blocking(move |store| match target {
            Target::Tag(tag) => store.delete_tag(&repository, &tag),
            Target::Digest(digest) => store.delete_manifest(&digest),
        })
        .await?;
    if !deleted {
        return Err(unknown(name, reference));
    }
    tracing::info!(repository = name, reference, "manifest deleted");
    let mut draft = AuditDraft::new(&actor, "delete")
        .subject(subject_of(name, reference))
        .details(json!({ "api": "registry" }));
    if is_digest_reference(reference) {
        draft.digest = Some(reference.to_string());
    }
    audit(registry, draft).await;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `name:tag` or `name@digest`, as the audit log names what was changed.
fn subject_of(name: &str, reference: &str) -> String {
    let separator = if is_digest_reference(reference) {
        '@'
    } else {
        ':'
    };
    format!("{name}{separator}{reference}")
}

/// Records a change in the audit log. The write is already committed, so a
/// failure to record it is logged loudly rather than failing the request.
async fn audit(registry: &Registry, draft: AuditDraft) {
    let action = draft.action.clone();
    if let Err(error) = registry
        .blocking(move |store| store.append_audit(&draft))
        .await
    {
        tracing::error!(%action, error = %error.message, "a registry write was not recorded in the audit log");
    }
}

/// The request body, refused with 413 once it passes the manifest limit
/// (read chunk by chunk, so an endless body costs at most the limit).
async fn read_limited(body: Body) -> Result<bytes::Bytes, OciError> {
    let mut stream = body.into_data_stream();
    let mut bytes = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            OciError::new(
                StatusCode::BAD_REQUEST,
                Code::ManifestInvalid,
                format!("the manifest could not be read: {e}"),
            )
        })?;
        if bytes.len() + chunk.len() > MAX_MANIFEST_BYTES {
            return Err(OciError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::SizeInvalid,
                format!("a manifest may be at most {MAX_MANIFEST_BYTES} bytes"),
            )
            .with_detail(json!({ "limit": MAX_MANIFEST_BYTES })));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.freeze())
}
