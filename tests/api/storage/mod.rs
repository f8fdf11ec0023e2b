//! Storage faults on real parts: a SQLite database that cannot grow or is read-only, a
//! full filesystem (tmpfs, as root), a PostgreSQL that refuses connections or loses its
//! backends, and SIGKILL under concurrent writes. The rule in every case: a write is either
//! acknowledged and kept, or refused with `503 unavailable` and `Retry-After` and leaves
//! nothing behind; never a 500, never a success for a write that was not stored.

mod crash;
mod postgres;
mod sqlite_full;
mod tmpfs;
mod wal;

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, status_and_json, unwrap_response};

pub const PASSWORD: &str = "correct horse battery staple";

/// What became of one write: acknowledged, or refused as the storage faults are.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Stored(Value),
    Refused,
}

/// Classifies a response to a write that may meet a storage fault: `ok` (or the given
/// success status) is `Stored`, `503 unavailable` with `Retry-After` is `Refused`, and
/// anything else (a 500 above all) fails the test.
pub async fn answer(response: Response, ok: StatusCode, what: &str) -> Answer {
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let (status, body) = status_and_json(response).await;
    if status == ok {
        return Answer::Stored(body);
    }
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")),
        "{what}: neither success nor 503 unavailable: {body}"
    );
    assert!(body["message"].is_string(), "{what}: {body}");
    assert!(retry_after.is_some(), "{what}: 503 without Retry-After");
    Answer::Refused
}

/// A server over HTTP, in-process or a child process: the requests these tests make.
#[derive(Clone)]
pub struct Remote {
    pub client: reqwest::Client,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl Remote {
    pub fn new(base: &str) -> Remote {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"));
        Remote {
            client,
            base: base.to_owned(),
        }
    }

    pub fn of(app: &TestApp) -> Remote {
        Remote {
            client: app.client.clone(),
            base: app.address.clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn try_post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> reqwest::Result<Response> {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        unwrap_response(self.try_post(path, token, body).await)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        unwrap_response(request.send().await)
    }

    pub async fn register(&self, username: &str, password: &str) -> Response {
        self.post(
            "/register",
            None,
            &json!({ "username": username, "password": password }),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post(
            "/login",
            None,
            &json!({ "username": username, "password": password }),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post("/refresh", None, &json!({ "refresh_token": refresh_token }))
            .await
    }

    pub async fn logout(&self, access_token: &str) -> Response {
        self.post("/logout", Some(access_token), &json!({})).await
    }

    pub async fn change_password(&self, token: &str, current: &str, new: &str) -> Response {
        let body = json!({ "current_password": current, "new_password": new });
        self.post("/me/password", Some(token), &body).await
    }

    /// Registers and logs in; returns the login body.
    pub async fn signed_up(&self, username: &str) -> Value {
        let (status, body) = status_and_json(self.register(username, PASSWORD).await).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = status_and_json(self.login(username, PASSWORD).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// Polls `/readyz` until it answers `want`, for up to `within`.
pub async fn wait_ready(app: &Remote, want: StatusCode, within: Duration) {
    let started = Instant::now();
    loop {
        let (status, body) = status_and_json(app.get("/readyz", None).await).await;
        if status == want {
            return;
        }
        assert!(
            started.elapsed() < within,
            "/readyz answered {status} {body}, not {want}, for {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Registers `prefix0`, `prefix1`, … until one is refused (at most `max`); returns the
/// names acknowledged and the names refused (after the first refusal, `extra` more tries).
pub async fn register_until_refused(
    app: &Remote,
    prefix: &str,
    max: usize,
    extra: usize,
) -> (Vec<String>, Vec<String>) {
    let (mut stored, mut refused) = (Vec::new(), Vec::new());
    for i in 0..max {
        let name = format!("{prefix}{i}");
        match answer(
            app.register(&name, PASSWORD).await,
            StatusCode::CREATED,
            "register",
        )
        .await
        {
            Answer::Stored(_) => stored.push(name),
            Answer::Refused => refused.push(name),
        }
        if refused.len() > extra {
            break;
        }
    }
    (stored, refused)
}

/// Every acknowledged name logs in; every refused one does not exist.
pub async fn assert_registrations_kept(app: &Remote, stored: &[String], refused: &[String]) {
    for name in stored {
        let (status, body) = status_and_json(app.login(name, PASSWORD).await).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "acknowledged user {name} was lost: {body}"
        );
    }
    for name in refused {
        let (status, body) = status_and_json(app.login(name, PASSWORD).await).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "refused registration of {name} left a user behind: {body}"
        );
    }
}
