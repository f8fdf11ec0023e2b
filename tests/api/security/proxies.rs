//! Behind trusted proxies, exactly one forwarding header is read: the one configured.

use serde_json::{Value, json};
use tessera::config::ForwardedHeader;

use crate::helpers::{TestApp, spawn_app_with, status_and_json, str_field, unwrap_response};

const PASSWORD: &str = "correct-horse";

async fn login_with_headers(app: &TestApp, headers: &[(&str, &str)]) -> Value {
    let mut request = app
        .client
        .post(app.url("/login"))
        .json(&json!({"username": "alice", "password": PASSWORD}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (status, body) = status_and_json(unwrap_response(request.send().await)).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    body
}

async fn recorded_ip(app: &TestApp, login: &Value) -> Value {
    let (_, body) = status_and_json(app.sessions(str_field(login, "access_token")).await).await;
    let sessions = body["sessions"].as_array().cloned().unwrap_or_default();
    sessions
        .into_iter()
        .find(|s| s["current"] == true)
        .map(|s| s["ip"].clone())
        .unwrap_or(Value::Null)
}

fn loopback_proxy() -> Vec<ipnet::IpNet> {
    vec!["127.0.0.0/8".parse().unwrap_or_else(|e| panic!("{e}"))]
}

/// A proxy that writes only `Forwarded` passes the client's own `X-Forwarded-For` through:
/// that claim must not become the client's address.
async fn behind_a_forwarded_proxy_a_client_sent_x_forwarded_for_is_ignored() {
    let app = spawn_app_with(|c| {
        c.trusted_proxies = loopback_proxy();
        c.forwarded_header = ForwardedHeader::Forwarded;
    })
    .await;
    app.register("alice", PASSWORD).await;
    let login = login_with_headers(
        &app,
        &[
            ("x-forwarded-for", "198.51.100.66"),
            ("forwarded", "for=203.0.113.9;proto=https"),
        ],
    )
    .await;
    assert_eq!(recorded_ip(&app, &login).await, "203.0.113.9");
}

/// With `x-forwarded-for` configured, `Forwarded` is never read as a fallback.
async fn behind_an_x_forwarded_for_proxy_forwarded_is_never_a_fallback() {
    let app = spawn_app_with(|c| {
        c.trusted_proxies = loopback_proxy();
        c.forwarded_header = ForwardedHeader::XForwardedFor;
    })
    .await;
    app.register("alice", PASSWORD).await;
    let login = login_with_headers(&app, &[("forwarded", "for=203.0.113.9")]).await;
    assert_eq!(recorded_ip(&app, &login).await, "127.0.0.1");
    let login = login_with_headers(
        &app,
        &[
            ("forwarded", "for=203.0.113.9"),
            ("x-forwarded-for", "192.0.2.7"),
        ],
    )
    .await;
    assert_eq!(recorded_ip(&app, &login).await, "192.0.2.7");
}

crate::backend_tests!(
    behind_a_forwarded_proxy_a_client_sent_x_forwarded_for_is_ignored,
    behind_an_x_forwarded_for_proxy_forwarded_is_never_a_fallback,
);
