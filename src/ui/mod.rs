//! The hosted pages under `ui.prefix` (default `/ui`): sign in (with the second-factor
//! step), sign up, forgot password and reset, email verification, my account (email,
//! password, second factor, sessions) and sign out.
//!
//! Server-rendered HTML (minijinja templates and a stylesheet embedded in the binary,
//! replaceable from `ui.templates_dir`), plain `<form method="post">`, no script. The pages
//! call the service layer exactly as the JSON API does, so its rules (policy, throttling,
//! timing, no enumeration) hold here too. A signed-in page is an ordinary cookie-transport
//! session: it is listed by `GET /sessions` and ends with every logout scope.
//!
//! CSRF: every form carries a token and every POST passes the cookie transport's
//! Fetch-Metadata/Origin check (`http::csrf::check_request_site`). Signed in, the token is
//! the session's CSRF value (the access token's `csrf` claim); before a session exists it
//! is a signed double submit (`forms::PreSession`).
//!
//! A page whose access token expired renews its session from the refresh cookie
//! (`session`), so a page session lasts as long as an API session.
//!
//! The pages are HTML, not API: they are not in the OpenAPI document.

mod account;
mod device;
mod email;
mod forms;
pub mod i18n;
mod pages;
mod recovery;
mod render;
mod return_to;
mod session;
pub mod templates;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::middleware::{self, Next};
use axum::response::{Redirect, Response};
use axum::routing::{MethodRouter, get};
use axum::{Extension, Router};

use crate::config::UiConfig;
use crate::service::Tessera;

/// What every page handler shares: templates, catalogues, stylesheets and the policy.
#[derive(Clone)]
pub(crate) struct Ui(Arc<UiInner>);

pub(crate) struct UiInner {
    config: UiConfig,
    env: minijinja::Environment<'static>,
    catalogues: i18n::Catalogues,
    stylesheet: String,
    theme: String,
    csp: HeaderValue,
}

impl std::ops::Deref for Ui {
    type Target = UiInner;
    fn deref(&self) -> &UiInner {
        &self.0
    }
}

impl Ui {
    /// Loads templates and catalogues (embedded, then `ui.templates_dir`).
    fn load(config: &UiConfig) -> anyhow::Result<Self> {
        let dir = config.templates_dir.as_deref();
        let mut env = templates::environment(dir)?;
        env.add_filter("urlencode", render::urlencode);
        Ok(Ui(Arc::new(UiInner {
            config: config.clone(),
            env,
            catalogues: i18n::Catalogues::load(dir)?,
            stylesheet: templates::stylesheet(dir)?,
            theme: format!(":root {{ --primary: {}; }}\n", config.primary_color),
            csp: HeaderValue::from_str(&content_security_policy(config))?,
        })))
    }

    /// `{prefix}{path}`.
    pub(crate) fn path(&self, path: &str) -> String {
        format!("{}{path}", self.config.prefix)
    }
}

/// The pages' policy: nothing from another origin but what the settings name (the extra
/// stylesheet and logo), images from `data:` for the QR code, no script at all, forms
/// posted only here (and, through sign-in's redirect, to the allowed return origins),
/// never framed.
fn content_security_policy(config: &UiConfig) -> String {
    use crate::config::ui_resource_origin as origin;
    let extra = |url: &Option<String>| {
        url.as_deref()
            .and_then(|u| origin(u).ok().flatten())
            .map(|o| format!(" {o}"))
            .unwrap_or_default()
    };
    let returns: String = config
        .allowed_return_origins
        .iter()
        .map(|o| format!(" {o}"))
        .collect();
    format!(
        "default-src 'none'; style-src 'self'{}; img-src 'self' data:{}; \
         form-action 'self'{returns}; frame-ancestors 'none'; base-uri 'none'",
        extra(&config.stylesheet_url),
        extra(&config.logo_url),
    )
}

/// The stylesheets, relative to the prefix (no session work: they load beside a page).
fn static_routes() -> Vec<(&'static str, MethodRouter<Tessera>)> {
    vec![
        ("/static/style.css", get(render::stylesheet)),
        ("/static/theme.css", get(render::theme)),
    ]
}

/// The route table of the pages, relative to the prefix. A new page is added here, with
/// its catalogue section and a template in `templates::TEMPLATES`.
fn route_table() -> Vec<(&'static str, MethodRouter<Tessera>)> {
    vec![
        ("/", get(pages::home)),
        ("/login", get(pages::show_login).post(pages::submit_login)),
        ("/login/mfa", get(pages::show_mfa).post(pages::submit_mfa)),
        (
            "/register",
            get(pages::show_register).post(pages::submit_register),
        ),
        ("/logout", axum::routing::post(pages::submit_logout)),
        (
            "/password/forgot",
            get(recovery::show_forgot).post(recovery::submit_forgot),
        ),
        (
            "/password/reset",
            get(recovery::show_reset).post(recovery::submit_reset),
        ),
        (
            "/email/verify",
            get(recovery::show_verify).post(recovery::submit_verify),
        ),
        ("/account", get(account::show_account)),
        ("/account/email", axum::routing::post(email::save_email)),
        (
            "/account/email/verify",
            axum::routing::post(email::verify_email_code),
        ),
        (
            "/account/email/remove",
            axum::routing::post(email::remove_email),
        ),
        (
            "/account/password",
            axum::routing::post(account::change_password),
        ),
        (
            "/account/sessions",
            axum::routing::post(account::end_sessions),
        ),
        (
            "/account/mfa/enrol",
            axum::routing::post(account::enrol_totp),
        ),
        (
            "/account/mfa/confirm",
            axum::routing::post(account::confirm_totp),
        ),
        (
            "/account/mfa/recovery-codes",
            axum::routing::post(account::regenerate_codes),
        ),
        (
            "/account/mfa/remove",
            axum::routing::post(account::remove_totp),
        ),
    ]
}

/// The pages as routes of tessera's router (no fallback: it merges with the API's).
pub(crate) fn page_routes(tessera: &Tessera) -> anyhow::Result<Router<Tessera>> {
    let config = &tessera.config().ui;
    let ui = Ui::load(config)?;
    let prefix = config.prefix.clone();
    let mut pages = Router::new().route(
        &prefix,
        get({
            let to = format!("{prefix}/account");
            move || async move { Redirect::to(&to) }
        }),
    );
    for (path, handler) in route_table() {
        pages = pages.route(&format!("{prefix}{path}"), handler);
    }
    let pages = pages.layer(middleware::from_fn_with_state(
        tessera.clone(),
        session::renew_session,
    ));
    let mut router = Router::new().merge(pages);
    for (path, handler) in static_routes() {
        router = router.route(&format!("{prefix}{path}"), handler);
    }
    Ok(router
        .layer(middleware::from_fn(page_headers))
        .layer(Extension(ui)))
}

/// Loads the pages' templates and catalogues (embedded, then `ui.templates_dir`): a
/// replaced template or catalogue that cannot be read or parsed is an error naming its
/// file. The server checks this before it starts (and `tessera check-config` reports it),
/// so a broken override stops the start instead of leaving the site without pages.
pub fn check(config: &UiConfig) -> anyhow::Result<()> {
    Ui::load(config).map(|_| ())
}

/// The pages for an app that embeds tessera: merge it beside [`crate::api_router`]
/// (neither has a fallback of the other's). Fails when a template or catalogue in
/// `ui.templates_dir` does not parse.
pub fn ui_router(tessera: Tessera) -> anyhow::Result<Router> {
    let routes = page_routes(&tessera)?;
    Ok(routes.with_state(tessera))
}

/// The pages' own headers: their CSP (the API's allows nothing, the pages need their
/// stylesheet), `Referrer-Policy: same-origin` (so a same-origin form post carries its
/// `Origin`), never cached, never sniffed. The API's security layer keeps these.
async fn page_headers(Extension(ui): Extension<Ui>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let is_css = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/css"));
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, ui.csp.clone());
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !is_css {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
