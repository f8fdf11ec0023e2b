//! Sessions: login's token pair, refresh rotation with its grace window and reuse
//! detection, logout scopes, listing and ending sessions, expiry, and revocations seen
//! through the database poll.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, jwt_claims, now, spawn_app, spawn_app_with, status_and_json, str_field,
    unwrap_response,
};

const PASSWORD: &str = "correct horse battery staple";

async fn assert_ok(response: Response) -> Value {
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Logs in once more as an existing user (another device); returns the login body.
async fn login_again(app: &TestApp, username: &str) -> Value {
    assert_ok(app.login(username, PASSWORD).await).await
}

async fn refresh_ok(app: &TestApp, refresh_token: &str) -> Value {
    assert_ok(app.refresh(refresh_token).await).await
}

async fn assert_protected_ok(app: &TestApp, access_token: &str, username: &str) {
    let body = assert_ok(app.protected(access_token).await).await;
    assert_eq!(body["logged_in_as"], username, "{body}");
}

async fn assert_revoked(app: &TestApp, access_token: &str) {
    assert_error(
        app.protected(access_token).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

/// The session id carried by a login or refresh body's access token.
fn sid_of(body: &Value) -> String {
    let claims = jwt_claims(str_field(body, "access_token"));
    claims["sid"]
        .as_str()
        .unwrap_or_else(|| panic!("no sid in {claims}"))
        .to_owned()
}

/// The caller's sessions as listed by `GET /sessions`.
async fn listed_sessions(app: &TestApp, access_token: &str) -> Vec<Value> {
    let body = assert_ok(app.sessions(access_token).await).await;
    body["sessions"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no sessions array in {body}"))
}

fn listed_ids(sessions: &[Value]) -> HashSet<String> {
    sessions
        .iter()
        .map(|s| str_field(s, "id").to_owned())
        .collect()
}

/// The token with one character in its middle replaced by another valid base64url character.
fn tampered(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

mod lifetime;
mod listing;
mod logout;
mod policy;
mod purge;
mod refresh;
