//! Abuse protection over real HTTP: client address resolution, rate limits, the per-name
//! login back-off, and connection limits against slow or oversized clients.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    TestApp, assert_error, limit, only_limits, spawn_app, spawn_app_with, status_and_json,
    str_field, unwrap_response,
};

const PASSWORD: &str = "correct-horse";
async fn login_from(
    app: &TestApp,
    forwarded_for: Option<&str>,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/login"))
        .json(&json!({"username": username, "password": password}));
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    unwrap_response(request.send().await)
}

async fn recorded_ip(app: &TestApp, login: &Value) -> Value {
    let (_, body) = status_and_json(app.sessions(str_field(login, "access_token")).await).await;
    body["sessions"][0]["ip"].clone()
}

async fn assert_rate_limited(response: reqwest::Response) {
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

async fn a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let app = spawn_app().await;
    app.register("alice", PASSWORD).await;
    let response = login_from(&app, Some("203.0.113.9"), "alice", PASSWORD).await;
    let (_, login) = status_and_json(response).await;
    assert_eq!(recorded_ip(&app, &login).await, "127.0.0.1");
}

async fn behind_a_trusted_proxy_the_forwarded_client_is_recorded() {
    let app = spawn_app_with(|c| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap_or_else(|e| panic!("{e}"))]
    })
    .await;
    app.register("alice", PASSWORD).await;
    // The leftmost entry is the client's own claim; the rightmost untrusted hop is the truth.
    let response = login_from(&app, Some("198.51.100.1, 203.0.113.9"), "alice", PASSWORD).await;
    let (_, login) = status_and_json(response).await;
    assert_eq!(recorded_ip(&app, &login).await, "203.0.113.9");
}

async fn logins_over_the_per_address_limit_get_429_with_retry_after() {
    let app =
        spawn_app_with(|c| c.rate_limits = only_limits(|l| l.login_per_ip = limit(6, 3))).await;
    for name in ["a1", "a2", "a3"] {
        assert_eq!(
            login_from(&app, None, name, "wrong-password")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_rate_limited(login_from(&app, None, "a4", "wrong-password").await).await;
}

async fn spoofing_forwarded_for_does_not_buy_a_fresh_limit() {
    let app =
        spawn_app_with(|c| c.rate_limits = only_limits(|l| l.login_per_ip = limit(6, 2))).await;
    for xff in ["192.0.2.1", "192.0.2.2"] {
        assert_eq!(
            login_from(&app, Some(xff), "x", "wrong-password")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_rate_limited(login_from(&app, Some("192.0.2.3"), "x", "wrong-password").await).await;
}

async fn behind_a_trusted_proxy_each_client_has_its_own_limit() {
    let app = spawn_app_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap_or_else(|e| panic!("{e}"))];
        c.rate_limits = only_limits(|l| l.login_per_ip = limit(6, 2));
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            login_from(&app, Some("192.0.2.1"), "x", "wrong-password")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_rate_limited(login_from(&app, Some("192.0.2.1"), "x", "wrong-password").await).await;
    assert_eq!(
        login_from(&app, Some("192.0.2.2"), "x", "wrong-password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // IPv6 clients are one client per /64.
    assert_eq!(
        login_from(&app, Some("2001:db8:1:2::1"), "x", "wrong-password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, Some("2001:db8:1:2::2"), "x", "wrong-password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_rate_limited(
        login_from(&app, Some("2001:db8:1:2:ffff::3"), "x", "wrong-password").await,
    )
    .await;
}

async fn guessing_one_name_from_one_address_is_limited_without_locking_others_out() {
    let app = spawn_app_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap_or_else(|e| panic!("{e}"))];
        c.rate_limits = only_limits(|l| l.login_per_user_ip = limit(1, 2));
    })
    .await;
    app.register("victim", PASSWORD).await;
    let attacker = Some("198.51.100.66");
    for _ in 0..2 {
        assert_eq!(
            login_from(&app, attacker, "victim", "guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_rate_limited(login_from(&app, attacker, "Victim", "guess").await).await;
    // The attacker may still try other names, and the real user, elsewhere, gets in.
    assert_eq!(
        login_from(&app, attacker, "someone-else", "guess")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, Some("203.0.113.5"), "victim", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn registrations_and_refreshes_are_limited_per_address() {
    let app = spawn_app_with(|c| {
        c.rate_limits = only_limits(|l| {
            l.register_per_ip = limit(6, 2);
            l.refresh_per_ip = limit(6, 2)
        })
    })
    .await;
    assert_eq!(
        app.register("r1", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.register("r2", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    assert_rate_limited(app.register("r3", PASSWORD).await).await;
    let (_, login) = status_and_json(app.login("r1", PASSWORD).await).await;
    let (_, first) = status_and_json(app.refresh(str_field(&login, "refresh_token")).await).await;
    let (status, _) = status_and_json(app.refresh(str_field(&first, "refresh_token")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_rate_limited(app.refresh(str_field(&first, "refresh_token")).await).await;
}

async fn assert_backoff(response: reqwest::Response) {
    assert_rate_limited(response).await;
}

async fn repeated_failures_space_out_a_names_attempts_and_a_success_resets_it() {
    // Steps of 1 s and 2 s, with margins of most of a second either way: a loaded machine
    // (a debug build's login takes a while) must not turn a wait into a pass or back.
    let app = spawn_app_with(|c| {
        c.login_backoff.threshold = 2;
        c.login_backoff.base_delay_ms = 1000;
        c.login_backoff.max_delay_ms = 2000;
    })
    .await;
    app.register("carol", PASSWORD).await;
    for _ in 0..2 {
        let response = app.login("carol", "wrong").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // At the threshold, the next check waits a step after the last one: refused, not slowed.
    assert_backoff(app.login("carol", "wrong").await).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        app.login("CAROL", "wrong").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The step doubles (2 s, the cap): still refused after the first step's time.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_backoff(app.login("carol", PASSWORD).await).await;
    // Never locked out: once the step has passed, the right password works and resets it.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(app.login("carol", PASSWORD).await.status(), StatusCode::OK);
    let started = Instant::now();
    assert_eq!(
        app.login("carol", "wrong").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "no wait after the reset"
    );
}

async fn the_back_off_treats_unknown_names_like_known_ones() {
    let app = spawn_app_with(|c| {
        c.login_backoff.threshold = 1;
        c.login_backoff.base_delay_ms = 5000;
    })
    .await;
    app.register("dave", PASSWORD).await;
    for name in ["dave", "nobody-by-this-name"] {
        assert_eq!(
            app.login(name, "wrong").await.status(),
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
        assert_backoff(app.login(name, "wrong").await).await;
    }
}

async fn the_back_off_is_shared_by_instances_on_one_database() {
    let configure = |c: &mut tessera::Config| {
        c.login_backoff.threshold = 1;
        c.login_backoff.base_delay_ms = 5000;
    };
    let app = spawn_app_with(configure).await;
    let other = crate::helpers::spawn_instance_beside(&app, configure).await;
    app.register("erin", PASSWORD).await;
    assert_eq!(
        app.login("erin", "wrong").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The other instance knows of the attempt.
    assert_backoff(other.login("erin", "wrong").await).await;
}

crate::backend_tests!(
    a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing,
    behind_a_trusted_proxy_the_forwarded_client_is_recorded,
    logins_over_the_per_address_limit_get_429_with_retry_after,
    spoofing_forwarded_for_does_not_buy_a_fresh_limit,
    behind_a_trusted_proxy_each_client_has_its_own_limit,
    guessing_one_name_from_one_address_is_limited_without_locking_others_out,
    registrations_and_refreshes_are_limited_per_address,
    repeated_failures_space_out_a_names_attempts_and_a_success_resets_it,
    the_back_off_treats_unknown_names_like_known_ones,
    the_back_off_is_shared_by_instances_on_one_database,
);

/// Sends raw bytes on a fresh connection and returns what the server answered before
/// closing, or `None` if it kept the connection open past `wait`.
async fn raw_exchange(app: &TestApp, bytes: &[u8], wait: Duration) -> Option<String> {
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    stream
        .write_all(bytes)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut received = Vec::new();
    match tokio::time::timeout(wait, stream.read_to_end(&mut received)).await {
        Ok(_) => Some(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn a_slow_client_is_cut_off_after_the_header_timeout() {
    let app = spawn_app_with(|c| c.header_read_timeout_secs = 1).await;
    let started = Instant::now();
    // A request head that never ends (slow loris).
    let closed = raw_exchange(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a",
        Duration::from_secs(5),
    )
    .await;
    assert!(closed.is_some(), "the server kept a half-sent request open");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
    let app = spawn_app_with(|c| c.header_read_timeout_secs = 1).await;
    let answered = raw_exchange(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let answered = answered.unwrap_or_else(|| panic!("an idle connection stayed open"));
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
}

#[tokio::test]
async fn oversized_request_heads_are_refused() {
    let app = spawn_app_with(|c| c.max_header_bytes = 8192).await;
    let response = unwrap_response(
        app.client
            .get(app.url("/healthz"))
            .header("x-big", "b".repeat(20_000))
            .send()
            .await,
    );
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}
