//! Request bodies: JSON parsed with errors that name the field at fault.
//!
//! Handlers take the raw body (`Bytes`) and call [`parse`] instead of using axum's `Json`
//! extractor, for two reasons: clients such as `curl -d` send no `Content-Type`, which
//! Ollama accepts, and axum's rejection is plain text without the field's path, while both
//! APIs answer bad input with a JSON error a client can show.

use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parse `body` as `T`. An error names the field (`options.temperature`) and what was wrong.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("missing request body"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = inner.to_string();
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string);
        if let Some(field) = missing {
            let full = if path.is_empty() || path == "." {
                field
            } else {
                format!("{path}.{field}")
            };
            ApiError::invalid(full.clone(), format!("missing field `{full}`"))
        } else if inner.is_syntax() || inner.is_eof() || path.is_empty() || path == "." {
            ApiError::bad_request(format!("invalid JSON body: {inner}"))
        } else {
            ApiError::invalid(
                path.clone(),
                format!("invalid value for field `{path}`: {inner}"),
            )
        }
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::bad_request(format!("invalid JSON body: {error}")))?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Options {
        temperature: Option<f32>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Request {
        model: String,
        #[serde(default)]
        options: Option<Options>,
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let error =
            parse::<Request>(br#"{"model": "m", "options": {"temperature": "hot"}}"#).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("options.temperature"));
        assert!(
            error.message.contains("options.temperature"),
            "{}",
            error.message
        );
    }

    #[test]
    fn malformed_json_and_empty_bodies_are_400() {
        let error = parse::<Request>(b"{not json").unwrap_err();
        assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
        let error = parse::<Request>(b"  ").unwrap_err();
        assert_eq!(error.message, "missing request body");
        let error = parse::<Request>(br#"{"options": {}}"#).unwrap_err();
        assert!(error.message.contains("model"), "{}", error.message);
    }
}
