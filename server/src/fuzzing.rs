//! An entry point into the server's body decoding for the fuzz targets (`fuzz/`), which
//! cannot reach the private handlers: it decodes a body exactly as the named endpoint
//! does before deciding anything. Not part of the supported API.

use axum::http::StatusCode;

use super::api::{check_request_body, BatchBody, SweepBody};
use super::body::parse;
use super::error::ApiError;
use super::DEFAULT_MAX_FIELDS;
use charter_runtime::{Request, StrictFacts};

/// The endpoints whose bodies [`decode_body`] reads, by the names it takes.
pub const BODY_ENDPOINTS: [&str; 4] = ["decide", "batch", "sweep", "facts"];

/// Decodes `body` as the endpoint named by `endpoint` (one of [`BODY_ENDPOINTS`]:
/// `POST /v1/decide`, `POST /v1/decide/batch`, `POST /v1/sweep`, and the fact writes
/// `PUT|PATCH /v1/facts/developers/{id}`) reads it: `Ok` when the handler would go on to
/// decide, the client's error otherwise. The server's body size and time limits are not
/// applied (they are checked before the bytes reach this point); the field count is, at
/// its default.
pub fn decode_body(endpoint: &str, body: &[u8]) -> Result<(), ApiError> {
    match endpoint {
        "decide" => {
            let req: Request = parse(body)?;
            check_request_body(&req, "", DEFAULT_MAX_FIELDS)
        }
        "batch" => {
            let batch: BatchBody = parse(body)?;
            for (i, r) in batch.requests.iter().enumerate() {
                check_request_body(r, &format!("requests[{i}]."), DEFAULT_MAX_FIELDS)?;
            }
            Ok(())
        }
        "sweep" => {
            // The handler's checks of `at` and of facts without a developer follow
            // in the handler itself; the decoding is what is fuzzed here.
            parse::<SweepBody>(body).map(|_| ())
        }
        "facts" => parse::<StrictFacts>(body).map(|_| ()),
        other => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no endpoint `{other}` reads a body"),
        )),
    }
}
