//! The breached-password check against a range server in HIBP's format, started by each
//! test on loopback: found, not found, padding, timeout and down, failing open (default)
//! and closed, and what the server gets to see (only a 5-hex-digit prefix).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::routing::get;
use reqwest::StatusCode;
use sha1::{Digest, Sha1};

use super::assert_refused;
use crate::helpers::{TestApp, assert_error, spawn_app_with, status_and_json};

/// Passes every local rule; the range server decides.
const PASSWORD: &str = "Gletscher-Kaffee-42";

/// What the range server does with each request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Lists `PASSWORD`'s suffix with this count (0: HIBP's padding), among other lines.
    Lists(u64),
    /// Answers only after 3 s, longer than any test's timeout.
    Hangs,
}

#[derive(Clone)]
struct RangeServer {
    behaviour: Behaviour,
    /// Every request seen: its path and query, and its headers' values.
    seen: Arc<Mutex<Vec<String>>>,
}

fn sha1_hex(password: &str) -> String {
    hex::encode_upper(Sha1::digest(password.as_bytes()))
}

async fn range(State(server): State<RangeServer>, request: Request) -> String {
    let mut seen = request.uri().to_string();
    for value in request.headers().values() {
        seen.push(' ');
        seen.push_str(&String::from_utf8_lossy(value.as_bytes()));
    }
    if let Ok(mut all) = server.seen.lock() {
        all.push(seen);
    }
    let count = match server.behaviour {
        Behaviour::Lists(count) => count,
        Behaviour::Hangs => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            1
        }
    };
    let suffix = &sha1_hex(PASSWORD)[5..];
    format!(
        "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{suffix}:{count}\r\nFFFF0000FFFF0000FFFF0000FFFF0000FFF:0"
    )
}

/// Starts a range server on a loopback port; returns its base URL and what it saw.
async fn start_range_server(behaviour: Behaviour) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/range/{prefix}", get(range))
        .with_state(RangeServer {
            behaviour,
            seen: seen.clone(),
        });
    let (listener, address) = loopback_listener().await;
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/"), seen)
}

/// A listener on a free loopback port, and its address.
async fn loopback_listener() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let address = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("address: {e}"));
    (listener, address)
}

/// A loopback URL where nothing listens (connection refused).
async fn down_url() -> String {
    let (listener, address) = loopback_listener().await;
    drop(listener);
    format!("http://{address}")
}

async fn app_checking_at(url: &str, fail_closed: bool) -> TestApp {
    let url = url.to_owned();
    spawn_app_with(move |c| {
        c.breached_passwords.api_url = Some(url);
        c.breached_passwords.timeout_ms = 300;
        c.breached_passwords.fail_closed = fail_closed;
    })
    .await
}

/// `tessera_breached_password_check_total{outcome="…"}` as the app's `/metrics` shows it.
async fn checks_counted(app: &TestApp, outcome: &str) -> String {
    let text = app.get("/metrics").await.text().await.unwrap_or_default();
    let series = format!("tessera_breached_password_check_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .unwrap_or("missing")
        .to_owned()
}

#[tokio::test]
async fn a_breached_password_is_refused_and_the_server_sees_only_the_prefix() {
    let (url, seen) = start_range_server(Behaviour::Lists(42)).await;
    let app = app_checking_at(&url, false).await;
    let (status, body) = status_and_json(app.register("mia", PASSWORD).await).await;
    assert_refused(status, &body, PASSWORD, "breach");
    assert_eq!(checks_counted(&app, "found").await, "1");

    let hash = sha1_hex(PASSWORD);
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with(&format!("/range/{} ", &hash[..5])),
        "{seen:?}"
    );
    for secret in [
        PASSWORD,
        &hash[5..],
        &hash[5..10],
        &hash.to_lowercase()[5..],
    ] {
        assert!(
            !seen[0].contains(secret),
            "the server saw {secret:?}: {seen:?}"
        );
    }
}

#[tokio::test]
async fn an_unlisted_password_or_a_padding_line_is_accepted() {
    let (url, seen) = start_range_server(Behaviour::Lists(0)).await;
    let app = app_checking_at(&url, true).await;
    let (status, body) = status_and_json(app.register("mia", PASSWORD).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(checks_counted(&app, "not_found").await, "1");
    assert_eq!(seen.lock().map(|s| s.len()).unwrap_or(0), 1);
}

#[tokio::test]
async fn a_password_the_local_rules_refuse_is_never_sent() {
    let (url, seen) = start_range_server(Behaviour::Lists(42)).await;
    let app = app_checking_at(&url, false).await;
    let (status, body) = status_and_json(app.register("mia", "P@ssw0rd").await).await;
    assert_refused(status, &body, "P@ssw0rd", "too common");
    assert!(seen.lock().map(|s| s.is_empty()).unwrap_or(false));
}

#[tokio::test]
async fn a_range_api_that_times_out_fails_open_by_default_and_closed_when_configured() {
    let (url, _) = start_range_server(Behaviour::Hangs).await;
    let open = app_checking_at(&url, false).await;
    let (status, body) = status_and_json(open.register("mia", PASSWORD).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(checks_counted(&open, "failed_open").await, "1");

    let closed = app_checking_at(&url, true).await;
    let body = assert_error(
        closed.register("mia", PASSWORD).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "breached_check_unavailable",
    )
    .await;
    assert!(!body.to_string().contains(PASSWORD), "{body}");
    assert_eq!(checks_counted(&closed, "failed_closed").await, "1");
    // Nothing was created: the name is still free.
    assert_eq!(
        closed.login("mia", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_range_api_that_is_down_fails_open_by_default_and_closed_when_configured() {
    let url = down_url().await;
    let open = app_checking_at(&url, false).await;
    let (status, body) = status_and_json(open.register("mia", PASSWORD).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(checks_counted(&open, "failed_open").await, "1");

    let closed = app_checking_at(&url, true).await;
    assert_error(
        closed.register("mia", PASSWORD).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "breached_check_unavailable",
    )
    .await;
    assert_eq!(checks_counted(&closed, "failed_closed").await, "1");
}
