//! Forgot password, the reset page a mailed link opens (or where a typed code goes), and
//! the email-verification page a mailed link opens.
//!
//! - Opening a page (`GET` or `HEAD`, any number of times, as mail scanners do) spends
//!   nothing: it shows a form, and only the person's `POST` acts.
//! - The forms are pre-session forms: the Fetch-Metadata/Origin check, then the signed
//!   double submit (`forms::PreSession`), as sign-in.
//! - The rules are the service's (`Tessera::forgot_password`, `reset_password`,
//!   `verify_email`): the forgot page answers the same whatever was typed, a reset applies
//!   the password policy and bounds the guesses.

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::forms::{self, PageForm};
use super::pages::{pre_session_checked, see_other};
use super::render::{PageCtx, View};
use crate::email::templates::Language;
use crate::service::{AuthError, ForgotBy, ResetBy, VerifyBy};

#[derive(Deserialize, Default)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: String,
    #[serde(default)]
    done: Option<String>,
}

/// The language of the messages a page sends: the page's own.
pub(crate) fn mail_language(ctx: &PageCtx) -> Language {
    Language::from_tag(&ctx.lang)
}

/// A page with a pre-session form (and the cookie of its token when new).
fn form_view(ctx: &PageCtx, template: &'static str, page: &'static str) -> View {
    let (token, cookie) = forms::pre_session_token(&ctx.tessera, &ctx.headers);
    View::new(template, page, token).cookie(cookie)
}

/// `GET {prefix}/password/forgot`.
pub(crate) async fn show_forgot(ctx: PageCtx, Query(q): Query<TokenQuery>) -> Response {
    let sent = (q.done.as_deref() == Some("sent")).then(|| ctx.text("forgot", "sent"));
    form_view(&ctx, "forgot.html", "forgot")
        .notice(sent)
        .render(&ctx)
}

/// `POST {prefix}/password/forgot`: the name or the address; then the same page, saying
/// the same thing, whatever was typed (the service looks nothing up before it answers).
pub(crate) async fn submit_forgot(ctx: PageCtx, form: PageForm) -> Response {
    if let Err(refused) = pre_session_checked(&ctx, &form) {
        return refused;
    }
    let (username, email) = (form.get("username").trim(), form.get("email").trim());
    let by = match (username.is_empty(), email.is_empty()) {
        (false, true) => ForgotBy::Username(username.to_owned()),
        (true, false) => ForgotBy::Email(email.to_owned()),
        _ => {
            return form_view(&ctx, "forgot.html", "forgot")
                .status(StatusCode::BAD_REQUEST)
                .value("username", username)
                .value("email", email)
                .error(Some("username"), ctx.text("forgot", "either"))
                .render(&ctx);
        }
    };
    match ctx
        .tessera
        .forgot_password(by, mail_language(&ctx), ctx.client.clone())
    {
        Ok(()) => see_other(&ctx.ui.path("/password/forgot?done=sent"), HeaderMap::new()),
        Err(e) => {
            let (status, text) = ctx.failure(e);
            form_view(&ctx, "forgot.html", "forgot")
                .status(status)
                .value("username", username)
                .value("email", email)
                .error(None, text)
                .render(&ctx)
        }
    }
}

/// `GET {prefix}/password/reset?token=…` (the link's page) or without a token (the typed
/// code's form: name, code, new password).
pub(crate) async fn show_reset(ctx: PageCtx, Query(q): Query<TokenQuery>) -> Response {
    reset_view(&ctx, q.token.trim()).render(&ctx)
}

fn reset_view(ctx: &PageCtx, token: &str) -> View {
    form_view(ctx, "reset.html", "reset").extra(minijinja::context! { token => token })
}

/// `POST {prefix}/password/reset`: sets the password; every session ends (this browser's
/// cookies are cleared too), then on to sign-in.
pub(crate) async fn submit_reset(ctx: PageCtx, form: PageForm) -> Response {
    if let Err(refused) = pre_session_checked(&ctx, &form) {
        return refused;
    }
    let token = form.get("token").trim();
    let (username, code) = (form.get("username").trim(), form.get("code").trim());
    let password = form.get("new_password");
    let by = if !token.is_empty() {
        Some(ResetBy::Token(token.to_owned()))
    } else if !username.is_empty() && !code.is_empty() {
        Some(ResetBy::Code {
            username: username.to_owned(),
            code: code.to_owned(),
        })
    } else {
        None
    };
    let result = match by {
        _ if password.is_empty() => Err(AuthError::MissingFields),
        Some(by) => {
            ctx.tessera
                .reset_password(by, password.to_owned(), &ctx.client)
                .await
        }
        None => Err(AuthError::MissingFields),
    };
    match result {
        Ok(()) => {
            let mut headers = HeaderMap::new();
            crate::http::cookies::clear_session(&mut headers, &ctx.tessera.config().cookies);
            see_other(&ctx.ui.path("/login?done=password_reset"), headers)
        }
        Err(e) => {
            let field = match (&e, token.is_empty()) {
                (AuthError::InvalidPassword(_), _) => Some("new_password"),
                (AuthError::MissingFields, _) if password.is_empty() => Some("new_password"),
                (AuthError::MissingFields | AuthError::InvalidCode, true) => Some("code"),
                _ => None,
            };
            let text = match &e {
                // The API's word for this case (its JSON answer is `invalid_request`).
                AuthError::MissingFields => ctx.text("error", "title"),
                _ => ctx.error_text(&e),
            };
            let status = crate::http::error::ApiError::from(e).status();
            reset_view(&ctx, token)
                .status(status)
                .value("username", username)
                .value("code", code)
                .error(field, text)
                .render(&ctx)
        }
    }
}

fn verify_view(ctx: &PageCtx, token: &str) -> View {
    form_view(ctx, "verify_email.html", "verify_email")
        .extra(minijinja::context! { token => token })
}

/// `GET {prefix}/email/verify?token=…`: the confirmation button (nothing spent).
pub(crate) async fn show_verify(ctx: PageCtx, Query(q): Query<TokenQuery>) -> Response {
    let token = q.token.trim();
    let status = if token.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    verify_view(&ctx, token).status(status).render(&ctx)
}

/// `POST {prefix}/email/verify`: verifies the address the link was sent to (no sign-in
/// needed: the token is the proof).
pub(crate) async fn submit_verify(ctx: PageCtx, form: PageForm) -> Response {
    if let Err(refused) = pre_session_checked(&ctx, &form) {
        return refused;
    }
    let token = form.get("token").trim();
    if token.is_empty() {
        return verify_view(&ctx, "")
            .status(StatusCode::BAD_REQUEST)
            .render(&ctx);
    }
    match ctx
        .tessera
        .verify_email(VerifyBy::Token(token.to_owned()), &ctx.client)
        .await
    {
        Ok(email) => View::new("verify_email.html", "verify_email", String::new())
            .extra(minijinja::context! { verified => email })
            .render(&ctx),
        Err(e) => {
            let (status, text) = ctx.failure(e);
            verify_view(&ctx, token)
                .status(status)
                .error(None, text)
                .render(&ctx)
        }
    }
}
