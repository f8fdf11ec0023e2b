//! The purge of ended sessions: a backlog larger than one batch is cleared within one
//! purge round (batch after batch, so a million expired rows never hold the write lock in
//! one statement), and live sessions stay.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::{PASSWORD, assert_protected_ok, refresh_ok};
use crate::helpers::{TestApp, spawn_app_with, str_field};

/// Puts `count` sessions of `user_id` that expired long ago straight into the table.
async fn insert_expired_sessions(app: &TestApp, user_id: &str, count: usize) {
    for i in 0..count {
        app.sql(&format!(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, \
             refresh_nonce_digest) VALUES ('expired-{i}', {user_id}, 1, 1, 2, '\\x00')"
        ))
        .await;
    }
}

async fn count_expired(app: &TestApp) -> String {
    let rows = app
        .sql("SELECT CAST(COUNT(*) AS TEXT) FROM sessions WHERE id LIKE 'expired-%'")
        .await;
    rows.into_iter().next().unwrap_or_default()
}

async fn a_backlog_of_ended_sessions_is_purged_batch_by_batch_and_live_ones_stay() {
    let app = spawn_app_with(|c| {
        c.purge_interval_secs = 1;
        c.purge_batch_size = 7;
    })
    .await;
    let login = app.signed_up("alice", PASSWORD).await;
    let ids = app
        .sql("SELECT CAST(id AS TEXT) FROM users WHERE username = 'alice'")
        .await;
    let user_id = ids.first().map(String::as_str).unwrap_or("0");
    insert_expired_sessions(&app, user_id, 50).await;
    assert_eq!(count_expired(&app).await, "50");

    // 50 rows in batches of 7 take 8 statements: one round of the purge, not eight.
    let started = Instant::now();
    while count_expired(&app).await != "0" {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the purge did not clear the backlog in one round: {} left",
            count_expired(&app).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_protected_ok(&app, str_field(&login, "access_token"), "alice").await;
    let refreshed = refresh_ok(&app, str_field(&login, "refresh_token")).await;
    assert!(refreshed["access_token"].is_string());
    assert_eq!(
        app.login("alice", PASSWORD).await.status(),
        StatusCode::OK,
        "logins go on beside the purge"
    );
}

crate::backend_tests!(a_backlog_of_ended_sessions_is_purged_batch_by_batch_and_live_ones_stay);
