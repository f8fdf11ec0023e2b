//! Session expiry, idle timeout, and revocations arriving through the database poll.

use super::*;

async fn a_session_past_its_lifetime_can_no_longer_be_refreshed() {
    let app = spawn_app_with(|c| c.session_ttl_secs = 1).await;
    let login = app.signed_up("alice", PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_error(
        app.refresh(str_field(&login, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    // An expired session is not listed as live.
    let listed = listed_sessions(&app, str_field(&login, "access_token")).await;
    assert!(listed.is_empty(), "{listed:?}");
}

async fn an_idle_session_can_no_longer_be_refreshed() {
    let app = spawn_app_with(|c| c.session_idle_timeout_secs = 1).await;
    let login = app.signed_up("alice", PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_error(
        app.refresh(str_field(&login, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
}

async fn refreshing_keeps_a_session_from_going_idle() {
    let app = spawn_app_with(|c| c.session_idle_timeout_secs = 3).await;
    let login = app.signed_up("alice", PASSWORD).await;
    let mut refresh = str_field(&login, "refresh_token").to_owned();
    // 3.6 s after login, longer than the idle timeout, yet never idle for more than 1.2 s.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let body = refresh_ok(&app, &refresh).await;
        refresh = str_field(&body, "refresh_token").to_owned();
    }
    tokio::time::sleep(Duration::from_millis(4200)).await;
    assert_error(
        app.refresh(&refresh).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
}

async fn a_revocation_written_to_the_database_by_another_process_is_seen_by_the_poll() {
    let app = spawn_app().await;
    let (status, registered) = status_and_json(app.register("alice", PASSWORD).await).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let user_id = registered["user"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no user id in {registered}"));
    let login = login_again(&app, "alice").await;
    let bob = app.signed_up("bob", PASSWORD).await;
    let access = str_field(&login, "access_token");
    assert_protected_ok(&app, access, "alice").await;

    // As another instance or the CLI would: straight in the database, past this instance's memory.
    let revoked = app
        .sql(&format!(
            "UPDATE sessions SET revoked_at = {}, revoke_reason = 'revoked_by_admin' \
             WHERE user_id = {user_id} AND revoked_at IS NULL RETURNING id",
            now()
        ))
        .await;
    assert_eq!(revoked, vec![sid_of(&login)]);

    let mut last = None;
    for _ in 0..20 {
        let response = app.protected(access).await;
        if response.status() == StatusCode::UNAUTHORIZED {
            last = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = last.unwrap_or_else(|| panic!("the revocation was not seen within 2 s"));
    assert_error(response, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_error(
        app.refresh(str_field(&login, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    assert_protected_ok(&app, str_field(&bob, "access_token"), "bob").await;
}

crate::backend_tests!(
    a_session_past_its_lifetime_can_no_longer_be_refreshed,
    an_idle_session_can_no_longer_be_refreshed,
    refreshing_keeps_a_session_from_going_idle,
    a_revocation_written_to_the_database_by_another_process_is_seen_by_the_poll,
);
