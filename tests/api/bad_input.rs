//! Bad input never gets a 500: every case answers a 4xx in the `{"message","error"}` shape
//! and leaves nothing half-written.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error_shape, spawn_app, spawn_app_with, status_and_json, str_field,
    unwrap_response,
};

async fn send_raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = app.client.post(app.url(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    status_and_json(unwrap_response(request.send().await)).await
}

/// After a refused registration the name is still free: nothing was half-written.
async fn assert_name_still_free(app: &TestApp, name: &str) {
    assert_eq!(
        app.register(name, "correct-horse").await.status(),
        StatusCode::CREATED,
        "{name} was taken"
    );
}

async fn a_body_that_is_not_json_is_400() {
    let app = spawn_app().await;
    for path in ["/register", "/login"] {
        let (status, body) = send_raw(
            &app,
            path,
            Some("application/json"),
            b"{\"username\": ".to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_error_shape(&body, "invalid_json");
    }
}

async fn invalid_utf8_is_400() {
    let app = spawn_app().await;
    let bytes = b"{\"username\": \"\xff\xfe\", \"password\": \"correct-horse\"}".to_vec();
    let (status, body) = send_raw(&app, "/register", Some("application/json"), bytes).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&body, "invalid_json");
}

async fn a_wrong_or_missing_content_type_is_415() {
    let app = spawn_app().await;
    let json = br#"{"username":"dave","password":"correct-horse"}"#.to_vec();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let (status, body) = send_raw(&app, "/register", content_type, json.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        assert_error_shape(&body, "unsupported_media_type");
    }
    assert_name_still_free(&app, "dave").await;
}

async fn json_that_is_not_an_object_is_400() {
    let app = spawn_app().await;
    for body in [json!([1, 2]), json!("alice"), json!(42), json!(null)] {
        let (status, response) = status_and_json(app.post_json("/register", &body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_error_shape(&response, "invalid_request");
    }
}

async fn fields_of_the_wrong_type_are_400() {
    let app = spawn_app().await;
    for body in [
        json!({"username": 5, "password": "correct-horse"}),
        json!({"username": "erin", "password": ["x"]}),
        json!({"username": {"a": 1}, "password": "correct-horse"}),
        json!({"username": "erin", "password": true}),
    ] {
        for path in ["/register", "/login"] {
            let (status, response) = status_and_json(app.post_json(path, &body).await).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}");
            assert_error_shape(&response, "invalid_request");
        }
    }
    assert_name_still_free(&app, "erin").await;
}

async fn an_oversized_body_is_413() {
    let app = spawn_app_with(|c| c.body_limit_bytes = 4096).await;
    let big = json!({"username": "frank", "password": "p".repeat(10_000)});
    let (status, body) = status_and_json(app.post_json("/register", &big).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error_shape(&body, "payload_too_large");
    assert_name_still_free(&app, "frank").await;
}

async fn usernames_that_break_the_rules_are_400() {
    let app = spawn_app().await;
    for name in [
        " alice",
        "alice ",
        "al\u{0}ice",
        "al\nice",
        "\u{7f}x",
        &"n".repeat(51),
    ] {
        let (status, body) = status_and_json(app.register(name, "correct-horse").await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}");
        assert_error_shape(&body, "invalid_username");
    }
    let (status, _) = status_and_json(app.register(&"é".repeat(50), "correct-horse").await).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "50 characters are allowed even when they are 100 bytes"
    );
}

async fn passwords_outside_the_policy_are_400() {
    // The smallest maximum allowed: 64 characters of 4 bytes (ASVS 6.2.9).
    let app = spawn_app_with(|c| c.password_max_bytes = 256).await;
    for password in ["short", "1234567", &"p".repeat(257)] {
        let (status, body) = status_and_json(app.register("gina", password).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{} bytes", password.len());
        assert_error_shape(&body, "invalid_password");
    }
    assert_name_still_free(&app, "gina").await;
}

async fn the_password_minimum_counts_characters_and_a_password_may_not_hold_the_name() {
    let app = spawn_app().await;
    // Two emoji: 8 bytes, but 2 characters.
    let (status, body) = status_and_json(app.register("hana", "😀😀").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&body, "invalid_password");
    assert!(str_field(&body, "message").contains("characters"), "{body}");
    for password in ["hana-2026-pass", "my HANA password"] {
        let (status, body) = status_and_json(app.register("Hana", password).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{password}");
        assert_error_shape(&body, "invalid_password");
        assert!(!body.to_string().contains(password), "never echoed: {body}");
    }
    assert_name_still_free(&app, "hana").await;
}

async fn unknown_routes_are_404_and_wrong_methods_405_in_the_error_shape() {
    let app = spawn_app().await;
    let (status, body) = status_and_json(app.get("/no-such-route").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body, "not_found");
    for (method, path) in [
        ("GET", "/register"),
        ("PUT", "/login"),
        ("POST", "/protected"),
        ("GET", "/api/login"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let response = unwrap_response(
            app.client
                .request(method.clone(), app.url(path))
                .send()
                .await,
        );
        let (status, body) = status_and_json(response).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_error_shape(&body, "method_not_allowed");
    }
}

async fn login_never_applies_the_password_policy() {
    // A password shorter than the policy can still be checked (imported users have them);
    // it is simply wrong here.
    let app = spawn_app().await;
    app.register("hank", "correct-horse").await;
    let (status, body) = status_and_json(app.login("hank", "x").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&body, "invalid_credentials");
}

crate::backend_tests!(
    a_body_that_is_not_json_is_400,
    invalid_utf8_is_400,
    a_wrong_or_missing_content_type_is_415,
    json_that_is_not_an_object_is_400,
    fields_of_the_wrong_type_are_400,
    an_oversized_body_is_413,
    usernames_that_break_the_rules_are_400,
    passwords_outside_the_policy_are_400,
    the_password_minimum_counts_characters_and_a_password_may_not_hold_the_name,
    unknown_routes_are_404_and_wrong_methods_405_in_the_error_shape,
    login_never_applies_the_password_policy,
);
