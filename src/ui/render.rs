//! Turning a page into a response: the request's language, the variables every template
//! gets, error messages in the user's language, and the stylesheets.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{FromRef, FromRequestParts, Query};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::Ui;
use crate::http::extract::Client;
use crate::service::{AuthError, ClientInfo, Tessera};

/// The cookie remembering the language picked with the switch.
const LANG_COOKIE: &str = "tessera_ui_lang";

/// What every page handler starts from: the pages, the service, the client, the request's
/// headers and its language.
pub(crate) struct PageCtx {
    pub ui: Ui,
    pub tessera: Tessera,
    pub client: ClientInfo,
    pub headers: HeaderMap,
    pub lang: String,
    /// The path of this page and its query without `lang` (for the language switch's
    /// links, which keep the rest of the query: a reset link's token, for one).
    path: String,
    /// The access token of a session renewed for this request (`super::session`).
    pub renewed: Option<String>,
    /// `?lang=` was given: remember it in a cookie.
    remember_lang: bool,
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

impl<S> FromRequestParts<S> for PageCtx
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let tessera = Tessera::from_ref(state);
        let Ok(Client(client)) = Client::from_request_parts(parts, state).await;
        // The routes are only ever built with the extension (`page_routes`).
        let Extension(ui) = Extension::<Ui>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let query = Query::<LangQuery>::try_from_uri(&parts.uri)
            .map(|Query(q)| q.lang)
            .unwrap_or_default();
        let cookie = super::forms::read_cookie(&parts.headers, LANG_COOKIE);
        let lang = ui
            .catalogues
            .choose(query.as_deref(), cookie.as_deref(), &parts.headers);
        let remember_lang = query.is_some_and(|q| ui.catalogues.has(&q));
        let renewed = parts
            .extensions
            .get::<super::session::Renewed>()
            .map(|r| r.0.clone());
        Ok(PageCtx {
            ui,
            tessera,
            client,
            headers: parts.headers.clone(),
            lang,
            path: path_without_lang(&parts.uri),
            renewed,
            remember_lang,
        })
    }
}

/// `path?query` without any `lang` pair, ending in `?` or `&` so `lang=…` can follow.
fn path_without_lang(uri: &axum::http::Uri) -> String {
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("lang=") && *pair != "lang")
        .collect();
    if kept.is_empty() {
        format!("{}?", uri.path())
    } else {
        format!("{}?{}&", uri.path(), kept.join("&"))
    }
}

impl PageCtx {
    /// The catalogue of the request's language.
    pub fn t(&self) -> &serde_json::Value {
        self.ui.catalogues.get(&self.lang)
    }

    /// The message for a service error in the user's language: the catalogue's
    /// `error.<code>` when it has one (followed by the API's own text for the policy
    /// errors, whose details vary), else the API's message.
    pub fn error_text(&self, e: &AuthError) -> String {
        let code = e.code();
        match self.t()["error"][code].as_str() {
            Some(text) if matches!(code, "invalid_password" | "invalid_username") => {
                format!("{text}{e}")
            }
            Some(text) => text.to_owned(),
            None => e.to_string(),
        }
    }

    /// The status and the message of a refusal.
    pub fn failure(&self, e: AuthError) -> (StatusCode, String) {
        let text = self.error_text(&e);
        (crate::http::error::ApiError::from(e).status(), text)
    }

    /// A catalogue string by section and key.
    pub fn text(&self, section: &str, key: &str) -> String {
        self.t()[section][key].as_str().unwrap_or(key).to_owned()
    }
}

/// A page to render.
pub(crate) struct View {
    template: &'static str,
    page: &'static str,
    status: StatusCode,
    csrf: String,
    errors: BTreeMap<&'static str, String>,
    form_error: Option<String>,
    notice: Option<String>,
    values: BTreeMap<&'static str, String>,
    extra: minijinja::Value,
    cookies: Vec<HeaderValue>,
}

#[derive(Serialize)]
struct Language {
    code: String,
    name: String,
    html_lang: String,
    url: String,
}

impl View {
    pub fn new(template: &'static str, page: &'static str, csrf: String) -> Self {
        Self {
            template,
            page,
            status: StatusCode::OK,
            csrf,
            errors: BTreeMap::new(),
            form_error: None,
            notice: None,
            values: BTreeMap::new(),
            extra: minijinja::Value::UNDEFINED,
            cookies: Vec::new(),
        }
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// An error shown next to `field` (or above the form when `field` is `None`).
    pub fn error(mut self, field: Option<&'static str>, message: String) -> Self {
        match field {
            Some(field) => {
                self.errors.insert(field, message);
            }
            None => self.form_error = Some(message),
        }
        self
    }

    pub fn notice(mut self, notice: Option<String>) -> Self {
        self.notice = notice;
        self
    }

    /// What the user typed in `field` (never a password), shown again.
    pub fn value(mut self, field: &'static str, value: &str) -> Self {
        self.values.insert(field, value.to_owned());
        self
    }

    pub fn extra(mut self, extra: minijinja::Value) -> Self {
        self.extra = extra;
        self
    }

    pub fn cookie(mut self, cookie: Option<HeaderValue>) -> Self {
        self.cookies.extend(cookie);
        self
    }

    /// The HTML answer (a 500 page, logged, when a replaced template fails to render).
    pub fn render(self, ctx: &PageCtx) -> Response {
        let ui = &ctx.ui;
        let languages: Vec<Language> = ui
            .catalogues
            .languages()
            .into_iter()
            .map(|(code, name)| Language {
                html_lang: ui.catalogues.get(&code)["meta"]["lang"]
                    .as_str()
                    .unwrap_or(&code)
                    .to_owned(),
                url: format!("{}lang={code}", ctx.path),
                code,
                name,
            })
            .collect();
        let config = &ui.config;
        let base = minijinja::context! {
            t => minijinja::Value::from_serialize(ctx.t()),
            lang => &ctx.lang,
            languages => languages,
            brand => minijinja::context! {
                product_name => &config.product_name,
                logo_url => &config.logo_url,
                stylesheet_url => &config.stylesheet_url,
                primary_color => &config.primary_color,
            },
            prefix => &config.prefix,
            static => format!("{}/static", config.prefix),
            registration_enabled => ctx.tessera.config().registration_enabled,
            email_enabled => ctx.tessera.config().email.effective_transport().is_some(),
            page => self.page,
            csrf => &self.csrf,
            errors => &self.errors,
            form_error => &self.form_error,
            notice => &self.notice,
            values => &self.values,
        };
        let context = minijinja::context! { ..self.extra, ..base };
        let html = ui
            .env
            .get_template(self.template)
            .and_then(|t| t.render(context));
        let mut response = match html {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template = self.template, error = %e, "ui template failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response()
            }
        };
        let headers = response.headers_mut();
        for cookie in self.cookies {
            headers.append(SET_COOKIE, cookie);
        }
        if ctx.remember_lang {
            let cookie = format!(
                "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax{}",
                ctx.lang,
                if ctx.tessera.config().cookies.secure {
                    "; Secure"
                } else {
                    ""
                }
            );
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                headers.append(SET_COOKIE, value);
            }
        }
        response
    }
}

/// `GET {prefix}/static/style.css`.
pub(crate) async fn stylesheet(Extension(ui): Extension<Ui>) -> Response {
    css(ui.stylesheet.clone())
}

/// `GET {prefix}/static/theme.css`: the colours from the settings.
pub(crate) async fn theme(Extension(ui): Extension<Ui>) -> Response {
    css(ui.theme.clone())
}

fn css(text: String) -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        text,
    )
        .into_response()
}

/// The `urlencode` filter of the templates (percent-encodes everything but unreserved
/// characters, for query values).
pub(crate) fn urlencode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}
