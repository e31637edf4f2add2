//! Bearer-token checks for the admin endpoints.
//!
//! Both the presented and the configured token are hashed with SHA-256 and the digests compared
//! with [`subtle`]'s constant-time equality, so neither the contents nor the length of the
//! configured token leak through timing.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AdminState;
use super::handlers::error;

/// Whether `presented` equals `expected`, in time independent of both.
///
/// ```
/// use examples::admin::auth::token_matches;
/// use secrecy::SecretString;
///
/// let token = SecretString::from("s3cret");
/// assert!(token_matches("s3cret", &token));
/// assert!(!token_matches("s3cre", &token));
/// ```
pub fn token_matches(presented: &str, expected: &SecretString) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.expose_secret().as_bytes());
    bool::from(a.ct_eq(&b)) && !expected.expose_secret().is_empty()
}

/// Middleware: answers 401 unless the request carries `Authorization: Bearer <admin token>`.
pub(crate) async fn require_token(
    State(state): State<AdminState>,
    req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(t) if token_matches(t.trim(), &state.inner.token) => next.run(req).await,
        Some(_) => error(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the bearer token is not the admin token",
        ),
        None => error(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin token as `Authorization: Bearer <token>`",
        ),
    }
}
