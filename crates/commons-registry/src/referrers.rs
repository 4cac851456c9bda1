//! `GET /v2/<name>/referrers/<digest>[?artifactType=…]`: an OCI image index of
//! the manifests whose `subject` is `<digest>` (signatures, provenance records,
//! attestations). Never 404: no referrers is an empty index, as the spec asks.

use axum::extract::Query;
use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use commons_store::registry::MEDIA_TYPE_OCI_INDEX;
use commons_store::Digest;
use serde::Deserialize;
use serde_json::json;

use crate::error::{Code, OciError};
use crate::{Registry, OCI_FILTERS_APPLIED};

#[derive(Deserialize)]
struct ReferrersQuery {
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
}

pub async fn list(registry: &Registry, subject: &Digest, uri: &Uri) -> Result<Response, OciError> {
    let filter = Query::<ReferrersQuery>::try_from_uri(uri)
        .map_err(|e| {
            OciError::new(
                axum::http::StatusCode::BAD_REQUEST,
                Code::Unsupported,
                format!("bad query string: {e}"),
            )
        })?
        .0
        .artifact_type
        .filter(|t| !t.is_empty());
    let owned = subject.clone();
    let mut descriptors = registry
        .blocking(move |store| store.referrers(&owned))
        .await?;
    if let Some(artifact_type) = &filter {
        descriptors.retain(|d| d.artifact_type.as_deref() == Some(artifact_type.as_str()));
    }
    let body = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_INDEX,
        "manifests": descriptors,
    });
    let mut response = axum::Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(MEDIA_TYPE_OCI_INDEX),
    );
    if filter.is_some() {
        headers.insert(
            OCI_FILTERS_APPLIED,
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(response)
}
