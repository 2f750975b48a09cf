//! The admin token: `Authorization: Bearer <token>` on the admin endpoints and fact writes.
//!
//! The server keeps only the token's SHA-256 and compares digests in constant time, so
//! neither the comparison's duration nor the token's length tells an attacker anything.

use axum::http::{header, HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ApiError, ServerError};

/// Shortest token accepted: shorter ones can be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// The token, as its digest.
#[derive(Clone)]
pub(crate) struct Token([u8; 32]);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

fn digest(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

impl Token {
    pub fn new(token: &str) -> Result<Token, ServerError> {
        let t = token.trim();
        if t.chars().count() < MIN_TOKEN_LEN {
            return Err(ServerError::Token {
                message: format!(
                    "it has {} characters; at least {MIN_TOKEN_LEN} are needed",
                    t.chars().count()
                ),
            });
        }
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ServerError::Token {
                message: "it holds whitespace or control characters".to_string(),
            });
        }
        Ok(Token(digest(t.as_bytes())))
    }
}

impl Token {
    /// Whether `given` is this token (constant time).
    pub fn matches(&self, given: &str) -> bool {
        bool::from(digest(given.as_bytes()).ct_eq(&self.0))
    }
}

/// The bearer token a request presents, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
}

/// Whether the request may carry inline facts in `store` mode: it presents the admin
/// token or the facts token. This is the one scope besides the admin's; both are
/// checked in constant time.
pub(crate) fn may_supply_facts(
    admin: Option<&Token>,
    facts: Option<&Token>,
    headers: &HeaderMap,
) -> bool {
    let Some(given) = bearer(headers) else {
        return false;
    };
    // Both are compared, so the time taken does not tell which one matched.
    let a = admin.is_some_and(|t| t.matches(given));
    let f = facts.is_some_and(|t| t.matches(given));
    a | f
}

/// Checks the request's bearer token against `token`; `None` means the server has none,
/// and the protected endpoints are off.
pub(crate) fn authorize(token: Option<&Token>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "this endpoint needs the admin token, and the server was started without one \
             (`--token-file` or `CHARTER_TOKEN`)",
        ));
    };
    let Some(given) = bearer(headers) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "this endpoint needs `Authorization: Bearer <token>`",
        ));
    };
    if expected.matches(given) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the bearer token is not the server's",
        ))
    }
}
