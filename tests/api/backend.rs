//! Which database a behaviour test runs on, and a fresh PostgreSQL database per test.
//!
//! `backend_tests!(a, b, …)` turns each plain `async fn a()` into two tests, `a::sqlite`
//! and `a::postgres`. The PostgreSQL variants are compiled as ignored (with the reason
//! shown by `cargo test`) unless `TESSERA_TEST_DATABASE_URL` was set at build time, so a
//! machine without PostgreSQL passes and says what it skipped.

use std::future::Future;

use sqlx::{AssertSqlSafe, Connection, PgConnection};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    static BACKEND: Backend;
}

/// Runs a test body with `backend` as the one `spawn_app` uses.
pub async fn on_backend<F: Future>(backend: Backend, body: F) -> F::Output {
    BACKEND.scope(backend, body).await
}

pub fn current_backend() -> Backend {
    BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite)
}

/// The administrative URL of the test PostgreSQL server, when there is one.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TESSERA_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A database created for one test and dropped when this value is dropped.
pub struct TestDatabase {
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let admin_url = postgres_admin_url()
            .unwrap_or_else(|| panic!("PostgreSQL test without TESSERA_TEST_DATABASE_URL"));
        let name = format!("tessera_test_{}", uuid_simple());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("cannot reach PostgreSQL at TESSERA_TEST_DATABASE_URL: {e}")
        });
        sqlx::query(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database: {e}"));
        let url = with_database(&admin_url, &name);
        TestDatabase {
            url,
            name,
            admin_url,
        }
    }

    /// Runs `sql` on this database; the first column of each row, as text.
    pub async fn query_texts(&self, sql: &str) -> Vec<String> {
        let mut db = PgConnection::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let rows: Vec<(String,)> = sqlx::query_as(AssertSqlSafe(sql.to_owned()))
            .fetch_all(&mut db)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.into_iter().map(|(text,)| text).collect()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop is synchronous and may run inside a runtime: do the async work on a thread
        // of its own. WITH (FORCE) ends the app's pooled connections first.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(AssertSqlSafe(format!(
                    r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                )))
                .execute(&mut admin)
                .await
                .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{host_part}/{name}?{query}"),
        None => format!("{host_part}/{name}"),
    }
}

fn uuid_simple() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Makes each named `async fn` a test on SQLite and, when configured, on PostgreSQL.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::backend::on_backend($crate::backend::Backend::Sqlite, super::$name()).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(
                    not(tessera_pg_tests),
                    ignore = "PostgreSQL tests skipped: set TESSERA_TEST_DATABASE_URL to run them"
                )]
                async fn postgres() {
                    $crate::backend::on_backend($crate::backend::Backend::Postgres, super::$name()).await
                }
            }
        )*
    };
}
