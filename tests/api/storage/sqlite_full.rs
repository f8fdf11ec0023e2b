//! SQLite that cannot grow (`PRAGMA max_page_count`, reported as `SQLITE_FULL` exactly as
//! a full disk is) and SQLite that refuses every write (`PRAGMA query_only`): no root needed.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tessera::InjectedFault;

use super::{
    Answer, PASSWORD, Remote, answer, assert_registrations_kept, register_until_refused, wait_ready,
};
use crate::helpers::{TestApp, jwt_claims, spawn_app, status_and_json, str_field};

pub const NEW_PASSWORD: &str = "a brand new passphrase";

async fn inject(app: &TestApp, fault: InjectedFault) {
    app.tessera
        .inject_storage_fault_for_tests(fault)
        .await
        .unwrap_or_else(|e| panic!("cannot inject {fault:?}: {e}"));
}

pub async fn status_of(response: reqwest::Response) -> StatusCode {
    status_and_json(response).await.0
}

/// After the fault: a refresh that was acknowledged handed out a token that works; one
/// that was refused left the presented token valid.
pub async fn assert_refresh_kept(app: &Remote, presented: &str, answer: &Answer) {
    let token = match answer {
        Answer::Stored(body) => str_field(body, "refresh_token").to_owned(),
        Answer::Refused => presented.to_owned(),
    };
    let (status, body) = status_and_json(app.refresh(&token).await).await;
    assert_eq!(status, StatusCode::OK, "refresh after {answer:?}: {body}");
}

/// An acknowledged logout ended the session; a refused one left it working.
pub async fn assert_logout_kept(app: &Remote, login: &Value, answer: &Answer) {
    let access = str_field(login, "access_token");
    let want = match answer {
        Answer::Stored(_) => StatusCode::UNAUTHORIZED,
        Answer::Refused => StatusCode::OK,
    };
    let status = status_of(app.get("/protected", Some(access)).await).await;
    assert_eq!(status, want, "after logout {answer:?}");
}

/// An acknowledged password change took effect; a refused one changed nothing.
pub async fn assert_password_kept(app: &Remote, username: &str, answer: &Answer) {
    let (works, fails) = match answer {
        Answer::Stored(_) => (NEW_PASSWORD, PASSWORD),
        Answer::Refused => (PASSWORD, NEW_PASSWORD),
    };
    let status = status_of(app.login(username, works).await).await;
    assert_eq!(status, StatusCode::OK, "after password change {answer:?}");
    let status = status_of(app.login(username, fails).await).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "after password change {answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_that_cannot_grow_acknowledges_only_what_it_stored() {
    let test_app = spawn_app().await;
    let app = &Remote::of(&test_app);
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;

    inject(&test_app, InjectedFault::Full).await;
    let (stored, refused) = register_until_refused(app, "user", 3000, 20).await;
    assert!(
        !refused.is_empty(),
        "no registration refused by a database that cannot grow ({} acknowledged)",
        stored.len()
    );
    wait_ready(app, StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(1)).await;
    // These may fit in pages the file already has: either outcome is right, as long as
    // what was acknowledged is kept and what was refused left nothing behind.
    let alice_refresh = str_field(&alice, "refresh_token");
    let refreshed = answer(app.refresh(alice_refresh).await, StatusCode::OK, "refresh").await;
    let carol_access = str_field(&carol, "access_token");
    let logged_out = answer(app.logout(carol_access).await, StatusCode::OK, "logout").await;
    let bob_access = str_field(&bob, "access_token");
    let changed = answer(
        app.change_password(bob_access, PASSWORD, NEW_PASSWORD)
            .await,
        StatusCode::OK,
        "password change",
    )
    .await;
    let (_, still_refused) = register_until_refused(app, "late", 1, 0).await;
    assert_eq!(still_refused.len(), 1, "the database is still full");

    // Space comes back: no restart needed.
    inject(&test_app, InjectedFault::None).await;
    let status = status_of(app.register("after", PASSWORD).await).await;
    assert_eq!(status, StatusCode::CREATED);
    wait_ready(app, StatusCode::OK, Duration::from_secs(5)).await;
    assert_registrations_kept(app, &stored, &refused).await;
    assert_refresh_kept(app, alice_refresh, &refreshed).await;
    assert_logout_kept(app, &carol, &logged_out).await;
    assert_password_kept(app, "bob", &changed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_to_a_read_only_sqlite_database_is_refused_and_changes_nothing() {
    let test_app = spawn_app().await;
    let app = &Remote::of(&test_app);
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let alice_access = str_field(&alice, "access_token");
    let alice_refresh = str_field(&alice, "refresh_token");
    let bob_access = str_field(&bob, "access_token");

    inject(&test_app, InjectedFault::ReadOnly).await;
    let attempts = [
        (
            "register",
            app.register("carol", PASSWORD).await,
            StatusCode::CREATED,
        ),
        ("login", app.login("alice", PASSWORD).await, StatusCode::OK),
        ("refresh", app.refresh(alice_refresh).await, StatusCode::OK),
        ("logout", app.logout(alice_access).await, StatusCode::OK),
        (
            "password change",
            app.change_password(alice_access, PASSWORD, NEW_PASSWORD)
                .await,
            StatusCode::OK,
        ),
        (
            "session revocation",
            test_app
                .delete_session(
                    bob_access,
                    jwt_claims(bob_access)["sid"].as_str().unwrap_or(""),
                )
                .await,
            StatusCode::OK,
        ),
    ];
    for (what, response, ok) in attempts {
        assert_eq!(answer(response, ok, what).await, Answer::Refused, "{what}");
    }
    // What needs no write keeps working.
    let status = status_of(app.get("/protected", Some(alice_access)).await).await;
    assert_eq!(status, StatusCode::OK);
    let status = status_of(app.get("/.well-known/jwks.json", None).await).await;
    assert_eq!(status, StatusCode::OK);
    wait_ready(app, StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(1)).await;
    // The operator sees why: the failed-writes counter, by reason.
    let metrics = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .unwrap_or_default();
    let read_only = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"tessera_storage_write_failures_total{reason="read_only"} "#)
        })
        .and_then(|n| n.parse::<u64>().ok());
    assert!(read_only.is_some_and(|n| n >= 6), "{metrics}");
    assert!(
        metrics.contains(r#"tessera_storage_write_failures_total{reason="disk_full"} 0"#),
        "{metrics}"
    );

    // Writable again: ready by itself, and nothing refused had happened.
    inject(&test_app, InjectedFault::None).await;
    wait_ready(app, StatusCode::OK, Duration::from_secs(10)).await;
    assert_refresh_kept(app, alice_refresh, &Answer::Refused).await;
    assert_password_kept(app, "alice", &Answer::Refused).await;
    let status = status_of(app.get("/protected", Some(bob_access)).await).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a refused revocation ended the session"
    );
    let status = status_of(app.login("carol", PASSWORD).await).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a refused registration left a user"
    );
}
