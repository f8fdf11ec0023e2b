//! Storage of the second factor: TOTP factors, recovery codes and login challenges (see
//! the migration `0012_second_factor.sql`).
//!
//! Every "use once" is one conditional UPDATE whose rows-affected count picks the single
//! winner among concurrent requests, on any backend and across instances: a TOTP step
//! ([`MfaStore::accept_totp_step`]), a recovery code ([`MfaStore::use_recovery_code`]), an
//! mfa_token ([`MfaStore::complete_mfa_challenge`]) and each of its attempts
//! ([`MfaStore::claim_mfa_challenge_attempt`]). Nothing is read first and decided in Rust.

use async_trait::async_trait;

use super::{RevocationReason, StoreResult};

/// A user's TOTP factor as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpRecord {
    /// The secret, sealed with the key-encryption key.
    pub sealed_secret: Vec<u8>,
    /// `None` while pending (enrolled, not yet proven with a code).
    pub confirmed_at: Option<i64>,
}

/// Whether a user has a second factor, as `GET /me` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MfaStatus {
    /// A confirmed TOTP factor.
    pub totp: bool,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u64,
}

/// Which of a user's sessions end with a change of factors.
#[derive(Debug, Clone, Copy)]
pub struct EndSessions<'a> {
    /// The session that stays (the caller's own); `None`: every session ends.
    pub keep: Option<&'a str>,
    pub reason: RevocationReason,
}

/// The confirmation of a pending factor by a code of `step`.
pub struct TotpConfirmation<'a> {
    pub user_id: i64,
    /// The sealed secret the code was checked against: a factor replaced meanwhile (a
    /// second enrolment) is not confirmed by a code of the first.
    pub sealed_secret: &'a [u8],
    pub step: i64,
    /// Digests of the first set of recovery codes.
    pub recovery_digests: &'a [Vec<u8>],
    pub now: i64,
    pub end_sessions: Option<EndSessions<'a>>,
}

#[async_trait]
pub trait MfaStore: Send + Sync {
    /// Stores a pending factor (replacing a pending one); `false` if a confirmed factor
    /// exists, which stays as it is.
    async fn put_pending_totp(
        &self,
        user_id: i64,
        sealed_secret: &[u8],
        now: i64,
    ) -> StoreResult<bool>;
    async fn find_totp(&self, user_id: i64) -> StoreResult<Option<TotpRecord>>;
    /// Confirms a pending factor, stores its first recovery codes and ends sessions, in
    /// one transaction; the revoked session ids, or `None` if the factor was not pending
    /// with that secret any more.
    async fn confirm_totp(&self, c: TotpConfirmation<'_>) -> StoreResult<Option<Vec<String>>>;
    /// Accepts a code of `step` for a confirmed factor if no code of this or a later step
    /// was accepted before: the one conditional UPDATE that makes codes one-time.
    async fn accept_totp_step(&self, user_id: i64, step: i64) -> StoreResult<bool>;
    /// Uses an unused recovery code of the user; `false` if there is none with that digest.
    async fn use_recovery_code(&self, user_id: i64, digest: &[u8], now: i64) -> StoreResult<bool>;
    /// Replaces all the user's recovery codes, in one transaction, if the user has a
    /// confirmed factor; `false` otherwise.
    async fn replace_recovery_codes(
        &self,
        user_id: i64,
        digests: &[Vec<u8>],
        now: i64,
    ) -> StoreResult<bool>;
    async fn mfa_status(&self, user_id: i64) -> StoreResult<MfaStatus>;
    /// Removes the user's factor (pending or confirmed), recovery codes and challenges and
    /// ends sessions, in one transaction; the revoked ids, or `None` if there was no factor.
    async fn remove_mfa(
        &self,
        user_id: i64,
        now: i64,
        end_sessions: Option<EndSessions<'_>>,
    ) -> StoreResult<Option<Vec<String>>>;

    /// Records the login step of an mfa_token (by its digest).
    async fn create_mfa_challenge(
        &self,
        digest: &[u8],
        user_id: i64,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// Counts one code attempt on a live, unused challenge with fewer than `max_attempts`
    /// attempts; its user, or `None` when the token is unknown, expired, used or spent.
    async fn claim_mfa_challenge_attempt(
        &self,
        digest: &[u8],
        now: i64,
        max_attempts: i64,
    ) -> StoreResult<Option<i64>>;
    /// Marks a live challenge used; `false` if it was used (or expired) meanwhile.
    async fn complete_mfa_challenge(&self, digest: &[u8], now: i64) -> StoreResult<bool>;
    /// Deletes challenges that expired before `cutoff`; how many.
    async fn purge_mfa_challenges(&self, cutoff: i64) -> StoreResult<u64>;
}

/// Implements [`MfaStore`] for a store made by `impl_sql_store!` on database type `$db`
/// (the same SQL on both backends).
macro_rules! impl_mfa_store {
    ($store:ty, $db:ty) => {
#[async_trait]
impl super::MfaStore for $store {
    async fn put_pending_totp(&self, user_id: i64, sealed_secret: &[u8], now: i64) -> StoreResult<bool> {
        // A confirmed factor is never replaced here: turning it off takes a code.
        let query = sqlx::query(
            "INSERT INTO mfa_totp (user_id, sealed_secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, \
             created_at = excluded.created_at, last_step = NULL \
             WHERE mfa_totp.confirmed_at IS NULL",
        )
        .bind(user_id)
        .bind(sealed_secret)
        .bind(now);
        Ok(self.write(query).await? == 1)
    }

    async fn find_totp(&self, user_id: i64) -> StoreResult<Option<super::TotpRecord>> {
        self.read_optional(
            sqlx::query_as("SELECT sealed_secret, confirmed_at FROM mfa_totp WHERE user_id = $1")
                .bind(user_id),
        )
        .await
    }

    async fn confirm_totp(&self, c: super::TotpConfirmation<'_>) -> StoreResult<Option<Vec<String>>> {
        // Starts with a write (see `import_users` on SQLite snapshots).
        let result = async {
            let (_turn, mut tx) = self.begin_write().await?;
            let confirmed = sqlx::query(
                "UPDATE mfa_totp SET confirmed_at = $3, last_step = $4 \
                 WHERE user_id = $1 AND sealed_secret = $2 AND confirmed_at IS NULL \
                 AND (last_step IS NULL OR last_step < $4)",
            )
            .bind(c.user_id)
            .bind(c.sealed_secret)
            .bind(c.now)
            .bind(c.step)
            .execute(&mut *tx)
            .await?;
            if confirmed.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            insert_recovery_codes(&mut tx, c.user_id, c.recovery_digests, c.now).await?;
            let ended = end_sessions(&mut tx, c.user_id, c.now, c.end_sessions).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Some(ended))
        }
        .await;
        self.written(result)
    }

    async fn accept_totp_step(&self, user_id: i64, step: i64) -> StoreResult<bool> {
        // Of concurrent requests with codes of one step (on any instance), exactly one
        // finds `last_step < $2` true: RFC 6238 §5.2's one-time use.
        let query = sqlx::query(
            "UPDATE mfa_totp SET last_step = $2 WHERE user_id = $1 AND confirmed_at IS NOT NULL \
             AND (last_step IS NULL OR last_step < $2)",
        )
        .bind(user_id)
        .bind(step);
        Ok(self.write(query).await? == 1)
    }

    async fn use_recovery_code(&self, user_id: i64, digest: &[u8], now: i64) -> StoreResult<bool> {
        let query = sqlx::query(
            "UPDATE mfa_recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_digest = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(digest)
        .bind(now);
        Ok(self.write(query).await? == 1)
    }

    async fn replace_recovery_codes(&self, user_id: i64, digests: &[Vec<u8>], now: i64) -> StoreResult<bool> {
        let result = async {
            let (_turn, mut tx) = self.begin_write().await?;
            sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            // Only with a confirmed factor: codes without one would be a second factor
            // of their own, enrolled without proof of anything.
            let confirmed: Option<(i64,)> = sqlx::query_as(
                "SELECT user_id FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL",
            )
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?
            .pop();
            if confirmed.is_none() {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_recovery_codes(&mut tx, user_id, digests, now).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        }
        .await;
        self.written(result)
    }

    async fn mfa_status(&self, user_id: i64) -> StoreResult<super::MfaStatus> {
        let (totp, left): (i64, i64) = self
            .read_one(
                sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL), \
                     (SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL)",
                )
                .bind(user_id),
            )
            .await?;
        Ok(super::MfaStatus {
            totp: totp > 0,
            recovery_codes_left: u64::try_from(left).unwrap_or(0),
        })
    }

    async fn remove_mfa(
        &self,
        user_id: i64,
        now: i64,
        end: Option<super::EndSessions<'_>>,
    ) -> StoreResult<Option<Vec<String>>> {
        let result = async {
            let (_turn, mut tx) = self.begin_write().await?;
            let removed = sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            if removed.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM mfa_challenges WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let ended = end_sessions(&mut tx, user_id, now, end).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Some(ended))
        }
        .await;
        self.written(result)
    }

    async fn create_mfa_challenge(&self, digest: &[u8], user_id: i64, now: i64, expires_at: i64) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO mfa_challenges (token_digest, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(digest)
        .bind(user_id)
        .bind(now)
        .bind(expires_at);
        self.write(query).await?;
        Ok(())
    }

    async fn claim_mfa_challenge_attempt(&self, digest: &[u8], now: i64, max_attempts: i64) -> StoreResult<Option<i64>> {
        let query = sqlx::query_as(
            "UPDATE mfa_challenges SET attempts = attempts + 1 \
             WHERE token_digest = $1 AND used_at IS NULL AND expires_at > $2 AND attempts < $3 \
             RETURNING user_id",
        )
        .bind(digest)
        .bind(now)
        .bind(max_attempts);
        let row: Option<(i64,)> = self.write_returning(query).await?.pop();
        Ok(row.map(|(user_id,)| user_id))
    }

    async fn complete_mfa_challenge(&self, digest: &[u8], now: i64) -> StoreResult<bool> {
        let query = sqlx::query(
            "UPDATE mfa_challenges SET used_at = $2 \
             WHERE token_digest = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(digest)
        .bind(now);
        Ok(self.write(query).await? == 1)
    }

    async fn purge_mfa_challenges(&self, cutoff: i64) -> StoreResult<u64> {
        self.write(sqlx::query("DELETE FROM mfa_challenges WHERE expires_at < $1").bind(cutoff))
            .await
    }
}

/// Inserts recovery-code digests inside a transaction.
async fn insert_recovery_codes(
    tx: &mut sqlx::Transaction<'_, $db>,
    user_id: i64,
    digests: &[Vec<u8>],
    now: i64,
) -> Result<(), sqlx::Error> {
    for digest in digests {
        sqlx::query(
            "INSERT INTO mfa_recovery_codes (user_id, code_digest, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(digest)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Revokes the user's live sessions but `keep`, inside a transaction; the ids revoked.
async fn end_sessions(
    tx: &mut sqlx::Transaction<'_, $db>,
    user_id: i64,
    now: i64,
    end: Option<super::EndSessions<'_>>,
) -> Result<Vec<String>, sqlx::Error> {
    let Some(end) = end else {
        return Ok(Vec::new());
    };
    let revoked: Vec<(String,)> = sqlx::query_as(
        "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 \
         WHERE user_id = $1 AND revoked_at IS NULL AND id <> $4 RETURNING id",
    )
    .bind(user_id)
    .bind(now)
    .bind(end.reason.as_str())
    .bind(end.keep.unwrap_or(""))
    .fetch_all(&mut **tx)
    .await?;
    Ok(revoked.into_iter().map(|(id,)| id).collect())
}
    };
}

pub(super) use impl_mfa_store;
