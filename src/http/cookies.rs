//! The cookie transport: Flask-JWT-Extended's four cookies, set at login and refresh,
//! cleared at logout and account deletion, and read back from requests.
//!
//! | cookie                 | holds                        | HttpOnly | Path                 | Max-Age          |
//! |------------------------|------------------------------|----------|----------------------|------------------|
//! | `access_token_cookie`  | the access token             | yes      | `cookies.access_path`| none (session)   |
//! | `refresh_token_cookie` | the refresh token            | yes      | each of `cookies.refresh_paths` | session lifetime |
//! | `csrf_access_token`    | the access token's `csrf`    | no       | `cookies.access_path`| as the access one |
//! | `csrf_refresh_token`   | the refresh token's CSRF value | no     | `cookies.access_path`| as the refresh one |
//!
//! Beside them, the device cookie `device_token` (HttpOnly, `Path=/`, never a `Domain`,
//! `Max-Age` = `device_tokens.ttl_secs`): the device token of OWASP's device-cookie scheme
//! (see `service::device`), set at every sign-in by cookie and read back at the next. A
//! logout leaves it: it names the device, not a session.
//!
//! With `Secure` on and `cookies.name_prefix` (both the default), names get the prefix
//! browsers enforce: `__Host-` where the cookie has `Path=/` and no `Domain` (it can then
//! be neither set by a sibling subdomain nor scoped elsewhere), `__Secure-` otherwise (the
//! refresh cookie, kept to the refresh and logout paths).

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use cookie::Cookie;

use crate::config::{Config, CookiesConfig, SameSite};
use crate::secret::Secret;
use crate::service::IssuedSession;

/// One of the four cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `access_token_cookie`.
    Access,
    /// `refresh_token_cookie`.
    Refresh,
    /// `csrf_access_token`.
    CsrfAccess,
    /// `csrf_refresh_token`.
    CsrfRefresh,
}

/// Each cookie's name without a prefix, with `__Host-`, and with `__Secure-`: names are
/// `&'static str`, so reading a cookie allocates nothing to find it.
const NAMES: [[&str; 3]; 4] = [
    [
        "access_token_cookie",
        "__Host-access_token_cookie",
        "__Secure-access_token_cookie",
    ],
    [
        "refresh_token_cookie",
        "__Host-refresh_token_cookie",
        "__Secure-refresh_token_cookie",
    ],
    [
        "csrf_access_token",
        "__Host-csrf_access_token",
        "__Secure-csrf_access_token",
    ],
    [
        "csrf_refresh_token",
        "__Host-csrf_refresh_token",
        "__Secure-csrf_refresh_token",
    ],
];

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Access,
        Kind::Refresh,
        Kind::CsrfAccess,
        Kind::CsrfRefresh,
    ];

    /// The cookie's name under `config` (see the module's table for the prefixes).
    pub fn name(self, config: &CookiesConfig) -> &'static str {
        let names = &NAMES[self as usize];
        if !(config.secure && config.name_prefix) {
            return names[0];
        }
        let at_root = self.paths(config).iter().all(|path| path == "/");
        if config.domain.is_none() && at_root {
            names[1]
        } else {
            names[2]
        }
    }

    fn paths(self, config: &CookiesConfig) -> &[String] {
        match self {
            Kind::Refresh => &config.refresh_paths,
            _ => std::slice::from_ref(&config.access_path),
        }
    }

    fn http_only(self) -> bool {
        matches!(self, Kind::Access | Kind::Refresh)
    }

    /// `Max-Age`: the access pair's is configurable (default: none, a session cookie);
    /// the refresh pair lives as long as a session can.
    fn max_age(self, config: &CookiesConfig, session_ttl_secs: u64) -> Option<u64> {
        match self {
            Kind::Access | Kind::CsrfAccess => config.access_max_age_secs,
            Kind::Refresh | Kind::CsrfRefresh => Some(session_ttl_secs),
        }
    }
}

/// The value of cookie `kind` in the request, if it is there and not empty.
pub fn read(headers: &HeaderMap, config: &CookiesConfig, kind: Kind) -> Option<String> {
    read_named(headers, kind.name(config))
}

fn read_named(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` headers handing a session's tokens to the browser (nothing for a session
/// issued for the body transport, which has no CSRF values).
pub fn set_session(headers: &mut HeaderMap, config: &Config, session: &IssuedSession) {
    let Some(csrf) = &session.csrf else {
        return;
    };
    let values = [
        (Kind::Access, session.access_token.as_str()),
        (Kind::Refresh, session.refresh_token.as_str()),
        (Kind::CsrfAccess, csrf.access.as_str()),
        (Kind::CsrfRefresh, csrf.refresh.as_str()),
    ];
    for (kind, value) in values {
        let max_age = kind.max_age(&config.cookies, config.session_ttl_secs);
        append(headers, &config.cookies, kind, value, max_age);
    }
}

/// The device cookie's name: `__Host-device_token` with `Secure` and `cookies.name_prefix`
/// (it always has `Path=/` and no `Domain`), else `device_token`.
pub fn device_cookie_name(config: &CookiesConfig) -> &'static str {
    if config.secure && config.name_prefix {
        "__Host-device_token"
    } else {
        "device_token"
    }
}

/// The device token in the request's device cookie, if there is one.
pub fn read_device_token(headers: &HeaderMap, config: &CookiesConfig) -> Option<String> {
    read_named(headers, device_cookie_name(config))
}

/// A `Set-Cookie` header handing a new device token to the browser (nothing without one).
pub fn set_device_token(headers: &mut HeaderMap, config: &Config, token: Option<&Secret>) {
    let Some(token) = token else {
        return;
    };
    let secs = i64::try_from(config.device_tokens.ttl_secs).unwrap_or(i64::MAX);
    let cookie = Cookie::build((device_cookie_name(&config.cookies), token.expose()))
        .path("/")
        .secure(config.cookies.secure)
        .http_only(true)
        .same_site(same_site(config.cookies.same_site))
        .max_age(cookie::time::Duration::seconds(secs));
    // Device tokens are base64url: the header value is always valid.
    match HeaderValue::from_str(&cookie.build().to_string()) {
        Ok(value) => {
            headers.append(SET_COOKIE, value);
        }
        Err(_) => tracing::error!("device cookie value not a header"),
    }
}

fn same_site(value: SameSite) -> cookie::SameSite {
    match value {
        SameSite::Lax => cookie::SameSite::Lax,
        SameSite::Strict => cookie::SameSite::Strict,
        SameSite::None => cookie::SameSite::None,
    }
}

/// `Set-Cookie` headers removing all four cookies (same names, paths and domain; empty,
/// `Max-Age=0`).
pub fn clear_session(headers: &mut HeaderMap, config: &CookiesConfig) {
    for kind in Kind::ALL {
        append(headers, config, kind, "", Some(0));
    }
}

fn append(
    headers: &mut HeaderMap,
    config: &CookiesConfig,
    kind: Kind,
    value: &str,
    max_age_secs: Option<u64>,
) {
    for path in kind.paths(config) {
        let mut cookie = Cookie::build((kind.name(config), value))
            .path(path.as_str())
            .secure(config.secure)
            .http_only(kind.http_only())
            .same_site(same_site(config.same_site));
        if let Some(domain) = &config.domain {
            cookie = cookie.domain(domain.as_str());
        }
        if let Some(secs) = max_age_secs {
            let secs = i64::try_from(secs).unwrap_or(i64::MAX);
            cookie = cookie.max_age(cookie::time::Duration::seconds(secs));
        }
        // Tokens are base64url and JWTs, paths and domain are checked printable ASCII at
        // start-up: the header value is always valid. A failure would drop the cookie,
        // never send a malformed header.
        match HeaderValue::from_str(&cookie.build().to_string()) {
            Ok(value) => {
                headers.append(SET_COOKIE, value);
            }
            Err(_) => tracing::error!(cookie = kind.name(config), "cookie value not a header"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_secure_domain_and_path() {
        let default = CookiesConfig::default();
        assert_eq!(Kind::Access.name(&default), "__Host-access_token_cookie");
        assert_eq!(
            Kind::CsrfRefresh.name(&default),
            "__Host-csrf_refresh_token"
        );
        // Kept to the refresh and logout paths, so `__Host-` (which needs `Path=/`) cannot be.
        assert_eq!(
            Kind::Refresh.name(&default),
            "__Secure-refresh_token_cookie"
        );
        let flask = CookiesConfig {
            name_prefix: false,
            ..CookiesConfig::default()
        };
        assert_eq!(Kind::Access.name(&flask), "access_token_cookie");
        let with_domain = CookiesConfig {
            domain: Some("example.com".into()),
            ..CookiesConfig::default()
        };
        assert_eq!(
            Kind::CsrfAccess.name(&with_domain),
            "__Secure-csrf_access_token"
        );
        let insecure = CookiesConfig {
            secure: false,
            ..CookiesConfig::default()
        };
        assert_eq!(Kind::Refresh.name(&insecure), "refresh_token_cookie");
    }

    #[test]
    fn a_cookie_is_read_by_its_configured_name_only() {
        let config = CookiesConfig::default();
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static(
                "access_token_cookie=plain; __Host-access_token_cookie=tok; x=1",
            ),
        );
        assert_eq!(
            read(&headers, &config, Kind::Access).as_deref(),
            Some("tok")
        );
        assert_eq!(read(&headers, &config, Kind::Refresh), None);
        headers.insert(
            COOKIE,
            HeaderValue::from_static("__Host-access_token_cookie="),
        );
        assert_eq!(read(&headers, &config, Kind::Access), None);
    }
}
