//! A signed-in page outlives its access token: when the access cookie is missing or no
//! longer valid but the refresh cookie is there, the session is rotated before the page
//! runs — through `Tessera::refresh`, the API's own rotation, so its grace window, reuse
//! detection (a rotated token presented again ends the session), rate limit and audit
//! line all hold — and the new cookies go out with the page's answer.
//!
//! The refresh cookie reaches the pages because `ui.prefix` is one of its paths (added at
//! start-up, see `Config::add_page_refresh_path`). Rotation is a state change, so it runs
//! only for requests this site could have made: those passing the cookie transport's
//! Fetch-Metadata/Origin check, or a top-level navigation (`Sec-Fetch-Mode: navigate`,
//! `Sec-Fetch-Dest: document`), whose answer's cookies the browser always keeps. A
//! cross-site subrequest never rotates, so no other site can make the browser lose the
//! successor of its refresh token (and then trip reuse detection with the old one).
//!
//! As `/refresh` by cookie does, rotation also needs the session's refresh CSRF value, read
//! here from the `csrf_refresh_token` cookie (`__Host-` by default): a refresh cookie
//! planted by a sibling subdomain (which can set a `__Secure-` cookie but not a `__Host-`
//! one) does not match the browser's own value, so it cannot sign the browser into
//! another account.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;

use crate::http::extract::Client;
use crate::http::{cookies, csrf};
use crate::service::{AuthError, Tessera, Transport};

/// The access token of the session renewed for this request (a request extension read
/// by `PageCtx`, so the page sees the caller signed in).
#[derive(Clone)]
pub(crate) struct Renewed(pub String);

/// The middleware of the signed-in pages (not the stylesheets).
pub(crate) async fn renew_session(
    State(tessera): State<Tessera>,
    request: Request,
    next: Next,
) -> Response {
    let config = tessera.config();
    let headers = request.headers();
    let access_valid = cookies::read(headers, &config.cookies, cookies::Kind::Access)
        .is_some_and(|token| tessera.verify_access_token(&token).is_ok());
    let refresh = match cookies::read(headers, &config.cookies, cookies::Kind::Refresh) {
        Some(token) if !access_valid && may_rotate(request.method(), headers, &tessera) => token,
        _ => return next.run(request).await,
    };
    let csrf = cookies::read(headers, &config.cookies, cookies::Kind::CsrfRefresh);
    let (mut parts, body) = request.into_parts();
    let Ok(Client(client)) = Client::from_request_parts(&mut parts, &tessera).await;
    let mut request = Request::from_parts(parts, body);
    if !csrf.is_some_and(|csrf| tessera.refresh_csrf_matches(&refresh, &csrf)) {
        tessera.audit_refused_csrf(None, &client);
        return next.run(request).await;
    }
    let mut set = HeaderMap::new();
    match tessera.refresh(&refresh, &client, Transport::Cookie).await {
        Ok(outcome) => {
            cookies::set_session(&mut set, config, &outcome.session);
            request
                .extensions_mut()
                .insert(Renewed(outcome.session.access_token));
        }
        // The session is over (rotated token reused, ended, account disabled, not ours):
        // the browser forgets its cookies, and the page sees no session.
        Err(
            AuthError::InvalidRefreshToken
            | AuthError::RefreshTokenReused
            | AuthError::SessionEnded
            | AuthError::AccountDisabled,
        ) => cookies::clear_session(&mut set, &config.cookies),
        // Anything else (database down, rate limited) may pass: keep the cookies for the
        // next page, which tries again.
        Err(_) => {}
    }
    let mut response = next.run(request).await;
    // The renewal's cookies go first, so the page's own (a sign-out clearing them, a
    // reset) come after them and win.
    let headers = response.headers_mut();
    let own: Vec<_> = headers.get_all(SET_COOKIE).iter().cloned().collect();
    headers.remove(SET_COOKIE);
    for value in set.get_all(SET_COOKIE).iter().chain(own.iter()) {
        headers.append(SET_COOKIE, value.clone());
    }
    response
}

/// Whether this request may rotate the session (see the module's note).
fn may_rotate(method: &Method, headers: &HeaderMap, tessera: &Tessera) -> bool {
    if csrf::check_request_site(headers, tessera.config()).is_ok() {
        return true;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    (method == Method::GET || method == Method::HEAD)
        && header("sec-fetch-mode") == Some("navigate")
        && header("sec-fetch-dest") == Some("document")
}
