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
//!   (with native TLS, or behind a TLS terminator that forwards to tessera).
//!
//! The standalone server applies [`with_security_headers`] as its outermost HTTP layer
//! (see `http::serving_stack`), so answers made outside the routes (the time limit's 408,
//! the panic handler's 500) carry the headers too; the connection-cap refusal, written
//! before HTTP is spoken, takes them from [`refusal`].

use axum::Router;
use axum::extract::State;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, PRAGMA, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware;
use axum::response::Response;

/// Nothing to load, run or frame: tessera's answers are data, never documents.
const CSP: &str = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'";
/// One year, subdomains included (the value HSTS preload lists ask for, without `preload`,
/// which is the operator's decision).
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// For the routes that answer with tokens or with what a token grants (a `map_response`
/// layer).
pub async fn no_store(mut response: Response) -> Response {
    insert_no_store(response.headers_mut());
    response
}

/// `Cache-Control: no-store` and `Pragma: no-cache`: for a handler or an error answer that
/// sets them itself (a `no_store` layer costs a boxed service level on every request).
pub fn insert_no_store(headers: &mut HeaderMap) {
    // Room for these and the serving layer's five at once: the map grows once, early,
    // instead of rehashing every header when the last ones arrive.
    headers.reserve(7);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

/// `router` with the security headers on every response it gives (HSTS when `hsts`).
pub fn with_security_headers(router: Router, hsts: bool) -> Router {
    router.layer(middleware::map_response_with_state(hsts, security_headers))
}

async fn security_headers(State(hsts): State<bool>, mut response: Response) -> Response {
    insert_security_headers(response.headers_mut(), hsts);
    response
}

pub(super) fn insert_security_headers(headers: &mut HeaderMap, hsts: bool) {
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // A page sets its own policy and referrer rule (the hosted pages under `ui`, the
    // recovery pages); anything else gets the API's, which allows nothing.
    headers
        .entry(CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    headers
        .entry(REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    if hsts {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
}

/// What a connection refused by a connection cap reads before it is closed: a complete
/// `503 overloaded` answer, with the same security headers as every other answer.
pub fn refusal(hsts: bool) -> Vec<u8> {
    const BODY: &str = r#"{"message":"Too many connections; retry shortly","error":"overloaded"}"#;
    let mut head = String::from(
        "HTTP/1.1 503 Service Unavailable\r\n\
         content-type: application/json\r\n\
         retry-after: 1\r\n\
         cache-control: no-store\r\n\
         connection: close\r\n",
    );
    let mut headers = HeaderMap::new();
    insert_security_headers(&mut headers, hsts);
    for (name, value) in &headers {
        // Static ASCII values: `to_str` cannot fail on them.
        head.push_str(&format!(
            "{name}: {}\r\n",
            value.to_str().unwrap_or_default()
        ));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n{BODY}", BODY.len()));
    head.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_response_with_the_security_headers() {
        for hsts in [false, true] {
            let bytes = refusal(hsts);
            let text = String::from_utf8_lossy(&bytes);
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
            assert!(head.contains(&format!("content-length: {}", body.len())));
            assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
            assert!(head.contains("x-content-type-options: nosniff"));
            assert!(head.contains(&format!("content-security-policy: {CSP}")));
            assert!(head.contains("referrer-policy: no-referrer"));
            assert_eq!(head.contains(HSTS), hsts);
        }
    }
}
