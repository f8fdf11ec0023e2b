//! `tessera import`: users of the Flask seed's database (real werkzeug hashes) log in
//! to tessera with their passwords, their hashes become Argon2id, and a second import
//! changes nothing. On SQLite and PostgreSQL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::{Connection, SqliteConnection};
use tessera::import::{self, FlaskSqliteSource, ImportOptions, TableSpec};

use crate::backend_tests;
use crate::helpers::{TestApp, spawn_app, spawn_app_with, status_and_json, str_field};

/// A user of the seed app: name, password, werkzeug hash.
pub struct SeedUser {
    pub username: String,
    pub password: String,
    pub hash: String,
}

/// Users with the werkzeug hashes of the checked-in vectors (real werkzeug output).
pub fn seed_users(kinds: &[&str]) -> Vec<SeedUser> {
    let files = [
        include_str!("../data/password-hashes/werkzeug-2.2.3.jsonl"),
        include_str!("../data/password-hashes/werkzeug-3.1.9.jsonl"),
    ];
    files
        .iter()
        .flat_map(|f| f.lines())
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| kinds.contains(&v["kind"].as_str().unwrap_or_default()))
        .enumerate()
        .map(|(i, v)| SeedUser {
            username: format!("user{i}"),
            password: v["password"].as_str().unwrap_or_default().to_owned(),
            hash: v["hash"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// A database shaped like the one Flask-SQLAlchemy creates for the seed's `User` model.
pub async fn seed_database(dir: &Path, users: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("users.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut db = SqliteConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("seed db: {e}"));
    sqlx::query(
        "CREATE TABLE user (id INTEGER NOT NULL, username VARCHAR(50) NOT NULL, \
         password VARCHAR(80) NOT NULL, PRIMARY KEY (id), UNIQUE (username))",
    )
    .execute(&mut db)
    .await
    .unwrap_or_else(|e| panic!("seed table: {e}"));
    for (name, hash) in users {
        sqlx::query("INSERT INTO user (username, password) VALUES ($1, $2)")
            .bind(name)
            .bind(hash)
            .execute(&mut db)
            .await
            .unwrap_or_else(|e| panic!("seed insert: {e}"));
    }
    path
}

/// A Flask database holding `users` (name and hash each).
async fn seed_database_of(dir: &Path, users: &[SeedUser]) -> PathBuf {
    let rows: Vec<(&str, &str)> = users
        .iter()
        .map(|u| (u.username.as_str(), u.hash.as_str()))
        .collect();
    seed_database(dir, &rows).await
}

async fn import_into(app: &TestApp, db: &Path, report: &Path) -> import::ImportSummary {
    // Batches of 3, so that the tests' few users span several transactions.
    import_flask_database(app, db, report, 3, false).await
}

/// Imports the Flask database `db` into `app`'s, writing the report to `report`.
pub async fn import_flask_database(
    app: &TestApp,
    db: &Path,
    report: &Path,
    batch_size: usize,
    reserve_skipped: bool,
) -> import::ImportSummary {
    let mut source = FlaskSqliteSource::open(db, &TableSpec::default())
        .await
        .unwrap_or_else(|e| panic!("open source: {e:#}"));
    let options = ImportOptions {
        dry_run: false,
        batch_size,
        report_path: report.to_path_buf(),
        progress: false,
        reserve_skipped,
    };
    import::run(
        &import::ImportTarget::from(&app.tessera),
        &mut source,
        &options,
    )
    .await
    .unwrap_or_else(|e| panic!("import: {e:#}"))
}

async fn stored_hash(app: &TestApp, name: &str) -> String {
    let canonical = tessera::domain::Username::from_stored(name.to_owned());
    let canonical = canonical.canonical().replace('\'', "''");
    app.sql(&format!(
        "SELECT password_hash FROM users WHERE username_canonical = '{canonical}'"
    ))
    .await
    .pop()
    .unwrap_or_default()
}

/// Waits for the background upgrade after a login.
async fn wait_for_argon2id(app: &TestApp, name: &str) -> String {
    for _ in 0..100 {
        let hash = stored_hash(app, name).await;
        if hash.starts_with("$argon2id$") {
            return hash;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the hash of {name} was not upgraded");
}

async fn imported_werkzeug_users_log_in_and_their_hashes_are_upgraded() {
    // Debug builds derive keys several times slower than release: allow for that on a
    // busy test machine.
    let app = spawn_app_with(|c| c.request_timeout_secs = 120).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // werkzeug's defaults of 2.2 and 3.1, PHC, bcrypt, Argon2i (the forms without an
    // iteration count are covered by the unit tests: in a debug build they are slow).
    let users = seed_users(&["werkzeug-default", "phc", "bcrypt", "argon2"]);
    let mut users: Vec<SeedUser> = users.into_iter().take(9).collect();
    users.extend(
        seed_users(&["werkzeug"])
            .into_iter()
            .step_by(7)
            .enumerate()
            .map(|(i, u)| SeedUser {
                username: format!("w{i}"),
                ..u
            }),
    );
    let db = seed_database_of(dir.path(), &users).await;
    let summary = import_into(&app, &db, &dir.path().join("report.csv")).await;
    assert_eq!(summary.imported, users.len() as u64, "{summary:?}");
    assert!(summary.report_path.is_none());

    for user in &users {
        let (status, body) =
            status_and_json(app.login(&user.username, "wrong password").await).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{}: {body}",
            user.username
        );
        let (status, body) = status_and_json(app.login(&user.username, &user.password).await).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", user.username);
        let token = str_field(&body, "access_token");
        assert_eq!(app.protected(token).await.status(), StatusCode::OK);
    }
    for user in &users {
        let upgraded = wait_for_argon2id(&app, &user.username).await;
        if !user.hash.starts_with("$argon2id$") {
            assert_ne!(upgraded, user.hash);
        }
        let (status, _) = status_and_json(app.login(&user.username, &user.password).await).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{} after the upgrade",
            user.username
        );
    }

    // A second run imports nobody twice and changes no upgraded hash.
    let again = import_into(&app, &db, &dir.path().join("report2.csv")).await;
    assert_eq!(
        (again.imported, again.already_present),
        (0, users.len() as u64)
    );
    assert!(
        stored_hash(&app, &users[0].username)
            .await
            .starts_with("$argon2id$")
    );
}

/// The source's digest, 8 characters at a time (werkzeug hex, PHC base64, bcrypt's own).
fn digest_windows(hash: &str) -> Vec<String> {
    let digest = if hash.starts_with("$2") {
        &hash[29..]
    } else {
        hash.rsplit_once('$').map_or("", |(_, d)| d)
    };
    let chars: Vec<char> = digest.chars().collect();
    chars.windows(8).map(|w| w.iter().collect()).collect()
}

async fn imported_hashes_are_stored_wrapped_until_the_first_login() {
    let app = spawn_app_with(|c| c.request_timeout_secs = 120).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut users = seed_users(&["werkzeug-default", "phc", "bcrypt"]);
    users.truncate(4);
    let db = seed_database_of(dir.path(), &users).await;
    let summary = import_into(&app, &db, &dir.path().join("report.csv")).await;
    assert_eq!(summary.imported, users.len() as u64, "{summary:?}");

    for user in &users {
        let stored = stored_hash(&app, &user.username).await;
        assert!(
            stored.starts_with("$tessera-wrapped$"),
            "{}: {stored}",
            user.username
        );
        for window in digest_windows(&user.hash) {
            assert!(
                !stored.contains(&window),
                "{}: digest kept in {stored}",
                user.username
            );
        }
        let (status, _) = status_and_json(app.login(&user.username, "wrong password").await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", user.username);
        assert!(
            stored_hash(&app, &user.username)
                .await
                .starts_with("$tessera-wrapped$")
        );
        let (status, body) = status_and_json(app.login(&user.username, &user.password).await).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", user.username);
        wait_for_argon2id(&app, &user.username).await;
        let (status, _) = status_and_json(app.login(&user.username, &user.password).await).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{} after the upgrade",
            user.username
        );
    }
}

async fn conflicting_names_are_reported_and_neither_side_is_imported() {
    let app = spawn_app().await;
    app.signed_up("Carol", "the-owl-at-night").await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let hash = seed_users(&["werkzeug"]).remove(0).hash;
    let db = seed_database(
        dir.path(),
        &[
            ("Alice", &hash),
            ("alice", &hash),
            ("carol", &hash),
            ("Carol", &hash),
            ("dave", &hash),
            ("eve", "md5$deadbeef$0123"),
        ],
    )
    .await;
    let report = dir.path().join("report.csv");
    let summary = import_into(&app, &db, &report).await;
    // Carol (same spelling) already there; carol vs Carol in the source conflict.
    assert_eq!(summary.imported, 1, "{summary:?}");
    assert_eq!(summary.conflicts, 4, "{summary:?}");
    assert_eq!(summary.invalid, 1, "{summary:?}");
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    for name in ["Alice", "alice", "carol", "Carol", "eve"] {
        assert!(
            text.contains(&format!(",{name},")),
            "{name} missing from:\n{text}"
        );
    }
    assert!(
        !text.contains(&hash) && !text.contains("deadbeef"),
        "{text}"
    );
    for name in ["Alice", "alice", "eve"] {
        assert!(
            stored_hash(&app, name).await.is_empty(),
            "{name} was imported"
        );
    }
    // Carol keeps her own password.
    let (status, _) = status_and_json(app.login("Carol", "the-owl-at-night").await).await;
    assert_eq!(status, StatusCode::OK);
}

async fn unknown_or_corrupt_stored_hashes_are_invalid_credentials() {
    let app = spawn_app_with(|c| c.allow_weak_legacy_hashes = false).await;
    let weak = seed_users(&["werkzeug-weak"]).remove(0);
    let corrupt = [
        "nonsense",
        "pbkdf2:sha256:999999999$salt$00",
        "scrypt:1048576:8:1$salt$00",
        "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$AAAA",
        "$2b$31$R9xnvN6QMjTexDsRBPDpeuAPkXOvlfmXSmjV5ilZ34ZGOoY1bmZda",
        &weak.hash,
    ];
    for (i, hash) in corrupt.iter().enumerate() {
        let name = format!("broken{i}");
        app.insert_user_row(&name, hash).await;
        let (status, body) = status_and_json(app.login(&name, &weak.password).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{hash}: {body}");
        assert_eq!(body["error"], "invalid_credentials");
    }
}

async fn weak_legacy_hashes_log_in_once_allowed_and_are_upgraded() {
    let app = spawn_app_with(|c| c.allow_weak_legacy_hashes = true).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let users = seed_users(&["werkzeug-weak"]);
    let db = seed_database_of(dir.path(), &users).await;
    let summary = import_into(&app, &db, &dir.path().join("r.csv")).await;
    assert_eq!(
        summary.formats.get("werkzeug-weak"),
        Some(&(users.len() as u64))
    );
    for user in &users {
        let (status, body) = status_and_json(app.login(&user.username, &user.password).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        wait_for_argon2id(&app, &user.username).await;
    }
}

backend_tests!(
    imported_werkzeug_users_log_in_and_their_hashes_are_upgraded,
    imported_hashes_are_stored_wrapped_until_the_first_login,
    conflicting_names_are_reported_and_neither_side_is_imported,
    unknown_or_corrupt_stored_hashes_are_invalid_credentials,
    weak_legacy_hashes_log_in_once_allowed_and_are_upgraded,
);
