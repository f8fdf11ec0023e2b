//! tessera's operations, independent of HTTP: accounts (register, login) and sessions
//! (refresh, logout, list, revoke). The HTTP layer and the CLI call these.

mod account;
mod accounts;
mod admin;
mod keys;
mod sessions;
mod storage;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

pub use account::AccountView;
pub use accounts::{Credentials, LoginOutcome, RegisteredUser};
pub use admin::{SessionSummary, UserSummary};
pub use keys::KeyView;
pub use sessions::{ClientInfo, RefreshOutcome, SessionView};

use crate::abuse::{RateLimited, RateLimiters, TrustedProxies};
use crate::config::Config;
use crate::domain::{PasswordError, PasswordPolicy, UsernameError};
use crate::metrics::Metrics;
use crate::password::{HashError, PasswordHasher};
use crate::revocation::RevocationSet;
use crate::store::{RotationPolicy, Store, StoreError};
use crate::tokens::{AccessTokens, RefreshTokens, TokenError, VerifiedAccess, now_unix};

/// Everything an operation can fail with. The HTTP layer gives each a status and a code.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Missing username or password")]
    MissingFields,
    #[error("{0}")]
    InvalidUsername(#[from] UsernameError),
    #[error("{0}")]
    InvalidPassword(#[from] PasswordError),
    #[error("Username already exists")]
    UsernameTaken,
    #[error("Invalid credentials")]
    InvalidCredentials,
    #[error("Account is disabled")]
    AccountDisabled,
    #[error("Server is busy hashing passwords; retry shortly")]
    Overloaded,
    #[error("Too many requests; retry later")]
    RateLimited(std::time::Duration),
    #[error("Invalid refresh token")]
    InvalidRefreshToken,
    #[error("Refresh token was already used; the session has been ended")]
    RefreshTokenReused,
    #[error("Session has ended")]
    SessionEnded,
    #[error("Session not found")]
    SessionNotFound,
    #[error("User not found")]
    UserNotFound,
    #[error("Current password is incorrect")]
    WrongPassword,
    #[error("{0}")]
    Token(#[from] TokenError),
    #[error("Database unavailable")]
    Unavailable(String),
    #[error("Internal error")]
    Internal(String),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UsernameTaken => AuthError::UsernameTaken,
            StoreError::Unavailable(msg) => AuthError::Unavailable(msg),
            StoreError::Other(msg) => AuthError::Internal(msg),
        }
    }
}

impl From<RateLimited> for AuthError {
    fn from(e: RateLimited) -> Self {
        AuthError::RateLimited(e.retry_after)
    }
}

impl From<HashError> for AuthError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Overloaded => AuthError::Overloaded,
            HashError::Internal(msg) => AuthError::Internal(msg),
        }
    }
}

/// The assembled services of one tessera instance. Cheap to clone.
#[derive(Clone)]
pub struct Tessera {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    limiters: RateLimiters,
    proxies: TrustedProxies,
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    access: AccessTokens,
    /// HS256 secrets and a PEM key: the part of the ring that reloads do not change.
    configured_keys: Vec<crate::tokens::keyring::RingKey>,
    kek: crate::tokens::kek::Kek,
    refresh: RefreshTokens,
    revocations: Arc<RevocationSet>,
    metrics: Arc<Metrics>,
}

impl Tessera {
    /// Prepares the data directory, keys and database (migrations applied), ready to serve.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("cannot create data directory {}", config.data_dir.display())
        })?;
        let jwt_secret = crate::keys::load_or_generate(
            &config.data_dir,
            "jwt_secret",
            config.jwt_secret_key.as_ref(),
        )?;
        crate::keys::check_hs256_secret(&jwt_secret)?;
        let refresh_key = crate::keys::load_or_generate(
            &config.data_dir,
            "refresh_token_key",
            config.refresh_token_key.as_ref(),
        )?;
        crate::keys::check_hs256_secret(&refresh_key).context("refresh_token_key")?;

        let url = config.effective_database_url();
        let connect_timeout = Duration::from_secs(config.db_connect_timeout_secs);
        let store = crate::store::connect_with(
            &url,
            config.db_max_connections,
            connect_timeout,
            config.sqlite_synchronous,
        )
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(&url)))?;
        migrate_with_retry(store.as_ref(), connect_timeout).await?;

        let metrics = Metrics::new(config.metrics_enabled)?;
        let hasher = PasswordHasher::new(
            config.argon2,
            config.effective_hash_workers(),
            config.hash_queue,
        )?
        .with_duration_histogram(metrics.hash_duration())
        .with_legacy_policy(crate::legacy_hash::LegacyPolicy {
            allow_weak: config.allow_weak_legacy_hashes,
        });
        let configured_keys = keys::configured_keys(&config, &jwt_secret)?;
        let kek = keys::load_kek(&config)?;
        let ring = match keys::load_ring(&config, store.as_ref(), &kek, &configured_keys).await {
            Ok(ring) => ring,
            // A database that is down at start must not stop the server (it answers 503
            // and recovers); the reload task loads the database's keys once it is back.
            Err(e) if store.ping().await.is_err() => {
                tracing::warn!(error = %e, "cannot load signing keys yet; using configured keys");
                crate::tokens::keyring::KeyRing::new(
                    configured_keys.clone(),
                    config.accept_tokens_without_kid,
                    (config.access_token_ttl_secs + config.leeway_secs) as i64,
                )
            }
            Err(e) => return Err(e),
        };
        let access = AccessTokens::new(
            ring,
            config.issuer.clone(),
            config.access_token_ttl_secs,
            config.leeway_secs,
        );
        let remember = (config.access_token_ttl_secs + config.leeway_secs) as i64;
        Ok(Self {
            inner: Arc::new(Inner {
                limiters: RateLimiters::new(&config.rate_limits, &metrics),
                metrics,
                proxies: TrustedProxies::new(config.trusted_proxies.clone()),
                hasher,
                access,
                configured_keys,
                kek,
                refresh: RefreshTokens::new(refresh_key),
                revocations: Arc::new(RevocationSet::new(remember)),
                store,
                config,
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Which proxies' forwarding headers are believed when resolving client addresses.
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.inner.proxies
    }

    fn limiters(&self) -> &RateLimiters {
        &self.inner.limiters
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    fn policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_bytes: self.inner.config.password_min_bytes,
            max_bytes: self.inner.config.password_max_bytes,
        }
    }

    fn rotation_policy(&self) -> RotationPolicy {
        RotationPolicy {
            now: now_unix(),
            grace_secs: self.inner.config.refresh_grace_secs as i64,
            idle_timeout_secs: self.inner.config.session_idle_timeout_secs as i64,
        }
    }

    /// Puts revoked session ids into this process's set at once (other processes learn
    /// of them from the database).
    fn remember_revoked(
        &self,
        session_ids: &[String],
        now: i64,
        reason: crate::metrics::RevocationReason,
    ) {
        for id in session_ids {
            self.inner.revocations.insert(id, now);
        }
        self.metrics().revoked(reason, session_ids.len());
    }

    /// Verifies an access token without touching the database: signature, claims, and the
    /// in-memory revocation set.
    pub fn verify_access_token(&self, token: &str) -> Result<VerifiedAccess, TokenError> {
        let verified = self.inner.access.verify(token, now_unix())?;
        if let Some(sid) = verified.claims.sid.as_deref()
            && self.inner.revocations.is_revoked(sid)
        {
            return Err(TokenError::Revoked);
        }
        Ok(verified)
    }

    /// Starts the revocation poll, the purge of ended sessions and the SQLite checkpoints.
    /// Dropping the handle stops them.
    pub fn spawn_background_tasks(&self) -> BackgroundTasks {
        let config = &self.inner.config;
        let sync = tokio::spawn(crate::revocation::sync_from_store(
            self.inner.revocations.clone(),
            self.inner.store.clone(),
            Duration::from_millis(config.revocation_poll_ms),
        ));
        let purge = tokio::spawn(purge_ended_sessions(self.clone()));
        let (store, set) = (self.inner.store.clone(), self.inner.revocations.clone());
        let watch = tokio::spawn(async move { store.watch_revocations(set).await });
        let upkeep = tokio::spawn(crate::metrics::upkeep(self.inner.metrics.clone()));
        let keys = tokio::spawn(keys::reload_periodically(self.clone()));
        let wal = storage::spawn_checkpoints(self);
        BackgroundTasks {
            handles: vec![sync, purge, watch, upkeep, keys, wal],
        }
    }
}

/// Background tasks of a [`Tessera`]; aborted when dropped.
pub struct BackgroundTasks {
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

/// Migrations at start. A database that is still starting (a container beside this one)
/// gets a few tries before tessera gives up.
async fn migrate_with_retry(store: &dyn Store, timeout: Duration) -> anyhow::Result<()> {
    let mut attempt = 1;
    loop {
        match store.migrate().await {
            Ok(()) => return Ok(()),
            Err(StoreError::Unavailable(e)) if attempt < 5 => {
                tracing::warn!(error = %e, attempt, "database not reachable yet; retrying");
                tokio::time::sleep(timeout.min(Duration::from_secs(2))).await;
                attempt += 1;
            }
            Err(e) => return Err(e).context("cannot apply database migrations"),
        }
    }
}

/// Purges ended sessions and stale login-failure counts, and lets the rate limiters
/// forget clients that have gone quiet.
async fn purge_ended_sessions(tessera: Tessera) {
    let config = tessera.config();
    let failure_window = config.login_backoff.window_secs as i64;
    let mut ticker = tokio::time::interval(Duration::from_secs(config.purge_interval_secs.max(1)));
    // Revoked sessions stay until their last access token has expired, so that other
    // instances and restarts still learn of the revocation from the database.
    let keep = (config.access_token_ttl_secs + config.leeway_secs) as i64 + 60;
    loop {
        ticker.tick().await;
        match tessera
            .store()
            .purge_ended_sessions(now_unix() - keep)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "purged ended sessions"),
            Err(e) => tracing::warn!(error = %e, "purging ended sessions failed; will retry"),
        }
        if let Err(e) = tessera
            .store()
            .purge_login_failures(now_unix() - failure_window)
            .await
        {
            tracing::warn!(error = %e, "purging login failures failed; will retry");
        }
        tessera.inner.limiters.forget_idle();
    }
}

/// A database URL with any password replaced, fit for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:[redacted]{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}
