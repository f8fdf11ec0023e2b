//! Turning the factor off: by the user (password and a code; other sessions end), by an
//! administrator (`tessera user mfa-reset`; every session ends); and the `aal2` guard an
//! embedding app puts on its own routes.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{PASSWORD, code};
use crate::helpers::{assert_error, spawn_app, status_and_json, str_field, unwrap_response};
use crate::process::tessera_command;

#[tokio::test]
async fn removing_the_factor_takes_the_password_and_a_code_and_ends_other_sessions() {
    let app = spawn_app().await;
    let enrolled = app.enrolled("pam").await;
    let token = app.mfa_token("pam").await;
    let (_, other) = status_and_json(
        app.login_mfa(&token, json!({"code": code(&enrolled.secret, 0)}))
            .await,
    )
    .await;
    let other = str_field(&other, "access_token");
    let mine = &enrolled.access_token;

    let wrong_password = app
        .delete_with_token(
            "/me/mfa/totp",
            mine,
            &json!({"password": "not the password", "code": code(&enrolled.secret, 1)}),
        )
        .await;
    assert_error(wrong_password, StatusCode::FORBIDDEN, "wrong_password").await;
    let wrong_code = app
        .delete_with_token(
            "/me/mfa/totp",
            mine,
            &json!({"password": PASSWORD, "recovery_code": "aaaa-aaaa-aaaa-aaaa-aaaa-aaaa"}),
        )
        .await;
    assert_error(wrong_code, StatusCode::FORBIDDEN, "wrong_mfa_code").await;
    let no_code = app
        .delete_with_token("/me/mfa/totp", mine, &json!({"password": PASSWORD}))
        .await;
    assert_error(no_code, StatusCode::BAD_REQUEST, "invalid_request").await;

    let (status, removed) = status_and_json(
        app.delete_with_token(
            "/me/mfa/totp",
            mine,
            &json!({"password": PASSWORD, "code": code(&enrolled.secret, 1)}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed["ended_sessions"], 1);
    assert_eq!(
        app.protected(other).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (_, me) = status_and_json(app.get_with_token("/me", mine).await).await;
    assert_eq!(
        me["user"]["mfa"],
        json!({"totp": false, "recovery_codes_left": 0})
    );
    assert_eq!(app.login("pam", PASSWORD).await.status(), StatusCode::OK);
    let again = app
        .delete_with_token(
            "/me/mfa/totp",
            mine,
            &json!({"password": PASSWORD, "code": "123456"}),
        )
        .await;
    assert_error(again, StatusCode::CONFLICT, "mfa_not_enabled").await;
}

/// Runs `tessera user --data-dir DIR --json ARGS` against the app's database.
fn user_command(app: &crate::helpers::TestApp, args: &[&str]) -> std::process::Output {
    tessera_command()
        .arg("user")
        .arg("--data-dir")
        .arg(&app.tessera.config().data_dir)
        .arg("--json")
        .args(args)
        .env("JWT_SECRET_KEY", &app.secret)
        .env("TESSERA_LOG_LEVEL", "warn")
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn an_administrator_resets_a_lost_factor_and_every_session_of_the_user_ends() {
    let app = spawn_app().await;
    let enrolled = app.enrolled("quinn").await;

    let output = user_command(&app, &["mfa-reset", "quinn"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    assert_eq!(answer, json!({"mfa_reset": "quinn", "ended_sessions": 1}));

    // The running server hears of the revocation through the database.
    let started = Instant::now();
    while app.protected(&enrolled.access_token).await.status() == StatusCode::OK {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "session still live"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, login) = status_and_json(app.login("quinn", PASSWORD).await).await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(jwt_aal(str_field(&login, "access_token")), "aal1");

    let nothing = user_command(&app, &["mfa-reset", "quinn"]);
    assert!(!nothing.status.success());
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("No second factor"));
}

fn jwt_aal(token: &str) -> String {
    crate::helpers::jwt_claims(token)["aal"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// What an embedding app writes: a route only for logins with a second factor.
async fn aal2_only(tessera::Aal2User(user): tessera::Aal2User) -> axum::Json<Value> {
    axum::Json(json!({"logged_in_as": user.username(), "amr": user.amr()}))
}

#[tokio::test]
async fn the_aal2_guard_lets_only_logins_with_a_second_factor_through() {
    let app = spawn_app().await;
    let enrolled = app.enrolled("rosa").await;
    let router = axum::Router::new()
        .route("/aal2", axum::routing::get(aal2_only))
        .with_state(app.tessera.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "http://{}/aal2",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    tokio::spawn(async move { axum::serve(listener, router).await });

    let get = |token: Option<String>| {
        let request = app.client.get(&url);
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move { unwrap_response(request.send().await) }
    };
    let password_only = get(Some(enrolled.access_token.clone())).await;
    assert_error(password_only, StatusCode::FORBIDDEN, "mfa_required").await;
    let none = get(None).await;
    assert_error(none, StatusCode::UNAUTHORIZED, "missing_token").await;

    let token = app.mfa_token("rosa").await;
    let (_, login) = status_and_json(
        app.login_mfa(&token, json!({"code": code(&enrolled.secret, 0)}))
            .await,
    )
    .await;
    let (status, body) =
        status_and_json(get(Some(str_field(&login, "access_token").to_owned())).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"logged_in_as": "rosa", "amr": ["pwd", "otp"]}));
}
