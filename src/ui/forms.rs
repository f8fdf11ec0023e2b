//! Form posts: the body (`application/x-www-form-urlencoded`), and the CSRF proofs every
//! form carries.
//!
//! - Signed in, a form's `csrf` field must equal the session's CSRF value (the access
//!   token's `csrf` claim, the same value the cookie transport's `csrf_access_token`
//!   holds): a synchroniser token bound to the session.
//! - Before a session exists (sign in, sign up, the second-factor step), a signed double
//!   submit: a `__Host-` cookie holds `nonce.mac`, the form repeats it, and the MAC (under
//!   the server's refresh key) proves the server made it, so a sibling subdomain that can
//!   plant cookies still cannot mint one.
//!
//! Both come after the Fetch-Metadata/Origin check of the cookie transport.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::{CONTENT_TYPE, COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use subtle::ConstantTimeEq;

use crate::config::CookiesConfig;
use crate::service::Tessera;
use crate::tokens::AccessClaims;

/// The pre-session token's cookie (with `__Host-` when the session cookies get prefixes).
const PRE_SESSION_COOKIE: &str = "tessera_ui_csrf";
/// The pending second-factor step's cookie (HttpOnly; holds the `mfa_token`).
const MFA_COOKIE: &str = "tessera_ui_mfa";

/// A posted form's fields (the last value of a repeated name wins). Not a form: empty.
pub(crate) struct PageForm(HashMap<String, String>);

impl<S: Send + Sync> FromRequest<S> for PageForm {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let bytes = match is_form {
            true => Bytes::from_request(req, state).await.unwrap_or_default(),
            false => Bytes::new(),
        };
        Ok(PageForm(
            url::form_urlencoded::parse(&bytes).into_owned().collect(),
        ))
    }
}

impl PageForm {
    /// A field's value ("" when absent).
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }

    /// A field's value, `None` when absent or empty.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

/// A cookie of the request by exact name.
pub(crate) fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

fn cookie_name(config: &CookiesConfig, base: &str) -> String {
    if config.secure && config.name_prefix && config.domain.is_none() {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// A `Set-Cookie` for one of the pages' own cookies: `Path=/` (so `__Host-` holds),
/// HttpOnly, `SameSite=Strict` (a form of another site never carries it).
fn set_cookie(
    config: &CookiesConfig,
    base: &str,
    value: &str,
    max_age: i64,
) -> Option<HeaderValue> {
    let cookie = cookie::Cookie::build((cookie_name(config, base), value))
        .path("/")
        .http_only(true)
        .secure(config.secure)
        .same_site(cookie::SameSite::Strict)
        .max_age(cookie::time::Duration::seconds(max_age));
    HeaderValue::from_str(&cookie.build().to_string()).ok()
}

/// The pre-session form token of a request, or a new one with the cookie that carries it.
pub(crate) fn pre_session_token(
    tessera: &Tessera,
    headers: &HeaderMap,
) -> (String, Option<HeaderValue>) {
    let config = &tessera.config().cookies;
    if let Some(token) = read_cookie(headers, &cookie_name(config, PRE_SESSION_COOKIE))
        && signed(tessera, &token)
    {
        return (token, None);
    }
    let nonce = crate::secret::generate_token_urlsafe();
    let nonce = &nonce[..nonce.len().min(32)];
    let token = format!("{nonce}.{}", tessera.page_csrf_value(nonce));
    // A day: long enough for a form left open, short enough to turn over.
    let cookie = set_cookie(config, PRE_SESSION_COOKIE, &token, 24 * 3600);
    (token, cookie)
}

fn signed(tessera: &Tessera, token: &str) -> bool {
    token
        .split_once('.')
        .is_some_and(|(nonce, mac)| tessera.page_csrf_matches(nonce, mac))
}

/// The double submit: the form's `csrf` equals the cookie's token, which the server signed.
pub(crate) fn pre_session_ok(tessera: &Tessera, headers: &HeaderMap, form: &PageForm) -> bool {
    let config = &tessera.config().cookies;
    let Some(cookie) = read_cookie(headers, &cookie_name(config, PRE_SESSION_COOKIE)) else {
        return false;
    };
    let presented = form.get("csrf");
    !presented.is_empty()
        && bool::from(presented.as_bytes().ct_eq(cookie.as_bytes()))
        && signed(tessera, &cookie)
}

/// The synchroniser check of a signed-in form: `csrf` is the session's value.
pub(crate) fn session_ok(claims: &AccessClaims, form: &PageForm) -> bool {
    let presented = form.get("csrf");
    claims.csrf.as_deref().is_some_and(|expected| {
        !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
    })
}

/// The pending second-factor step's token, if any.
pub(crate) fn mfa_token(tessera: &Tessera, headers: &HeaderMap) -> Option<String> {
    read_cookie(headers, &cookie_name(&tessera.config().cookies, MFA_COOKIE))
}

/// Keeps the `mfa_token` for the second step (five minutes, as the token itself).
pub(crate) fn set_mfa_token(tessera: &Tessera, token: &str) -> Option<HeaderValue> {
    set_cookie(&tessera.config().cookies, MFA_COOKIE, token, 300)
}

/// Forgets the `mfa_token`.
pub(crate) fn clear_mfa_token(tessera: &Tessera) -> Option<HeaderValue> {
    set_cookie(&tessera.config().cookies, MFA_COOKIE, "", 0)
}
