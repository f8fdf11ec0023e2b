//! SQLite backend: a file in the data directory (WAL, foreign keys, busy timeout) or
//! `sqlite::memory:`.
//!
//! Durability: `synchronous = FULL` by default, so a commit is on disk before it is
//! acknowledged, even across a power loss or an operating-system crash (with `NORMAL`, a
//! WAL database can lose the last commits then, among them a logout or a password change
//! the user was told had happened). `journal_size_limit` gives back the space of a log
//! that grew under load once it is reset; the checkpoints themselves are run by the
//! service's upkeep loop ([`Store::checkpoint`]).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, SqlitePool};

use super::mfa::impl_mfa_store;
use super::recovery::impl_recovery_store;
use super::sql::{
    EXISTING_USERS, IMPORT_ROWS_PER_STATEMENT, LIVE, OWNER_COLUMNS, PROBE, SESSION_COLUMNS,
    USER_COLUMNS, impl_sql_store, migration_error,
};
use super::write_helpers::{WriteGate, shared_store_helpers};
use super::{
    AttemptState, CheckpointMode, ExistingUser, ImportBatchReport, ImportedUser, InjectedFault,
    LogoutScope, NewSession, NewUser, ReservedName, RevocationReason, RevokedSession,
    RotationPolicy, RotationState, ServiceClientRecord, SessionOwner, SessionRecord,
    SharedSecretRecord, SigningKeyRecord, Store, StoreError, StoreResult, UserRecord,
    WalCheckpoint, WriteHealth,
};

/// The log is truncated back to this size when a checkpoint resets it: large enough not to
/// shrink and regrow under steady load, small enough not to keep a burst's space forever.
const JOURNAL_SIZE_LIMIT_BYTES: u64 = 16 * 1024 * 1024;

pub struct SqliteStore {
    pool: SqlitePool,
    health: WriteHealth,
    /// One writer at a time in this process (see [`WriteGate`]).
    write_gate: WriteGate,
    in_memory: bool,
}

impl SqliteStore {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
        synchronous: crate::config::SqliteSynchronous,
    ) -> StoreResult<Self> {
        let synchronous = match synchronous {
            crate::config::SqliteSynchronous::Full => SqliteSynchronous::Full,
            crate::config::SqliteSynchronous::Normal => SqliteSynchronous::Normal,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES.to_string())
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
        Ok(Self {
            pool,
            health: WriteHealth::default(),
            write_gate: WriteGate::one_at_a_time(acquire_timeout),
            in_memory,
        })
    }

    shared_store_helpers!(sqlx::Sqlite);
}

impl_mfa_store!(SqliteStore, sqlx::Sqlite);
impl_recovery_store!(SqliteStore, sqlx::Sqlite, super::recovery::CLAIM_SQLITE);

impl_sql_store!(SqliteStore, "migrations/sqlite", {
    async fn checkpoint(&self, mode: CheckpointMode) -> StoreResult<Option<WalCheckpoint>> {
        if self.in_memory {
            return Ok(None);
        }
        let sql = match mode {
            CheckpointMode::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
            CheckpointMode::Truncate => "PRAGMA wal_checkpoint(TRUNCATE)",
        };
        // A checkpoint writes the database file: a full disk shows here too. It is no
        // activity of its own, though (the upkeep decides idleness from real writes).
        let rows = super::write_helpers::rows_of_write(&self.pool, sqlx::query_as(sql)).await;
        let row: Option<(i64, i64, i64)> =
            self.health.record(rows, super::WriteKind::Upkeep)?.pop();
        Ok(row.map(|(busy, log, done)| WalCheckpoint {
            busy: busy != 0,
            log_frames: log,
            checkpointed_frames: done,
        }))
    }

    async fn inject_fault_for_tests(&self, fault: InjectedFault) -> StoreResult<()> {
        self.inject_fault(fault).await
    }
});

impl SqliteStore {
    /// Applies `fault`'s pragmas to every connection the pool has now (by holding them all
    /// at once) and to every connection it opens later.
    async fn inject_fault(&self, fault: InjectedFault) -> StoreResult<()> {
        // max_page_count cannot go below the file's size: 1 means "as it is now".
        let (max_pages, query_only) = match fault {
            InjectedFault::None => ("4294967294", "OFF"),
            InjectedFault::Full => ("1", "OFF"),
            InjectedFault::ReadOnly => ("4294967294", "ON"),
        };
        let options = (*self.pool.connect_options())
            .clone()
            .pragma("max_page_count", max_pages)
            .pragma("query_only", query_only);
        self.pool.set_connect_options(options);
        // Hold connections until this holds all of them: one in use elsewhere meanwhile
        // would otherwise keep the old pragmas (new ones get the new options).
        let mut held = Vec::new();
        while held.is_empty() || held.len() < self.pool.size() as usize {
            held.push(self.pool.acquire().await?);
        }
        for connection in &mut held {
            sqlx::query(AssertSqlSafe(format!(
                "PRAGMA max_page_count = {max_pages}"
            )))
            .execute(&mut **connection)
            .await?;
            sqlx::query(AssertSqlSafe(format!("PRAGMA query_only = {query_only}")))
                .execute(&mut **connection)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SqliteSynchronous as Setting;

    #[tokio::test]
    async fn the_durability_setting_and_the_journal_limit_reach_every_connection() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        for (setting, level) in [(Setting::Full, 2), (Setting::Normal, 1)] {
            let store = SqliteStore::connect(&url, 2, Duration::from_secs(5), setting)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let (synchronous,): (i64,) = store
                .read_one(sqlx::query_as("PRAGMA synchronous"))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(synchronous, level, "{setting:?}");
            let (limit,): (i64,) = store
                .read_one(sqlx::query_as("PRAGMA journal_size_limit"))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(limit, JOURNAL_SIZE_LIMIT_BYTES as i64);
            store.close().await;
        }
    }
}
