//! PostgreSQL backend, for several instances on one database. Revocations are announced
//! with `NOTIFY` by a trigger (see the migration), in the transaction that makes them, so
//! every instance hears of a revocation whichever process made it.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool};

use super::sql::{
    EXISTING_USERS, IMPORT_ROWS_PER_STATEMENT, LIVE, OWNER_COLUMNS, SESSION_COLUMNS, USER_COLUMNS,
    impl_sql_store, migration_error, shared_store_helpers,
};
use super::{
    AttemptState, ExistingUser, ImportBatchReport, ImportedUser, LogoutScope, NewSession, NewUser,
    OnRevoked, ReservedName, RevocationReason, RevokedSession, RotationPolicy, RotationState,
    SessionOwner, SessionRecord, SigningKeyRecord, Store, StoreError, StoreResult, UserRecord,
};
use crate::tokens::now_unix;

/// The channel the revocation trigger notifies, with the session id as payload.
pub const REVOCATION_CHANNEL: &str = "tessera_revocations";

pub struct PostgresStore {
    pool: PgPool,
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
            // A connection killed while idle (restart, failover) is found and replaced
            // before a request gets it.
            .test_before_acquire(true)
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    shared_store_helpers!();
}

impl_sql_store!(PostgresStore, "migrations/postgres", {
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
