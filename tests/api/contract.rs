//! The seed's contract, row by row, at the root and under `/api`.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{jwt_claims, spawn_app, status_and_json, str_field};

async fn register_creates_a_user_and_returns_it() {
    let app = spawn_app().await;
    let (status, body) = status_and_json(app.register("alice", "correct-horse").await).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["message"], "User created successfully");
    assert_eq!(body["user"]["username"], "alice");
    assert!(body["user"]["id"].as_i64().is_some(), "{body}");
    assert!(body.get("password").is_none() && body["user"].get("password").is_none());
}

async fn register_with_a_missing_or_empty_field_is_400() {
    let app = spawn_app().await;
    for body in [
        json!({"username": "bob"}),
        json!({"password": "correct-horse"}),
        json!({"username": "", "password": "correct-horse"}),
        json!({"username": "bob", "password": ""}),
        json!({"username": null, "password": "correct-horse"}),
        json!({}),
    ] {
        let (status, response) = status_and_json(app.post_json("/register", &body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            response,
            json!({"message": "Missing username or password", "error": "missing_fields"})
        );
    }
}

async fn register_with_a_taken_username_is_400_in_any_case_or_width() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("alice", "correct-horse").await.status(),
        StatusCode::CREATED
    );
    for name in ["alice", "Alice", "ＡＬＩＣＥ"] {
        let (status, body) = status_and_json(app.register(name, "another-password").await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(
            body,
            json!({"message": "Username already exists", "error": "username_taken"})
        );
    }
}

async fn login_returns_an_access_token_in_the_flask_layout() {
    let app = spawn_app().await;
    app.register("Alice", "correct-horse").await;
    let (status, body) = status_and_json(app.login("Alice", "correct-horse").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["message"], "Login successful");
    assert_eq!(body["user"]["username"], "Alice");
    let claims = jwt_claims(str_field(&body, "access_token"));
    for claim in ["fresh", "iat", "jti", "type", "sub", "nbf", "exp", "iss"] {
        assert!(
            claims.get(claim).is_some(),
            "claim {claim} missing from {claims}"
        );
    }
    assert_eq!(claims["sub"], "Alice");
    assert_eq!(claims["type"], "access");
    assert_eq!(claims["fresh"], true);
    assert_eq!(
        claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0),
        900
    );
}

async fn login_works_with_any_case_or_width_of_the_name_and_keeps_the_registered_form() {
    let app = spawn_app().await;
    app.register("Alice", "correct-horse").await;
    for name in ["alice", "ALICE", "ａｌｉｃｅ"] {
        let (status, body) = status_and_json(app.login(name, "correct-horse").await).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let (_, protected) =
            status_and_json(app.protected(str_field(&body, "access_token")).await).await;
        assert_eq!(protected, json!({"logged_in_as": "Alice"}));
    }
}

async fn login_with_missing_fields_is_400() {
    let app = spawn_app().await;
    let (status, body) =
        status_and_json(app.post_json("/login", &json!({"username": "alice"})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"message": "Missing username or password", "error": "missing_fields"})
    );
}

async fn unknown_user_and_wrong_password_get_the_same_401() {
    let app = spawn_app().await;
    app.register("alice", "correct-horse").await;
    let (s1, wrong_password) = status_and_json(app.login("alice", "wrong-horse").await).await;
    let (s2, unknown_user) = status_and_json(app.login("mallory", "correct-horse").await).await;
    let (s3, invalid_name) = status_and_json(app.login(" spaced ", "correct-horse").await).await;
    for status in [s1, s2, s3] {
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let expected = json!({"message": "Invalid credentials", "error": "invalid_credentials"});
    assert_eq!(wrong_password, expected);
    assert_eq!(unknown_user, expected);
    assert_eq!(invalid_name, expected);
}

async fn protected_answers_with_the_username_for_a_valid_token() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", "correct-horse").await;
    let (status, body) =
        status_and_json(app.protected(str_field(&login, "access_token")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"logged_in_as": "alice"}));
}

async fn protected_without_a_token_is_401() {
    let app = spawn_app().await;
    let response = app.get("/protected").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    let (_, body) = status_and_json(response).await;
    assert_eq!(body["error"], "missing_token");
    assert!(body["message"].is_string());
}

async fn every_route_answers_under_api_too() {
    let app = spawn_app().await;
    let (status, _) = status_and_json(
        app.post_json(
            "/api/register",
            &json!({"username": "carol", "password": "correct-horse"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, login) = status_and_json(
        app.post_json(
            "/api/login",
            &json!({"username": "carol", "password": "correct-horse"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = status_and_json(
        app.get_with_token("/api/protected", str_field(&login, "access_token"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"logged_in_as": "carol"}));
    assert_eq!(
        app.get("/api/protected").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn concurrent_registrations_of_one_name_yield_exactly_one_201() {
    let app = spawn_app().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let (client, url) = (app.client.clone(), app.url("/register"));
        // Different spellings of one name race too.
        let name = if i % 2 == 0 { "racer" } else { "RACER" };
        tasks.spawn(async move {
            let body = json!({"username": name, "password": "correct-horse"});
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .map(|r| r.status())
        });
    }
    let mut created = 0;
    let mut taken = 0;
    while let Some(result) = tasks.join_next().await {
        match result
            .unwrap_or_else(|e| panic!("task: {e}"))
            .unwrap_or_else(|e| panic!("request: {e}"))
        {
            StatusCode::CREATED => created += 1,
            StatusCode::BAD_REQUEST => taken += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((created, taken), (1, 29));
    let (status, _) = status_and_json(app.login("Racer", "correct-horse").await).await;
    assert_eq!(status, StatusCode::OK);
}

async fn health_endpoints_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let (status, body) = status_and_json(app.get("/readyz").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");
}

async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert!(response.headers().get("x-request-id").is_some());
}

crate::backend_tests!(
    register_creates_a_user_and_returns_it,
    register_with_a_missing_or_empty_field_is_400,
    register_with_a_taken_username_is_400_in_any_case_or_width,
    login_returns_an_access_token_in_the_flask_layout,
    login_works_with_any_case_or_width_of_the_name_and_keeps_the_registered_form,
    login_with_missing_fields_is_400,
    unknown_user_and_wrong_password_get_the_same_401,
    protected_answers_with_the_username_for_a_valid_token,
    protected_without_a_token_is_401,
    every_route_answers_under_api_too,
    concurrent_registrations_of_one_name_yield_exactly_one_201,
    health_endpoints_answer,
    every_response_carries_a_request_id,
);
