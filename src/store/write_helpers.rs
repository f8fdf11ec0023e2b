//! The write helpers every store write goes through, so that no write is acknowledged
//! before the database has kept it (the SQLite driver trap: a `RETURNING` statement read
//! only to its first row discards the commit's error), and so that each outcome reaches
//! the store's `WriteHealth` (readiness, the failed-writes metric). Reads have helpers too,
//! which say they are for reads only; `clippy.toml` forbids the trap-prone calls elsewhere.

/// Whether this process lets one write at a time reach the database.
///
/// SQLite has one writer at a time per database. Left to the driver, concurrent writers on
/// the pool's connections find the database locked and sleep in SQLite's busy handler
/// (1, 2, 5, 10, … 100 ms), so refreshes on one core under four clients had a p99 of
/// 229–731 ms while the core sat half idle (`bench/throughput.sh`; 3.9 ms with the gate).
/// In one process a queue is cheaper and fair: writers take turns here and meet the lock
/// only when another process (the admin CLI) holds it. PostgreSQL locks rows, not the
/// database: no gate.
pub(super) struct WriteGate {
    turn: Option<tokio::sync::Semaphore>,
    /// How long a writer waits for its turn before it gives up like a pool that has no
    /// connection to spare (`503 unavailable`).
    patience: std::time::Duration,
}

/// A writer's turn: the next writer goes when it is dropped.
pub(super) type WriteTurn<'a> = Option<tokio::sync::SemaphorePermit<'a>>;

impl WriteGate {
    /// One writer at a time (SQLite).
    pub(super) fn one_at_a_time(patience: std::time::Duration) -> Self {
        Self {
            turn: Some(tokio::sync::Semaphore::new(1)),
            patience,
        }
    }

    /// No gate (PostgreSQL).
    pub(super) fn open() -> Self {
        Self {
            turn: None,
            patience: std::time::Duration::ZERO,
        }
    }

    /// Waits for this writer's turn; hold it until the write (its commit included) is done.
    pub(super) async fn enter(&self) -> Result<WriteTurn<'_>, sqlx::Error> {
        let Some(turn) = &self.turn else {
            return Ok(None);
        };
        match tokio::time::timeout(self.patience, turn.acquire()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            // The semaphore is never closed; a timeout is a pool that is too busy.
            Ok(Err(_)) | Err(_) => Err(sqlx::Error::PoolTimedOut),
        }
    }
}

/// Runs a statement that writes and returns rows to its end and returns all the rows. On
/// SQLite the commit of a statement outside a transaction happens when it finishes: only
/// a statement read to its end reports a commit that failed.
pub(super) async fn rows_of_write<'q, DB, O>(
    pool: &sqlx::Pool<DB>,
    query: sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>,
) -> Result<Vec<O>, sqlx::Error>
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    O: Send + Unpin + for<'r> sqlx::FromRow<'r, DB::Row>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    query.fetch_all(pool).await
}

/// The inherent helpers the shared methods use, for a store on database type `$db`.
macro_rules! shared_store_helpers {
    ($db:ty) => {
        /// Reports a write's outcome (a whole transaction's, commit included) to the
        /// store's [`WriteHealth`](super::WriteHealth).
        fn written<T>(&self, result: Result<T, sqlx::Error>) -> StoreResult<T> {
            self.health.record(result, super::WriteKind::Request)
        }

        /// Begins a transaction that writes, once it is this writer's turn (see
        /// [`WriteGate`](super::write_helpers::WriteGate)); hold the turn until the commit.
        async fn begin_write(
            &self,
        ) -> Result<
            (
                super::write_helpers::WriteTurn<'_>,
                sqlx::Transaction<'static, $db>,
            ),
            sqlx::Error,
        > {
            let turn = self.write_gate.enter().await?;
            Ok((turn, self.pool.begin().await?))
        }

        /// Runs `update` (a statement that changes one user) and revokes the user's live
        /// sessions but `keep`, in one transaction: neither is stored without the other.
        /// The revoked ids, or `None` if `update` found no user.
        async fn change_user_ending_sessions<'q>(
            &self,
            update: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
            user_id: i64,
            now: i64,
            keep: Option<&str>,
            reason: RevocationReason,
        ) -> StoreResult<Option<Vec<String>>> {
            let result = async {
                let (_turn, mut tx) = self.begin_write().await?;
                if update.execute(&mut *tx).await?.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let revoked: Vec<(String,)> = sqlx::query_as(
                    "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 \
                     WHERE user_id = $1 AND revoked_at IS NULL AND id <> $4 RETURNING id",
                )
                .bind(user_id)
                .bind(now)
                .bind(reason.as_str())
                .bind(keep.unwrap_or(""))
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(Some(revoked.into_iter().map(|(id,)| id).collect()))
            }
            .await;
            self.written(result)
        }

        /// Runs a statement that writes; returns the rows it changed.
        async fn write<'q>(
            &self,
            query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
        ) -> StoreResult<u64> {
            let result = async {
                let _turn = self.write_gate.enter().await?;
                query
                    .execute(&self.pool)
                    .await
                    .map(|done| done.rows_affected())
            }
            .await;
            self.written(result)
        }

        /// Runs a statement that writes and returns rows (`… RETURNING`) to its end, so
        /// its commit is known to have succeeded before any row is used.
        async fn write_returning<'q, O>(
            &self,
            query: sqlx::query::QueryAs<'q, $db, O, <$db as sqlx::Database>::Arguments>,
        ) -> StoreResult<Vec<O>>
        where
            O: Send + Unpin + for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row>,
        {
            let result = async {
                let _turn = self.write_gate.enter().await?;
                super::write_helpers::rows_of_write(&self.pool, query).await
            }
            .await;
            self.written(result)
        }

        /// Runs a `SELECT` for at most one row. Never for a statement that writes: see
        /// [`Self::write_returning`].
        #[allow(clippy::disallowed_methods)]
        async fn read_optional<'q, O>(
            &self,
            query: sqlx::query::QueryAs<'q, $db, O, <$db as sqlx::Database>::Arguments>,
        ) -> StoreResult<Option<O>>
        where
            O: Send + Unpin + for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row>,
        {
            Ok(query.fetch_optional(&self.pool).await?)
        }

        /// Runs a `SELECT` for exactly one row. Never for a statement that writes: see
        /// [`Self::write_returning`].
        #[allow(clippy::disallowed_methods)]
        async fn read_one<'q, O>(
            &self,
            query: sqlx::query::QueryAs<'q, $db, O, <$db as sqlx::Database>::Arguments>,
        ) -> StoreResult<O>
        where
            O: Send + Unpin + for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row>,
        {
            Ok(query.fetch_one(&self.pool).await?)
        }

        async fn revoke_where(
            &self,
            condition: &str,
            binds: (i64, &str),
            now: i64,
            reason: RevocationReason,
        ) -> StoreResult<Vec<String>> {
            let sql = format!(
                "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
             WHERE revoked_at IS NULL AND user_id = $3 AND {condition} RETURNING id"
            );
            let query = sqlx::query_as(AssertSqlSafe(sql))
                .bind(now)
                .bind(reason.as_str())
                .bind(binds.0)
                .bind(binds.1);
            let ids: Vec<(String,)> = self.write_returning(query).await?;
            Ok(ids.into_iter().map(|(id,)| id).collect())
        }
    };
}

pub(super) use shared_store_helpers;

#[cfg(test)]
mod tests {
    use super::WriteGate;
    use std::time::Duration;

    #[tokio::test]
    async fn writers_take_turns_and_one_that_waits_too_long_is_refused_like_a_busy_pool() {
        let gate = WriteGate::one_at_a_time(Duration::from_millis(50));
        let first = gate.enter().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(first.is_some());
        let waited = gate.enter().await;
        assert!(
            matches!(waited, Err(sqlx::Error::PoolTimedOut)),
            "a second writer waits for the first"
        );
        drop(first);
        assert!(gate.enter().await.is_ok_and(|turn| turn.is_some()));

        let open = WriteGate::open();
        let a = open.enter().await.unwrap_or_else(|e| panic!("{e}"));
        let b = open.enter().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            a.is_none() && b.is_none(),
            "PostgreSQL's writers never wait here"
        );
    }
}
