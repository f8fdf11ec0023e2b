//! `/.well-known/jwks.json`: the public keys verifiers need (RFC 7517; RFC 8037 `OKP` for
//! EdDSA). HS256 secrets are never in it. Cacheable for `jwks_max_age_secs`, which is why
//! a rotation publishes the next key for longer than that before it signs.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::service::Tessera;

/// A JWK Set: `{"keys": [...]}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct JwkSet {
    keys: Vec<serde_json::Value>,
}

/// Public keys of the signing keys that are next, current, or retired with tokens still live.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys",
    responses((status = 200, description = "JWK Set", body = JwkSet,
        content_type = "application/jwk-set+json")))]
pub async fn show_jwks(State(tessera): State<Tessera>) -> Response {
    let max_age = tessera.config().jwks_max_age_secs;
    let mut response = Json(tessera.jwks()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    response
}
