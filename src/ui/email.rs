//! The email section of my account: add or change the address (with the password, as
//! `POST /me/email`), send its code again, confirm it with the typed code, remove it. The
//! service decides everything (password check and its throttling, the per-hour mail
//! limits, the notice to a replaced verified address); these handlers only map fields.

use axum::response::Response;

use super::account::{account_with_error, account_with_values, done, guard};
use super::forms::PageForm;
use super::recovery::mail_language;
use super::render::PageCtx;
use crate::service::{AuthError, VerifyBy};

/// `POST {prefix}/account/email`: `email` and `email_password`, or (`resend=1`, the
/// "send the code again" form) the current address and `resend_password`.
pub(crate) async fn save_email(ctx: PageCtx, form: PageForm) -> Response {
    let claims = match guard(&ctx, &form) {
        Ok(claims) => claims,
        Err(refused) => return refused,
    };
    let resend = form.get("resend") == "1";
    let password_field = if resend {
        "resend_password"
    } else {
        "email_password"
    };
    let email = form.get("email").trim();
    let result = ctx
        .tessera
        .set_email(
            &claims,
            email,
            form.get(password_field).to_owned(),
            mail_language(&ctx),
            &ctx.client,
        )
        .await;
    match result {
        Ok(()) => done(&ctx, "email_sent"),
        Err(e) => {
            let field = match &e {
                AuthError::WrongPassword => Some(password_field),
                AuthError::InvalidEmail(_) if !resend => Some("email"),
                _ => None,
            };
            let typed = if resend { "" } else { email };
            account_with_values(&ctx, &claims, field, e, &[("email", typed)]).await
        }
    }
}

/// `POST {prefix}/account/email/verify`: the code from the message.
pub(crate) async fn verify_email_code(ctx: PageCtx, form: PageForm) -> Response {
    let claims = match guard(&ctx, &form) {
        Ok(claims) => claims,
        Err(refused) => return refused,
    };
    let code = form.get("email_code").trim();
    match ctx
        .tessera
        .verify_email(VerifyBy::Code(&claims, code.to_owned()), &ctx.client)
        .await
    {
        Ok(_) => done(&ctx, "email_verified"),
        Err(e) => {
            let field =
                matches!(e, AuthError::InvalidCode | AuthError::EmailTaken).then_some("email_code");
            account_with_values(&ctx, &claims, field, e, &[("email_code", code)]).await
        }
    }
}

/// `POST {prefix}/account/email/remove`.
pub(crate) async fn remove_email(ctx: PageCtx, form: PageForm) -> Response {
    let claims = match guard(&ctx, &form) {
        Ok(claims) => claims,
        Err(refused) => return refused,
    };
    match ctx.tessera.remove_email(&claims, &ctx.client).await {
        Ok(()) => done(&ctx, "email_removed"),
        Err(e) => account_with_error(&ctx, &claims, None, e).await,
    }
}
