//! The axum extractor: `Authenticated` in a handler's arguments verifies the bearer token.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::{Claims, Verifier, VerifyError};

/// The caller of a handler, verified: its claims (`sub`, `sid`, `fresh`, `amr`, `aal`,
/// `raw`). Needs `Verifier: FromRef<State>`.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Claims);

impl std::ops::Deref for Authenticated {
    type Target = Claims;
    fn deref(&self) -> &Claims {
        &self.0
    }
}

/// A refusal: 401 (or 503 when failing closed) with `{"message", "error"}` and
/// `WWW-Authenticate`, as tessera answers.
#[derive(Debug, Clone, Copy)]
pub struct Rejection(pub VerifyError);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        let body = serde_json::json!({ "message": e.message(), "error": e.code() });
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(value) = e.www_authenticate() {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(Rejection(VerifyError::MissingToken))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(Rejection(VerifyError::Malformed))?;
        Verifier::from_ref(state)
            .verify(token)
            .await
            .map(Authenticated)
            .map_err(Rejection)
    }
}
