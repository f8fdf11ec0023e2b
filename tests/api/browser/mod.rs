//! Browser apps: the cookie transport, CSRF and CORS over HTTP (every rule, attribute by
//! attribute), and the same flows in a real headless Chromium (`chromium.rs`).

pub mod chromium;
mod cookie_transport;
mod cors;
mod csrf;

use std::collections::HashMap;

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, status_and_json, unwrap_response};

pub const PASSWORD: &str = "correct horse battery staple";

/// One `Set-Cookie` header, parsed.
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    pub path: Option<String>,
    pub domain: Option<String>,
    pub max_age: Option<i64>,
    pub http_only: bool,
    pub secure: bool,
    pub same_site: Option<String>,
}

/// Every `Set-Cookie` of an answer.
pub fn set_cookies(headers: &HeaderMap) -> Vec<SetCookie> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| {
            let text = value.to_str().unwrap_or_else(|e| panic!("Set-Cookie: {e}"));
            let parsed = cookie::Cookie::parse(text.to_owned())
                .unwrap_or_else(|e| panic!("Set-Cookie {text:?}: {e}"));
            SetCookie {
                name: parsed.name().to_owned(),
                value: parsed.value().to_owned(),
                path: parsed.path().map(str::to_owned),
                domain: parsed.domain().map(str::to_owned),
                max_age: parsed.max_age().map(|d| d.whole_seconds()),
                http_only: parsed.http_only().unwrap_or(false),
                secure: parsed.secure().unwrap_or(false),
                same_site: parsed.same_site().map(|s| s.to_string()),
            }
        })
        .collect()
}

/// What a browser would hold after a login or refresh: the value of each cookie by name
/// (a cookie set at several paths has one value).
pub struct Jar(pub HashMap<String, String>);

impl Jar {
    pub fn from_answer(headers: &HeaderMap) -> Jar {
        Jar(set_cookies(headers)
            .into_iter()
            .map(|c| (c.name, c.value))
            .collect())
    }

    pub fn get(&self, name: &str) -> &str {
        self.0
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no cookie {name} in {:?}", self.0.keys()))
    }

    /// A `Cookie` header with the named cookies.
    pub fn header(&self, names: &[&str]) -> String {
        names
            .iter()
            .map(|name| format!("{name}={}", self.get(name)))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn access(&self) -> String {
        self.header(&[ACCESS])
    }

    pub fn refresh(&self) -> String {
        self.header(&[REFRESH])
    }
}

// The default names: `Secure` and no domain, so `__Host-` where `Path=/`.
pub const ACCESS: &str = "__Host-access_token_cookie";
pub const REFRESH: &str = "__Secure-refresh_token_cookie";
pub const CSRF_ACCESS: &str = "__Host-csrf_access_token";
pub const CSRF_REFRESH: &str = "__Host-csrf_refresh_token";

/// Registers `username` and logs in with the cookie transport; the answer's status must be
/// 200. Returns the body and the cookies.
pub async fn cookie_login(app: &TestApp, username: &str) -> (Value, Jar) {
    let _ = app.register(username, PASSWORD).await;
    let response = app
        .post_json(
            "/login",
            &json!({"username": username, "password": PASSWORD, "transport": "cookie"}),
        )
        .await;
    let headers = response.headers().clone();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (body, Jar::from_answer(&headers))
}

/// Sends `request` and returns status, headers and JSON body.
pub async fn send(request: RequestBuilder) -> (StatusCode, HeaderMap, Value) {
    let response: Response = unwrap_response(request.send().await);
    let headers = response.headers().clone();
    let (status, body) = status_and_json(response).await;
    (status, headers, body)
}
