//! Security headers set on responses.
//!
//! - Token responses (`/login`, `/refresh`, and any future route that hands out a token)
//!   are never stored by a browser or proxy cache: `Cache-Control: no-store` and
//!   `Pragma: no-cache` (RFC 6749 §5.1). Their failures get the same headers, so a cache
//!   never holds any answer of a token endpoint.
//! - Every response carries `X-Content-Type-Options: nosniff`, so a browser never
//!   reinterprets a JSON body (which may echo user input) as HTML or script.

use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, PRAGMA, X_CONTENT_TYPE_OPTIONS};
use axum::response::Response;

/// For the routes that answer with tokens (a `map_response` layer).
pub async fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// For every response (a `map_response` layer).
pub async fn nosniff(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
