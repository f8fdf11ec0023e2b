//! CORS for the origins listed in `cors.allowed_origins`, by tower-http's layer: exact
//! origins only (checked at start-up), credentials allowed (the cookie transport needs
//! them), and the methods and headers tessera's routes use. With the list empty (the
//! default) there is no layer at all, so no answer carries a CORS header.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::csrf::CSRF_HEADER;
use crate::config::CorsConfig;

/// How long a browser may reuse a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The layer for `config`, or `None` when no origin is listed.
pub fn layer(config: &CorsConfig) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = config
        .allowed_origins
        .iter()
        // Checked as exact ASCII origins at start-up, so none is dropped here.
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static(CSRF_HEADER),
            ])
            // What a script may read of an answer: how long to wait, and the request id to
            // quote in a support ticket.
            .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}
