//! Security headers set on responses.
//!
//! - Token responses (`/login`, `/refresh`, and any future route that hands out a token)
//!   are never stored by a browser or proxy cache: `Cache-Control: no-store` and
//!   `Pragma: no-cache` (RFC 6749 §5.1). Their failures get the same headers, so a cache
//!   never holds any answer of a token endpoint.
//! - Every response carries `X-Content-Type-Options: nosniff`, so a browser never
//!   reinterprets a JSON body (which may echo user input) as HTML or script; a
//!   `Content-Security-Policy` that allows nothing (no script, no framing: tessera's API
//!   answers are data, never documents); and `Referrer-Policy: no-referrer`.
//! - With `hsts` on, `Strict-Transport-Security` tells browsers to come back over HTTPS only
//!   (for a deployment whose TLS terminator forwards to tessera).

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, PRAGMA, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::response::Response;

/// For the routes that answer with tokens or with what a token grants (a `map_response`
/// layer).
pub async fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// For every response (a `map_response` layer).
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
    );
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// `Strict-Transport-Security` on every response, when `hsts` is on (a
/// `map_response_with_state` layer; the state says whether).
pub async fn hsts(State(on): State<bool>, mut response: Response) -> Response {
    if on {
        response.headers_mut().insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}
