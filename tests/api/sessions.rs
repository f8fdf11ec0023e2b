//! Sessions: login's token pair, refresh rotation with its grace window and reuse
//! detection, logout scopes, listing and ending sessions, expiry, and revocations seen
//! through the database poll.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};
use tessera::store::LogoutScope;

use crate::helpers::{
    TestApp, jwt_claims, now, spawn_app, spawn_app_with, status_and_json, str_field,
    unwrap_response,
};

const PASSWORD: &str = "correct horse battery staple";

/// Asserts an error answer: its status, the `{"message", "error"}` shape with `code`, and
/// a `WWW-Authenticate` header on every 401. Returns the body.
async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    let challenge = response.headers().get(header::WWW_AUTHENTICATE).cloned();
    let (actual, body) = status_and_json(response).await;
    assert_eq!(actual, status, "unexpected status; body: {body}");
    assert!(body["message"].is_string(), "no message in {body}");
    assert_eq!(body["error"], code, "unexpected error code in {body}");
    if status == StatusCode::UNAUTHORIZED {
        let challenge = challenge
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("401 without a readable WWW-Authenticate: {body}"));
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        // RFC 6750: a presented bearer token that failed says so; a missing one does not.
        if matches!(code, "token_revoked" | "invalid_token") {
            assert!(
                challenge.contains(r#"error="invalid_token""#),
                "{challenge}"
            );
        }
        if code == "missing_token" {
            assert!(!challenge.contains("error="), "{challenge}");
        }
    }
    body
}

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

#[tokio::test]
async fn login_returns_a_bearer_token_pair_whose_access_token_names_the_session() {
    let app = spawn_app().await;
    let body = app.signed_up("Alice", PASSWORD).await;

    let access = str_field(&body, "access_token");
    let refresh = str_field(&body, "refresh_token");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["expires_in"], 900, "{body}");
    assert_eq!(body["user"]["username"], "Alice", "{body}");
    assert!(body["user"]["id"].is_i64(), "{body}");
    assert_ne!(access, refresh);

    let claims = jwt_claims(access);
    assert_eq!(claims["type"], "access", "{claims}");
    assert_eq!(claims["fresh"], true, "{claims}");
    assert_eq!(claims["sub"], "Alice", "{claims}");
    assert_eq!(claims["iss"], "tessera", "{claims}");
    assert!(
        claims["sid"].as_str().is_some_and(|sid| !sid.is_empty()),
        "{claims}"
    );
    let lifetime = claims["exp"]
        .as_i64()
        .zip(claims["iat"].as_i64())
        .map(|(exp, iat)| exp - iat);
    assert_eq!(lifetime, Some(900), "{claims}");

    assert_protected_ok(&app, access, "Alice").await;
}

#[tokio::test]
async fn expires_in_follows_the_configured_access_token_lifetime() {
    let app = spawn_app_with(|c| c.access_token_ttl_secs = 120).await;
    let body = app.signed_up("alice", PASSWORD).await;
    assert_eq!(body["expires_in"], 120, "{body}");
    let refreshed = refresh_ok(&app, str_field(&body, "refresh_token")).await;
    assert_eq!(refreshed["expires_in"], 120, "{refreshed}");
}

#[tokio::test]
async fn refresh_issues_a_non_fresh_access_token_for_the_same_session_and_a_new_refresh_token() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let refresh = str_field(&login, "refresh_token");

    let body = refresh_ok(&app, refresh).await;
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["expires_in"], 900, "{body}");
    let new_refresh = str_field(&body, "refresh_token");
    assert_ne!(new_refresh, refresh, "the refresh token must rotate");
    let new_access = str_field(&body, "access_token");
    assert_ne!(new_access, str_field(&login, "access_token"));

    let claims = jwt_claims(new_access);
    assert_eq!(
        claims["sid"],
        jwt_claims(str_field(&login, "access_token"))["sid"],
        "{claims}"
    );
    assert_eq!(claims["fresh"], false, "{claims}");
    assert_eq!(claims["type"], "access", "{claims}");
    assert_eq!(claims["sub"], "alice", "{claims}");
    assert_eq!(claims["iss"], "tessera", "{claims}");

    assert_protected_ok(&app, new_access, "alice").await;
}

#[tokio::test]
async fn the_refresh_token_is_also_accepted_as_a_bearer_token_without_a_body() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let refresh = str_field(&login, "refresh_token");

    let response = unwrap_response(
        app.client
            .post(app.url("/refresh"))
            .bearer_auth(refresh)
            .send()
            .await,
    );
    let body = assert_ok(response).await;
    assert_ne!(str_field(&body, "refresh_token"), refresh);
    assert_eq!(sid_of(&body), sid_of(&login));
    assert_protected_ok(&app, str_field(&body, "access_token"), "alice").await;
}

#[tokio::test]
async fn each_rotated_refresh_token_can_be_refreshed_in_turn() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let a = str_field(&login, "refresh_token").to_owned();

    let second = refresh_ok(&app, &a).await;
    let b = str_field(&second, "refresh_token").to_owned();
    let third = refresh_ok(&app, &b).await;
    let c = str_field(&third, "refresh_token").to_owned();
    let fourth = refresh_ok(&app, &c).await;
    let d = str_field(&fourth, "refresh_token");

    let distinct: HashSet<&str> = [a.as_str(), b.as_str(), c.as_str(), d]
        .into_iter()
        .collect();
    assert_eq!(distinct.len(), 4, "every rotation yields a new token");
    for body in [&second, &third, &fourth] {
        assert_eq!(sid_of(body), sid_of(&login));
        assert_protected_ok(&app, str_field(body, "access_token"), "alice").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_of_one_token_all_get_the_same_successor() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let refresh = str_field(&login, "refresh_token").to_owned();

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = app.client.clone();
        let url = app.url("/refresh");
        let body = json!({ "refresh_token": refresh });
        tasks.spawn(async move {
            let response = unwrap_response(client.post(url).json(&body).send().await);
            status_and_json(response).await
        });
    }
    let mut answers = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        answers.push(joined.unwrap_or_else(|e| panic!("refresh task failed: {e}")));
    }
    assert_eq!(answers.len(), 20);
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }

    let successors: HashSet<&str> = answers
        .iter()
        .map(|(_, body)| str_field(body, "refresh_token"))
        .collect();
    assert_eq!(
        successors.len(),
        1,
        "all concurrent refreshes must get the same successor: {successors:?}"
    );
    let successor = successors.into_iter().next().unwrap_or_default().to_owned();
    assert_ne!(successor, refresh);

    for (_, body) in &answers {
        assert_eq!(sid_of(body), sid_of(&login));
        assert_protected_ok(&app, str_field(body, "access_token"), "alice").await;
    }
    let next = refresh_ok(&app, &successor).await;
    assert_ne!(str_field(&next, "refresh_token"), successor);
    assert_protected_ok(&app, str_field(&next, "access_token"), "alice").await;
    assert_protected_ok(&app, str_field(&login, "access_token"), "alice").await;
}

#[tokio::test]
async fn a_refresh_token_replayed_within_the_grace_window_gets_the_same_successor() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let a = str_field(&login, "refresh_token");

    let first = refresh_ok(&app, a).await;
    let replay = refresh_ok(&app, a).await;
    assert_eq!(
        str_field(&replay, "refresh_token"),
        str_field(&first, "refresh_token")
    );
    assert_protected_ok(&app, str_field(&replay, "access_token"), "alice").await;
    assert_protected_ok(&app, str_field(&first, "access_token"), "alice").await;
}

#[tokio::test]
async fn a_refresh_token_reused_after_the_grace_window_ends_the_whole_session() {
    let app = spawn_app_with(|c| c.refresh_grace_secs = 1).await;
    let login = app.signed_up("alice", PASSWORD).await;
    let other_device = login_again(&app, "alice").await;
    let a = str_field(&login, "refresh_token");

    let rotated = refresh_ok(&app, a).await;
    let b = str_field(&rotated, "refresh_token");
    tokio::time::sleep(Duration::from_millis(2200)).await;

    assert_error(
        app.refresh(a).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    )
    .await;
    // Neither the thief nor the victim keeps the session.
    assert_error(
        app.refresh(b).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    assert_revoked(&app, str_field(&login, "access_token")).await;
    assert_revoked(&app, str_field(&rotated, "access_token")).await;
    // A replay again is still refused.
    let again = app.refresh(a).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);

    // The user's other session is untouched.
    assert_protected_ok(&app, str_field(&other_device, "access_token"), "alice").await;
    refresh_ok(&app, str_field(&other_device, "refresh_token")).await;
}

#[tokio::test]
async fn an_access_token_presented_as_a_refresh_token_is_refused() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let access = str_field(&login, "access_token");
    assert_error(
        app.refresh(access).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    let response = unwrap_response(
        app.client
            .post(app.url("/refresh"))
            .bearer_auth(access)
            .send()
            .await,
    );
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    // The refusal does not hurt the session.
    refresh_ok(&app, str_field(&login, "refresh_token")).await;
}

#[tokio::test]
async fn a_refresh_token_presented_as_an_access_token_is_refused() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let refresh = str_field(&login, "refresh_token");
    assert_error(
        app.protected(refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    assert_error(
        app.sessions(refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn a_tampered_refresh_token_is_refused_and_the_session_survives() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let refresh = str_field(&login, "refresh_token");
    let forged = tampered(refresh);
    assert_ne!(forged, refresh);
    assert_error(
        app.refresh(&forged).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    assert_error(
        app.refresh("not-a-refresh-token").await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    refresh_ok(&app, refresh).await;
}

#[tokio::test]
async fn a_refresh_without_a_refresh_token_is_a_bad_request() {
    let app = spawn_app().await;
    assert_error(
        app.post_json("/refresh", &json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        app.post_json("/refresh", &json!({ "refresh_token": "" }))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let no_body = unwrap_response(app.client.post(app.url("/refresh")).send().await);
    assert_error(no_body, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn logout_without_a_body_ends_only_the_callers_session() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let elsewhere = login_again(&app, "alice").await;

    let body = assert_ok(app.logout(str_field(&here, "access_token"), None).await).await;
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(body["revoked_sessions"], 1, "{body}");

    assert_revoked(&app, str_field(&here, "access_token")).await;
    assert_error(
        app.refresh(str_field(&here, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;

    assert_protected_ok(&app, str_field(&elsewhere, "access_token"), "alice").await;
    let refreshed = refresh_ok(&app, str_field(&elsewhere, "refresh_token")).await;
    assert_protected_ok(&app, str_field(&refreshed, "access_token"), "alice").await;
}

#[tokio::test]
async fn logout_with_scope_local_ends_only_the_callers_session() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let elsewhere = login_again(&app, "alice").await;

    let body = assert_ok(
        app.logout(str_field(&here, "access_token"), Some("local"))
            .await,
    )
    .await;
    assert_eq!(body["revoked_sessions"], 1, "{body}");
    assert_revoked(&app, str_field(&here, "access_token")).await;
    assert_protected_ok(&app, str_field(&elsewhere, "access_token"), "alice").await;
}

#[tokio::test]
async fn logout_with_scope_others_ends_every_other_session_and_keeps_this_one() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let phone = login_again(&app, "alice").await;
    let laptop = login_again(&app, "alice").await;
    let bob = app.signed_up("bob", PASSWORD).await;

    let body = assert_ok(
        app.logout(str_field(&here, "access_token"), Some("others"))
            .await,
    )
    .await;
    assert_eq!(body["revoked_sessions"], 2, "{body}");

    for other in [&phone, &laptop] {
        assert_revoked(&app, str_field(other, "access_token")).await;
        assert_error(
            app.refresh(str_field(other, "refresh_token")).await,
            StatusCode::UNAUTHORIZED,
            "session_ended",
        )
        .await;
    }
    assert_protected_ok(&app, str_field(&here, "access_token"), "alice").await;
    let refreshed = refresh_ok(&app, str_field(&here, "refresh_token")).await;
    assert_protected_ok(&app, str_field(&refreshed, "access_token"), "alice").await;
    let left = listed_sessions(&app, str_field(&here, "access_token")).await;
    assert_eq!(listed_ids(&left), HashSet::from([sid_of(&here)]));
    // Another user is not touched.
    assert_protected_ok(&app, str_field(&bob, "access_token"), "bob").await;
}

#[tokio::test]
async fn logout_with_scope_global_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let phone = login_again(&app, "alice").await;
    let bob = app.signed_up("bob", PASSWORD).await;

    let body = assert_ok(
        app.logout(str_field(&here, "access_token"), Some("global"))
            .await,
    )
    .await;
    assert_eq!(body["revoked_sessions"], 2, "{body}");

    for session in [&here, &phone] {
        assert_revoked(&app, str_field(session, "access_token")).await;
        assert_error(
            app.refresh(str_field(session, "refresh_token")).await,
            StatusCode::UNAUTHORIZED,
            "session_ended",
        )
        .await;
    }
    assert_protected_ok(&app, str_field(&bob, "access_token"), "bob").await;
    refresh_ok(&app, str_field(&bob, "refresh_token")).await;
}

#[tokio::test]
async fn logout_with_an_unknown_scope_is_a_bad_request_and_ends_nothing() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let access = str_field(&here, "access_token");
    assert_error(
        app.logout(access, Some("everything")).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_protected_ok(&app, access, "alice").await;
}

#[tokio::test]
async fn logout_without_a_token_is_unauthorized() {
    let app = spawn_app().await;
    let response = app
        .post_json("/logout", &json!({ "scope": "global" }))
        .await;
    assert_error(response, StatusCode::UNAUTHORIZED, "missing_token").await;
    let no_body = unwrap_response(app.client.post(app.url("/logout")).send().await);
    assert_error(no_body, StatusCode::UNAUTHORIZED, "missing_token").await;
}

#[tokio::test]
async fn sessions_lists_the_callers_live_sessions_without_any_token_material() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("alice", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let login = |agent: &'static str| {
        let request = app
            .client
            .post(app.url("/login"))
            .header(header::USER_AGENT, agent)
            .json(&json!({ "username": "alice", "password": PASSWORD }));
        async move { assert_ok(unwrap_response(request.send().await)).await }
    };
    let before = now();
    let phone = login("TesseraPhone/1.0 (test)").await;
    let laptop = login("TesseraLaptop/2.0").await;
    let bob = app.signed_up("bob", PASSWORD).await;

    let response = app.sessions(str_field(&laptop, "access_token")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let raw = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("body: {e}"));
    for secret in [&phone, &laptop, &bob].iter().flat_map(|body| {
        [
            str_field(body, "access_token"),
            str_field(body, "refresh_token"),
        ]
    }) {
        assert!(
            !raw.contains(secret),
            "a token leaked into GET /sessions: {raw}"
        );
    }
    for word in ["digest", "nonce", "refresh", "counter", "password"] {
        assert!(
            !raw.to_ascii_lowercase().contains(word),
            "{word} appears in GET /sessions: {raw}"
        );
    }
    let body: Value =
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("not JSON ({e}): {raw}"));
    let sessions = body["sessions"].as_array().cloned().unwrap_or_default();

    assert_eq!(
        listed_ids(&sessions),
        HashSet::from([sid_of(&phone), sid_of(&laptop)]),
        "{body}"
    );
    assert!(!listed_ids(&sessions).contains(&sid_of(&bob)));
    let expected_keys: HashSet<&str> = [
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "user_agent",
        "ip",
        "current",
    ]
    .into_iter()
    .collect();
    for session in &sessions {
        let keys: HashSet<&str> = session
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys, expected_keys, "{session}");
        assert_eq!(session["ip"], "127.0.0.1", "{session}");
        let created = session["created_at"].as_i64().unwrap_or_default();
        assert!(created >= before && created <= now(), "{session}");
        assert!(
            session["last_used_at"].as_i64().unwrap_or_default() >= created,
            "{session}"
        );
        let expires = session["expires_at"].as_i64().unwrap_or_default();
        assert!(
            expires > created + 29 * 24 * 3600,
            "sessions last 30 days by default: {session}"
        );
    }
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "exactly one session is current: {body}");
    assert_eq!(current[0]["id"], sid_of(&laptop).as_str());
    assert_eq!(current[0]["user_agent"], "TesseraLaptop/2.0");
    let phone_entry = sessions.iter().find(|s| s["id"] == sid_of(&phone).as_str());
    assert_eq!(
        phone_entry.map(|s| &s["user_agent"]),
        Some(&json!("TesseraPhone/1.0 (test)"))
    );
    assert_eq!(phone_entry.map(|s| &s["current"]), Some(&json!(false)));

    // From the phone's point of view, the phone is current.
    let seen_by_phone = listed_sessions(&app, str_field(&phone, "access_token")).await;
    let current_ids: Vec<&str> = seen_by_phone
        .iter()
        .filter(|s| s["current"] == true)
        .map(|s| str_field(s, "id"))
        .collect();
    assert_eq!(current_ids, vec![sid_of(&phone).as_str()]);

    // Bob sees only his own.
    let bobs = listed_sessions(&app, str_field(&bob, "access_token")).await;
    assert_eq!(listed_ids(&bobs), HashSet::from([sid_of(&bob)]));
}

#[tokio::test]
async fn sessions_requires_an_access_token() {
    let app = spawn_app().await;
    assert_error(
        app.get("/sessions").await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;
}

#[tokio::test]
async fn ended_sessions_disappear_from_the_list() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let phone = login_again(&app, "alice").await;
    assert_eq!(
        listed_sessions(&app, str_field(&here, "access_token"))
            .await
            .len(),
        2
    );
    assert_ok(app.logout(str_field(&phone, "access_token"), None).await).await;
    let left = listed_sessions(&app, str_field(&here, "access_token")).await;
    assert_eq!(listed_ids(&left), HashSet::from([sid_of(&here)]));
}

#[tokio::test]
async fn deleting_one_of_the_callers_sessions_ends_it() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let phone = login_again(&app, "alice").await;
    let access = str_field(&here, "access_token");

    let body = assert_ok(app.delete_session(access, &sid_of(&phone)).await).await;
    assert!(body["message"].is_string(), "{body}");

    assert_revoked(&app, str_field(&phone, "access_token")).await;
    assert_error(
        app.refresh(str_field(&phone, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    let left = listed_sessions(&app, access).await;
    assert_eq!(listed_ids(&left), HashSet::from([sid_of(&here)]));
    assert_protected_ok(&app, access, "alice").await;

    // Ending it again: it is no longer there.
    assert_error(
        app.delete_session(access, &sid_of(&phone)).await,
        StatusCode::NOT_FOUND,
        "session_not_found",
    )
    .await;
}

#[tokio::test]
async fn deleting_another_users_session_is_not_found_and_leaves_it_alone() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice", PASSWORD).await;
    let bob = app.signed_up("bob", PASSWORD).await;

    let response = app
        .delete_session(str_field(&alice, "access_token"), &sid_of(&bob))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "session_not_found").await;
    let response = app
        .delete_session(str_field(&alice, "access_token"), "no-such-session")
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "session_not_found").await;

    assert_protected_ok(&app, str_field(&bob, "access_token"), "bob").await;
    let refreshed = refresh_ok(&app, str_field(&bob, "refresh_token")).await;
    assert_protected_ok(&app, str_field(&refreshed, "access_token"), "bob").await;
    let bobs = listed_sessions(&app, str_field(&bob, "access_token")).await;
    assert_eq!(listed_ids(&bobs), HashSet::from([sid_of(&bob)]));
}

#[tokio::test]
async fn deleting_a_session_requires_an_access_token() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice", PASSWORD).await;
    let response = unwrap_response(
        app.client
            .delete(app.url(&format!("/sessions/{}", sid_of(&alice))))
            .send()
            .await,
    );
    assert_error(response, StatusCode::UNAUTHORIZED, "missing_token").await;
    assert_protected_ok(&app, str_field(&alice, "access_token"), "alice").await;
}

#[tokio::test]
async fn a_session_past_its_lifetime_can_no_longer_be_refreshed() {
    let app = spawn_app_with(|c| c.session_ttl_secs = 1).await;
    let login = app.signed_up("alice", PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_error(
        app.refresh(str_field(&login, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    // An expired session is not listed as live.
    let listed = listed_sessions(&app, str_field(&login, "access_token")).await;
    assert!(listed.is_empty(), "{listed:?}");
}

#[tokio::test]
async fn an_idle_session_can_no_longer_be_refreshed() {
    let app = spawn_app_with(|c| c.session_idle_timeout_secs = 1).await;
    let login = app.signed_up("alice", PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_error(
        app.refresh(str_field(&login, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
}

#[tokio::test]
async fn refreshing_keeps_a_session_from_going_idle() {
    let app = spawn_app_with(|c| c.session_idle_timeout_secs = 3).await;
    let login = app.signed_up("alice", PASSWORD).await;
    let mut refresh = str_field(&login, "refresh_token").to_owned();
    // 3.6 s after login, longer than the idle timeout, yet never idle for more than 1.2 s.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let body = refresh_ok(&app, &refresh).await;
        refresh = str_field(&body, "refresh_token").to_owned();
    }
    tokio::time::sleep(Duration::from_millis(4200)).await;
    assert_error(
        app.refresh(&refresh).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
}

#[tokio::test]
async fn a_revocation_written_to_the_database_by_another_process_is_seen_by_the_poll() {
    let app = spawn_app().await;
    let (status, registered) = status_and_json(app.register("alice", PASSWORD).await).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let user_id = registered["user"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no user id in {registered}"));
    let login = login_again(&app, "alice").await;
    let bob = app.signed_up("bob", PASSWORD).await;
    let access = str_field(&login, "access_token");
    assert_protected_ok(&app, access, "alice").await;

    // As another instance or the CLI would: straight in the database, past this instance's memory.
    let revoked = app
        .tessera
        .store()
        .revoke_user_sessions(user_id, None, LogoutScope::Global, now(), "test")
        .await
        .unwrap_or_else(|e| panic!("revoking in the database: {e}"));
    assert_eq!(revoked, vec![sid_of(&login)]);

    let mut last = None;
    for _ in 0..20 {
        let response = app.protected(access).await;
        if response.status() == StatusCode::UNAUTHORIZED {
            last = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = last.unwrap_or_else(|| panic!("the revocation was not seen within 2 s"));
    assert_error(response, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_error(
        app.refresh(str_field(&login, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    assert_protected_ok(&app, str_field(&bob, "access_token"), "bob").await;
}

#[tokio::test]
async fn api_prefixed_routes_share_the_same_sessions() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let refreshed = assert_ok(
        app.post_json(
            "/api/refresh",
            &json!({ "refresh_token": str_field(&login, "refresh_token") }),
        )
        .await,
    )
    .await;
    assert_eq!(sid_of(&refreshed), sid_of(&login));
    let access = str_field(&refreshed, "access_token");
    let listed = assert_ok(app.get_with_token("/api/sessions", access).await).await;
    assert_eq!(
        listed["sessions"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let response = unwrap_response(
        app.client
            .post(app.url("/api/logout"))
            .bearer_auth(access)
            .send()
            .await,
    );
    assert_ok(response).await;
    assert_revoked(&app, str_field(&login, "access_token")).await;
}

#[tokio::test]
async fn deleting_the_callers_own_current_session_ends_it() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let phone = login_again(&app, "alice").await;
    let access = str_field(&here, "access_token");

    assert_ok(app.delete_session(access, &sid_of(&here)).await).await;
    assert_revoked(&app, access).await;
    assert_error(
        app.refresh(str_field(&here, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    let left = listed_sessions(&app, str_field(&phone, "access_token")).await;
    assert_eq!(listed_ids(&left), HashSet::from([sid_of(&phone)]));
}

#[tokio::test]
async fn a_long_user_agent_is_kept_cut_to_256_characters() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("alice", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let agent = "x".repeat(300);
    let response = unwrap_response(
        app.client
            .post(app.url("/login"))
            .header(header::USER_AGENT, agent.as_str())
            .json(&json!({ "username": "alice", "password": PASSWORD }))
            .send()
            .await,
    );
    let login = assert_ok(response).await;
    let listed = listed_sessions(&app, str_field(&login, "access_token")).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["user_agent"], agent[..256], "{listed:?}");
}

#[tokio::test]
async fn a_session_logged_in_without_a_user_agent_lists_it_as_null() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let listed = listed_sessions(&app, str_field(&login, "access_token")).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["user_agent"], Value::Null, "{listed:?}");
    assert_eq!(listed[0]["current"], true, "{listed:?}");
}

#[tokio::test]
async fn refreshing_updates_the_sessions_last_use() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", PASSWORD).await;
    let before = listed_sessions(&app, str_field(&login, "access_token")).await;
    let created = before[0]["created_at"].as_i64().unwrap_or_default();
    assert_eq!(before[0]["last_used_at"], created, "{before:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refreshed = refresh_ok(&app, str_field(&login, "refresh_token")).await;
    let after = listed_sessions(&app, str_field(&refreshed, "access_token")).await;
    assert_eq!(after[0]["created_at"], created, "{after:?}");
    assert!(
        after[0]["last_used_at"].as_i64().unwrap_or_default() > created,
        "{after:?}"
    );
    assert_eq!(after[0]["current"], true, "{after:?}");
}
