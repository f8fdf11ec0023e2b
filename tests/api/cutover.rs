//! The Flask cut-over's identity questions (issue 12, item 2): tokens minted by
//! Flask-JWT-Extended (no `kid`, no `sid`) name a user only by `sub`, in a user table of
//! their own; names the import could not bring over; closing registration.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::json;
use tessera::import::ImportSummary;

use crate::helpers::{
    TestApp, assert_error, spawn_app, spawn_app_with, status_and_json, str_field, unwrap_response,
};
use crate::import::{seed_database, seed_users};
use crate::process::tessera_command;
use crate::tokens::flask_style_claims;

const PASSWORD: &str = "correct-horse";

fn flask_token(app: &TestApp, sub: &str) -> String {
    app.sign(&flask_style_claims(sub))
}

async fn a_flask_token_resolves_only_to_the_account_with_exactly_its_name() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice", PASSWORD).await;
    // `ALICE` is someone else on the Flask side; tessera has only `alice`.
    let other = flask_token(&app, "ALICE");
    for path in ["/me", "/sessions"] {
        assert_error(
            app.get_with_token(path, &other).await,
            StatusCode::UNAUTHORIZED,
            "session_ended",
        )
        .await;
    }
    assert_error(
        app.logout(&other, Some("global")).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    assert_eq!(
        app.protected(str_field(&alice, "access_token"))
            .await
            .status(),
        StatusCode::OK,
        "alice's session must survive"
    );
    // The token for exactly `alice` is hers.
    let (status, body) =
        status_and_json(app.get_with_token("/me", &flask_token(&app, "alice")).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["username"], "alice");
}

async fn a_flask_token_of_a_disabled_account_is_refused() {
    let app = spawn_app().await;
    app.signed_up("bob", PASSWORD).await;
    let token = flask_token(&app, "bob");
    app.tessera
        .admin_set_disabled("bob", true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for path in ["/me", "/sessions"] {
        assert_error(
            app.get_with_token(path, &token).await,
            StatusCode::FORBIDDEN,
            "account_disabled",
        )
        .await;
    }
    assert_error(
        app.logout(&token, Some("global")).await,
        StatusCode::FORBIDDEN,
        "account_disabled",
    )
    .await;
}

async fn logout_with_a_token_that_has_no_session_does_not_claim_to_end_one() {
    let app = spawn_app().await;
    let carol = app.signed_up("carol", PASSWORD).await;
    let token = flask_token(&app, "carol");
    let body = assert_error(
        app.logout(&token, None).await,
        StatusCode::CONFLICT,
        "no_session",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap_or("").contains("valid"),
        "{body}"
    );
    // It did not end anything, and the token still works where tokens are only verified.
    assert_eq!(app.protected(&token).await.status(), StatusCode::OK);
    assert_eq!(
        app.protected(str_field(&carol, "access_token"))
            .await
            .status(),
        StatusCode::OK
    );
    // Ending the account's real sessions is still possible, and says how many; the Flask
    // token is not fresh, so the password re-authenticates.
    let request = app
        .client
        .post(app.url("/logout"))
        .bearer_auth(&token)
        .json(&json!({"scope": "global", "password": PASSWORD}));
    let (status, body) = status_and_json(unwrap_response(request.send().await)).await;
    assert_eq!(
        (status, body["revoked_sessions"].clone()),
        (StatusCode::OK, json!(1))
    );
}

async fn import(app: &TestApp, db: &Path, reserve_skipped: bool) -> (ImportSummary, String) {
    let report = db.with_extension("report.csv");
    let summary =
        crate::import::import_flask_database(app, db, &report, 100, reserve_skipped).await;
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    (summary, text)
}

async fn a_name_squatted_on_tessera_is_a_conflict_not_already_present() {
    let app = spawn_app().await;
    // Registered on tessera by someone else while the Flask user `alice` existed.
    app.signed_up("alice", "squatters-password").await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let real = seed_users(&["werkzeug"]).remove(0);
    let db = seed_database(dir.path(), &[("alice", &real.hash), ("bob", &real.hash)]).await;
    let (summary, report) = import(&app, &db, false).await;
    assert_eq!(
        (
            summary.imported,
            summary.already_present,
            summary.different_password
        ),
        (1, 0, 1),
        "{summary:?}"
    );
    assert!(
        report.contains("conflict_different_password,1,alice,"),
        "{report}"
    );
    // The imported user, once upgraded by a login, is still recognised by the final run.
    assert_eq!(
        app.login("bob", &real.password).await.status(),
        StatusCode::OK
    );
    for _ in 0..100 {
        let hash = app
            .sql("SELECT password_hash FROM users WHERE username = 'bob'")
            .await;
        if hash.iter().any(|h| h.starts_with("$argon2id$")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (again, _) = import(&app, &db, false).await;
    assert_eq!(
        (
            again.imported,
            again.already_present,
            again.different_password
        ),
        (0, 1, 1),
        "{again:?}"
    );
}

async fn names_the_import_skipped_stay_reserved_until_released() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let user = seed_users(&["werkzeug"]).remove(0);
    let db = seed_database(
        dir.path(),
        &[
            ("Alice", &user.hash),
            ("alice", &user.hash),
            ("eve", "md5$deadbeef$0123"),
            ("bob", &user.hash),
        ],
    )
    .await;
    let (summary, _) = import(&app, &db, true).await;
    assert_eq!((summary.imported, summary.reserved), (1, 2), "{summary:?}");
    for name in ["alice", "ALICE", "ａｌｉｃｅ", "eve"] {
        assert_error(
            app.register(name, PASSWORD).await,
            StatusCode::BAD_REQUEST,
            "username_taken",
        )
        .await;
    }
    // The operator's own door is closed too, until the name is released.
    assert!(
        app.tessera
            .admin_add_user("eve".into(), PASSWORD.into())
            .await
            .is_err()
    );
    assert!(app.tessera.admin_release_name("Eve").await.unwrap_or(false));
    assert!(!app.tessera.admin_release_name("eve").await.unwrap_or(true));
    assert_eq!(
        app.register("eve", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    // Resolved on the Flask side (one `alice` left): the next import brings her over and
    // lifts the reservation.
    app_sqlite(&db, "DELETE FROM user WHERE username = 'Alice'").await;
    let (again, _) = import(&app, &db, true).await;
    assert_eq!(again.imported, 1, "{again:?}");
    assert_eq!(
        app.login("alice", &user.password).await.status(),
        StatusCode::OK
    );
    assert!(
        app.sql("SELECT username FROM reserved_names WHERE username_canonical = 'alice'")
            .await
            .is_empty()
    );
}

async fn closed_registration_refuses_register_but_not_the_operator() {
    let app = spawn_app_with(|c| c.registration_enabled = false).await;
    for path in ["/register", "/api/register"] {
        let response = app
            .post_json(path, &json!({"username": "mallory", "password": PASSWORD}))
            .await;
        assert_error(response, StatusCode::FORBIDDEN, "registration_closed").await;
    }
    app.tessera
        .admin_add_user("dave".into(), PASSWORD.into())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(app.login("dave", PASSWORD).await.status(), StatusCode::OK);
}

async fn app_sqlite(db: &Path, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

crate::backend_tests!(
    a_name_squatted_on_tessera_is_a_conflict_not_already_present,
    names_the_import_skipped_stay_reserved_until_released,
    closed_registration_refuses_register_but_not_the_operator,
    a_flask_token_resolves_only_to_the_account_with_exactly_its_name,
    a_flask_token_of_a_disabled_account_is_refused,
    logout_with_a_token_that_has_no_session_does_not_claim_to_end_one,
);

/// Runs `tessera` with `args`, `--data-dir` inserted after the first `flags_at` of them.
fn run_tessera(args: &[&str], flags_at: usize, data_dir: &Path) -> String {
    let output = tessera_command()
        .args(&args[..flags_at])
        .arg("--data-dir")
        .arg(data_dir)
        .args(&args[flags_at..])
        .current_dir(data_dir.parent().unwrap_or(data_dir))
        .output()
        .unwrap_or_else(|e| panic!("tessera: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{args:?}: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_command_reserves_skipped_names_and_user_release_frees_one() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data_dir = dir.path().join("data");
    let hash = seed_users(&["werkzeug"]).remove(0).hash;
    let db = seed_database(
        dir.path(),
        &[("Alice", &hash), ("alice", &hash), ("eve", "md5$x$0")],
    )
    .await;
    let db = db.to_string_lossy().into_owned();
    let dry = run_tessera(
        &[
            "import",
            "flask-sqlite",
            &db,
            "--dry-run",
            "--reserve-skipped",
        ],
        5,
        &data_dir,
    );
    assert!(dry.contains("would reserve 2 names"), "{dry}");
    let text = run_tessera(
        &["import", "flask-sqlite", &db, "--reserve-skipped"],
        4,
        &data_dir,
    );
    assert!(text.contains("0 with a different password"), "{text}");
    assert!(text.contains("reserved 2 names"), "{text}");
    let released = run_tessera(&["user", "release", "EVE"], 1, &data_dir);
    assert!(released.contains("released EVE"), "{released}");
}
