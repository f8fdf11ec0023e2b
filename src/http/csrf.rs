//! CSRF protection for requests authenticated by a cookie. Two layers, both required, and
//! no setting that turns either off:
//!
//! 1. **Where the request comes from.** Browsers say it in `Sec-Fetch-Site`: `cross-site`
//!    is refused; `same-site` (a sibling subdomain) only from an origin listed in
//!    `cors.allowed_origins` or with `cookies.allow_same_site_requests`. Browsers too old
//!    to send it still send `Origin` on cross-origin writes: it must then be this server's
//!    own (its `Host`) or a listed one.
//! 2. **The signed double submit** (Flask-JWT-Extended's): `X-CSRF-TOKEN` must equal the
//!    session's CSRF value, which a page can read from the `csrf_…` cookie only on this
//!    site. The access token carries it as its `csrf` claim; for the refresh token the
//!    server derives it from the session.
//!
//! Requests authenticated by `Authorization: Bearer` are never subject to either: a browser
//! never attaches that header on its own.

use axum::http::{HeaderMap, Method, header};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::config::Config;

/// The header carrying the double-submit value.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Whether a request with this method can change state (and so needs the CSRF checks).
pub fn is_state_changing(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Layer 1: refuses a request that a page of another site (or an unlisted origin) made.
pub fn check_request_site(headers: &HeaderMap, config: &Config) -> Result<(), ApiError> {
    let origin = header_str(headers, header::ORIGIN);
    let listed = |origin: Option<&str>| {
        origin.is_some_and(|o| config.cors.allowed_origins.iter().any(|a| a == o))
    };
    let allowed = match header_str(headers, "sec-fetch-site") {
        // Typed into the address bar, or from this very origin.
        Some("same-origin" | "none") => true,
        Some("same-site") => config.cookies.allow_same_site_requests || listed(origin),
        // `cross-site`, or a value no browser sends.
        Some(_) => false,
        None => match origin {
            // Not a browser's cross-origin request (or a browser that sends neither).
            None => true,
            Some(origin) => listed(Some(origin)) || is_own_origin(origin, headers),
        },
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::CsrfFailed)
    }
}

/// Layer 2: `X-CSRF-TOKEN` equals `expected`, compared in constant time.
pub fn check_double_submit(headers: &HeaderMap, expected: Option<&str>) -> Result<(), ApiError> {
    match (header_str(headers, CSRF_HEADER), expected) {
        (Some(presented), Some(expected)) if !expected.is_empty() => {
            if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
                Ok(())
            } else {
                Err(ApiError::CsrfFailed)
            }
        }
        _ => Err(ApiError::CsrfFailed),
    }
}

/// The presented `X-CSRF-TOKEN`, for checks the service makes (the refresh token's).
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    header_str(headers, CSRF_HEADER)
}

/// `Origin` names this server: its host and port are the request's `Host`. (`null`, sent
/// by sandboxed frames and some redirects, never matches.)
fn is_own_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = header_str(headers, header::HOST) else {
        return false;
    };
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    authority.is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

fn header_str<K: header::AsHeaderName>(headers: &HeaderMap, name: K) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn config(listed: &[&str]) -> Config {
        let mut config = Config::default();
        config.cors.allowed_origins = listed.iter().map(|s| s.to_string()).collect();
        config
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        let c = config(&["https://app.example.com"]);
        let ok = |pairs: &[(&'static str, &'static str)]| {
            check_request_site(&headers(pairs), &c).is_ok()
        };
        assert!(ok(&[("sec-fetch-site", "same-origin")]));
        assert!(!ok(&[("sec-fetch-site", "cross-site")]));
        // A listed origin is still refused when the browser says the page is another site.
        assert!(!ok(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://app.example.com")
        ]));
        assert!(!ok(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "https://x.example.com")
        ]));
        assert!(ok(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "https://app.example.com")
        ]));
        assert!(!ok(&[("sec-fetch-site", "weird")]));
    }

    #[test]
    fn without_fetch_metadata_the_origin_must_be_own_or_listed() {
        let c = config(&["https://app.example.com"]);
        let ok = |pairs: &[(&'static str, &'static str)]| {
            check_request_site(&headers(pairs), &c).is_ok()
        };
        assert!(ok(&[]));
        assert!(ok(&[
            ("origin", "https://auth.example.com"),
            ("host", "auth.example.com")
        ]));
        assert!(ok(&[
            ("origin", "https://app.example.com"),
            ("host", "auth.example.com")
        ]));
        assert!(!ok(&[
            ("origin", "https://evil.example"),
            ("host", "auth.example.com")
        ]));
        assert!(!ok(&[("origin", "null"), ("host", "auth.example.com")]));
        assert!(!ok(&[
            ("origin", "https://auth.example.com.evil"),
            ("host", "auth.example.com")
        ]));
    }

    #[test]
    fn the_double_submit_needs_the_exact_value() {
        let with = headers(&[("x-csrf-token", "abc")]);
        assert!(check_double_submit(&with, Some("abc")).is_ok());
        assert!(check_double_submit(&with, Some("abd")).is_err());
        assert!(check_double_submit(&with, None).is_err());
        assert!(check_double_submit(&headers(&[]), Some("abc")).is_err());
        assert!(check_double_submit(&headers(&[("x-csrf-token", "")]), Some("")).is_err());
    }
}
