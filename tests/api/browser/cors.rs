//! CORS: none at all by default; for listed origins exactly, with credentials, and the
//! methods and headers the routes use.

use reqwest::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ORIGIN,
};
use reqwest::{Method, StatusCode};

use super::send;
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const APP: &str = "https://app.example.test";

async fn preflight(app: &TestApp, origin: &str) -> reqwest::header::HeaderMap {
    let request = app
        .client
        .request(Method::OPTIONS, app.url("/logout"))
        .header(ORIGIN, origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-csrf-token",
        );
    send(request).await.1
}

async fn without_listed_origins_no_answer_carries_cors_headers() {
    let app = spawn_app().await;
    let headers = preflight(&app, APP).await;
    assert!(
        !headers
            .keys()
            .any(|k| k.as_str().starts_with("access-control-")),
        "{headers:?}"
    );
    let (_, headers, _) = send(app.client.get(app.url("/healthz")).header(ORIGIN, APP)).await;
    assert!(!headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
}

async fn a_listed_origin_gets_credentials_and_the_routes_headers_and_no_other_does() {
    let app = spawn_app_with(|c| c.cors.allowed_origins = vec![APP.into()]).await;
    let headers = preflight(&app, APP).await;
    assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    assert_eq!(headers[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    let allowed = headers[ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in ["content-type", "authorization", "x-csrf-token"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    let methods = headers[ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .unwrap_or_default();
    for method in ["GET", "POST", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let (status, headers, _) = send(app.client.get(app.url("/healthz")).header(ORIGIN, APP)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], APP);

    for stranger in [
        "https://evil.test",
        "https://app.example.test.evil.test",
        "null",
        "http://app.example.test",
    ] {
        let headers = preflight(&app, stranger).await;
        assert!(
            !headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN),
            "{stranger}"
        );
    }
}

async fn a_wildcard_or_a_path_is_not_an_origin_and_the_server_does_not_start() {
    for bad in ["*", "https://*.example.test", "https://app.example.test/"] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut config = tessera::Config::for_tests(dir.path());
        config.cors.allowed_origins = vec![bad.into()];
        let error = match tessera::Tessera::open(config).await {
            Ok(_) => panic!("{bad} accepted"),
            Err(e) => format!("{e:#}"),
        };
        assert!(error.contains("cors.allowed_origins"), "{error}");
    }
}

crate::backend_tests!(
    without_listed_origins_no_answer_carries_cors_headers,
    a_listed_origin_gets_credentials_and_the_routes_headers_and_no_other_does,
);

#[tokio::test]
async fn a_wildcard_or_a_path_is_refused_at_start() {
    a_wildcard_or_a_path_is_not_an_origin_and_the_server_does_not_start().await;
}
