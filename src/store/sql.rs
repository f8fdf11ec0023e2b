//! The queries both backends share. The SQL text is the same on SQLite and PostgreSQL
//! (`$n` placeholders, `RETURNING`, integer timestamps), so it is written once, in a
//! macro that each backend instantiates for its own pool type.
//!
//! Dynamic SQL (wrapped in `AssertSqlSafe`) only ever interpolates the constants below;
//! every value goes through `bind`.
//!
//! Every write goes through one of three helpers (`write`, `write_returning`, `written`
//! for transactions): they read each statement to its end, so the outcome of its commit is
//! known before an answer is built (see `commit_errors.rs` for the driver trap this
//! avoids), and they report the outcome to the store's [`WriteHealth`](super::WriteHealth).
//! Reads go through `read_one`/`read_optional`. `clippy.toml` forbids calling
//! `fetch_one`/`fetch_optional` anywhere else.

pub(super) const USER_COLUMNS: &str = "id, username, password_hash, created_at, disabled_at";
pub(super) const SESSION_COLUMNS: &str = "id, user_id, created_at, last_used_at, expires_at, user_agent, ip, \
     refresh_nonce_digest, refresh_counter, rotated_at, revoked_at";
// Dynamic SQL below (wrapped in `AssertSqlSafe`) only ever interpolates these constants;
// every value goes through `bind`.

/// Rows per multi-row statement in an import: 5 binds each stays well under SQLite's
/// 32,766 and PostgreSQL's 65,535 bind parameters per statement.
pub(super) const IMPORT_ROWS_PER_STATEMENT: usize = 1000;

/// The start of a query for the accounts under a list of canonical names (close the list).
pub(super) const EXISTING_USERS: &str = "SELECT username_canonical, username, password_hash, imported_hash_sha256 \
     FROM users WHERE username_canonical IN (";

/// A session is live when it is not revoked, not expired, and (with an idle timeout) recently used.
pub(super) const LIVE: &str =
    "revoked_at IS NULL AND expires_at > $2 AND ($3 = 0 OR last_used_at > $2 - $3)";

/// A migration that could not reach the database is "unavailable" (worth retrying);
/// anything else is a real failure.
pub(super) fn migration_error(e: sqlx::migrate::MigrateError) -> super::StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(e) => e.into(),
        other => super::StoreError::Other(format!("migration failed: {other}")),
    }
}

/// The owner of a session, read in the same statement as the session (scalar subqueries
/// work in `RETURNING` on both backends), and what the session's login proved (`amr`).
pub(super) const OWNER_COLUMNS: &str = "user_id, \
     (SELECT username FROM users WHERE users.id = sessions.user_id), \
     (SELECT disabled_at FROM users WHERE users.id = sessions.user_id), amr";

/// Upserts the one row of `write_probe`: the smallest write that still goes through the
/// whole write path (lock, log, commit), for `/readyz`.
pub(super) const PROBE: &str = "INSERT INTO write_probe (id, probed_at) VALUES (1, $1) \
     ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at";

/// Implements [`Store`](super::Store) for a struct with `pool` (a sqlx pool of database
/// type `$db`) and `health` fields, with the given embedded migrations, plus any
/// backend-specific methods given.
/// (The whole impl is generated here because `#[async_trait]` must see every method.)
macro_rules! impl_sql_store {
    ($store:ty, $migrations:literal, { $($extra:tt)* }) => {
#[async_trait]
impl Store for $store {
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!($migrations).run(&self.pool).await.map_err(migration_error)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn write_health(&self) -> &WriteHealth {
        &self.health
    }

    async fn probe_write(&self, now: i64) -> StoreResult<()> {
        let result = async {
            let _turn = self.write_gate.enter().await?;
            sqlx::query(PROBE).bind(now).execute(&self.pool).await
        }
        .await;
        // A probe tells whether writes get through, but is no activity of its own: the
        // WAL upkeep must still see an idle server as idle.
        self.health.record(result.map(|_| ()), super::WriteKind::Probe)
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn create_user(&self, user: NewUser<'_>) -> StoreResult<UserRecord> {
        // A reserved name is refused in the same statement that inserts, so the check
        // and the insert cannot be told apart by a concurrent request.
        let sql = format!(
            "INSERT INTO users (username, username_canonical, password_hash, created_at, password_changed_at) \
             SELECT $1, $2, $3, $4, $4 \
             WHERE NOT EXISTS (SELECT 1 FROM reserved_names WHERE username_canonical = $2 \
                 AND (held_until IS NULL OR held_until > $4)) \
             RETURNING {USER_COLUMNS}"
        );
        let query = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user.username)
            .bind(user.username_canonical)
            .bind(user.password_hash)
            .bind(user.now);
        // No row back: the name is reserved (a taken name is a unique violation).
        self.write_returning(query)
            .await?
            .pop()
            .ok_or(StoreError::UsernameTaken)
    }

    async fn find_user_by_canonical_name(
        &self,
        canonical: &str,
    ) -> StoreResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username_canonical = $1");
        self.read_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(canonical)).await
    }

    async fn find_user_by_id(&self, id: i64) -> StoreResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        self.read_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id)).await
    }

    async fn upgrade_password_hash(
        &self,
        user_id: i64,
        old_hash: &str,
        new_hash: &str,
    ) -> StoreResult<bool> {
        let query =
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
                .bind(new_hash)
                .bind(user_id)
                .bind(old_hash);
        Ok(self.write(query).await? == 1)
    }

    async fn import_users(
        &self,
        batch: &[ImportedUser],
        now: i64,
    ) -> StoreResult<ImportBatchReport> {
        // Insert first, read after: a transaction that reads and then writes can fail on
        // SQLite with SQLITE_BUSY_SNAPSHOT when a server commits in between (busy_timeout
        // does not help there); one that starts by writing just waits for the lock.
        // One transaction; its outcome (commit included) is reported as one write.
        let result = async {
            let (_turn, mut tx) = self.begin_write().await?;
            let mut inserted = std::collections::HashSet::new();
            for chunk in batch.chunks(IMPORT_ROWS_PER_STATEMENT) {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO users (username, username_canonical, password_hash, created_at, password_changed_at, \
                     imported_hash_sha256) ",
                );
                query.push_values(chunk, |mut row, user| {
                    row.push_bind(&user.username)
                        .push_bind(&user.username_canonical)
                        .push_bind(&user.password_hash)
                        .push_bind(now)
                        .push_bind(now)
                        .push_bind(&user.hash_sha256);
                });
                // Names already taken (in any spelling) are skipped, never overwritten.
                query.push(" ON CONFLICT (username_canonical) DO NOTHING RETURNING username_canonical");
                let rows: Vec<(String,)> = query.build_query_as().fetch_all(&mut *tx).await?;
                inserted.extend(rows.into_iter().map(|(c,)| c));
            }
            let mut report = ImportBatchReport {
                inserted: inserted.len() as u64,
                ..ImportBatchReport::default()
            };
            // The import brought these users over: their reservations are resolved.
            let lifted: Vec<&String> = inserted.iter().collect();
            for chunk in lifted.chunks(IMPORT_ROWS_PER_STATEMENT) {
                let mut query = sqlx::QueryBuilder::new(
                    "DELETE FROM reserved_names WHERE username_canonical IN (",
                );
                let mut list = query.separated(", ");
                for canonical in chunk {
                    list.push_bind(*canonical);
                }
                query.push(")");
                query.build().execute(&mut *tx).await?;
            }
            let skipped: Vec<&ImportedUser> = batch
                .iter()
                .filter(|u| !inserted.contains(&u.username_canonical))
                .collect();
            for chunk in skipped.chunks(IMPORT_ROWS_PER_STATEMENT) {
                let mut query = sqlx::QueryBuilder::new(EXISTING_USERS);
                let mut list = query.separated(", ");
                for user in chunk {
                    list.push_bind(&user.username_canonical);
                }
                query.push(")");
                let rows: Vec<ExistingUser> = query.build_query_as().fetch_all(&mut *tx).await?;
                report.existing.extend(rows);
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(report)
        }
        .await;
        self.written(result)
    }

    async fn existing_users(&self, canonicals: &[String]) -> StoreResult<Vec<ExistingUser>> {
        let mut found = Vec::new();
        for chunk in canonicals.chunks(IMPORT_ROWS_PER_STATEMENT) {
            let mut query = sqlx::QueryBuilder::new(EXISTING_USERS);
            let mut list = query.separated(", ");
            for canonical in chunk {
                list.push_bind(canonical);
            }
            query.push(")");
            let rows: Vec<ExistingUser> = query.build_query_as().fetch_all(&self.pool).await?;
            found.extend(rows);
        }
        Ok(found)
    }

    async fn reserve_names(&self, names: &[ReservedName], now: i64) -> StoreResult<u64> {
        let result = async {
            let mut reserved = 0;
            let (_turn, mut tx) = self.begin_write().await?;
            for chunk in names.chunks(IMPORT_ROWS_PER_STATEMENT) {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO reserved_names (username_canonical, username, reason, reserved_at) ",
                );
                query.push_values(chunk, |mut row, name| {
                    row.push_bind(&name.username_canonical)
                        .push_bind(&name.username)
                        .push_bind(&name.reason)
                        .push_bind(now);
                });
                query.push(" ON CONFLICT (username_canonical) DO NOTHING");
                reserved += query.build().execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(reserved)
        }
        .await;
        self.written(result)
    }

    async fn release_name(&self, canonical: &str) -> StoreResult<bool> {
        let query = sqlx::query("DELETE FROM reserved_names WHERE username_canonical = $1")
            .bind(canonical);
        Ok(self.write(query).await? == 1)
    }

    async fn create_session(&self, s: NewSession<'_>) -> StoreResult<Vec<String>> {
        // One transaction: the new session and the end of the oldest beyond the limit are
        // seen together or not at all.
        let result = async {
            let (_turn, mut tx) = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip, \
                 refresh_nonce_digest, refresh_counter, opened_at_us, amr) \
                 VALUES ($1, $2, $3, $3, $4, $5, $6, $7, 0, $8, $9)",
            )
            .bind(s.id)
            .bind(s.user_id)
            .bind(s.now)
            .bind(s.expires_at)
            .bind(s.user_agent)
            .bind(s.ip)
            .bind(s.refresh_nonce_digest)
            .bind(s.opened_at_us)
            .bind(s.assurance.as_stored())
            .execute(&mut *tx)
            .await?;
            let mut ended = Vec::new();
            if s.max_live > 0 {
                // Keeps the newest `max_live - 1` others (the new one is excluded, so a tie
                // on `created_at` can never end it). LIMIT is required before OFFSET in SQLite.
                let sql = format!(
                    "UPDATE sessions SET revoked_at = $2, revoke_reason = $4 WHERE id IN \
                     (SELECT id FROM sessions WHERE user_id = $1 AND id <> $5 AND {LIVE} \
                     ORDER BY created_at DESC, opened_at_us DESC, id DESC LIMIT 1000000000 OFFSET $6) RETURNING id"
                );
                let rows: Vec<(String,)> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(s.user_id)
                    .bind(s.policy.now)
                    .bind(s.policy.idle_timeout_secs)
                    .bind(RevocationReason::SessionLimit.as_str())
                    .bind(s.id)
                    .bind(i64::from(s.max_live) - 1)
                    .fetch_all(&mut *tx)
                    .await?;
                ended = rows.into_iter().map(|(id,)| id).collect();
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ended)
        }
        .await;
        self.written(result)
    }

    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
        self.read_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id)).await
    }

    async fn advance_refresh_counter(
        &self,
        id: &str,
        nonce_digest: &[u8],
        counter: i64,
        p: RotationPolicy,
    ) -> StoreResult<Option<(i64, SessionOwner)>> {
        // Of any number of concurrent requests presenting the current token, exactly one
        // matches `refresh_counter = $4` and advances it; the owner comes back in the same
        // round trip. (Digests are compared in SQL: timing can reveal at most a prefix of a
        // SHA-256 digest, which does not help to find its preimage.)
        let sql = format!(
            "UPDATE sessions SET refresh_counter = refresh_counter + 1, rotated_at = $2, last_used_at = $2 \
             WHERE id = $1 AND refresh_counter = $4 AND refresh_nonce_digest = $5 AND {LIVE} \
             RETURNING refresh_counter, {OWNER_COLUMNS}"
        );
        let query = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .bind(p.now)
            .bind(p.idle_timeout_secs)
            .bind(counter)
            .bind(nonce_digest);
        let rotated: Option<(i64, i64, String, Option<i64>, String)> =
            self.write_returning(query).await?.pop();
        Ok(rotated.map(|(counter, user_id, username, disabled_at, amr)| {
            (counter, SessionOwner::new(user_id, username, disabled_at, &amr))
        }))
    }

    async fn rotation_state(
        &self,
        id: &str,
        nonce_digest: &[u8],
    ) -> StoreResult<Option<(RotationState, SessionOwner)>> {
        let sql = format!(
            "SELECT refresh_counter, rotated_at, revoked_at, expires_at, last_used_at, {OWNER_COLUMNS} \
             FROM sessions WHERE id = $1 AND refresh_nonce_digest = $2"
        );
        type Row = (i64, Option<i64>, Option<i64>, i64, i64, i64, String, Option<i64>, String);
        let row: Option<Row> = self
            .read_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id).bind(nonce_digest))
            .await?;
        Ok(row.map(
            |(counter, rotated_at, revoked_at, expires_at, last_used_at, user_id, username, disabled_at, amr)| {
                let state = RotationState { counter, rotated_at, revoked_at, expires_at, last_used_at };
                (state, SessionOwner::new(user_id, username, disabled_at, &amr))
            },
        ))
    }

    async fn list_live_sessions(
        &self,
        user_id: i64,
        p: RotationPolicy,
    ) -> StoreResult<Vec<SessionRecord>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND {LIVE} ORDER BY created_at DESC, id"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(user_id)
            .bind(p.now)
            .bind(p.idle_timeout_secs)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn count_live_sessions(&self, p: RotationPolicy) -> StoreResult<u64> {
        // The rule of `LIVE`, with the parameters numbered from 1.
        let (count,): (i64,) = self
            .read_one(
                sqlx::query_as(
                    "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > $1 \
                     AND ($2 = 0 OR last_used_at > $1 - $2)",
                )
                .bind(p.now)
                .bind(p.idle_timeout_secs),
            )
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn revoke_session(
        &self,
        user_id: i64,
        session_id: &str,
        now: i64,
        reason: RevocationReason,
    ) -> StoreResult<bool> {
        let ids = self
            .revoke_where("id = $4", (user_id, session_id), now, reason)
            .await?;
        Ok(!ids.is_empty())
    }

    async fn revoke_user_sessions(
        &self,
        user_id: i64,
        current: Option<&str>,
        scope: LogoutScope,
        now: i64,
        reason: RevocationReason,
    ) -> StoreResult<Vec<String>> {
        let current = current.unwrap_or("");
        match scope {
            LogoutScope::Local => {
                self.revoke_where("id = $4", (user_id, current), now, reason)
                    .await
            }
            LogoutScope::Others => {
                self.revoke_where("id <> $4", (user_id, current), now, reason)
                    .await
            }
            LogoutScope::Global => {
                self.revoke_where("$4 = $4", (user_id, current), now, reason)
                    .await
            }
        }
    }

    async fn revocations_since(&self, since: i64) -> StoreResult<Vec<RevokedSession>> {
        Ok(sqlx::query_as(
            "SELECT id, revoked_at FROM sessions WHERE revoked_at >= $1 \
             UNION ALL SELECT session_id, revoked_at FROM revocations WHERE revoked_at >= $1",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn add_service_client(&self, c: &ServiceClientRecord) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO service_clients (client_id, name, secret_hash, created_at, disabled_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&c.client_id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(c.created_at)
        .bind(c.disabled_at);
        self.write(query).await.map(|_| ())
    }

    async fn find_service_client(&self, client_id: &str) -> StoreResult<Option<ServiceClientRecord>> {
        self.read_optional(
            sqlx::query_as(
                "SELECT client_id, name, secret_hash, created_at, disabled_at \
                 FROM service_clients WHERE client_id = $1",
            )
            .bind(client_id),
        )
        .await
    }

    async fn list_service_clients(&self) -> StoreResult<Vec<ServiceClientRecord>> {
        Ok(sqlx::query_as(
            "SELECT client_id, name, secret_hash, created_at, disabled_at \
             FROM service_clients ORDER BY created_at, client_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn remove_service_client(&self, client_id: &str) -> StoreResult<bool> {
        let query = sqlx::query("DELETE FROM service_clients WHERE client_id = $1").bind(client_id);
        Ok(self.write(query).await? == 1)
    }

    async fn set_service_client_secret(&self, client_id: &str, secret_hash: &str) -> StoreResult<bool> {
        let query = sqlx::query("UPDATE service_clients SET secret_hash = $2 WHERE client_id = $1")
            .bind(client_id)
            .bind(secret_hash);
        Ok(self.write(query).await? == 1)
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&self.pool).await?)
    }

    async fn set_user_disabled(&self, user_id: i64, disabled_at: Option<i64>) -> StoreResult<bool> {
        let query = sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(disabled_at);
        Ok(self.write(query).await? == 1)
    }

    async fn replace_password(
        &self,
        user_id: i64,
        hash: &str,
        now: i64,
        keep: Option<&str>,
        reason: RevocationReason,
    ) -> StoreResult<Option<Vec<String>>> {
        let update =
            sqlx::query("UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1")
                .bind(user_id)
                .bind(hash)
                .bind(now);
        self.change_user_ending_sessions(update, user_id, now, keep, reason).await
    }

    async fn disable_user(&self, user_id: i64, now: i64) -> StoreResult<Option<Vec<String>>> {
        let update = sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(now);
        self.change_user_ending_sessions(update, user_id, now, None, RevocationReason::UserDisabled)
            .await
    }

    async fn delete_user(
        &self,
        user_id: i64,
        now: i64,
        hold_name_until: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        // One transaction; its outcome (commit included) is reported as one write.
        let result = async {
            let (_turn, mut tx) = self.begin_write().await?;
            let revoked: Vec<(String,)> = sqlx::query_as(
                "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 \
                 WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
            )
            .bind(user_id)
            .bind(now)
            .bind(RevocationReason::AccountDeleted.as_str())
            .fetch_all(&mut *tx)
            .await?;
            // Every session revoked recently, not only now: their rows are about to go.
            sqlx::query(
                "INSERT INTO revocations (session_id, revoked_at) \
                 SELECT id, revoked_at FROM sessions WHERE user_id = $1 AND revoked_at IS NOT NULL",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            // The name is held back in the same transaction: no moment exists in which it
            // is free while the old owner's tokens still verify. A hold placed by an
            // operator or an import (no end) is kept as it is.
            sqlx::query(
                "INSERT INTO reserved_names (username_canonical, username, reason, reserved_at, held_until) \
                 SELECT username_canonical, username, 'account_deleted', $2, $3 FROM users WHERE id = $1 \
                 ON CONFLICT (username_canonical) DO UPDATE SET held_until = excluded.held_until, \
                 reserved_at = excluded.reserved_at WHERE reserved_names.held_until IS NOT NULL",
            )
            .bind(user_id)
            .bind(now)
            .bind(hold_name_until)
            .execute(&mut *tx)
            .await?;
            let deleted = sqlx::query("DELETE FROM users WHERE id = $1").bind(user_id).execute(&mut *tx).await?;
            if deleted.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Some(revoked.into_iter().map(|(id,)| id).collect()))
        }
        .await;
        self.written(result)
    }

    async fn list_sessions_with_owner(
        &self,
        user_id: Option<i64>,
        p: RotationPolicy,
    ) -> StoreResult<Vec<(SessionRecord, String)>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE ($1 = 0 OR user_id = $1) AND {LIVE} \
             ORDER BY created_at DESC, id"
        );
        let sessions: Vec<SessionRecord> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user_id.unwrap_or(0))
            .bind(p.now)
            .bind(p.idle_timeout_secs)
            .fetch_all(&self.pool)
            .await?;
        let names: std::collections::HashMap<i64, String> = self
            .list_users()
            .await?
            .into_iter()
            .filter(|u| user_id.is_none_or(|id| id == u.id))
            .map(|u| (u.id, u.username))
            .collect();
        Ok(sessions
            .into_iter()
            .map(|s| {
                let name = names.get(&s.user_id).cloned().unwrap_or_default();
                (s, name)
            })
            .collect())
    }

    async fn revoke_all_sessions(
        &self,
        now: i64,
        reason: RevocationReason,
    ) -> StoreResult<Vec<String>> {
        let query = sqlx::query_as(
            "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
             WHERE revoked_at IS NULL RETURNING id",
        )
        .bind(now)
        .bind(reason.as_str());
        let ids: Vec<(String,)> = self.write_returning(query).await?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    async fn revoke_session_by_id(
        &self,
        session_id: &str,
        now: i64,
        reason: RevocationReason,
    ) -> StoreResult<Option<i64>> {
        let query = sqlx::query_as(
            "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 \
             WHERE id = $1 AND revoked_at IS NULL RETURNING user_id",
        )
        .bind(session_id)
        .bind(now)
        .bind(reason.as_str());
        let owner: Option<(i64,)> = self.write_returning(query).await?.pop();
        Ok(owner.map(|(id,)| id))
    }

    async fn login_attempts(&self, canonical: &str) -> StoreResult<Option<AttemptState>> {
        let row: Option<(i64, i64)> = self
            .read_optional(
                sqlx::query_as(
                    "SELECT failures, last_attempt_ms FROM login_failures WHERE username_canonical = $1",
                )
                .bind(canonical),
            )
            .await?;
        Ok(row.map(|(attempts, last_attempt_ms)| AttemptState {
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            last_attempt_ms,
        }))
    }

    async fn claim_login_attempt(
        &self,
        canonical: &str,
        expected: Option<&AttemptState>,
        next: &AttemptState,
    ) -> StoreResult<bool> {
        // The winner of a race is whoever's statement finds the state it decided from:
        // an insert where there was no row, or an update guarded by the old values.
        // (`last_failed_at`, in seconds, is what the purge of stale rows reads.)
        let last_seconds = next.last_attempt_ms.div_euclid(1000);
        let done = match expected {
            None => {
                let query = sqlx::query(
                    "INSERT INTO login_failures (username_canonical, failures, last_failed_at, last_attempt_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (username_canonical) DO NOTHING",
                )
                .bind(canonical)
                .bind(i64::from(next.attempts))
                .bind(last_seconds)
                .bind(next.last_attempt_ms);
                self.write(query).await?
            }
            Some(old) => {
                let query = sqlx::query(
                    "UPDATE login_failures SET failures = $2, last_failed_at = $3, last_attempt_ms = $4 \
                     WHERE username_canonical = $1 AND failures = $5 AND last_attempt_ms = $6",
                )
                .bind(canonical)
                .bind(i64::from(next.attempts))
                .bind(last_seconds)
                .bind(next.last_attempt_ms)
                .bind(i64::from(old.attempts))
                .bind(old.last_attempt_ms);
                self.write(query).await?
            }
        };
        Ok(done == 1)
    }

    async fn purge_login_failures(&self, cutoff: i64) -> StoreResult<u64> {
        self.write(sqlx::query("DELETE FROM login_failures WHERE last_failed_at < $1").bind(cutoff))
            .await
    }

    async fn clear_login_failures(&self, canonical: &str) -> StoreResult<()> {
        self.write(sqlx::query("DELETE FROM login_failures WHERE username_canonical = $1").bind(canonical))
            .await?;
        Ok(())
    }

    async fn device_attempts(&self, digest: &[u8]) -> StoreResult<Option<crate::domain::DeviceAttempts>> {
        let row: Option<(i64, i64)> = self
            .read_optional(
                sqlx::query_as("SELECT attempts, window_start FROM device_attempts WHERE token_digest = $1")
                    .bind(digest),
            )
            .await?;
        Ok(row.map(|(attempts, window_start)| crate::domain::DeviceAttempts {
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            window_start,
        }))
    }

    async fn claim_device_attempt(
        &self,
        digest: &[u8],
        expected: Option<&crate::domain::DeviceAttempts>,
        next: &crate::domain::DeviceAttempts,
    ) -> StoreResult<bool> {
        // As for the per-name back-off: the statement that finds the state it was decided
        // from wins.
        let done = match expected {
            None => {
                let query = sqlx::query(
                    "INSERT INTO device_attempts (token_digest, attempts, window_start) \
                     VALUES ($1, $2, $3) ON CONFLICT (token_digest) DO NOTHING",
                )
                .bind(digest)
                .bind(i64::from(next.attempts))
                .bind(next.window_start);
                self.write(query).await?
            }
            Some(old) => {
                let query = sqlx::query(
                    "UPDATE device_attempts SET attempts = $2, window_start = $3 \
                     WHERE token_digest = $1 AND attempts = $4 AND window_start = $5",
                )
                .bind(digest)
                .bind(i64::from(next.attempts))
                .bind(next.window_start)
                .bind(i64::from(old.attempts))
                .bind(old.window_start);
                self.write(query).await?
            }
        };
        Ok(done == 1)
    }

    async fn clear_device_attempts(&self, digest: &[u8]) -> StoreResult<()> {
        self.write(sqlx::query("DELETE FROM device_attempts WHERE token_digest = $1").bind(digest))
            .await?;
        Ok(())
    }

    async fn purge_device_attempts(&self, cutoff: i64) -> StoreResult<u64> {
        self.write(sqlx::query("DELETE FROM device_attempts WHERE window_start < $1").bind(cutoff))
            .await
    }

    async fn purge_ended_sessions(&self, cutoff: i64, batch: u32) -> StoreResult<u64> {
        // Bounded statements (the same SQL on both backends): one DELETE of a million rows
        // would hold SQLite's write lock, and logins with it, for seconds. Each half walks
        // its own index in order: with `expires_at < $1 OR revoked_at < $1 LIMIT n`,
        // PostgreSQL scanned the table from its start, over the rows earlier batches had
        // deleted, so each batch cost more than the last (1M sessions took 74 s).
        // The ids are selected first, then deleted by primary key: neither backend
        // accepts LIMIT in a DELETE by default.
        self.write(
            sqlx::query(
                "DELETE FROM sessions WHERE id IN (\
                 SELECT id FROM (SELECT id FROM sessions WHERE expires_at < $1 ORDER BY expires_at LIMIT $2) AS expired \
                 UNION \
                 SELECT id FROM (SELECT id FROM sessions WHERE revoked_at < $1 ORDER BY revoked_at LIMIT $2) AS revoked)",
            )
            .bind(cutoff)
            .bind(i64::from(batch)),
        )
        .await
    }

    async fn purge_ended_holds(&self, cutoff: i64) -> StoreResult<u64> {
        // Revocations and name holds are written only when accounts are deleted: few rows.
        let revocations = self
            .write(sqlx::query("DELETE FROM revocations WHERE revoked_at < $1").bind(cutoff))
            .await?;
        let holds = self
            .write(sqlx::query("DELETE FROM reserved_names WHERE held_until < $1").bind(cutoff))
            .await?;
        Ok(revocations + holds)
    }

    async fn shared_secrets(&self, name: &str) -> StoreResult<Vec<SharedSecretRecord>> {
        Ok(sqlx::query_as(
            "SELECT name, generation, value, fingerprint, created_at FROM shared_secrets \
             WHERE name = $1 ORDER BY generation DESC",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn add_shared_secret(&self, s: &SharedSecretRecord) -> StoreResult<bool> {
        let query = sqlx::query(
            "INSERT INTO shared_secrets (name, generation, value, fingerprint, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name, generation) DO NOTHING",
        )
        .bind(&s.name)
        .bind(s.generation)
        .bind(&s.value)
        .bind(&s.fingerprint)
        .bind(s.created_at);
        Ok(self.write(query).await? == 1)
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        Ok(sqlx::query_as(
            "SELECT kid, alg, sealed_key, created_at, activate_at, retired_at \
             FROM signing_keys ORDER BY activate_at, created_at",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        // One transaction; its outcome (commit included) is reported as one write.
        let result = async {
            let (_turn, mut tx) = self.begin_write().await?;
            sqlx::query(
                "UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL OR retired_at > $1",
            )
            .bind(key.activate_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO signing_keys (kid, alg, sealed_key, created_at, activate_at, retired_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL)",
            )
            .bind(&key.kid)
            .bind(&key.alg)
            .bind(&key.sealed_key)
            .bind(key.created_at)
            .bind(key.activate_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }
        .await;
        self.written(result)
    }

    $($extra)*
}
    };
}

pub(super) use impl_sql_store;
