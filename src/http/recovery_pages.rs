//! The pages a mailed link opens. Mail scanners (Outlook Safe Links and the like) fetch
//! links before the person does, so opening a link — `GET` or `HEAD`, any number of
//! times — changes nothing: it shows a form, and only the person's `POST` of that form
//! resets the password or verifies the address. The token travels in the form, never in
//! a cookie, so no other site can submit it for the person (there is no ambient
//! credential to ride on). The pages are in the OpenAPI document (as HTML answers); the
//! forms' targets are not API routes and are not.
//!
//! | page | form posts to |
//! |---|---|
//! | `GET /password/reset?token=…` | `POST /password/reset/submit` (`token`, `new_password`) |
//! | `GET /email/verify?token=…` | `POST /email/verify/submit` (`token`) |

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

use super::extract::Client;
use super::recovery::request_language;
use super::service_auth::ApiForm;
use crate::email::templates::Language;
use crate::service::{ResetBy, Tessera, VerifyBy};

/// What a page may load: its own inline style, nothing else; forms post to this origin.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The forms' targets (at the root only: the links in messages point there). The pages
/// themselves (`GET`) are documented routes (`reset_page`, `verify_page`).
pub fn form_routes() -> Router<Tessera> {
    Router::new()
        .route("/password/reset/submit", post(submit_reset))
        .route("/email/verify/submit", post(submit_verify))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct TokenQuery {
    /// The token from the message's link.
    #[serde(default)]
    token: String,
}

/// The strings of the pages, per language.
struct Words {
    reset_title: &'static str,
    reset_intro: &'static str,
    new_password: &'static str,
    reset_button: &'static str,
    reset_done: &'static str,
    verify_title: &'static str,
    verify_intro: &'static str,
    verify_button: &'static str,
    verify_done: &'static str,
    missing_token: &'static str,
}

const EN: Words = Words {
    reset_title: "Choose a new password",
    reset_intro: "Setting a new password signs you out on every device.",
    new_password: "New password",
    reset_button: "Set the new password",
    reset_done: "Your password has been changed. Every session has ended: sign in again with the new password.",
    verify_title: "Confirm your email address",
    verify_intro: "Press the button to confirm that this address is yours.",
    verify_button: "Confirm the address",
    verify_done: "Your email address is confirmed:",
    missing_token: "This link is incomplete. Open the link from the message again, or type the code where you asked for it.",
};

const ZH: Words = Words {
    reset_title: "设置新密码",
    reset_intro: "设置新密码后，您在所有设备上的登录都会退出。",
    new_password: "新密码",
    reset_button: "设置新密码",
    reset_done: "您的密码已更改。所有会话均已结束，请使用新密码重新登录。",
    verify_title: "确认您的电子邮件地址",
    verify_intro: "点击按钮，确认此地址属于您。",
    verify_button: "确认地址",
    verify_done: "您的电子邮件地址已确认：",
    missing_token: "此链接不完整。请重新打开邮件中的链接，或在提出请求的地方输入验证码。",
};

fn words(language: Language) -> &'static Words {
    match language {
        Language::En => &EN,
        Language::Zh => &ZH,
    }
}

/// HTML-escapes text for element content and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `body` is already-escaped HTML.
fn page(status: StatusCode, language: Language, title: &str, body: &str) -> Response {
    let lang = if language == Language::Zh {
        "zh-CN"
    } else {
        "en"
    };
    let html = format!(
        r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{title}</title>
<style>
body{{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"PingFang SC","Microsoft YaHei",sans-serif;color:#1f2430;background:#f5f6f8}}
main{{max-width:26rem;margin:3rem auto;padding:0 1rem}}
.card{{background:#fff;border:1px solid #d9dde5;border-radius:12px;padding:1.5rem}}
h1{{font-size:1.3rem;margin:0 0 .5rem}} p{{margin:.5rem 0}}
label{{display:block;font-weight:600;margin:1rem 0 .25rem}}
input{{width:100%;box-sizing:border-box;padding:.6rem .7rem;border:1px solid #d9dde5;border-radius:8px;font:inherit}}
button{{margin-top:1rem;padding:.6rem 1rem;border:0;border-radius:8px;background:#2557d6;color:#fff;font:inherit;cursor:pointer}}
input:focus,button:focus-visible{{outline:3px solid rgba(37,87,214,.35);outline-offset:1px}}
.error{{color:#b42318;background:#fef3f2;border-radius:8px;padding:.6rem .75rem}}
.done{{color:#067647;background:#ecfdf3;border-radius:8px;padding:.6rem .75rem}}
</style></head>
<body><main><div class="card"><h1>{title}</h1>{body}</div></main></body></html>"#,
        title = escape(title),
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error_block(message: &str) -> String {
    format!(
        r#"<p class="error" role="alert" aria-live="assertive">{}</p>"#,
        escape(message)
    )
}

fn reset_form(words: &Words, token: &str, error: Option<&str>) -> String {
    format!(
        r#"<p>{intro}</p>{error}<form method="post" action="/password/reset/submit">
<input type="hidden" name="token" value="{token}">
<label for="new_password">{label}</label>
<input id="new_password" name="new_password" type="password" autocomplete="new-password" required minlength="8">
<button type="submit">{button}</button></form>"#,
        intro = escape(words.reset_intro),
        error = error.map(error_block).unwrap_or_default(),
        token = escape(token),
        label = escape(words.new_password),
        button = escape(words.reset_button),
    )
}

fn verify_form(words: &Words, token: &str, error: Option<&str>) -> String {
    format!(
        r#"<p>{intro}</p>{error}<form method="post" action="/email/verify/submit">
<input type="hidden" name="token" value="{token}">
<button type="submit">{button}</button></form>"#,
        intro = escape(words.verify_intro),
        error = error.map(error_block).unwrap_or_default(),
        token = escape(token),
        button = escape(words.verify_button),
    )
}

/// `GET /password/reset?token=…`: the form, nothing spent.
#[utoipa::path(get, path = "/password/reset", tag = "accounts", params(TokenQuery),
    responses(
        (status = 200, description = "An HTML page with the form that sets a new password (opening it spends nothing)", content_type = "text/html", body = String),
        (status = 400, description = "An HTML page saying the link is incomplete", content_type = "text/html", body = String),
    ))]
pub async fn reset_page(headers: HeaderMap, Query(query): Query<TokenQuery>) -> Response {
    let language = request_language(&headers);
    let w = words(language);
    if query.token.is_empty() {
        return page(
            StatusCode::BAD_REQUEST,
            language,
            w.reset_title,
            &error_block(w.missing_token),
        );
    }
    page(
        StatusCode::OK,
        language,
        w.reset_title,
        &reset_form(w, &query.token, None),
    )
}

/// `POST /password/reset/submit` from the page's form.
async fn submit_reset(
    State(tessera): State<Tessera>,
    Client(client): Client,
    headers: HeaderMap,
    form: Result<ApiForm, super::error::ApiError>,
) -> Response {
    let language = request_language(&headers);
    let w = words(language);
    let fields = form.ok().and_then(|form| {
        let token = form.single("token").ok().flatten()?.to_owned();
        let password = form.single("new_password").ok().flatten()?.to_owned();
        Some((token, password))
    });
    let Some((token, password)) = fields.filter(|(t, p)| !t.is_empty() && !p.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            language,
            w.reset_title,
            &error_block(w.missing_token),
        );
    };
    match tessera
        .reset_password(ResetBy::Token(token.clone()), password, &client)
        .await
    {
        Ok(()) => page(
            StatusCode::OK,
            language,
            w.reset_title,
            &format!(
                r#"<p class="done" role="status">{}</p>"#,
                escape(w.reset_done)
            ),
        ),
        Err(e) => {
            // The API's message, above the form the person can fill in again (the
            // password is never echoed back).
            let error = super::error::ApiError::from(e);
            let message = error.to_string();
            page(
                error.status(),
                language,
                w.reset_title,
                &reset_form(w, &token, Some(&message)),
            )
        }
    }
}

/// `GET /email/verify?token=…`: the confirmation button, nothing spent.
#[utoipa::path(get, path = "/email/verify", tag = "account", params(TokenQuery),
    responses(
        (status = 200, description = "An HTML page with the button that verifies the address (opening it spends nothing)", content_type = "text/html", body = String),
        (status = 400, description = "An HTML page saying the link is incomplete", content_type = "text/html", body = String),
    ))]
pub async fn verify_page(headers: HeaderMap, Query(query): Query<TokenQuery>) -> Response {
    let language = request_language(&headers);
    let w = words(language);
    if query.token.is_empty() {
        return page(
            StatusCode::BAD_REQUEST,
            language,
            w.verify_title,
            &error_block(w.missing_token),
        );
    }
    page(
        StatusCode::OK,
        language,
        w.verify_title,
        &verify_form(w, &query.token, None),
    )
}

/// `POST /email/verify/submit` from the page's form.
async fn submit_verify(
    State(tessera): State<Tessera>,
    Client(client): Client,
    headers: HeaderMap,
    form: Result<ApiForm, super::error::ApiError>,
) -> Response {
    let language = request_language(&headers);
    let w = words(language);
    let token = form
        .ok()
        .and_then(|form| form.single("token").ok().flatten().map(str::to_owned))
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return page(
            StatusCode::BAD_REQUEST,
            language,
            w.verify_title,
            &error_block(w.missing_token),
        );
    };
    match tessera
        .verify_email(VerifyBy::Token(token.clone()), &client)
        .await
    {
        Ok(email) => page(
            StatusCode::OK,
            language,
            w.verify_title,
            &format!(
                r#"<p class="done" role="status">{} {}</p>"#,
                escape(w.verify_done),
                escape(&email)
            ),
        ),
        Err(e) => {
            let error = super::error::ApiError::from(e);
            let status = error.status();
            page(
                status,
                language,
                w.verify_title,
                &verify_form(w, &token, Some(&error.to_string())),
            )
        }
    }
}
