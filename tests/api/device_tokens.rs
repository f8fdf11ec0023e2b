//! Device tokens (issue 23, item 4; OWASP's device cookies): every successful login hands
//! out one; a login that presents a valid one for its name skips the per-name back-off
//! that others' failures triggered and hashes in the pool's reserved share; failures with
//! a token count against it, and lock it out after `device_tokens.max_failures`.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use tessera::Config;

use crate::browser::set_cookies;
use crate::helpers::{
    TestApp, assert_error, spawn_app_with, status_and_json, str_field, unwrap_response,
};

const PASSWORD: &str = "correct-horse";

/// A back-off that refuses a name's second attempt for a minute: after one failure by
/// someone else, a normal login to the name answers `429`.
fn strict_backoff(c: &mut Config) {
    c.login_backoff.threshold = 1;
    c.login_backoff.base_delay_ms = 60_000;
    c.login_backoff.max_delay_ms = 60_000;
}

async fn login(
    app: &TestApp,
    name: &str,
    password: &str,
    device: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({ "username": name, "password": password });
    if let Some(token) = device {
        body["device_token"] = json!(token);
    }
    app.post_json("/login", &body).await
}

/// Logs in and returns the device token of the answer.
async fn device_token(app: &TestApp, name: &str, device: Option<&str>) -> String {
    let (status, body) = status_and_json(login(app, name, PASSWORD, device).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    str_field(&body, "device_token").to_owned()
}

async fn register(app: &TestApp, name: &str) {
    let status = app.register(name, PASSWORD).await.status();
    assert_eq!(status, StatusCode::CREATED);
}

/// A `401 invalid_credentials`: the password was checked.
async fn assert_checked(response: reqwest::Response) {
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

/// A `429 rate_limited`: the per-name back-off held the login back.
async fn assert_spaced_out(response: reqwest::Response) -> Value {
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await
}

/// Someone else guesses at `name` until its back-off refuses a normal login.
async fn others_trigger_the_backoff(app: &TestApp, name: &str) {
    assert_checked(login(app, name, "guess", None).await).await;
    assert_spaced_out(login(app, name, PASSWORD, None).await).await;
}

async fn a_successful_login_returns_a_device_token() {
    let app = spawn_app_with(|_| {}).await;
    let body = app.signed_up("alice", PASSWORD).await;
    let token = str_field(&body, "device_token");
    assert!(token.len() >= 70, "{token}");
    // The seed's fields are all still there.
    assert_eq!(body["message"], "Login successful");
    assert!(body["access_token"].is_string() && body["user"]["username"] == "alice");
    // Each login gets its own.
    let again = device_token(&app, "alice", Some(token)).await;
    assert_ne!(again, token);

    let off = spawn_app_with(|c| c.device_tokens.enabled = false).await;
    let body = off.signed_up("alice", PASSWORD).await;
    assert!(body.get("device_token").is_none(), "{body}");
}

async fn a_device_token_gets_past_the_backoff_others_triggered() {
    let app = spawn_app_with(strict_backoff).await;
    register(&app, "Alice").await;
    let token = device_token(&app, "Alice", None).await;
    others_trigger_the_backoff(&app, "alice").await;
    // The token binds to the name, whatever its case or width.
    let next = device_token(&app, "ＡＬＩＣＥ", Some(&token)).await;
    // The old token stays good until it expires, and so does the new one.
    let _ = device_token(&app, "alice", Some(&token)).await;
    let _ = device_token(&app, "alice", Some(&next)).await;
    // A wrong password with the token is checked (`401`), not spaced out.
    assert_checked(login(&app, "alice", "guess", Some(&next)).await).await;
    // Without one, the back-off still holds (a known device's success does not reset it).
    assert_spaced_out(login(&app, "alice", PASSWORD, None).await).await;
}

/// The token with one character changed (every base64url character carries 6 bits of it).
fn tampered(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() / 3;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

async fn tokens_of_another_name_tampered_or_from_another_deployment_give_no_priority() {
    let app = spawn_app_with(strict_backoff).await;
    for name in ["alice", "bob"] {
        register(&app, name).await;
    }
    let alices = device_token(&app, "alice", None).await;
    let bobs = device_token(&app, "bob", None).await;
    // Another deployment (its own database, so its own device-token key).
    let other = spawn_app_with(strict_backoff).await;
    register(&other, "alice").await;
    let elsewhere = device_token(&other, "alice", None).await;

    others_trigger_the_backoff(&app, "alice").await;
    let cases = [
        ("another name's", bobs.clone()),
        ("tampered", tampered(&alices)),
        ("another deployment's", elsewhere),
        ("malformed", "not-a-device-token".to_owned()),
        ("oversized", "A".repeat(5000)),
    ];
    for (case, token) in cases {
        // A normal login, refused as one: nothing tells the token was looked at.
        let body = assert_spaced_out(login(&app, "alice", PASSWORD, Some(&token)).await).await;
        assert!(!body.to_string().contains("device"), "{case}: {body}");
    }
    // Alice's own still works; and a token that is not a string is bad input.
    let _ = device_token(&app, "alice", Some(&alices)).await;
    let response = app
        .post_json(
            "/login",
            &json!({"username": "alice", "password": PASSWORD, "device_token": 7}),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

async fn an_expired_device_token_gives_no_priority() {
    let app = spawn_app_with(|c| {
        strict_backoff(c);
        c.device_tokens.ttl_secs = 1;
    })
    .await;
    register(&app, "carol").await;
    let token = device_token(&app, "carol", None).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    others_trigger_the_backoff(&app, "carol").await;
    assert_spaced_out(login(&app, "carol", PASSWORD, Some(&token)).await).await;
}

async fn failures_with_a_device_token_lock_it_out_and_a_success_forgets_them() {
    let app = spawn_app_with(|c| {
        strict_backoff(c);
        c.device_tokens.max_failures = 2;
    })
    .await;
    register(&app, "dave").await;
    let stolen = device_token(&app, "dave", None).await;
    let own = device_token(&app, "dave", None).await;
    // A success forgets the failures: wrong, right, wrong, right never reaches two.
    for _ in 0..2 {
        assert_checked(login(&app, "dave", "guess", Some(&own)).await).await;
        let _ = device_token(&app, "dave", Some(&own)).await;
    }
    // Two failures with the stolen token: checked, each a plain `401`.
    for _ in 0..2 {
        assert_checked(login(&app, "dave", "guess", Some(&stolen)).await).await;
    }
    let counted = app
        .sql("SELECT CAST(attempts AS TEXT) FROM device_attempts")
        .await;
    assert_eq!(
        counted,
        vec!["2".to_owned()],
        "one row, for the stolen token"
    );
    // Locked out: the stolen token's logins are normal ones, under the per-name back-off
    // (its third guess is the name's first counted attempt, the next one is spaced out).
    assert_checked(login(&app, "dave", "guess", Some(&stolen)).await).await;
    assert_spaced_out(login(&app, "dave", PASSWORD, Some(&stolen)).await).await;
    // The owner's other token is its own: still a known device.
    let _ = device_token(&app, "dave", Some(&own)).await;
}

async fn a_browser_gets_a_device_cookie_and_presents_it_at_the_next_login() {
    let app = spawn_app_with(strict_backoff).await;
    register(&app, "erin").await;
    let response = app
        .post_json(
            "/login",
            &json!({"username": "erin", "password": PASSWORD, "transport": "cookie"}),
        )
        .await;
    let headers = response.headers().clone();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.get("device_token").is_none(),
        "in the cookie only: {body}"
    );
    let cookies = set_cookies(&headers);
    let [device] = &cookies
        .iter()
        .filter(|c| c.name == "__Host-device_token")
        .collect::<Vec<_>>()[..]
    else {
        panic!("one device cookie: {cookies:?}")
    };
    assert!(device.http_only && device.secure, "{device:?}");
    assert_eq!(device.path.as_deref(), Some("/"));
    assert_eq!(device.domain, None);
    assert_eq!(device.max_age, Some(365 * 24 * 3600));

    others_trigger_the_backoff(&app, "erin").await;
    let request = app
        .client
        .post(app.url("/login"))
        .header(COOKIE, format!("__Host-device_token={}", device.value))
        .json(&json!({"username": "erin", "password": PASSWORD}));
    let (status, body) = status_and_json(unwrap_response(request.send().await)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

crate::backend_tests!(
    a_successful_login_returns_a_device_token,
    a_device_token_gets_past_the_backoff_others_triggered,
    tokens_of_another_name_tampered_or_from_another_deployment_give_no_priority,
    an_expired_device_token_gives_no_priority,
    failures_with_a_device_token_lock_it_out_and_a_success_forgets_them,
    a_browser_gets_a_device_cookie_and_presents_it_at_the_next_login,
);

/// `tessera_password_hash_queue_depth` now.
async fn hashes_in_flight(app: &TestApp) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("tessera_password_hash_queue_depth "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// One worker, no queue, one reserved place, and hashes slow enough (about a second) that
/// the pool is certainly still full when the next requests arrive: no timing is asserted,
/// only who is admitted while it is full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_device_is_served_from_the_reserved_share_while_the_pool_is_full() {
    let app = spawn_app_with(|c| {
        c.hash_workers = 1;
        c.hash_queue = 0;
        c.device_tokens.reserved_places = 1;
        c.device_tokens.reserved_workers = 1;
        c.argon2.memory_kib = 1024;
        c.argon2.iterations = 1000;
    })
    .await;
    register(&app, "frank").await;
    let token = device_token(&app, "frank", None).await;

    let flood = {
        let (client, url) = (app.client.clone(), app.url("/login"));
        tokio::spawn(async move {
            let body = json!({"username": "mallory", "password": "guess"});
            unwrap_response(client.post(url).json(&body).send().await).status()
        })
    };
    while hashes_in_flight(&app).await < 1.0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The shared part (one place) is taken: a normal login is turned away at once...
    let body: Value = assert_error(
        login(&app, "frank", PASSWORD, None).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
    )
    .await;
    assert!(body["message"].is_string());
    // ...while the known device waits for the worker in its own place, and gets in.
    let (status, body) = status_and_json(login(&app, "frank", PASSWORD, Some(&token)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        flood.await.unwrap_or_else(|e| panic!("{e}")),
        StatusCode::UNAUTHORIZED
    );
}

/// The hosted pages sign in through the same service: a sign-in sets the device cookie,
/// and the next sign-in in that browser presents it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_page_sets_the_device_cookie_and_presents_it() {
    use crate::pages::Browser;
    const COOKIE_NAME: &str = "__Host-device_token";
    let app = spawn_app_with(strict_backoff).await;
    register(&app, "gina").await;
    let mut first = Browser::new(&app);
    let answer = first.sign_in("gina", PASSWORD, "").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let device = first
        .cookies
        .get(COOKIE_NAME)
        .unwrap_or_else(|| panic!("no device cookie: {:?}", first.cookies.keys()))
        .clone();

    others_trigger_the_backoff(&app, "gina").await;
    // The same browser, signed out (only its device cookie kept): it gets in.
    let mut known = Browser::new(&app);
    known.cookies.insert(COOKIE_NAME.to_owned(), device);
    let answer = known.sign_in("gina", PASSWORD, "").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert!(known.has_session());
    // Another browser waits out the back-off.
    let mut other = Browser::new(&app);
    let answer = other.sign_in("gina", PASSWORD, "").await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.body
    );
    assert!(!other.has_session());
}
