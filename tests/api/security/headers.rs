//! Token responses are never cached (RFC 6749 §5.1); no response is content-sniffed.

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, str_field, unwrap_response};

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn assert_not_cached(response: &Response, what: &str) {
    assert_eq!(header(response, "cache-control"), "no-store", "{what}");
    assert_eq!(header(response, "pragma"), "no-cache", "{what}");
}

async fn token_responses_are_not_cacheable() {
    let app = spawn_app().await;
    app.register("alice", "correct-horse").await;
    for path in ["/login", "/api/login"] {
        let response = app
            .post_json(
                path,
                &json!({"username": "alice", "password": "correct-horse"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_not_cached(&response, path);
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let refreshed = app.refresh(str_field(&body, "refresh_token")).await;
        assert_eq!(refreshed.status(), StatusCode::OK);
        assert_not_cached(&refreshed, "/refresh");
    }
    // Failures of the token endpoints are not cached either.
    let failed = app.login("alice", "wrong-password").await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    assert_not_cached(&failed, "failed login");
}

async fn every_response_says_nosniff() {
    let app = spawn_app().await;
    let responses = [
        app.get("/healthz").await,
        app.get("/no-such-route").await,
        app.get("/protected").await,
        app.get("/.well-known/jwks.json").await,
        app.register("", "").await,
        unwrap_response(
            app.client
                .post(app.url("/login"))
                .header("content-type", "text/plain")
                .body("x")
                .send()
                .await,
        ),
    ];
    for response in &responses {
        assert_eq!(
            header(response, "x-content-type-options"),
            "nosniff",
            "{} {}",
            response.url(),
            response.status()
        );
    }
}

crate::backend_tests!(
    token_responses_are_not_cacheable,
    every_response_says_nosniff
);
