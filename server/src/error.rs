//! Errors: [`ApiError`] is what a client is told (a status and a JSON body naming the
//! field at fault); [`ServerError`] is why the server could not start or run.

use std::net::SocketAddr;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use charter_log::LogError;
use charter_runtime::EngineError;

/// The server could not start or stopped with an error.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ServerError {
    /// The address could not be bound.
    #[error("cannot listen on `{addr}`")]
    #[diagnostic(
        code(charter::server::bind),
        help("is another server on that port? pass another with `--listen 127.0.0.1:PORT`")
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The token is unusable.
    #[error("the admin token is unusable: {message}")]
    #[diagnostic(
        code(charter::server::token),
        help("write a random token of at least 16 characters, e.g. `openssl rand -hex 32`")
    )]
    Token {
        /// Why.
        message: String,
    },
    /// The decision log could not be opened.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Log(#[from] LogError),
    /// Watching the bundle could not start.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Watch(#[from] EngineError),
}

/// The JSON body of every error answer: `{"error": {"code", "message", "field"}}`.
#[derive(Debug, Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Debug, Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

/// An error answered to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable code (`invalid_request`, `missing_token` …).
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
    /// The field at fault, as a path into the body (`requests[2].consent.granted`).
    pub field: Option<String>,
}

impl ApiError {
    /// An error without a field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// A 400 `invalid_request` naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        serde_json::to_string(&body).unwrap_or_else(|_| {
            format!(
                r#"{{"error":{{"code":"{}","message":"unprintable"}}}}"#,
                self.code
            )
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body(),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"charter\""),
            );
        }
        r
    }
}
