//! PostgreSQL that refuses connections (`ALLOW_CONNECTIONS false`, SQLSTATE 55000) and
//! loses its backends (`pg_terminate_backend`) while requests run: every answer is a
//! success that was kept or `503 unavailable` with `Retry-After`, never a 500, and the
//! service resumes without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::sync::Mutex;

use super::{Answer, PASSWORD, Remote, answer, assert_registrations_kept, wait_ready};
use crate::backend::{Backend, on_backend, postgres_admin_url};
use crate::helpers::{spawn_app, str_field};

/// What the load saw: names acknowledged, refusals, and each chain's newest token.
#[derive(Default)]
struct Seen {
    stored: Vec<String>,
    refused: usize,
    last_refused_at: Option<Instant>,
    refresh_token: String,
}

/// Registers new names and refreshes one session in turn until `stop`.
async fn load(app: Remote, prefix: &'static str, seen: Arc<Mutex<Seen>>, stop: Arc<AtomicBool>) {
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let name = format!("{prefix}{i}");
        i += 1;
        let registered = answer(
            app.register(&name, PASSWORD).await,
            StatusCode::CREATED,
            "register",
        )
        .await;
        let token = seen.lock().await.refresh_token.clone();
        let refreshed = answer(app.refresh(&token).await, StatusCode::OK, "refresh").await;
        let mut seen = seen.lock().await;
        if [&registered, &refreshed].contains(&&Answer::Refused) {
            seen.last_refused_at = Some(Instant::now());
        }
        match registered {
            Answer::Stored(_) => seen.stored.push(name),
            Answer::Refused => seen.refused += 1,
        }
        match refreshed {
            Answer::Stored(body) => {
                seen.refresh_token = str_field(&body, "refresh_token").to_owned()
            }
            Answer::Refused => seen.refused += 1,
        }
    }
}

async fn admin(sql: String) {
    let url = postgres_admin_url().unwrap_or_else(|| panic!("no TESSERA_TEST_DATABASE_URL"));
    let mut admin = PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query(AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

fn terminate_backends(database: &str) -> String {
    format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_pg_tests),
    ignore = "PostgreSQL tests skipped: set TESSERA_TEST_DATABASE_URL to run them"
)]
async fn a_postgresql_that_refuses_connections_gets_503s_and_resumes_by_itself() {
    on_backend(Backend::Postgres, async {
        let test_app = spawn_app().await;
        let database = test_app
            .tessera
            .config()
            .effective_database_url()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let app = Remote::of(&test_app);
        let login = app.signed_up("alice").await;
        let seen = Arc::new(Mutex::new(Seen {
            refresh_token: str_field(&login, "refresh_token").to_owned(),
            ..Seen::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = tokio::spawn(load(app.clone(), "user", seen.clone(), stop.clone()));

        // Backends killed under load, several times.
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            admin(terminate_backends(&database)).await;
        }
        // Then the database refuses connections for two seconds.
        admin(format!(
            r#"ALTER DATABASE "{database}" ALLOW_CONNECTIONS false"#
        ))
        .await;
        admin(terminate_backends(&database)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        wait_ready(
            &app,
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(2),
        )
        .await;
        let status = super::sqlite_full::status_of(
            app.get("/protected", Some(str_field(&login, "access_token")))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "token checks need no database");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        admin(format!(
            r#"ALTER DATABASE "{database}" ALLOW_CONNECTIONS true"#
        ))
        .await;
        let allowed_at = Instant::now();
        wait_ready(&app, StatusCode::OK, Duration::from_secs(10)).await;
        let recovered_in = allowed_at.elapsed();
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::SeqCst);
        worker.await.unwrap_or_else(|e| panic!("load: {e}"));

        let seen = seen.lock().await;
        let last_refusal = seen
            .last_refused_at
            .map(|at| at.saturating_duration_since(allowed_at));
        eprintln!(
            "PostgreSQL refusing: {} registrations acknowledged, {} requests refused with 503; \
             after connections were allowed again, the last 503 came {last_refusal:?} later \
             and /readyz was ready after {recovered_in:?}",
            seen.stored.len(),
            seen.refused,
        );
        assert!(seen.refused > 0, "no request met the outage");
        // A 503 whose commit went through before the connection was cut is possible on
        // any client-server database, so only acknowledged writes are checked here.
        assert_registrations_kept(&app, &seen.stored, &[]).await;
        let (status, body) =
            crate::helpers::status_and_json(app.refresh(&seen.refresh_token).await).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the newest acknowledged refresh token: {body}"
        );
    })
    .await
}
