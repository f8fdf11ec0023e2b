//! Settings for browser apps: the cookie transport (`[cookies]`) and CORS (`[cors]`).
//!
//! Nothing here is needed to use cookies: a client asks for them per request with
//! `"transport": "cookie"`, and the defaults are the safe ones. What cannot be configured
//! is as important: there is no setting that turns CSRF protection off for a request
//! authenticated by a cookie.

use serde::{Deserialize, Serialize};

/// How tokens are set as cookies (`[cookies]` in TOML, `TESSERA_COOKIES__…`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct CookiesConfig {
    /// `Secure` on every cookie. `false` only for development on `http://localhost`:
    /// it needs a loopback `listen` address and is logged as a warning.
    pub secure: bool,
    /// `SameSite` of every cookie: `lax` (default), `strict` or `none` (needs `secure`).
    pub same_site: SameSite,
    /// `Domain` of every cookie; none (default) keeps them to this host exactly.
    pub domain: Option<String>,
    /// Name the cookies `__Host-…` (or `__Secure-…` where a path or domain forbids
    /// `__Host-`) when `secure` is on. `false` keeps Flask-JWT-Extended's exact names, for
    /// a fleet where a Flask app reads the same cookies.
    pub name_prefix: bool,
    /// `Path` of the access-token cookie and both CSRF cookies.
    pub access_path: String,
    /// The paths the refresh-token cookie is sent to (one cookie per path, all set and
    /// cleared together): the refresh and logout routes, at the root and under `/api`.
    /// With the hosted pages on, `ui.prefix` is added at start-up
    /// (`Config::add_page_refresh_path`), so a page can renew its session.
    pub refresh_paths: Vec<String>,
    /// `Max-Age` of the access-token cookie; none (default): a session cookie, gone when
    /// the browser closes (the refresh cookie then opens a new access token).
    pub access_max_age_secs: Option<u64>,
    /// Accept cookie-authenticated writes whose `Sec-Fetch-Site` is `same-site` (a sibling
    /// subdomain) from any origin; without it only the origins in `cors.allowed_origins`
    /// may send them. `cross-site` is always refused.
    pub allow_same_site_requests: bool,
}

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SameSite {
    /// Sent on top-level navigations from other sites, never on their subrequests.
    Lax,
    /// Never sent on requests that another site starts.
    Strict,
    /// Sent everywhere (cross-site apps; requires `Secure`).
    None,
}

impl Default for CookiesConfig {
    fn default() -> Self {
        Self {
            secure: true,
            same_site: SameSite::Lax,
            domain: None,
            name_prefix: true,
            access_path: "/".into(),
            refresh_paths: ["/refresh", "/logout", "/api/refresh", "/api/logout"]
                .map(String::from)
                .to_vec(),
            access_max_age_secs: None,
            allow_same_site_requests: false,
        }
    }
}

/// Cross-origin requests (`[cors]` in TOML, `TESSERA_CORS__…`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins (`https://app.example.com`, scheme, host and port; no path, no
    /// wildcard) allowed to call tessera with credentials. Empty (default): no CORS headers
    /// at all, so browsers allow only same-origin calls.
    pub allowed_origins: Vec<String>,
}

impl CookiesConfig {
    pub(super) fn validate(&self, listen: std::net::SocketAddr) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.secure || listen.ip().is_loopback(),
            "cookies.secure = false is for development on http://localhost only: it needs a \
             loopback listen address (127.0.0.1 or ::1), not {listen}"
        );
        anyhow::ensure!(
            self.secure || self.same_site != SameSite::None,
            "cookies.same_site = \"none\" needs cookies.secure = true (browsers refuse it)"
        );
        anyhow::ensure!(
            self.access_path.starts_with('/'),
            "cookies.access_path must start with /"
        );
        anyhow::ensure!(
            !self.refresh_paths.is_empty() && self.refresh_paths.iter().all(|p| p.starts_with('/')),
            "cookies.refresh_paths must list at least one path, each starting with /"
        );
        for value in std::iter::once(&self.access_path)
            .chain(&self.refresh_paths)
            .chain(&self.domain)
        {
            anyhow::ensure!(
                value
                    .chars()
                    .all(|c| c.is_ascii_graphic() && c != ';' && c != ','),
                "cookie paths and domain must be printable ASCII without ';' or ',': {value:?}"
            );
        }
        Ok(())
    }
}

impl CorsConfig {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        for origin in &self.allowed_origins {
            anyhow::ensure!(
                is_exact_origin(origin),
                "cors.allowed_origins must list exact origins such as https://app.example.com \
                 (scheme and host, optional port, no path, no wildcard): {origin:?}"
            );
        }
        Ok(())
    }
}

/// `scheme://host[:port]` and nothing else: no wildcard, path, query, userinfo or `null`.
/// The test is that the URL parser's serialisation of the origin gives back the same text.
pub(super) fn is_exact_origin(origin: &str) -> bool {
    match url::Url::parse(origin) {
        // The URL standard allows `*` in a host name; as an origin it would read as a
        // wildcard, which it is not (and credentials forbid wildcards anyway).
        Ok(url) if matches!(url.scheme(), "http" | "https") && !origin.contains('*') => {
            url.origin().ascii_serialization() == origin
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_origins_are_accepted() {
        for good in [
            "https://app.example.com",
            "http://localhost:5173",
            "https://[::1]:8443",
            "https://[::1]",
        ] {
            assert!(is_exact_origin(good), "{good}");
        }
        for bad in [
            "*",
            "https://*.example.com",
            "null",
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://user@app.example.com",
            "ftp://app.example.com",
            "https://",
            "https://app.example.com:",
            "https://app.example.com:80x",
            "HTTPS://APP.example.com",
        ] {
            assert!(!is_exact_origin(bad), "{bad}");
        }
    }

    #[test]
    fn insecure_cookies_need_a_loopback_listener() {
        let insecure = CookiesConfig {
            secure: false,
            ..CookiesConfig::default()
        };
        assert!(insecure.validate(([127, 0, 0, 1], 8080).into()).is_ok());
        assert!(insecure.validate(([0, 0, 0, 0], 8080).into()).is_err());
        assert!(
            CookiesConfig::default()
                .validate(([0, 0, 0, 0], 8080).into())
                .is_ok()
        );
    }
}
