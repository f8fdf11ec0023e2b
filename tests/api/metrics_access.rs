//! Who may scrape `/metrics` (issue 12, item 9): a bearer token (`metrics_token`) and/or a
//! listener of its own (`metrics_listen`), so the public port need not serve it.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use tessera::{Application, Config};

use crate::helpers::{assert_error, spawn_app_with, unwrap_response};

const TOKEN: &str = "scrape-token-scrape-token-scrape-token";

async fn a_metrics_token_is_required_when_set() {
    let app = spawn_app_with(|c| {
        c.metrics_token = Some(tessera::secret::Secret::new(TOKEN.into()));
    })
    .await;
    assert_error(
        app.get("/metrics").await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;
    for wrong in [
        "scrape-token",
        "scrape-token-scrape-token-scrape-tokeN",
        "x",
    ] {
        assert_error(
            app.get_with_token("/metrics", wrong).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
    }
    let response = app.get_with_token("/metrics", TOKEN).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap_or_default();
    assert!(text.contains("tessera_http_requests_total"), "{text}");
}

crate::backend_tests!(a_metrics_token_is_required_when_set);

/// Starts a server with `metrics_listen` on a port of its own; its two addresses.
async fn spawn_with_metrics_listener(
    token: Option<&str>,
) -> (tempfile::TempDir, SocketAddr, SocketAddr) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut config = Config::for_tests(dir.path());
    config.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.metrics_token = token.map(|t| tessera::secret::Secret::new(t.into()));
    let app = Application::build(config)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let main = app.local_addr();
    let metrics = app
        .metrics_addr()
        .unwrap_or_else(|| panic!("no metrics listener"));
    tokio::spawn(app.run_until(std::future::pending()));
    (dir, main, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_metrics_listener_the_public_port_does_not_serve_metrics() {
    let (_dir, main, metrics) = spawn_with_metrics_listener(None).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let public = unwrap_response(client.get(format!("http://{main}/metrics")).send().await);
    assert_error(public, StatusCode::NOT_FOUND, "not_found").await;
    let scraped = unwrap_response(client.get(format!("http://{metrics}/metrics")).send().await);
    assert_eq!(scraped.status(), StatusCode::OK);
    // The metrics listener serves nothing else.
    let other = unwrap_response(client.get(format!("http://{metrics}/healthz")).send().await);
    assert_error(other, StatusCode::NOT_FOUND, "not_found").await;
    // The public routes are still served, and their requests are counted.
    let health = unwrap_response(client.get(format!("http://{main}/healthz")).send().await);
    assert_eq!(health.status(), StatusCode::OK);
    let text = unwrap_response(client.get(format!("http://{metrics}/metrics")).send().await)
        .text()
        .await
        .unwrap_or_default();
    assert!(
        text.contains(r#"route="/healthz""#),
        "public requests missing from:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_also_honours_the_token() {
    let (_dir, _main, metrics) = spawn_with_metrics_listener(Some(TOKEN)).await;
    let client = reqwest::Client::new();
    let anonymous = unwrap_response(client.get(format!("http://{metrics}/metrics")).send().await);
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
    let scraped = unwrap_response(
        client
            .get(format!("http://{metrics}/metrics"))
            .bearer_auth(TOKEN)
            .send()
            .await,
    );
    assert_eq!(scraped.status(), StatusCode::OK);
}
