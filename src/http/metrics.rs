//! `GET /metrics` (Prometheus text format). Requests are counted and timed by the serving
//! layer (`http::serving`).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ApiError, ErrorBody};
use super::extract::bearer_token;
use crate::service::Tessera;

/// Prometheus text exposition. The password-hash queue depth is read now; the number of
/// live sessions is the one the background count last found (never counted per scrape).
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format 0.0.4",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
        (status = 401, description = "`metrics_token` is set and the request does not carry it", body = ErrorBody)))]
pub async fn render_metrics(State(tessera): State<Tessera>, headers: HeaderMap) -> Response {
    if let Err(refused) = check_metrics_token(&tessera, &headers) {
        return refused.into_response();
    }
    let Some(text) = tessera.render_metrics() else {
        return ApiError::NotFound.into_response();
    };
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// With `metrics_token` set, the request must carry it as a bearer token. Both sides are
/// hashed first and the digests compared in constant time, so neither the content nor
/// the length of the token leaks through timing.
fn check_metrics_token(tessera: &Tessera, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &tessera.config().metrics_token else {
        return Ok(());
    };
    let presented = bearer_token(headers)?.ok_or(ApiError::MissingToken)?;
    let expected = Sha256::digest(expected.expose().as_bytes());
    let presented = Sha256::digest(presented.as_bytes());
    if bool::from(expected.as_slice().ct_eq(presented.as_slice())) {
        Ok(())
    } else {
        Err(ApiError::WrongBearerToken)
    }
}

/// The router of the separate metrics listener (`metrics_listen`): `/metrics` only.
pub fn metrics_router(tessera: Tessera) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(render_metrics))
        .fallback(|| async { ApiError::NotFound })
        .with_state(tessera)
}
