//! Issue 22, item 4: the session policy — a cap on live sessions per user, and
//! re-authentication before ending sessions other than the caller's own (ASVS 7.4.5,
//! 7.5.2).

use super::*;

async fn post_logout(app: &TestApp, token: &str, body: Value) -> Response {
    unwrap_response(
        app.client
            .post(app.url("/logout"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await,
    )
}

async fn delete_with_password(app: &TestApp, token: &str, id: &str, password: &str) -> Response {
    unwrap_response(
        app.client
            .delete(app.url(&format!("/sessions/{id}")))
            .bearer_auth(token)
            .json(&json!({ "password": password }))
            .send()
            .await,
    )
}

async fn a_login_beyond_the_session_cap_ends_the_oldest_session() {
    let app = spawn_app_with(|c| c.max_sessions_per_user = 2).await;
    let first = app.signed_up("capped", PASSWORD).await;
    let second = login_again(&app, "capped").await;
    let third = login_again(&app, "capped").await;
    assert_revoked(&app, str_field(&first, "access_token")).await;
    assert_error(
        app.refresh(str_field(&first, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    let listed = listed_ids(&listed_sessions(&app, str_field(&third, "access_token")).await);
    assert_eq!(listed, HashSet::from([sid_of(&second), sid_of(&third)]));
    // Another user's sessions are not counted.
    let other = app.signed_up("uncapped", PASSWORD).await;
    assert_protected_ok(&app, str_field(&other, "access_token"), "uncapped").await;
    assert_protected_ok(&app, str_field(&second, "access_token"), "capped").await;
}

async fn ending_other_sessions_with_a_refreshed_token_needs_the_password() {
    let app = spawn_app().await;
    let phone = app.signed_up("reauth", PASSWORD).await;
    let laptop = login_again(&app, "reauth").await;
    // A stolen refresh token gives a token that is not fresh.
    let stolen = refresh_ok(&app, str_field(&laptop, "refresh_token")).await;
    let stolen_token = str_field(&stolen, "access_token");
    for scope in ["others", "global"] {
        assert_error(
            app.logout(stolen_token, Some(scope)).await,
            StatusCode::FORBIDDEN,
            "reauthentication_required",
        )
        .await;
    }
    assert_error(
        app.delete_session(stolen_token, &sid_of(&phone)).await,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    )
    .await;
    assert_error(
        post_logout(
            &app,
            stolen_token,
            json!({"scope": "others", "password": "not-the-password"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "wrong_password",
    )
    .await;
    // Nothing ended.
    assert_protected_ok(&app, str_field(&phone, "access_token"), "reauth").await;
    // The password re-authenticates.
    let response = post_logout(
        &app,
        stolen_token,
        json!({"scope": "others", "password": PASSWORD}),
    )
    .await;
    // Ending the others leaves this browser's data alone.
    assert!(response.headers().get("clear-site-data").is_none());
    let ended = assert_ok(response).await;
    assert_eq!(ended["revoked_sessions"], 1, "{ended}");
    assert_revoked(&app, str_field(&phone, "access_token")).await;
    // Ending its own session never needs it; the browser is told to forget it.
    let response = app.logout(stolen_token, None).await;
    assert_eq!(
        response
            .headers()
            .get("clear-site-data")
            .and_then(|v| v.to_str().ok()),
        Some(r#""cache", "cookies", "storage""#)
    );
    assert_ok(response).await;
}

async fn a_fresh_token_ends_other_sessions_until_it_is_too_old() {
    let app = spawn_app_with(|c| c.reauthentication_max_age_secs = 1).await;
    let phone = app.signed_up("fresh_a", PASSWORD).await;
    let laptop = login_again(&app, "fresh_a").await;
    let tablet = login_again(&app, "fresh_a").await;
    assert_ok(
        app.delete_session(str_field(&laptop, "access_token"), &sid_of(&phone))
            .await,
    )
    .await;
    assert_revoked(&app, str_field(&phone, "access_token")).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_error(
        app.delete_session(str_field(&laptop, "access_token"), &sid_of(&tablet))
            .await,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    )
    .await;
    assert_ok(
        delete_with_password(
            &app,
            str_field(&laptop, "access_token"),
            &sid_of(&tablet),
            PASSWORD,
        )
        .await,
    )
    .await;
    assert_revoked(&app, str_field(&tablet, "access_token")).await;
}

crate::backend_tests!(
    a_login_beyond_the_session_cap_ends_the_oldest_session,
    ending_other_sessions_with_a_refreshed_token_needs_the_password,
    a_fresh_token_ends_other_sessions_until_it_is_too_old,
);
