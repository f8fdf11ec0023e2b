//! My account: name, password, second factor and sessions (the email forms are in
//! `email`). Every form needs the session's
//! CSRF value and passes the site check; the service decides everything else
//! (re-authentication, policy, throttling).

use axum::extract::Query;
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use serde::Serialize;

use super::device;
use super::forms::{self, PageForm};
use super::pages::{PageQuery, csrf_refused, see_other, signed_in};
use super::render::{PageCtx, View};
use crate::domain::LogoutScope;
use crate::http::csrf;
use crate::service::{AuthError, MfaProof};
use crate::tokens::AccessClaims;

#[derive(Serialize)]
struct SessionRow {
    id: String,
    device: Option<String>,
    ip: Option<String>,
    created: String,
    last_used: String,
    current: bool,
}

/// The account page with what the service says of the caller now.
async fn account_view(ctx: &PageCtx, claims: &AccessClaims) -> Result<View, AuthError> {
    let me = ctx.tessera.me(claims).await?;
    let sessions: Vec<SessionRow> = ctx
        .tessera
        .list_sessions(claims)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            device: device::describe(s.user_agent.as_deref()),
            created: device::format_time(s.created_at),
            last_used: device::format_time(s.last_used_at),
            id: s.id,
            ip: s.ip,
            current: s.current,
        })
        .collect();
    let csrf = claims.csrf.clone().unwrap_or_default();
    Ok(
        View::new("account.html", "account", csrf).extra(minijinja::context! {
            user => minijinja::context! {
                username => me.username,
                created => device::format_time(me.created_at),
            },
            email => minijinja::context! {
                address => me.email,
                verified => me.email_verified,
            },
            mfa => minijinja::context! {
                totp => me.mfa.totp,
                recovery_codes_left => me.mfa.recovery_codes_left,
            },
            sessions => sessions,
        }),
    )
}

/// Sign-in again, for a browser whose page session is missing, expired or ended.
fn to_sign_in(ctx: &PageCtx) -> Response {
    see_other(&ctx.ui.path("/login"), HeaderMap::new())
}

/// A failure the page cannot show beside a form (the session ended meanwhile, the
/// database is down): sign in again, or a message page.
fn fallback(ctx: &PageCtx, e: AuthError) -> Response {
    if matches!(e, AuthError::SessionEnded | AuthError::Token(_)) {
        return to_sign_in(ctx);
    }
    let (status, text) = ctx.failure(e);
    View::new("message.html", "error", String::new())
        .status(status)
        .extra(minijinja::context! { heading => ctx.text("error", "title"), text => text })
        .render(ctx)
}

/// Re-renders the account page with `e` next to `field` (or above everything).
pub(super) async fn account_with_error(
    ctx: &PageCtx,
    claims: &AccessClaims,
    field: Option<&'static str>,
    e: AuthError,
) -> Response {
    account_with_values(ctx, claims, field, e, &[]).await
}

/// As [`account_with_error`], with what the user typed in `values` shown again.
pub(super) async fn account_with_values(
    ctx: &PageCtx,
    claims: &AccessClaims,
    field: Option<&'static str>,
    e: AuthError,
    values: &[(&'static str, &str)],
) -> Response {
    let (status, text) = ctx.failure(e);
    match account_view(ctx, claims).await {
        Ok(view) => values
            .iter()
            .fold(view, |view, (name, value)| view.value(name, value))
            .status(status)
            .error(field, text)
            .render(ctx),
        Err(e) => fallback(ctx, e),
    }
}

/// `GET {prefix}/account`.
pub(crate) async fn show_account(ctx: PageCtx, Query(q): Query<PageQuery>) -> Response {
    let Some(claims) = signed_in(&ctx) else {
        return to_sign_in(&ctx);
    };
    let notice = q
        .done
        .as_deref()
        .and_then(|key| ctx.t()["done"][key].as_str())
        .map(str::to_owned);
    match account_view(&ctx, &claims).await {
        Ok(view) => view.notice(notice).render(&ctx),
        Err(e) => fallback(&ctx, e),
    }
}

/// The checks of every account form: the site, a page session, its CSRF value.
// The refusal is the page to answer with; it is returned at once, never carried far.
#[allow(clippy::result_large_err)]
pub(super) fn guard(ctx: &PageCtx, form: &PageForm) -> Result<AccessClaims, Response> {
    if csrf::check_request_site(&ctx.headers, ctx.tessera.config()).is_err() {
        return Err(csrf_refused(ctx, None));
    }
    let Some(claims) = signed_in(ctx) else {
        return Err(to_sign_in(ctx));
    };
    if !forms::session_ok(&claims, form) {
        return Err(csrf_refused(ctx, claims.sid.as_deref()));
    }
    Ok(claims)
}

pub(super) fn done(ctx: &PageCtx, key: &str) -> Response {
    see_other(
        &ctx.ui.path(&format!("/account?done={key}")),
        HeaderMap::new(),
    )
}

/// `POST {prefix}/account/password`.
pub(crate) async fn change_password(ctx: PageCtx, form: PageForm) -> Response {
    let claims = match guard(&ctx, &form) {
        Ok(claims) => claims,
        Err(refused) => return refused,
    };
    let result = ctx
        .tessera
        .change_password(
            &claims,
            form.get("current_password").to_owned(),
            form.get("new_password").to_owned(),
            &ctx.client,
        )
        .await;
    match result {
        Ok(_) => done(&ctx, "password"),
        Err(e) => {
            let field = match &e {
                AuthError::WrongPassword => Some("current_password"),
                AuthError::InvalidPassword(_) => Some("new_password"),
                _ => None,
            };
            account_with_error(&ctx, &claims, field, e).await
        }
    }
}

/// `POST {prefix}/account/sessions`: `end=<id>` ends one session, `end=others` all but
/// this one; the password when the sign-in is no longer recent.
pub(crate) async fn end_sessions(ctx: PageCtx, form: PageForm) -> Response {
    let claims = match guard(&ctx, &form) {
        Ok(claims) => claims,
        Err(refused) => return refused,
    };
    let password = form.optional("sessions_password");
    let (result, key) = match form.get("end") {
        "others" => (
            ctx.tessera
                .logout(&claims, LogoutScope::Others, password, &ctx.client)
                .await
                .map(|_| ()),
            "others",
        ),
        id => (
            ctx.tessera
                .revoke_session(&claims, id, password, &ctx.client)
                .await,
            "session",
        ),
    };
    match result {
        Ok(()) => done(&ctx, key),
        Err(e) => {
            let field = match &e {
                AuthError::WrongPassword | AuthError::ReauthenticationRequired => {
                    Some("sessions_password")
                }
                _ => None,
            };
            account_with_error(&ctx, &claims, field, e).await
        }
    }
}

/// The enrolment page (the QR code and secret, shown in this answer only; or the code
/// form again after a wrong code) or the recovery codes, shown once. Answered to the POST
/// itself, never through a redirect: the secret and the codes are not kept readable
/// anywhere to show them on a later GET.
fn enrol_page(claims: &AccessClaims, extra: minijinja::Value) -> View {
    View::new(
        "enrol.html",
        "enrol",
        claims.csrf.clone().unwrap_or_default(),
    )
    .extra(extra)
}

/// `POST {prefix}/account/mfa/enrol`.
pub(crate) async fn enrol_totp(ctx: PageCtx, form: PageForm) -> Response {
    let claims = match guard(&ctx, &form) {
        Ok(claims) => claims,
        Err(refused) => return refused,
    };
    let password = form.optional("enrol_password");
    match ctx.tessera.enrol_totp(&claims, password, &ctx.client).await {
        Ok(enrolment) => {
            let svg = base64::engine::general_purpose::STANDARD.encode(enrolment.qr_svg);
            enrol_page(
                &claims,
                minijinja::context! {
                    qr_data_uri => format!("data:image/svg+xml;base64,{svg}"),
                    secret => enrolment.secret,
                },
            )
            .render(&ctx)
        }
        Err(e) => {
            let field = reauth_field(&e, "enrol_password");
            account_with_error(&ctx, &claims, field, e).await
        }
    }
}

fn reauth_field(e: &AuthError, field: &'static str) -> Option<&'static str> {
    matches!(
        e,
        AuthError::WrongPassword | AuthError::ReauthenticationRequired
    )
    .then_some(field)
}

/// `POST {prefix}/account/mfa/confirm`: the first code; then the recovery codes.
pub(crate) async fn confirm_totp(ctx: PageCtx, form: PageForm) -> Response {
    let claims = match guard(&ctx, &form) {
        Ok(claims) => claims,
        Err(refused) => return refused,
    };
    let code = form.get("code").trim().to_owned();
    match ctx.tessera.confirm_totp(&claims, &code, &ctx.client).await {
        Ok(codes) => enrol_page(
            &claims,
            minijinja::context! { codes => codes.recovery_codes },
        )
        .render(&ctx),
        Err(e @ (AuthError::WrongMfaCode | AuthError::TotpReplayed)) => {
            let (status, text) = ctx.failure(e);
            enrol_page(&claims, minijinja::Value::UNDEFINED)
                .status(status)
                .error(Some("code"), text)
                .render(&ctx)
        }
        Err(e) => account_with_error(&ctx, &claims, None, e).await,
    }
}

/// `POST {prefix}/account/mfa/recovery-codes`: a new set, shown once.
pub(crate) async fn regenerate_codes(ctx: PageCtx, form: PageForm) -> Response {
    let claims = match guard(&ctx, &form) {
        Ok(claims) => claims,
        Err(refused) => return refused,
    };
    let password = form.optional("regenerate_password");
    match ctx
        .tessera
        .regenerate_recovery_codes(&claims, password, &ctx.client)
        .await
    {
        Ok(codes) => enrol_page(
            &claims,
            minijinja::context! { codes => codes.recovery_codes },
        )
        .render(&ctx),
        Err(e) => {
            let field = reauth_field(&e, "regenerate_password");
            account_with_error(&ctx, &claims, field, e).await
        }
    }
}

/// `POST {prefix}/account/mfa/remove`: the password and a code (six digits) or a
/// recovery code (anything else).
pub(crate) async fn remove_totp(ctx: PageCtx, form: PageForm) -> Response {
    let claims = match guard(&ctx, &form) {
        Ok(claims) => claims,
        Err(refused) => return refused,
    };
    let code = form.get("remove_code").trim().to_owned();
    let proof = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        MfaProof::Code(code)
    } else {
        MfaProof::RecoveryCode(code)
    };
    let password = form.get("remove_password").to_owned();
    match ctx
        .tessera
        .remove_totp(&claims, password, proof, &ctx.client)
        .await
    {
        Ok(_) => done(&ctx, "mfa_removed"),
        Err(e) => {
            let field = match &e {
                AuthError::WrongPassword => Some("remove_password"),
                AuthError::WrongMfaCode | AuthError::TotpReplayed => Some("remove_code"),
                _ => None,
            };
            account_with_error(&ctx, &claims, field, e).await
        }
    }
}
