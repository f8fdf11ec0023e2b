//! Imported hashes cannot make a login attempt a denial of service: hashes above the cost
//! limits are not imported (the report says why) and, stored anyway, are refused at login
//! without being run.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{spawn_app, status_and_json};
use crate::import::{seed_database, seed_users};

/// Each of these cost seconds, or hundreds of MiB, per login attempt before (or, for
/// N = 2^57, was imported and then failed at every login).
fn too_costly() -> Vec<(&'static str, String)> {
    let hex128 = "0".repeat(128);
    vec![
        ("scrypt_rp", format!("scrypt:2:1:2097152$salt${hex128}")),
        ("scrypt_n57", format!("scrypt:144115188075855872:1:1$salt${hex128}")),
        ("scrypt_n17", format!("scrypt:131072:8:1$salt${hex128}")),
        (
            "argon2_256m",
            "$argon2id$v=19$m=262144,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        ),
        ("pbkdf2_sha512", format!("pbkdf2:sha512:2000000$salt${hex128}")),
        (
            "bcrypt_13",
            "$2b$13$R9xnvN6QMjTexDsRBPDpeuAPkXOvlfmXSmjV5ilZ34ZGOoY1bmZda".into(),
        ),
    ]
}

async fn hashes_above_the_cost_limits_are_not_imported_and_the_report_says_why() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let good = seed_users(&["werkzeug"]).into_iter().next();
    let costly = too_costly();
    let mut rows: Vec<(&str, &str)> = costly.iter().map(|(n, h)| (*n, h.as_str())).collect();
    if let Some(good) = &good {
        rows.push((good.username.as_str(), good.hash.as_str()));
    }
    let db = seed_database(dir.path(), &rows).await;
    let report = dir.path().join("report.csv");
    let summary = crate::import::import_flask_database(&app, &db, &report, 100, false).await;
    assert_eq!(summary.imported, u64::from(good.is_some()), "{summary:?}");
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    for (name, _) in &costly {
        let line = text
            .lines()
            .find(|l| l.contains(&format!(",{name},")))
            .unwrap_or_else(|| panic!("{name} missing from the report:\n{text}"));
        assert!(line.contains("hash_too_costly"), "{line}");
    }
}

async fn a_stored_hash_above_the_limits_is_refused_without_running_it() {
    let app = spawn_app().await;
    for (name, hash) in too_costly() {
        app.insert_user_row(name, &hash).await;
        let started = Instant::now();
        let (status, body) = status_and_json(app.login(name, "any-password").await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_eq!(body["error"], "invalid_credentials");
        // Refused before any derivation: the login costs about what the dummy Argon2id
        // check costs, not the seconds these hashes ask for.
        assert!(
            started.elapsed() < Duration::from_millis(1_500),
            "{name} took {:?}",
            started.elapsed()
        );
    }
}

crate::backend_tests!(
    hashes_above_the_cost_limits_are_not_imported_and_the_report_says_why,
    a_stored_hash_above_the_limits_is_refused_without_running_it,
);
