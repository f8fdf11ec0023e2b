//! SQLite that cannot grow (`PRAGMA max_page_count`, reported as `SQLITE_FULL` exactly as
//! a full disk is) and SQLite that refuses every write (`PRAGMA query_only`): no root needed.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tessera::store::InjectedFault;

use super::{
    Answer, PASSWORD, answer, assert_registrations_kept, change_password, register_until_refused,
    wait_ready,
};
use crate::helpers::{TestApp, spawn_app, status_and_json, str_field};

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn inject(app: &TestApp, fault: InjectedFault) {
    app.tessera
        .store()
        .inject_fault_for_tests(fault)
        .await
        .unwrap_or_else(|e| panic!("cannot inject {fault:?}: {e}"));
}

async fn status_of(response: reqwest::Response) -> StatusCode {
    status_and_json(response).await.0
}

/// After the fault: a refresh that was acknowledged handed out a token that works; one
/// that was refused left the presented token valid.
async fn assert_refresh_kept(app: &TestApp, presented: &str, answer: &Answer) {
    let token = match answer {
        Answer::Stored(body) => str_field(body, "refresh_token").to_owned(),
        Answer::Refused => presented.to_owned(),
    };
    let (status, body) = status_and_json(app.refresh(&token).await).await;
    assert_eq!(status, StatusCode::OK, "refresh after {answer:?}: {body}");
}

/// An acknowledged logout ended the session; a refused one left it working.
async fn assert_logout_kept(app: &TestApp, login: &Value, answer: &Answer) {
    let access = str_field(login, "access_token");
    let want = match answer {
        Answer::Stored(_) => StatusCode::UNAUTHORIZED,
        Answer::Refused => StatusCode::OK,
    };
    assert_eq!(
        status_of(app.protected(access).await).await,
        want,
        "{answer:?}"
    );
}

/// An acknowledged password change took effect; a refused one changed nothing.
async fn assert_password_kept(app: &TestApp, username: &str, answer: &Answer) {
    let (works, fails) = match answer {
        Answer::Stored(_) => (NEW_PASSWORD, PASSWORD),
        Answer::Refused => (PASSWORD, NEW_PASSWORD),
    };
    assert_eq!(
        status_of(app.login(username, works).await).await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(app.login(username, fails).await).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_that_cannot_grow_acknowledges_only_what_it_stored() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice", PASSWORD).await;
    let bob = app.signed_up("bob", PASSWORD).await;
    let carol = app.signed_up("carol", PASSWORD).await;

    inject(&app, InjectedFault::Full).await;
    let (stored, refused) = register_until_refused(&app, "user", 3000, 20).await;
    assert!(
        !refused.is_empty(),
        "no registration refused by a database that cannot grow ({} acknowledged)",
        stored.len()
    );
    wait_ready(
        &app,
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(1),
    )
    .await;
    // These may fit in pages the file already has: either outcome is right, as long as
    // what was acknowledged is kept and what was refused left nothing behind.
    let alice_refresh = str_field(&alice, "refresh_token");
    let refreshed = answer(app.refresh(alice_refresh).await, StatusCode::OK, "refresh").await;
    let logged_out = answer(
        app.logout(str_field(&carol, "access_token"), None).await,
        StatusCode::OK,
        "logout",
    )
    .await;
    let changed = answer(
        change_password(
            &app,
            str_field(&bob, "access_token"),
            PASSWORD,
            NEW_PASSWORD,
        )
        .await,
        StatusCode::OK,
        "password change",
    )
    .await;
    let (_, still_refused) = register_until_refused(&app, "late", 1, 0).await;
    assert_eq!(still_refused.len(), 1, "the database is still full");

    // Space comes back: no restart needed.
    inject(&app, InjectedFault::None).await;
    assert_eq!(
        status_of(app.register("after", PASSWORD).await).await,
        StatusCode::CREATED
    );
    wait_ready(&app, StatusCode::OK, Duration::from_secs(5)).await;
    assert_registrations_kept(&app, &stored, &refused).await;
    assert_refresh_kept(&app, alice_refresh, &refreshed).await;
    assert_logout_kept(&app, &carol, &logged_out).await;
    assert_password_kept(&app, "bob", &changed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_to_a_read_only_sqlite_database_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice", PASSWORD).await;
    let bob = app.signed_up("bob", PASSWORD).await;
    let (alice_access, alice_refresh) = (
        str_field(&alice, "access_token"),
        str_field(&alice, "refresh_token"),
    );

    inject(&app, InjectedFault::ReadOnly).await;
    let refused = |what: &'static str| {
        move |answer: Answer| assert_eq!(answer, Answer::Refused, "{what} was not refused")
    };
    refused("register")(
        answer(
            app.register("carol", PASSWORD).await,
            StatusCode::CREATED,
            "register",
        )
        .await,
    );
    refused("login")(answer(app.login("alice", PASSWORD).await, StatusCode::OK, "login").await);
    refused("refresh")(answer(app.refresh(alice_refresh).await, StatusCode::OK, "refresh").await);
    refused("logout")(
        answer(
            app.logout(alice_access, None).await,
            StatusCode::OK,
            "logout",
        )
        .await,
    );
    refused("password change")(
        answer(
            change_password(&app, alice_access, PASSWORD, NEW_PASSWORD).await,
            StatusCode::OK,
            "password change",
        )
        .await,
    );
    let bob_sid = crate::helpers::jwt_claims(str_field(&bob, "access_token"))["sid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    refused("session revocation")(
        answer(
            app.delete_session(str_field(&bob, "access_token"), &bob_sid)
                .await,
            StatusCode::OK,
            "session revocation",
        )
        .await,
    );
    // What needs no write keeps working.
    assert_eq!(
        status_of(app.protected(alice_access).await).await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(app.get("/.well-known/jwks.json").await).await,
        StatusCode::OK
    );
    wait_ready(
        &app,
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(1),
    )
    .await;

    // Writable again: ready by itself, and nothing refused had happened.
    inject(&app, InjectedFault::None).await;
    wait_ready(&app, StatusCode::OK, Duration::from_secs(10)).await;
    assert_refresh_kept(&app, alice_refresh, &Answer::Refused).await;
    assert_password_kept(&app, "alice", &Answer::Refused).await;
    assert_eq!(
        status_of(app.protected(str_field(&bob, "access_token")).await).await,
        StatusCode::OK,
        "a refused revocation ended the session"
    );
    assert_eq!(
        status_of(app.login("carol", PASSWORD).await).await,
        StatusCode::UNAUTHORIZED,
        "a refused registration left a user"
    );
}
