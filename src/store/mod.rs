//! Storage: one [`Store`] trait with methods named for intent, one implementation per backend.
//!
//! Multi-step invariants (refresh rotation, reuse revocation) are single store methods so
//! each backend can make them atomic. Timestamps are Unix seconds computed in Rust.

#[cfg(test)]
mod commit_errors;
mod faults;
mod health;
mod mfa;
mod postgres;
mod recovery;
mod sql;
mod sqlite;
mod write_helpers;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use faults::{CheckpointMode, InjectedFault, WalCheckpoint, storage_fault};
pub use health::{WRITE_FAULTS, WriteFault, WriteHealth, WriteKind};
pub use mfa::{EndSessions, MfaStatus, MfaStore, TotpConfirmation, TotpRecord};
pub use postgres::PostgresStore;
pub use recovery::{
    CodeLookup, CodePurpose, EmailVerification, MailLimits, NewAccountCode, NewMessage,
    RecoveryStore,
};
pub use sqlite::SqliteStore;

use crate::config::SqliteSynchronous;
pub use crate::domain::{
    Assurance, AttemptState, DeviceAttempts, LogoutScope, RevocationReason, RotationPolicy,
    RotationState,
};

/// Called with each revocation a backend hears of as it happens (see
/// [`Store::watch_revocations`]).
pub type OnRevoked = Arc<dyn Fn(RevokedSession) + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("username already exists")]
    UsernameTaken,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::UsernameTaken,
            _ if storage_fault(&e).is_some() => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Other(e.to_string()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The file a `sqlite:` URL names (`None` for other backends and in-memory databases).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest.strip_prefix("//").unwrap_or(rest);
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && !path.contains(":memory:")).then(|| std::path::PathBuf::from(path))
}

/// Opens the store the URL names: `sqlite:…` or `postgres://…` / `postgresql://…`.
pub async fn connect(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> StoreResult<Arc<dyn Store>> {
    connect_with(
        url,
        max_connections,
        acquire_timeout,
        SqliteSynchronous::default(),
    )
    .await
}

/// [`connect`], with SQLite's `synchronous` setting (ignored by PostgreSQL).
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
    synchronous: SqliteSynchronous,
) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            SqliteStore::connect(url, max_connections, acquire_timeout, synchronous).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            PostgresStore::connect(url, max_connections, acquire_timeout).await?,
        ))
    } else {
        Err(StoreError::Other(
            "the database URL must start with sqlite: or postgres://".into(),
        ))
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub username_canonical: &'a str,
    pub password_hash: &'a str,
    pub now: i64,
}

/// A user brought in by an importer: the hash to store (wrapped by the importer, see
/// `legacy_hash::wrapped`) and the digest of the source's hash.
#[derive(Debug, Clone)]
pub struct ImportedUser {
    pub username: String,
    pub username_canonical: String,
    pub password_hash: String,
    /// SHA-256 of `password_hash`, kept with the account: a later import recognises the
    /// user it brought over even after the hash was upgraded (see `domain::import_match`).
    pub hash_sha256: Vec<u8>,
}

/// The account under a canonical name, as an import compares it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ExistingUser {
    pub username_canonical: String,
    pub username: String,
    pub password_hash: String,
    pub imported_hash_sha256: Option<Vec<u8>>,
}

/// What became of one batch of [`ImportedUser`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportBatchReport {
    pub inserted: u64,
    /// The accounts found under the canonical names of the users not inserted (taken
    /// before, or registered while the batch ran). Neither side is changed.
    pub existing: Vec<ExistingUser>,
}

/// A name nobody may register until an operator releases it.
#[derive(Debug, Clone)]
pub struct ReservedName {
    pub username_canonical: String,
    pub username: String,
    /// Why (the import report's reason, or `reserved_by_operator`).
    pub reason: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: i64,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub refresh_nonce_digest: Vec<u8>,
    pub refresh_counter: i64,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub now: i64,
    pub expires_at: i64,
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub refresh_nonce_digest: &'a [u8],
    /// The moment of opening in microseconds (orders logins within one second).
    pub opened_at_us: i64,
    /// Live sessions the user may hold, this one included; the oldest beyond it end in
    /// the same transaction. 0: no limit.
    pub max_live: u32,
    /// What counts as live (idle timeout).
    pub policy: RotationPolicy,
    /// What the login proved; its tokens (and those of every refresh) say so.
    pub assurance: Assurance,
}

/// Who a session belongs to, as a refresh needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOwner {
    pub user_id: i64,
    pub username: String,
    pub disabled: bool,
    /// What the session's login proved (refreshed tokens carry it on).
    pub assurance: Assurance,
}

impl SessionOwner {
    fn new(user_id: i64, username: String, disabled_at: Option<i64>, amr: &str) -> Self {
        Self {
            user_id,
            username,
            disabled: disabled_at.is_some(),
            assurance: Assurance::from_stored(amr),
        }
    }
}

/// A revocation as the in-memory set needs it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RevokedSession {
    pub id: String,
    pub revoked_at: i64,
}

/// A service client as stored (see the migration `0013_service_clients.sql`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ServiceClientRecord {
    pub client_id: String,
    pub name: String,
    /// Argon2id PHC string of the secret; the secret itself is never stored.
    pub secret_hash: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

/// A key of the ring as stored: the private key sealed with the key-encryption key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub sealed_key: Vec<u8>,
    pub created_at: i64,
    pub activate_at: i64,
    pub retired_at: Option<i64>,
}

/// One generation of a secret the instances of a deployment share (see the migration
/// `0006_shared_secrets.sql`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SharedSecretRecord {
    pub name: String,
    pub generation: i64,
    /// `None` when each instance's configuration supplies the secret.
    pub value: Option<String>,
    pub fingerprint: String,
    pub created_at: i64,
}

/// Everything stored; the second factor's part is [`MfaStore`] (its own file).
#[async_trait]
pub trait Store: MfaStore + RecoveryStore + Send + Sync {
    /// Applies the embedded migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// How this store's writes have been going: every write reports to it.
    fn write_health(&self) -> &WriteHealth;
    /// Makes one small write (upserts the one row of `write_probe`) and reports it to
    /// [`Store::write_health`], to tell whether writes get through at all.
    async fn probe_write(&self, now: i64) -> StoreResult<()>;
    /// Closes the pool, waiting for connections in use. On SQLite the last connection to
    /// close copies the write-ahead log into the database file and removes it.
    async fn close(&self);
    /// Copies the write-ahead log into the database file (SQLite); `None` where there is
    /// no such log (PostgreSQL, which checkpoints by itself, and in-memory SQLite).
    async fn checkpoint(&self, _mode: CheckpointMode) -> StoreResult<Option<WalCheckpoint>> {
        Ok(None)
    }

    /// Inserts a user; [`StoreError::UsernameTaken`] when the canonical name exists or is
    /// reserved.
    async fn create_user(&self, user: NewUser<'_>) -> StoreResult<UserRecord>;
    async fn find_user_by_canonical_name(&self, canonical: &str)
    -> StoreResult<Option<UserRecord>>;
    async fn find_user_by_id(&self, id: i64) -> StoreResult<Option<UserRecord>>;
    /// Replaces a hash only if it is still `old_hash` (a transparent upgrade must not undo a
    /// password change that happened meanwhile).
    async fn upgrade_password_hash(
        &self,
        user_id: i64,
        old_hash: &str,
        new_hash: &str,
    ) -> StoreResult<bool>;

    /// Inserts a batch of imported users in one transaction, never touching existing
    /// users: a name already present (in any spelling) is reported, not overwritten.
    /// Reservations of the names inserted are lifted (the operator's import resolved them).
    async fn import_users(
        &self,
        batch: &[ImportedUser],
        now: i64,
    ) -> StoreResult<ImportBatchReport>;
    /// The users among `canonicals` that exist (for dry runs).
    async fn existing_users(&self, canonicals: &[String]) -> StoreResult<Vec<ExistingUser>>;
    /// Reserves names so that registration refuses them (`UsernameTaken`); names already
    /// reserved keep their first reason. Returns how many were newly reserved.
    async fn reserve_names(&self, names: &[ReservedName], now: i64) -> StoreResult<u64>;
    /// Lifts a reservation; `false` if the name was not reserved.
    async fn release_name(&self, canonical: &str) -> StoreResult<bool>;

    /// Opens a session; returns the ids of the user's oldest sessions it ended to stay
    /// within `max_live`.
    async fn create_session(&self, session: NewSession<'_>) -> StoreResult<Vec<String>>;
    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>>;
    // Refresh rotation is two statements, yet safe under any concurrency: the winner
    // among requests presenting the same token is chosen by the one conditional UPDATE in
    // `advance_refresh_counter` (the counter moves only if it still equals the presented
    // one, so exactly one request advances it); the losers read the state afterwards and
    // `domain::decide_rotation` tells a grace replay from reuse; and revoking a reused
    // session (`revoke_session_by_id`) is idempotent, so two requests deciding "reused"
    // at once end it once.

    /// Advances the session whose id and nonce digest these are to the next refresh token,
    /// in one conditional UPDATE, if `counter` is current and the session is live; its new
    /// counter and owner, or `None` if nothing matched.
    async fn advance_refresh_counter(
        &self,
        session_id: &str,
        nonce_digest: &[u8],
        counter: i64,
        policy: RotationPolicy,
    ) -> StoreResult<Option<(i64, SessionOwner)>>;
    /// The rotation state and owner of the session whose id and nonce digest these are.
    async fn rotation_state(
        &self,
        session_id: &str,
        nonce_digest: &[u8],
    ) -> StoreResult<Option<(RotationState, SessionOwner)>>;
    /// The user's sessions that are neither revoked nor expired, newest first.
    async fn list_live_sessions(
        &self,
        user_id: i64,
        policy: RotationPolicy,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// How many sessions of all users are live (for the `tessera_active_sessions` gauge).
    async fn count_live_sessions(&self, policy: RotationPolicy) -> StoreResult<u64>;
    /// Revokes one of the user's sessions; `false` if it is not the user's or already ended.
    async fn revoke_session(
        &self,
        user_id: i64,
        session_id: &str,
        now: i64,
        reason: RevocationReason,
    ) -> StoreResult<bool>;
    /// Revokes sessions of a user by scope relative to `current`; returns the ids revoked.
    async fn revoke_user_sessions(
        &self,
        user_id: i64,
        current: Option<&str>,
        scope: LogoutScope,
        now: i64,
        reason: RevocationReason,
    ) -> StoreResult<Vec<String>>;
    /// All users, in id order.
    async fn list_users(&self) -> StoreResult<Vec<UserRecord>>;
    /// Disables (`Some(time)`) or enables (`None`) a user; `false` if there is no such user.
    async fn set_user_disabled(&self, user_id: i64, disabled_at: Option<i64>) -> StoreResult<bool>;
    /// Disables a user and revokes all their live sessions in one transaction. Returns the
    /// revoked ids, or `None` if there is no such user.
    async fn disable_user(&self, user_id: i64, now: i64) -> StoreResult<Option<Vec<String>>>;
    /// Replaces a user's password hash and revokes their live sessions but `keep`, in one
    /// transaction: a password change is never stored without its revocations, or the
    /// other way round. Returns the revoked ids, or `None` if there is no such user.
    async fn replace_password(
        &self,
        user_id: i64,
        hash: &str,
        now: i64,
        keep: Option<&str>,
        reason: RevocationReason,
    ) -> StoreResult<Option<Vec<String>>>;
    /// Deletes a user and their sessions in one transaction, recording the revocation of
    /// every live session so other processes still refuse its access tokens. Returns the
    /// revoked session ids, or `None` if there was no such user. The name is held back
    /// from registration until `hold_name_until`, in the same transaction.
    async fn delete_user(
        &self,
        user_id: i64,
        now: i64,
        hold_name_until: i64,
    ) -> StoreResult<Option<Vec<String>>>;
    /// Live sessions of one user, or of everyone, with their owner's name, newest first.
    async fn list_sessions_with_owner(
        &self,
        user_id: Option<i64>,
        policy: RotationPolicy,
    ) -> StoreResult<Vec<(SessionRecord, String)>>;
    /// Revokes every live session of every user; the ids revoked.
    async fn revoke_all_sessions(
        &self,
        now: i64,
        reason: RevocationReason,
    ) -> StoreResult<Vec<String>>;
    /// Revokes one session whoever owns it; its owner's id, or `None` if not live.
    /// Idempotent: a session already revoked keeps its first reason and time.
    async fn revoke_session_by_id(
        &self,
        session_id: &str,
        now: i64,
        reason: RevocationReason,
    ) -> StoreResult<Option<i64>>;

    /// Revocations made at or after `since` (by any process), for the in-memory set.
    async fn revocations_since(&self, since: i64) -> StoreResult<Vec<RevokedSession>>;
    /// Service clients (`/introspect`, `/revoke`, `/revocations`).
    async fn add_service_client(&self, client: &ServiceClientRecord) -> StoreResult<()>;
    async fn find_service_client(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<ServiceClientRecord>>;
    async fn list_service_clients(&self) -> StoreResult<Vec<ServiceClientRecord>>;
    /// `false` if there is no such client.
    async fn remove_service_client(&self, client_id: &str) -> StoreResult<bool>;
    /// Replaces the secret's hash; `false` if there is no such client.
    async fn set_service_client_secret(
        &self,
        client_id: &str,
        secret_hash: &str,
    ) -> StoreResult<bool>;
    /// Deletes at most `batch` sessions that expired before `cutoff` and at most `batch`
    /// that were revoked before it; returns how many. Fewer than `batch` means the backlog
    /// is gone.
    async fn purge_ended_sessions(&self, cutoff: i64, batch: u32) -> StoreResult<u64>;

    /// Deletes the revocations and name holds that ended before `cutoff`; returns how many.
    async fn purge_ended_holds(&self, cutoff: i64) -> StoreResult<u64>;

    /// What is stored of a name's recent login attempts (see `domain::backoff`).
    async fn login_attempts(&self, canonical: &str) -> StoreResult<Option<AttemptState>>;
    /// Stores `next` for a name if its state is still `expected` (`None`: no row), in one
    /// conditional statement: of concurrent attempts decided from the same state, exactly
    /// one gets `true` (on any backend and any number of instances).
    async fn claim_login_attempt(
        &self,
        canonical: &str,
        expected: Option<&AttemptState>,
        next: &AttemptState,
    ) -> StoreResult<bool>;
    /// Deletes failure counts last touched before `cutoff`; returns how many.
    async fn purge_login_failures(&self, cutoff: i64) -> StoreResult<u64>;
    /// Forgets a name's counted attempts after a successful one.
    async fn clear_login_failures(&self, canonical: &str) -> StoreResult<()>;

    /// What is stored of a device token's recent attempts (see `domain::device_lockout`),
    /// by the digest of its nonce.
    async fn device_attempts(&self, digest: &[u8]) -> StoreResult<Option<DeviceAttempts>>;
    /// Stores `next` for a device token if its state is still `expected` (`None`: no row),
    /// in one conditional statement: of concurrent attempts decided from the same state,
    /// exactly one gets `true`.
    async fn claim_device_attempt(
        &self,
        digest: &[u8],
        expected: Option<&DeviceAttempts>,
        next: &DeviceAttempts,
    ) -> StoreResult<bool>;
    /// Forgets a device token's counted attempts after a successful login.
    async fn clear_device_attempts(&self, digest: &[u8]) -> StoreResult<()>;
    /// Deletes device-token counts whose window started before `cutoff`; how many.
    async fn purge_device_attempts(&self, cutoff: i64) -> StoreResult<u64>;

    /// Every generation of the shared secret `name`, newest first.
    async fn shared_secrets(&self, name: &str) -> StoreResult<Vec<SharedSecretRecord>>;
    /// Adds a generation of a shared secret unless that generation exists already
    /// (whoever comes first wins a race); whether this call added it.
    async fn add_shared_secret(&self, secret: &SharedSecretRecord) -> StoreResult<bool>;

    /// Every stored signing key, oldest first.
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Adds a key and, in the same transaction, retires every key not yet retired at the
    /// new key's activation time, so exactly one key is current at any moment.
    async fn add_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;

    /// Whether rate limits can be counted here for every instance (PostgreSQL).
    fn shares_rate_limits(&self) -> bool {
        false
    }
    /// Takes one request from the GCRA bucket `key` in one atomic statement, on the
    /// database's clock: `None` when it passes, else the wait in ms.
    async fn take_rate_limit_token(
        &self,
        _key: &str,
        _interval_ms: i64,
        _tolerance_ms: i64,
    ) -> StoreResult<Option<i64>> {
        Err(StoreError::Other(
            "this backend does not count rate limits".into(),
        ))
    }
    /// Deletes rate-limit buckets that have fully recovered; how many.
    async fn purge_rate_limits(&self) -> StoreResult<u64> {
        Ok(0)
    }

    /// Puts every pooled connection (and every later one) in `fault`, so tests can make
    /// SQLite refuse writes the way a full disk or a read-only file does, without root.
    /// Not for production use; backends other than SQLite refuse.
    #[doc(hidden)]
    async fn inject_fault_for_tests(&self, _fault: InjectedFault) -> StoreResult<()> {
        Err(StoreError::Other(
            "fault injection is only for SQLite".into(),
        ))
    }

    /// Hands revocations made by any process to `on_revoked` as they happen, where the
    /// backend can announce them (PostgreSQL `LISTEN`). Runs until dropped. Backends
    /// without announcements rely on the periodic poll alone.
    async fn watch_revocations(&self, _on_revoked: OnRevoked) {
        std::future::pending::<()>().await
    }
}
