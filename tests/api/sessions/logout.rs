//! Logout scopes: local, others, global.

use super::*;

async fn logout_without_a_body_ends_only_the_callers_session() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let elsewhere = login_again(&app, "alice").await;

    let body = assert_ok(app.logout(str_field(&here, "access_token"), None).await).await;
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(body["revoked_sessions"], 1, "{body}");

    assert_revoked(&app, str_field(&here, "access_token")).await;
    assert_error(
        app.refresh(str_field(&here, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;

    assert_protected_ok(&app, str_field(&elsewhere, "access_token"), "alice").await;
    let refreshed = refresh_ok(&app, str_field(&elsewhere, "refresh_token")).await;
    assert_protected_ok(&app, str_field(&refreshed, "access_token"), "alice").await;
}

async fn logout_with_scope_local_ends_only_the_callers_session() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let elsewhere = login_again(&app, "alice").await;

    let body = assert_ok(
        app.logout(str_field(&here, "access_token"), Some("local"))
            .await,
    )
    .await;
    assert_eq!(body["revoked_sessions"], 1, "{body}");
    assert_revoked(&app, str_field(&here, "access_token")).await;
    assert_protected_ok(&app, str_field(&elsewhere, "access_token"), "alice").await;
}

async fn logout_with_scope_others_ends_every_other_session_and_keeps_this_one() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let phone = login_again(&app, "alice").await;
    let laptop = login_again(&app, "alice").await;
    let bob = app.signed_up("bob", PASSWORD).await;

    let body = assert_ok(
        app.logout(str_field(&here, "access_token"), Some("others"))
            .await,
    )
    .await;
    assert_eq!(body["revoked_sessions"], 2, "{body}");

    for other in [&phone, &laptop] {
        assert_revoked(&app, str_field(other, "access_token")).await;
        assert_error(
            app.refresh(str_field(other, "refresh_token")).await,
            StatusCode::UNAUTHORIZED,
            "session_ended",
        )
        .await;
    }
    assert_protected_ok(&app, str_field(&here, "access_token"), "alice").await;
    let refreshed = refresh_ok(&app, str_field(&here, "refresh_token")).await;
    assert_protected_ok(&app, str_field(&refreshed, "access_token"), "alice").await;
    let left = listed_sessions(&app, str_field(&here, "access_token")).await;
    assert_eq!(listed_ids(&left), HashSet::from([sid_of(&here)]));
    // Another user is not touched.
    assert_protected_ok(&app, str_field(&bob, "access_token"), "bob").await;
}

async fn logout_with_scope_global_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let phone = login_again(&app, "alice").await;
    let bob = app.signed_up("bob", PASSWORD).await;

    let body = assert_ok(
        app.logout(str_field(&here, "access_token"), Some("global"))
            .await,
    )
    .await;
    assert_eq!(body["revoked_sessions"], 2, "{body}");

    for session in [&here, &phone] {
        assert_revoked(&app, str_field(session, "access_token")).await;
        assert_error(
            app.refresh(str_field(session, "refresh_token")).await,
            StatusCode::UNAUTHORIZED,
            "session_ended",
        )
        .await;
    }
    assert_protected_ok(&app, str_field(&bob, "access_token"), "bob").await;
    refresh_ok(&app, str_field(&bob, "refresh_token")).await;
}

async fn logout_with_an_unknown_scope_is_a_bad_request_and_ends_nothing() {
    let app = spawn_app().await;
    let here = app.signed_up("alice", PASSWORD).await;
    let access = str_field(&here, "access_token");
    assert_error(
        app.logout(access, Some("everything")).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_protected_ok(&app, access, "alice").await;
}

async fn logout_without_a_token_is_unauthorized() {
    let app = spawn_app().await;
    let response = app
        .post_json("/logout", &json!({ "scope": "global" }))
        .await;
    assert_error(response, StatusCode::UNAUTHORIZED, "missing_token").await;
    let no_body = unwrap_response(app.client.post(app.url("/logout")).send().await);
    assert_error(no_body, StatusCode::UNAUTHORIZED, "missing_token").await;
}

crate::backend_tests!(
    logout_without_a_body_ends_only_the_callers_session,
    logout_with_scope_local_ends_only_the_callers_session,
    logout_with_scope_others_ends_every_other_session_and_keeps_this_one,
    logout_with_scope_global_ends_every_session_of_the_user,
    logout_with_an_unknown_scope_is_a_bad_request_and_ends_nothing,
    logout_without_a_token_is_unauthorized,
);
