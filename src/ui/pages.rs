//! Sign in (and its second-factor step), sign up and sign out.

use axum::extract::Query;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::forms::{self, PageForm};
use super::render::{PageCtx, View};
use super::return_to;
use crate::domain::LogoutScope;
use crate::http::{cookies, csrf};
use crate::service::{AuthError, Credentials, LoginOutcome, MfaProof, Transport};
use crate::tokens::AccessClaims;

#[derive(Deserialize, Default)]
pub(crate) struct PageQuery {
    #[serde(default)]
    return_to: Option<String>,
    #[serde(default)]
    pub(crate) done: Option<String>,
    #[serde(default)]
    method: Option<String>,
}

/// `303 See Other` to `location`, with `headers` (cookies) added.
pub(crate) fn see_other(location: &str, headers: HeaderMap) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response.headers_mut().extend(headers);
    response
}

/// The signed-in page session of the request: a valid access token in the access cookie
/// (or just renewed), opened for the cookie transport (so it has a CSRF value).
pub(crate) fn signed_in(ctx: &PageCtx) -> Option<AccessClaims> {
    // A session renewed for this request (`super::session`) has its token here; the
    // browser gets it with this page's answer.
    let token = match &ctx.renewed {
        Some(token) => token.clone(),
        None => cookies::read(
            &ctx.headers,
            &ctx.tessera.config().cookies,
            cookies::Kind::Access,
        )?,
    };
    let claims = ctx.tessera.verify_access_token(&token).ok()?.claims;
    claims
        .csrf
        .is_some()
        .then(|| std::sync::Arc::unwrap_or_clone(claims))
}

/// Where sign-in goes: `return_to` when its origin is allowed, else the account page.
fn destination(ctx: &PageCtx, raw: Option<&str>) -> String {
    raw.and_then(|r| return_to::allowed(r, &ctx.ui.config.allowed_return_origins))
        .unwrap_or_else(|| ctx.ui.path("/account"))
}

/// The refusal of a form whose CSRF proof failed (audited; nothing was done).
pub(crate) fn csrf_refused(ctx: &PageCtx, sid: Option<&str>) -> Response {
    ctx.tessera.audit_refused_csrf(sid, &ctx.client);
    let (token, cookie) = forms::pre_session_token(&ctx.tessera, &ctx.headers);
    View::new("message.html", "error", token)
        .status(StatusCode::FORBIDDEN)
        .cookie(cookie)
        .extra(minijinja::context! {
            heading => ctx.text("error", "title"),
            text => ctx.text("error", "csrf"),
        })
        .render(ctx)
}

/// A pre-session form's checks: the request's site, then the signed double submit.
// The refusal is the page to answer with; it is returned at once, never carried far.
#[allow(clippy::result_large_err)]
pub(crate) fn pre_session_checked(ctx: &PageCtx, form: &PageForm) -> Result<(), Response> {
    let site = csrf::check_request_site(&ctx.headers, ctx.tessera.config()).is_ok();
    if site && forms::pre_session_ok(&ctx.tessera, &ctx.headers, form) {
        Ok(())
    } else {
        Err(csrf_refused(ctx, None))
    }
}

fn notice(ctx: &PageCtx, done: Option<&str>) -> Option<String> {
    done.and_then(|key| ctx.t()["done"][key].as_str())
        .map(str::to_owned)
}

/// `GET {prefix}/`: the account page (or sign-in).
pub(crate) async fn home(ctx: PageCtx) -> Response {
    see_other(&ctx.ui.path("/account"), HeaderMap::new())
}

fn login_view(ctx: &PageCtx, return_to: &str, username: &str) -> View {
    let (token, cookie) = forms::pre_session_token(&ctx.tessera, &ctx.headers);
    View::new("login.html", "login", token)
        .cookie(cookie)
        .value("username", username)
        .extra(minijinja::context! { return_to => return_to })
}

/// `GET {prefix}/login`: the form; a browser already signed in goes straight on.
pub(crate) async fn show_login(ctx: PageCtx, Query(q): Query<PageQuery>) -> Response {
    if signed_in(&ctx).is_some() {
        return see_other(&destination(&ctx, q.return_to.as_deref()), HeaderMap::new());
    }
    let return_to = q.return_to.unwrap_or_default();
    let done = notice(&ctx, q.done.as_deref());
    login_view(&ctx, &return_to, "").notice(done).render(&ctx)
}

/// The answer to a completed sign-in: the session's cookies and the way on.
fn signed_in_answer(ctx: &PageCtx, outcome: LoginOutcome, return_to: &str) -> Response {
    let mut headers = HeaderMap::new();
    cookies::set_session(&mut headers, ctx.tessera.config(), &outcome.session);
    cookies::set_device_token(
        &mut headers,
        ctx.tessera.config(),
        outcome.device_token.as_ref(),
    );
    if let Some(clear) = forms::clear_mfa_token(&ctx.tessera) {
        headers.append(SET_COOKIE, clear);
    }
    see_other(&destination(ctx, Some(return_to)), headers)
}

/// `POST {prefix}/login`: the password; then the account page, the return URL, or the
/// second-factor step. Every refusal reads as the API's (one message for an unknown name
/// and a wrong password).
pub(crate) async fn submit_login(ctx: PageCtx, form: PageForm) -> Response {
    if let Err(refused) = pre_session_checked(&ctx, &form) {
        return refused;
    }
    let (username, password) = (form.get("username"), form.get("password"));
    let return_to = form.get("return_to");
    let result = if username.is_empty() || password.is_empty() {
        Err(AuthError::MissingFields)
    } else {
        let credentials = Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
            // The device cookie of an earlier sign-in in this browser (see `cookies`).
            device_token: cookies::read_device_token(&ctx.headers, &ctx.tessera.config().cookies),
        };
        ctx.tessera
            .login(credentials, ctx.client.clone(), Transport::Cookie)
            .await
    };
    match result {
        Ok(outcome) => signed_in_answer(&ctx, outcome, return_to),
        Err(AuthError::MfaRequired(token)) => {
            let mut headers = HeaderMap::new();
            if let Some(cookie) = forms::set_mfa_token(&ctx.tessera, token.expose()) {
                headers.append(SET_COOKIE, cookie);
            }
            let mut next = ctx.ui.path("/login/mfa");
            if !return_to.is_empty() {
                next.push_str(&format!(
                    "?return_to={}",
                    super::render::urlencode(return_to)
                ));
            }
            see_other(&next, headers)
        }
        Err(e) => {
            let (status, text) = ctx.failure(e);
            login_view(&ctx, return_to, username)
                .status(status)
                .error(None, text)
                .render(&ctx)
        }
    }
}

fn mfa_view(ctx: &PageCtx, return_to: &str, recovery: bool) -> View {
    let (token, cookie) = forms::pre_session_token(&ctx.tessera, &ctx.headers);
    View::new("mfa.html", "mfa", token)
        .cookie(cookie)
        .extra(minijinja::context! { return_to => return_to, recovery => recovery })
}

/// `GET {prefix}/login/mfa`: the code form (`?method=recovery`: the recovery-code form).
pub(crate) async fn show_mfa(ctx: PageCtx, Query(q): Query<PageQuery>) -> Response {
    if forms::mfa_token(&ctx.tessera, &ctx.headers).is_none() {
        return see_other(&ctx.ui.path("/login"), HeaderMap::new());
    }
    let recovery = q.method.as_deref() == Some("recovery");
    mfa_view(&ctx, &q.return_to.unwrap_or_default(), recovery).render(&ctx)
}

/// `POST {prefix}/login/mfa`: completes the sign-in with a code or a recovery code.
pub(crate) async fn submit_mfa(ctx: PageCtx, form: PageForm) -> Response {
    if let Err(refused) = pre_session_checked(&ctx, &form) {
        return refused;
    }
    let return_to = form.get("return_to");
    let recovery = form.get("method") == "recovery";
    let Some(token) = forms::mfa_token(&ctx.tessera, &ctx.headers) else {
        return expired_mfa(&ctx, return_to);
    };
    let (field, proof) = if recovery {
        let code = form.get("recovery_code").trim().to_owned();
        ("recovery_code", MfaProof::RecoveryCode(code))
    } else {
        ("code", MfaProof::Code(form.get("code").trim().to_owned()))
    };
    match ctx
        .tessera
        .complete_mfa_login(&token, proof, ctx.client.clone(), Transport::Cookie)
        .await
    {
        Ok(outcome) => signed_in_answer(&ctx, outcome, return_to),
        Err(AuthError::InvalidMfaToken) => expired_mfa(&ctx, return_to),
        Err(e) => {
            let (status, text) = ctx.failure(e);
            mfa_view(&ctx, return_to, recovery)
                .status(status)
                .error(Some(field), text)
                .render(&ctx)
        }
    }
}

/// The second step is over (expired, used up): back to the password, saying why.
fn expired_mfa(ctx: &PageCtx, return_to: &str) -> Response {
    login_view(ctx, return_to, "")
        .status(StatusCode::UNAUTHORIZED)
        .error(None, ctx.error_text(&AuthError::InvalidMfaToken))
        .cookie(forms::clear_mfa_token(&ctx.tessera))
        .render(ctx)
}

fn register_view(ctx: &PageCtx, return_to: &str, username: &str) -> View {
    let (token, cookie) = forms::pre_session_token(&ctx.tessera, &ctx.headers);
    View::new("register.html", "register", token)
        .cookie(cookie)
        .value("username", username)
        .extra(minijinja::context! { return_to => return_to })
}

fn registration_closed(ctx: &PageCtx) -> Response {
    View::new("message.html", "closed", String::new())
        .status(StatusCode::FORBIDDEN)
        .extra(minijinja::context! {
            heading => ctx.text("register", "title"),
            text => ctx.text("register", "closed"),
        })
        .render(ctx)
}

/// `GET {prefix}/register`: the form, or "closed" when `registration_enabled` is off.
pub(crate) async fn show_register(ctx: PageCtx, Query(q): Query<PageQuery>) -> Response {
    if !ctx.tessera.config().registration_enabled {
        return registration_closed(&ctx);
    }
    register_view(&ctx, &q.return_to.unwrap_or_default(), "").render(&ctx)
}

/// `POST {prefix}/register`: creates the account, then on to sign-in.
pub(crate) async fn submit_register(ctx: PageCtx, form: PageForm) -> Response {
    if let Err(refused) = pre_session_checked(&ctx, &form) {
        return refused;
    }
    let (username, password) = (form.get("username"), form.get("password"));
    let return_to = form.get("return_to");
    let result = if username.is_empty() || password.is_empty() {
        Err(AuthError::MissingFields)
    } else {
        let credentials = Credentials::new(username.to_owned(), password.to_owned());
        ctx.tessera.register(credentials, &ctx.client).await
    };
    match result {
        Ok(_) => {
            let mut next = ctx.ui.path("/login?done=registered");
            if !return_to.is_empty() {
                next.push_str(&format!(
                    "&return_to={}",
                    super::render::urlencode(return_to)
                ));
            }
            see_other(&next, HeaderMap::new())
        }
        Err(AuthError::RegistrationClosed) => registration_closed(&ctx),
        Err(e) => {
            let field = match &e {
                AuthError::InvalidUsername(_) | AuthError::UsernameTaken => Some("username"),
                AuthError::InvalidPassword(_) => Some("password"),
                _ => None,
            };
            let (status, text) = ctx.failure(e);
            register_view(&ctx, return_to, username)
                .status(status)
                .error(field, text)
                .render(&ctx)
        }
    }
}

/// `POST {prefix}/logout`: ends this session, clears its cookies, back to sign-in.
pub(crate) async fn submit_logout(ctx: PageCtx, form: PageForm) -> Response {
    if csrf::check_request_site(&ctx.headers, ctx.tessera.config()).is_err() {
        return csrf_refused(&ctx, None);
    }
    let Some(claims) = signed_in(&ctx) else {
        return see_other(&ctx.ui.path("/login"), HeaderMap::new());
    };
    if !forms::session_ok(&claims, &form) {
        return csrf_refused(&ctx, claims.sid.as_deref());
    }
    let mut headers = HeaderMap::new();
    match ctx
        .tessera
        .logout(&claims, LogoutScope::Local, None, &ctx.client)
        .await
    {
        Ok(_) | Err(AuthError::SessionEnded) => {}
        Err(e) => {
            let (status, text) = ctx.failure(e);
            return View::new("message.html", "error", String::new())
                .status(status)
                .extra(minijinja::context! {
                    heading => ctx.text("error", "title"),
                    text => text,
                })
                .render(&ctx);
        }
    }
    cookies::clear_session(&mut headers, &ctx.tessera.config().cookies);
    see_other(&ctx.ui.path("/login?done=signed_out"), headers)
}
