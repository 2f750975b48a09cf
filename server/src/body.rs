//! Reading a JSON body: a size limit, a time limit, and an error that names the field at
//! fault (`requests[3].consent.granted`) for every body that is not what the endpoint
//! reads. Unknown keys are errors, not ignored: a misspelt `feilds` must not silently
//! become "every field".

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Reads the body as bytes, within `limit` bytes and `timeout`.
pub(crate) async fn read_bytes(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than the server's limit of {limit} bytes"),
        )
    };
    // A declared length over the limit is refused before a byte is read.
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(too_large());
        }
    }
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the body did not arrive within {} s", timeout.as_secs_f64()),
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("the body could not be read: {e}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Parses JSON into `T`, naming the field at fault when it does not fit.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError {
            field: None,
            ..ApiError::invalid("", "the body is empty: send a JSON object")
        });
    }
    // Every body is an object; serde would also read a struct from an array of its
    // fields in order, which no client means.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        let found = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => "an array",
            Some(b'"') => "a string",
            Some(b'-' | b'0'..=b'9') => "a number",
            Some(b't' | b'f') => "a boolean",
            Some(b'n') => "null",
            _ => "something that is not JSON",
        };
        return Err(ApiError {
            field: None,
            ..ApiError::invalid("", format!("the body must be a JSON object, not {found}"))
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        ApiError {
            field: field_of(&path, &message),
            ..ApiError::invalid("", describe(&inner, &message))
        }
    })?;
    de.end().map_err(|e| ApiError {
        field: None,
        ..ApiError::invalid("", format!("text follows the JSON value: {e}"))
    })?;
    Ok(value)
}

/// The field an error is about: the path where it happened, and for a missing or unknown
/// key the key itself (serde reports those at the enclosing object).
fn field_of(path: &str, message: &str) -> Option<String> {
    // `.` is the root; `?` a position serde could not name (a syntax error).
    let base = if path == "." || path == "?" { "" } else { path };
    let key = [
        "unknown field `",
        "missing field `",
        "duplicate field `",
        "duplicate fact `",
    ]
    .iter()
    .find_map(|p| message.strip_prefix(p))
    .and_then(|rest| rest.split('`').next());
    match (base, key) {
        // serde_path_to_error already ends an unknown key's path with the key.
        (b, Some(k)) if b == k || b.ends_with(&format!(".{k}")) => Some(b.to_string()),
        ("", Some(k)) => Some(k.to_string()),
        (b, Some(k)) => Some(format!("{b}.{k}")),
        ("", None) => None,
        (b, None) => Some(b.to_string()),
    }
}

fn describe(e: &serde_json::Error, message: &str) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => format!("the body is not JSON: {message}"),
        Category::Data | Category::Io => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use charter_runtime::Request;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Batch {
        requests: Vec<Request>,
    }

    fn err<T: DeserializeOwned + std::fmt::Debug>(text: &str) -> ApiError {
        parse::<T>(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn errors_name_the_field() {
        let base = r#""developer":"d","action":"a","dataset":"x","scenario":"s""#;
        let e = err::<Request>(&format!("{{{base},\"feilds\":[]}}"));
        assert_eq!(e.field.as_deref(), Some("feilds"));
        assert!(
            e.message.contains("unknown field `feilds`"),
            "{}",
            e.message
        );
        let e = err::<Request>(r#"{"action":"a","dataset":"x","scenario":"s"}"#);
        assert_eq!(e.field.as_deref(), Some("developer"));
        let e = err::<Request>(&format!("{{{base},\"consent\":{{\"granted\":\"yes\"}}}}"));
        assert_eq!(e.field.as_deref(), Some("consent.granted"));
        let e = err::<Batch>(&format!(
            "{{\"requests\":[{{{base}}},{{{base},\"fields\":[1]}}]}}"
        ));
        assert_eq!(e.field.as_deref(), Some("requests[1].fields[0]"));
        let e = err::<Request>("{\"developer\": ");
        assert!(
            e.message.starts_with("the body is not JSON"),
            "{}",
            e.message
        );
        let e = err::<Request>("");
        assert!(e.message.contains("empty"));
        let e = err::<Request>(&format!("{{{base}}} trailing"));
        assert!(e.message.contains("follows"), "{}", e.message);
    }
}
