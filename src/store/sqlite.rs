//! SQLite backend: a file in the data directory (WAL, foreign keys, busy timeout) or
//! `sqlite::memory:`.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, SqlitePool};

use super::sql::{
    EXISTING_USERS, IMPORT_ROWS_PER_STATEMENT, LIVE, OWNER_COLUMNS, SESSION_COLUMNS, USER_COLUMNS,
    impl_sql_store, migration_error, shared_store_helpers,
};
use super::{
    AttemptState, ExistingUser, ImportBatchReport, ImportedUser, LogoutScope, NewSession, NewUser,
    ReservedName, RevocationReason, RevokedSession, RotationPolicy, RotationState, SessionOwner,
    SessionRecord, SharedSecretRecord, SigningKeyRecord, Store, StoreError, StoreResult,
    UserRecord,
};

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let in_memory = url.contains(":memory:");
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists once per connection: keep exactly one, forever.
            .max_connections(if in_memory { 1 } else { max_connections })
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout(if in_memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if in_memory {
                None
            } else {
                Some(Duration::from_secs(3600))
            })
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    shared_store_helpers!();
}

impl_sql_store!(SqliteStore, "migrations/sqlite", {});
