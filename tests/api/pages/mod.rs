//! The hosted pages (`/ui/`): every form's CSRF refusal, `return_to` tricks, no
//! enumeration at sign-in, sign-up closed, the second-factor step, languages and headers
//! over HTTP (`forms.rs`); forgot password, reset, email verification and the account's
//! email section (`recovery.rs`); renewal of an expired page session and a broken
//! template override (`renewal.rs`); the whole journey in headless Chromium (`chromium.rs`).

mod chromium;
mod forms;
mod recovery;
mod renewal;

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};

use crate::helpers::{TestApp, unwrap_response};

pub const PASSWORD: &str = "correct horse battery staple";

/// Every form the pages post before a session exists (a signed double submit).
pub const PRE_SESSION_FORMS: [&str; 6] = [
    "/ui/login",
    "/ui/register",
    "/ui/login/mfa",
    "/ui/password/forgot",
    "/ui/password/reset",
    "/ui/email/verify",
];

/// Every form of a signed-in page, sign-out included (the session's CSRF value).
pub const SIGNED_IN_FORMS: [&str; 10] = [
    "/ui/account/password",
    "/ui/account/sessions",
    "/ui/account/email",
    "/ui/account/email/verify",
    "/ui/account/email/remove",
    "/ui/account/mfa/enrol",
    "/ui/account/mfa/confirm",
    "/ui/account/mfa/recovery-codes",
    "/ui/account/mfa/remove",
    "/ui/logout",
];

/// A browser without JavaScript: a cookie jar, no redirects followed, Fetch Metadata as
/// a same-origin form post sends it.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

/// One answer: status, headers, body.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The first form's `csrf` field.
    pub fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf field in {}", self.body))
            + marker.len();
        self.body[start..]
            .split('"')
            .next()
            .unwrap_or("")
            .to_owned()
    }
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            app,
            client,
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, response: Response) -> Page {
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap_or_default().to_owned();
            let parsed = cookie::Cookie::parse(text).unwrap_or_else(|e| panic!("{e}"));
            if parsed.value().is_empty() || parsed.max_age().is_some_and(|a| a.is_zero()) {
                self.cookies.remove(parsed.name());
            } else {
                self.cookies
                    .insert(parsed.name().to_owned(), parsed.value().to_owned());
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(self.app.url(path))
            .header("cookie", self.cookie_header())
            .header("sec-fetch-site", "none")
            .send()
            .await;
        self.keep(unwrap_response(response)).await
    }

    /// A form post from this site (`Sec-Fetch-Site: same-origin`).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_from(path, fields, "same-origin").await
    }

    /// A form post with the given `Sec-Fetch-Site`.
    pub async fn post_from(&mut self, path: &str, fields: &[(&str, &str)], site: &str) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let response = self
            .client
            .post(self.app.url(path))
            .header("cookie", self.cookie_header())
            .header("sec-fetch-site", site)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        self.keep(unwrap_response(response)).await
    }

    /// Signs in through the form; returns the answer to the password post.
    pub async fn sign_in(&mut self, username: &str, password: &str, return_to: &str) -> Page {
        let form = self.get("/ui/login").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let csrf = form.csrf();
        self.post(
            "/ui/login",
            &[
                ("csrf", csrf.as_str()),
                ("username", username),
                ("password", password),
                ("return_to", return_to),
            ],
        )
        .await
    }

    /// Whether the browser holds a page session (the access cookie).
    pub fn has_session(&self) -> bool {
        self.cookies
            .keys()
            .any(|k| k.ends_with("access_token_cookie"))
    }
}
