//! The caller's own account: `GET /me`, `POST /me/password`, `DELETE /me`, and what
//! disabling an account does to its sessions.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, spawn_app, status_and_json, str_field, unwrap_response,
};

const PASSWORD: &str = "correct-horse";

async fn post_with_token(
    app: &TestApp,
    path: &str,
    token: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let request = app.client.post(app.url(path)).bearer_auth(token).json(body);
    status_and_json(unwrap_response(request.send().await)).await
}

async fn delete_me(app: &TestApp, token: &str, body: &Value) -> (StatusCode, Value) {
    let request = app
        .client
        .delete(app.url("/me"))
        .bearer_auth(token)
        .json(body);
    status_and_json(unwrap_response(request.send().await)).await
}

async fn me_shows_the_callers_account() {
    let app = spawn_app().await;
    let login = app.signed_up("Alice", PASSWORD).await;
    let (status, body) = status_and_json(
        app.get_with_token("/me", str_field(&login, "access_token"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["username"], "Alice");
    assert_eq!(body["user"]["id"], login["user"]["id"]);
    assert!(body["user"]["created_at"].as_i64().is_some());
    assert!(!body.to_string().contains("argon2"), "no hash in {body}");
    assert_eq!(app.get("/me").await.status(), StatusCode::UNAUTHORIZED);
}

async fn changing_the_password_needs_the_current_one_and_ends_other_sessions() {
    let app = spawn_app().await;
    let here = app.signed_up("bob", PASSWORD).await;
    let (_, elsewhere) = status_and_json(app.login("bob", PASSWORD).await).await;
    let token = str_field(&here, "access_token");

    let wrong = json!({"current_password": "not-it", "new_password": "a-new-password"});
    let (status, body) = post_with_token(&app, "/me/password", token, &wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("wrong_password"))
    );
    let weak = json!({"current_password": PASSWORD, "new_password": "short"});
    let (status, body) = post_with_token(&app, "/me/password", token, &weak).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_password"))
    );

    let change = json!({"current_password": PASSWORD, "new_password": "a-new-password"});
    let (status, body) = post_with_token(&app, "/me/password", token, &change).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ended_sessions"], 1);
    // This session goes on; the other one is over, refresh included.
    assert_eq!(app.protected(token).await.status(), StatusCode::OK);
    let (status, body) =
        status_and_json(app.protected(str_field(&elsewhere, "access_token")).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("token_revoked"))
    );
    assert_eq!(
        app.refresh(str_field(&elsewhere, "refresh_token"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // The old password no longer works; the new one does.
    assert_eq!(
        app.login("bob", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("bob", "a-new-password").await.status(),
        StatusCode::OK
    );
}

async fn a_refreshed_token_still_needs_the_current_password() {
    let app = spawn_app().await;
    let login = app.signed_up("carol", PASSWORD).await;
    let (_, refreshed) =
        status_and_json(app.refresh(str_field(&login, "refresh_token")).await).await;
    let token = str_field(&refreshed, "access_token");
    let (status, _) = post_with_token(
        &app,
        "/me/password",
        token,
        &json!({"new_password": "a-new-password"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the current password is required"
    );
}

async fn deleting_the_account_needs_the_password_and_ends_every_session() {
    let app = spawn_app().await;
    let here = app.signed_up("dave", PASSWORD).await;
    let (_, elsewhere) = status_and_json(app.login("dave", PASSWORD).await).await;
    let token = str_field(&here, "access_token");
    let (status, body) = delete_me(&app, token, &json!({"password": "not-it"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("wrong_password"))
    );
    let (status, body) = delete_me(&app, token, &json!({"password": PASSWORD})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for login in [&here, &elsewhere] {
        let (status, body) =
            status_and_json(app.protected(str_field(login, "access_token")).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("token_revoked"))
        );
        assert_eq!(
            app.refresh(str_field(login, "refresh_token"))
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login("dave", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The name stays taken while any token of the old account could still verify
    // (issue 22; see security::identity).
    assert_error(
        app.register("dave", PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "username_taken",
    )
    .await;
}

async fn a_disabled_account_cannot_log_in_or_refresh_and_its_sessions_end() {
    let app = spawn_app().await;
    let login = app.signed_up("erin", PASSWORD).await;
    let ended = app
        .tessera
        .admin_set_disabled("erin", true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ended, 1);
    let (status, body) =
        status_and_json(app.protected(str_field(&login, "access_token")).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("token_revoked"))
    );
    let (status, body) = status_and_json(app.login("erin", PASSWORD).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("account_disabled"))
    );
    // A wrong password still reads as wrong credentials: disabled accounts are not revealed to guessers.
    assert_eq!(
        app.login("erin", "not-it").await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.tessera
        .admin_set_disabled("erin", false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(app.login("erin", PASSWORD).await.status(), StatusCode::OK);
}

async fn refresh_after_the_account_was_disabled_is_refused() {
    let app = spawn_app().await;
    let login = app.signed_up("frank", PASSWORD).await;
    // Disable without ending sessions (as a direct database change would), then refresh.
    let user_id = login["user"]["id"].as_i64().unwrap_or_default();
    app.sql(&format!(
        "UPDATE users SET disabled_at = 1 WHERE id = {user_id} RETURNING username"
    ))
    .await;
    let (status, body) =
        status_and_json(app.refresh(str_field(&login, "refresh_token")).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("account_disabled"))
    );
}

crate::backend_tests!(
    me_shows_the_callers_account,
    changing_the_password_needs_the_current_one_and_ends_other_sessions,
    a_refreshed_token_still_needs_the_current_password,
    deleting_the_account_needs_the_password_and_ends_every_session,
    a_disabled_account_cannot_log_in_or_refresh_and_its_sessions_end,
    refresh_after_the_account_was_disabled_is_refused,
);
