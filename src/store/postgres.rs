//! PostgreSQL backend, for several instances on one database. Revocations are announced
//! with `NOTIFY` by a trigger (see the migration), in the transaction that makes them, so
//! every instance hears of a revocation whichever process made it.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool};

use super::mfa::impl_mfa_store;
use super::recovery::impl_recovery_store;
use super::sql::{
    EXISTING_USERS, IMPORT_ROWS_PER_STATEMENT, LIVE, OWNER_COLUMNS, PROBE, SESSION_COLUMNS,
    USER_COLUMNS, impl_sql_store, migration_error,
};
use super::write_helpers::{WriteGate, shared_store_helpers};
use super::{
    AttemptState, ExistingUser, ImportBatchReport, ImportedUser, LogoutScope, NewSession, NewUser,
    OnRevoked, ReservedName, RevocationReason, RevokedSession, RotationPolicy, RotationState,
    ServiceClientRecord, SessionOwner, SessionRecord, SharedSecretRecord, SigningKeyRecord, Store,
    StoreError, StoreResult, UserRecord, WriteHealth,
};
use crate::tokens::now_unix;

/// The channel the revocation trigger notifies, with the session id as payload.
pub const REVOCATION_CHANNEL: &str = "tessera_revocations";

pub struct PostgresStore {
    pool: PgPool,
    health: WriteHealth,
    /// Open: PostgreSQL takes concurrent writers itself.
    write_gate: WriteGate,
}

impl PostgresStore {
    /// Connects lazily: the server starts even while PostgreSQL is down, answers 503 for
    /// what needs the database, and recovers by itself when it comes back.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .idle_timeout(Duration::from_secs(600))
            .max_lifetime(Duration::from_secs(1800))
            // A connection idle for a while may have been killed meanwhile (restart,
            // failover): it is pinged, and replaced if dead, before a request gets it. One
            // in use moments ago is not: pinging on every acquire was a round trip more
            // per statement under load, where a dead connection shows up anyway (the
            // statement fails, 503, and the connection is dropped).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_WHEN_IDLE_FOR {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            health: WriteHealth::default(),
            write_gate: WriteGate::open(),
        })
    }

    shared_store_helpers!(sqlx::Postgres);
}

/// How long a pooled connection may sit idle before it is pinged before its next use.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// Now in ms on the database's clock (the same for the whole statement).
const NOW_MS: &str = "(extract(epoch FROM now()) * 1000)::bigint";

impl_mfa_store!(PostgresStore, sqlx::Postgres);
impl_recovery_store!(
    PostgresStore,
    sqlx::Postgres,
    super::recovery::CLAIM_POSTGRES
);

impl_sql_store!(PostgresStore, "migrations/postgres", {
    fn shares_rate_limits(&self) -> bool {
        true
    }

    async fn take_rate_limit_token(
        &self,
        key: &str,
        interval_ms: i64,
        tolerance_ms: i64,
    ) -> StoreResult<Option<i64>> {
        // The request passes when the bucket's next arrival time stays within the
        // tolerance; the conditional upsert moves it only then, so concurrent checks on
        // any instance each take one token or none.
        let take = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO rate_limit_buckets (key, tat) VALUES ($1, {NOW_MS} + $2) \
             ON CONFLICT (key) DO UPDATE \
             SET tat = GREATEST(rate_limit_buckets.tat, {NOW_MS}) + $2 \
             WHERE GREATEST(rate_limit_buckets.tat, {NOW_MS}) + $2 - {NOW_MS} <= $3"
        )))
        .bind(key)
        .bind(interval_ms)
        .bind(tolerance_ms);
        if self.write(take).await? == 1 {
            return Ok(None);
        }
        let wait: Option<(i64,)> = self
            .read_optional(
                sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT GREATEST(tat, {NOW_MS}) + $2 - {NOW_MS} - $3 FROM rate_limit_buckets \
                     WHERE key = $1"
                )))
                .bind(key)
                .bind(interval_ms)
                .bind(tolerance_ms),
            )
            .await?;
        Ok(Some(wait.map_or(interval_ms, |(ms,)| ms.max(1))))
    }

    async fn purge_rate_limits(&self) -> StoreResult<u64> {
        self.write(sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM rate_limit_buckets WHERE tat < {NOW_MS}"
        ))))
        .await
    }

    async fn watch_revocations(&self, on_revoked: OnRevoked) {
        loop {
            match self.listen(on_revoked.as_ref()).await {
                Ok(()) => {}
                Err(e) => tracing::warn!(error = %e, "revocation listener lost; reconnecting"),
            }
            // The periodic poll covers anything announced while the listener was down.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
});

impl PostgresStore {
    async fn listen(
        &self,
        on_revoked: &(dyn Fn(RevokedSession) + Send + Sync),
    ) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        // Without this, a lost connection would be re-established silently and the
        // notifications sent meanwhile lost without our knowing; the poll catches up.
        listener.ignore_pool_close_event(false);
        listener.listen(REVOCATION_CHANNEL).await?;
        tracing::debug!("listening for revocations");
        loop {
            let notification = listener.recv().await?;
            on_revoked(RevokedSession {
                id: notification.payload().to_owned(),
                revoked_at: now_unix(),
            });
        }
    }
}
