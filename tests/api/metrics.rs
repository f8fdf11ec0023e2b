//! `GET /metrics`: Prometheus names and labels, request counts by matched route, and the
//! domain counters emitted where the events happen.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_with, status_and_json, str_field};

/// The scraped text.
async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap_or_default()
}

/// The value of one series (`name{labels}` exactly as rendered), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
}

async fn requests_are_counted_by_matched_route_and_status() {
    let app = spawn_app().await;
    app.register("metrics-alice", "correct-horse").await;
    app.login("metrics-alice", "wrong-horse!").await;
    let body = app.signed_up("metrics-bob", "correct-horse").await;
    let token = str_field(&body, "access_token");
    app.delete_session(token, "no-such-session-id").await;
    app.get("/no/such/path").await;
    let api = app.post_json("/api/login", &json!({"username": "x"})).await;
    assert_eq!(api.status(), StatusCode::BAD_REQUEST);

    let text = scrape(&app).await;
    assert_eq!(
        value(
            &text,
            r#"tessera_http_requests_total{route="/register",status="201"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            r#"tessera_http_requests_total{route="/login",status="401"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"tessera_http_requests_total{route="/login",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"tessera_http_requests_total{route="/api/login",status="400"}"#
        ),
        1.0
    );
    // The route template, never the id a client sent.
    assert_eq!(
        value(
            &text,
            r#"tessera_http_requests_total{route="/sessions/{id}",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"tessera_http_requests_total{route="unmatched",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"tessera_http_request_duration_seconds_count{route="/login",status="200"}"#
        ),
        1.0
    );
    assert!(text.contains(
        r#"tessera_http_request_duration_seconds_bucket{route="/login",status="200",le="+Inf"} 1"#
    ));
    for secret in [
        "metrics-alice",
        "metrics-bob",
        "no-such-session-id",
        "/no/such/path",
        token,
    ] {
        assert!(!text.contains(secret), "{secret} leaked into /metrics");
    }
}

async fn domain_events_are_counted_where_they_happen() {
    let app = spawn_app_with(|c| c.refresh_grace_secs = 1).await;
    let body = app.signed_up("carol", "correct-horse").await;
    app.login("carol", "wrong-horse!").await;
    app.login("nobody-here", "wrong-horse!").await;
    let first_refresh = str_field(&body, "refresh_token").to_owned();
    let (status, _) = status_and_json(app.refresh(&first_refresh).await).await;
    assert_eq!(status, StatusCode::OK);
    // Again at once: a concurrent duplicate, answered from the grace window.
    let (status, _) = status_and_json(app.refresh(&first_refresh).await).await;
    assert_eq!(status, StatusCode::OK);
    // Again after the window: reuse, and the session is revoked.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let (status, _) = status_and_json(app.refresh(&first_refresh).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.refresh("not-a-refresh-token").await;
    let second = app.signed_up("dave", "correct-horse").await;
    app.logout(str_field(&second, "access_token"), None).await;
    let live = app.signed_up("erin", "correct-horse").await;
    assert!(live["access_token"].is_string());

    let text = scrape(&app).await;
    assert_eq!(value(&text, "tessera_registrations_total"), 3.0);
    assert_eq!(
        value(&text, r#"tessera_logins_total{outcome="success"}"#),
        3.0
    );
    assert_eq!(
        value(
            &text,
            r#"tessera_logins_total{outcome="invalid_credentials"}"#
        ),
        2.0
    );
    assert_eq!(
        value(&text, r#"tessera_logins_total{outcome="rate_limited"}"#),
        0.0
    );
    assert_eq!(
        value(&text, r#"tessera_refreshes_total{outcome="rotated"}"#),
        1.0
    );
    assert_eq!(
        value(&text, r#"tessera_refreshes_total{outcome="reused"}"#),
        1.0
    );
    assert_eq!(
        value(&text, r#"tessera_refreshes_total{outcome="invalid"}"#),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"tessera_session_revocations_total{reason="refresh_token_reused"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"tessera_session_revocations_total{reason="logout"}"#
        ),
        1.0
    );
    // carol's session was revoked, dave logged out: erin's is the one live session. The
    // gauge is recounted in the background (every second in tests), never per scrape.
    let mut active = sample(&text, "tessera_active_sessions");
    for _ in 0..30 {
        if active == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        active = sample(&scrape(&app).await, "tessera_active_sessions");
    }
    assert_eq!(active, Some(1.0));
    assert_eq!(value(&text, "tessera_password_hash_queue_depth"), 0.0);
    // 3 registrations and 5 logins, each one hash.
    assert_eq!(
        value(&text, "tessera_password_hash_duration_seconds_count"),
        8.0
    );
    assert!(text.contains("# TYPE tessera_password_hash_duration_seconds histogram"));
}

async fn rate_limit_refusals_are_counted_by_limit() {
    let app = spawn_app_with(|c| {
        c.rate_limits =
            crate::helpers::only_limits(|l| l.login_per_ip = crate::helpers::limit(1, 1));
    })
    .await;
    app.login("frank", "whatever-pw").await;
    assert_eq!(
        app.login("frank", "whatever-pw").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let text = scrape(&app).await;
    assert_eq!(
        value(&text, r#"tessera_rate_limited_total{limit="login_per_ip"}"#),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"tessera_rate_limited_total{limit="login_per_user_ip"}"#
        ),
        0.0
    );
    assert_eq!(
        value(&text, r#"tessera_logins_total{outcome="rate_limited"}"#),
        1.0
    );
}

crate::backend_tests!(
    requests_are_counted_by_matched_route_and_status,
    domain_events_are_counted_where_they_happen,
    rate_limit_refusals_are_counted_by_limit,
);

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let app = spawn_app_with(|c| c.metrics_enabled = false).await;
    let (status, body) = status_and_json(app.get("/metrics").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    let (_, document) = status_and_json(app.get("/openapi.json").await).await;
    assert!(document["paths"].get("/metrics").is_none());
}

#[tokio::test]
async fn apps_in_one_process_keep_separate_metrics() {
    let (first, second) = (spawn_app().await, spawn_app().await);
    first.register("only-in-first", "correct-horse").await;
    assert_eq!(
        value(&scrape(&first).await, "tessera_registrations_total"),
        1.0
    );
    assert_eq!(
        value(&scrape(&second).await, "tessera_registrations_total"),
        0.0
    );
}
