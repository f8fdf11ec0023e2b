//! Storage of account recovery (migration `0014_account_recovery.sql`): email addresses,
//! codes sent by mail, and the outbox the delivery worker empties.
//!
//! Every "once" is decided by one conditional statement whose rows-affected count picks
//! the single winner among concurrent requests and instances: using a code
//! ([`RecoveryStore::reset_password_with_code`], [`RecoveryStore::verify_email_with_code`])
//! and claiming a message for delivery ([`RecoveryStore::claim_outbox_message`]).

use async_trait::async_trait;

use super::{StoreResult, UserRecord};

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// Setting a new password without the old one.
    Reset,
    /// Proving an address.
    VerifyEmail,
}

impl CodePurpose {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::Reset => "reset",
            CodePurpose::VerifyEmail => "verify_email",
        }
    }
}

/// A code to store (only digests).
pub struct NewAccountCode<'a> {
    pub user_id: i64,
    pub purpose: CodePurpose,
    pub token_digest: &'a [u8],
    pub code_digest: &'a [u8],
    /// The address a verification proves (`email`, `email_key`).
    pub email: Option<(&'a str, &'a str)>,
    pub now: i64,
    pub expires_at: i64,
}

/// A message to queue.
pub struct NewMessage<'a> {
    /// The recipient's comparison form (the per-address limit counts by it).
    pub recipient_key: &'a str,
    pub sealed_message: &'a [u8],
}

/// How many messages may go out per hour.
#[derive(Debug, Clone, Copy)]
pub struct MailLimits {
    pub per_recipient: u32,
    pub per_account: u32,
}

/// Which code is presented.
#[derive(Debug, Clone, Copy)]
pub enum CodeLookup<'a> {
    /// The token from a link.
    Token(&'a [u8]),
    /// A typed code, for one user.
    Code { user_id: i64, digest: &'a [u8] },
}

/// The outcome of presenting a verification code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailVerification {
    /// The address is now the user's verified address.
    Verified { user_id: i64, email: String },
    /// No live code matched (wrong, used, expired or void).
    NoSuchCode,
    /// Another account verified the same address first (the code is spent).
    AddressTaken,
}

/// A user's address as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct EmailRecord {
    pub email: Option<String>,
    pub email_verified_at: Option<i64>,
    pub locale: Option<String>,
}

/// A message claimed for delivery.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedMessage {
    pub id: i64,
    pub sealed_message: Vec<u8>,
    /// Attempts including this one.
    pub attempts: i64,
    pub created_at: i64,
}

#[async_trait]
pub trait RecoveryStore: Send + Sync {
    /// Stores a code and queues its message (and optionally a notice to another address),
    /// voiding the user's earlier unused codes of the same purpose, in one transaction.
    /// `false` (nothing written) when a per-hour mail limit is reached. Without a message
    /// (an administrator's reset link) nothing is queued and no limit applies.
    async fn issue_code(
        &self,
        code: NewAccountCode<'_>,
        message: Option<NewMessage<'_>>,
        notice: Option<NewMessage<'_>>,
        limits: MailLimits,
    ) -> StoreResult<bool>;

    /// Spends a live reset code (at most `max_attempts` wrong ones before it) and, in the
    /// same transaction, sets the password hash and ends every session of its user.
    /// Returns the user and the ended sessions, or `None` when no live code matched.
    async fn reset_password_with_code(
        &self,
        lookup: CodeLookup<'_>,
        max_attempts: u32,
        hash: &str,
        now: i64,
    ) -> StoreResult<Option<(i64, Vec<String>)>>;

    /// Spends a live verification code and makes its address the user's verified one.
    async fn verify_email_with_code(
        &self,
        lookup: CodeLookup<'_>,
        max_attempts: u32,
        now: i64,
    ) -> StoreResult<EmailVerification>;

    /// The user a live code of `purpose` with this link token belongs to (a read: nothing
    /// is spent).
    async fn code_owner(
        &self,
        token_digest: &[u8],
        purpose: CodePurpose,
        now: i64,
    ) -> StoreResult<Option<i64>>;

    /// Counts a wrong code against every live code of `purpose` of the user; returns how
    /// many codes were still live.
    async fn count_wrong_code(
        &self,
        user_id: i64,
        purpose: CodePurpose,
        now: i64,
    ) -> StoreResult<u64>;

    /// The user's address.
    async fn email_of(&self, user_id: i64) -> StoreResult<EmailRecord>;
    /// Records an unverified address (replacing an unverified one; a verified one stays
    /// until the new one is verified).
    async fn set_unverified_email(
        &self,
        user_id: i64,
        email: &str,
        email_key: &str,
    ) -> StoreResult<()>;
    /// Removes the address and voids its verification codes.
    async fn remove_email(&self, user_id: i64, now: i64) -> StoreResult<()>;
    /// Remembers the language of a user's latest request (for messages sent later).
    async fn set_locale(&self, user_id: i64, locale: &str) -> StoreResult<()>;
    /// The account whose verified address has this comparison form.
    async fn find_user_by_verified_email(&self, email_key: &str)
    -> StoreResult<Option<UserRecord>>;

    /// Claims the oldest due message for one delivery attempt (until `lease_until`): one
    /// conditional UPDATE, so two instances never claim the same message.
    async fn claim_outbox_message(
        &self,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<Option<ClaimedMessage>>;
    /// Marks a message sent and forgets its content.
    async fn outbox_sent(&self, id: i64, now: i64) -> StoreResult<()>;
    /// Records a failed attempt: retried at `retry_at`, or dead (content forgotten).
    async fn outbox_failed(
        &self,
        id: i64,
        now: i64,
        retry_at: Option<i64>,
        error: &str,
    ) -> StoreResult<()>;
}

/// The claim of the oldest due message. PostgreSQL skips rows another instance is
/// claiming (`FOR UPDATE SKIP LOCKED`) instead of queueing behind them; SQLite has one
/// writer at a time anyway. Either way the outer `WHERE` re-checks the claim, so exactly
/// one instance gets the row.
pub(super) const CLAIM_SQLITE: &str = "UPDATE outbox SET claimed_until = $2, attempts = attempts + 1 \
     WHERE id = (SELECT id FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL \
     AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY id LIMIT 1) \
     AND (claimed_until IS NULL OR claimed_until < $1) \
     RETURNING id, sealed_message, attempts, created_at";
pub(super) const CLAIM_POSTGRES: &str = "UPDATE outbox SET claimed_until = $2, attempts = attempts + 1 \
     WHERE id = (SELECT id FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL \
     AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY id LIMIT 1 \
     FOR UPDATE SKIP LOCKED) \
     AND (claimed_until IS NULL OR claimed_until < $1) \
     RETURNING id, sealed_message, attempts, created_at";

/// The condition of a live code, after `$1` (purpose) and `$2` (now) and `$3` (max attempts).
const LIVE_CODE: &str = "purpose = $1 AND used_at IS NULL AND expires_at > $2 AND attempts < $3";

/// Implements [`RecoveryStore`] for a store with `pool` (of database `$db`) and the shared
/// write helpers; `$claim` is the backend's claim statement.
macro_rules! impl_recovery_store {
    ($store:ty, $db:ty, $claim:expr) => {
#[async_trait]
impl super::RecoveryStore for $store {
    async fn issue_code(
        &self,
        code: super::recovery::NewAccountCode<'_>,
        message: Option<super::recovery::NewMessage<'_>>,
        notice: Option<super::recovery::NewMessage<'_>>,
        limits: super::recovery::MailLimits,
    ) -> StoreResult<bool> {
        let hour_ago = code.now - 3600;
        let result = async {
            let (_turn, mut tx) = self.begin_write().await?;
            // Starts with a write, so SQLite takes its write lock first (see import_users).
            sqlx::query(
                "UPDATE account_codes SET used_at = $3 \
                 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
            )
            .bind(code.user_id)
            .bind(code.purpose.as_str())
            .bind(code.now)
            .execute(&mut *tx)
            .await?;
            if let Some(message) = &message {
                // Serialise with every other request mailing this account or this address
                // (row locks, taken in this order), so that the counts below are exact.
                sqlx::query("UPDATE users SET id = id WHERE id = $1")
                    .bind(code.user_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO mail_recipients (recipient_key, last_queued_at) VALUES ($1, $2) \
                     ON CONFLICT (recipient_key) DO UPDATE SET last_queued_at = excluded.last_queued_at",
                )
                .bind(message.recipient_key)
                .bind(code.now)
                .execute(&mut *tx)
                .await?;
                let (to_recipient,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM outbox WHERE recipient_key = $1 AND created_at > $2",
                )
                .bind(message.recipient_key)
                .bind(hour_ago)
                .fetch_all(&mut *tx)
                .await?
                .pop()
                .unwrap_or((0,));
                let (to_account,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM outbox WHERE user_id = $1 AND created_at > $2",
                )
                .bind(code.user_id)
                .bind(hour_ago)
                .fetch_all(&mut *tx)
                .await?
                .pop()
                .unwrap_or((0,));
                if to_recipient >= i64::from(limits.per_recipient)
                    || to_account >= i64::from(limits.per_account)
                {
                    tx.rollback().await?;
                    return Ok::<_, sqlx::Error>(false);
                }
            }
            let (email, email_key) = code.email.unzip();
            sqlx::query(
                "INSERT INTO account_codes (user_id, purpose, token_digest, code_digest, email, \
                 email_key, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(code.user_id)
            .bind(code.purpose.as_str())
            .bind(code.token_digest)
            .bind(code.code_digest)
            .bind(email)
            .bind(email_key)
            .bind(code.now)
            .bind(code.expires_at)
            .execute(&mut *tx)
            .await?;
            for queued in message.iter().chain(notice.as_ref()) {
                sqlx::query(
                    "INSERT INTO outbox (recipient_key, user_id, sealed_message, created_at, \
                     next_attempt_at) VALUES ($1, $2, $3, $4, $4)",
                )
                .bind(queued.recipient_key)
                .bind(code.user_id)
                .bind(queued.sealed_message)
                .bind(code.now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        }
        .await;
        self.written(result)
    }

    async fn reset_password_with_code(
        &self,
        lookup: super::recovery::CodeLookup<'_>,
        max_attempts: u32,
        hash: &str,
        now: i64,
    ) -> StoreResult<Option<(i64, Vec<String>)>> {
        let result = async {
            let (_turn, mut tx) = self.begin_write().await?;
            let Some(user_id) = spend_code(&mut tx, lookup, super::recovery::CodePurpose::Reset, max_attempts, now).await?.map(|(id, _, _)| id) else {
                tx.rollback().await?;
                return Ok::<_, sqlx::Error>(None);
            };
            sqlx::query("UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1")
                .bind(user_id)
                .bind(hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let revoked: Vec<(String,)> = sqlx::query_as(
                "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 \
                 WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
            )
            .bind(user_id)
            .bind(now)
            .bind(super::RevocationReason::PasswordReset.as_str())
            .fetch_all(&mut *tx)
            .await?;
            // Every other reset code of the user goes with this one.
            sqlx::query("UPDATE account_codes SET used_at = $2 WHERE user_id = $1 AND purpose = 'reset' AND used_at IS NULL")
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some((user_id, revoked.into_iter().map(|(id,)| id).collect())))
        }
        .await;
        self.written(result)
    }

    async fn verify_email_with_code(
        &self,
        lookup: super::recovery::CodeLookup<'_>,
        max_attempts: u32,
        now: i64,
    ) -> StoreResult<super::recovery::EmailVerification> {
        use super::recovery::EmailVerification;
        let result = async {
            let (_turn, mut tx) = self.begin_write().await?;
            let spent = spend_code(&mut tx, lookup, super::recovery::CodePurpose::VerifyEmail, max_attempts, now).await?;
            let Some((user_id, Some(email), Some(email_key))) = spent else {
                tx.rollback().await?;
                return Ok::<_, sqlx::Error>(EmailVerification::NoSuchCode);
            };
            let taken: Vec<(i64,)> = sqlx::query_as(
                "SELECT id FROM users WHERE email_key = $1 AND email_verified_at IS NOT NULL AND id <> $2",
            )
            .bind(&email_key)
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
            if !taken.is_empty() {
                // The code is spent all the same: it proved an address someone else holds.
                tx.commit().await?;
                return Ok(EmailVerification::AddressTaken);
            }
            sqlx::query(
                "UPDATE users SET email = $2, email_key = $3, email_verified_at = $4 WHERE id = $1",
            )
            .bind(user_id)
            .bind(&email)
            .bind(&email_key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(EmailVerification::Verified { user_id, email })
        }
        .await;
        match result {
            // Two accounts verifying one address at once: the unique index decides.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Ok(super::recovery::EmailVerification::AddressTaken)
            }
            other => self.written(other),
        }
    }

    async fn code_owner(&self, token_digest: &[u8], purpose: super::recovery::CodePurpose, now: i64) -> StoreResult<Option<i64>> {
        let owner: Option<(i64,)> = self
            .read_optional(
                sqlx::query_as(
                    "SELECT user_id FROM account_codes WHERE token_digest = $1 AND purpose = $2 \
                     AND used_at IS NULL AND expires_at > $3",
                )
                .bind(token_digest)
                .bind(purpose.as_str())
                .bind(now),
            )
            .await?;
        Ok(owner.map(|(id,)| id))
    }

    async fn count_wrong_code(&self, user_id: i64, purpose: super::recovery::CodePurpose, now: i64) -> StoreResult<u64> {
        self.write(
            sqlx::query(
                "UPDATE account_codes SET attempts = attempts + 1 \
                 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
            )
            .bind(user_id)
            .bind(purpose.as_str())
            .bind(now),
        )
        .await
    }

    async fn email_of(&self, user_id: i64) -> StoreResult<super::recovery::EmailRecord> {
        Ok(self
            .read_optional(
                sqlx::query_as("SELECT email, email_verified_at, locale FROM users WHERE id = $1").bind(user_id),
            )
            .await?
            .unwrap_or_default())
    }

    async fn set_unverified_email(&self, user_id: i64, email: &str, email_key: &str) -> StoreResult<()> {
        self.write(
            sqlx::query(
                "UPDATE users SET email = $2, email_key = $3 WHERE id = $1 AND email_verified_at IS NULL",
            )
            .bind(user_id)
            .bind(email)
            .bind(email_key),
        )
        .await?;
        Ok(())
    }

    async fn remove_email(&self, user_id: i64, now: i64) -> StoreResult<()> {
        let result = async {
            let (_turn, mut tx) = self.begin_write().await?;
            sqlx::query("UPDATE users SET email = NULL, email_key = NULL, email_verified_at = NULL WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE account_codes SET used_at = $2 WHERE user_id = $1 AND purpose = 'verify_email' AND used_at IS NULL")
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        }
        .await;
        self.written(result)
    }

    async fn set_locale(&self, user_id: i64, locale: &str) -> StoreResult<()> {
        self.write(
            sqlx::query("UPDATE users SET locale = $2 WHERE id = $1 AND (locale IS NULL OR locale <> $2)")
                .bind(user_id)
                .bind(locale),
        )
        .await?;
        Ok(())
    }

    async fn find_user_by_verified_email(&self, email_key: &str) -> StoreResult<Option<UserRecord>> {
        self.read_optional(
            sqlx::query_as(AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS} FROM users WHERE email_key = $1 AND email_verified_at IS NOT NULL"
            )))
            .bind(email_key),
        )
        .await
    }

    async fn claim_outbox_message(&self, now: i64, lease_until: i64) -> StoreResult<Option<super::recovery::ClaimedMessage>> {
        Ok(self
            .write_returning(sqlx::query_as($claim).bind(now).bind(lease_until))
            .await?
            .pop())
    }

    async fn outbox_sent(&self, id: i64, now: i64) -> StoreResult<()> {
        self.write(
            sqlx::query(
                "UPDATE outbox SET sent_at = $2, sealed_message = NULL, claimed_until = NULL, \
                 last_error = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(now),
        )
        .await?;
        Ok(())
    }

    async fn outbox_failed(&self, id: i64, now: i64, retry_at: Option<i64>, error: &str) -> StoreResult<()> {
        let query = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE outbox SET next_attempt_at = $2, claimed_until = NULL, last_error = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(at)
            .bind(error),
            None => sqlx::query(
                "UPDATE outbox SET dead_at = $2, sealed_message = NULL, claimed_until = NULL, \
                 last_error = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .bind(error),
        };
        self.write(query).await?;
        Ok(())
    }
}

/// Spends one live code of `purpose` in `tx`: the UPDATE that sets `used_at` decides, so
/// of concurrent presentations exactly one gets the row. Returns its user and address.
async fn spend_code(
    tx: &mut sqlx::Transaction<'_, $db>,
    lookup: super::recovery::CodeLookup<'_>,
    purpose: super::recovery::CodePurpose,
    max_attempts: u32,
    now: i64,
) -> Result<Option<(i64, Option<String>, Option<String>)>, sqlx::Error> {
    let live = super::recovery::live_code_condition();
    let rows: Vec<(i64, Option<String>, Option<String>)> = match lookup {
        super::recovery::CodeLookup::Token(digest) => sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE account_codes SET used_at = $2 WHERE {live} AND token_digest = $4 \
             RETURNING user_id, email, email_key"
        )))
        .bind(purpose.as_str())
        .bind(now)
        .bind(i64::from(max_attempts))
        .bind(digest)
        .fetch_all(&mut **tx)
        .await?,
        super::recovery::CodeLookup::Code { user_id, digest } => sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE account_codes SET used_at = $2 WHERE {live} AND user_id = $4 AND code_digest = $5 \
             RETURNING user_id, email, email_key"
        )))
        .bind(purpose.as_str())
        .bind(now)
        .bind(i64::from(max_attempts))
        .bind(user_id)
        .bind(digest)
        .fetch_all(&mut **tx)
        .await?,
    };
    Ok(rows.into_iter().next())
}
    };
}

pub(super) use impl_recovery_store;

/// [`LIVE_CODE`], for the macro (which cannot name a private constant of this module).
pub(super) fn live_code_condition() -> &'static str {
    LIVE_CODE
}
