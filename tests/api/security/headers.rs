//! Token responses, and what a token grants, are never cached (RFC 6749 §5.1); every
//! response forbids sniffing, framing and scripts, and sends no referrer; HSTS on request,
//! on every answer: errors, the serving layers' 408 and 500, metrics, the API document.

use reqwest::header::HeaderMap;
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
        let what = format!("{} {}", response.url(), response.status());
        assert_eq!(
            header(response, "x-content-type-options"),
            "nosniff",
            "{what}"
        );
        assert_eq!(
            header(response, "content-security-policy"),
            "default-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            "{what}"
        );
        assert_eq!(header(response, "referrer-policy"), "no-referrer", "{what}");
        assert_eq!(
            header(response, "strict-transport-security"),
            "",
            "HSTS is opt-in"
        );
    }
}

async fn what_an_access_token_grants_is_not_cacheable() {
    let app = spawn_app().await;
    let login = app.signed_up("bob", "correct-horse").await;
    let token = str_field(&login, "access_token");
    for path in ["/protected", "/api/protected", "/me", "/sessions"] {
        let response = app.get_with_token(path, token).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_not_cached(&response, path);
    }
}

/// The headers every answer carries, HSTS included (the app runs with `hsts` on).
fn assert_security_headers(headers: &HeaderMap, what: &str) {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(
        get("content-security-policy"),
        "default-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        "{what}"
    );
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(
        get("strict-transport-security"),
        "max-age=31536000; includeSubDomains",
        "{what}"
    );
}

/// Sends `request` as raw bytes (it must say `Connection: close`) and returns the status
/// line and headers of the answer.
async fn raw_exchange(address: &str, request: &str) -> (u16, HeaderMap) {
    let mut stream = tokio::net::TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let text = crate::helpers::raw_http_exchange(&mut stream, request).await;
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()),
                reqwest::header::HeaderValue::from_str(value.trim()),
            )
        {
            headers.append(name, value);
        }
    }
    (status, headers)
}

async fn panics() -> &'static str {
    panic!("a test handler panics on purpose")
}

// The answers checked do not depend on the database: SQLite only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_hsts_on_every_answer_carries_the_security_headers() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.hsts = true;
        c.body_limit_bytes = 1024;
        c.request_timeout_secs = 1;
    })
    .await;
    let login = app.signed_up("carol", "correct-horse").await;
    let token = str_field(&login, "access_token").to_owned();
    let big = json!({"username": "x", "password": "p".repeat(4096)});
    let answers = [
        (app.get("/healthz").await, StatusCode::OK),
        (app.get("/metrics").await, StatusCode::OK),
        (app.get("/openapi.json").await, StatusCode::OK),
        (app.get("/.well-known/jwks.json").await, StatusCode::OK),
        (app.get("/no-such-route").await, StatusCode::NOT_FOUND),
        (app.get("/login").await, StatusCode::METHOD_NOT_ALLOWED),
        (
            app.post_json("/register", &big).await,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (app.get("/protected").await, StatusCode::UNAUTHORIZED),
        (
            app.get_with_token("/protected", &token).await,
            StatusCode::OK,
        ),
        (app.get_with_token("/me", &token).await, StatusCode::OK),
        (
            app.get_with_token("/sessions", &token).await,
            StatusCode::OK,
        ),
    ];
    for (response, expected) in &answers {
        let what = format!("{} {}", response.url().path(), response.status());
        assert_eq!(response.status(), *expected, "{what}");
        assert_security_headers(response.headers(), &what);
    }

    // The serving layers' own answer: a body that never comes runs into the time limit.
    let (status, headers) = raw_exchange(
        &app.address,
        "POST /register HTTP/1.1\r\nHost: tessera\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\nConnection: close\r\n\r\n{",
    )
    .await;
    assert_eq!(status, 408);
    assert_security_headers(&headers, "408");

    // A panic, through the same stack the server builds (routes of our own: tessera has
    // no route that panics).
    let routes = axum::Router::new().route("/panic", axum::routing::get(panics));
    let stack = tessera::http::serving_stack(&app.tessera, routes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, stack).await });
    let (status, headers) = raw_exchange(
        &address.to_string(),
        "GET /panic HTTP/1.1\r\nHost: tessera\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 500);
    assert_security_headers(&headers, "500 from a panic");
}

crate::backend_tests!(
    token_responses_are_not_cacheable,
    every_response_says_nosniff,
    what_an_access_token_grants_is_not_cacheable,
);
