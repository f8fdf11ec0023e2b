//! tessera's operations, independent of HTTP: accounts (register, login) and sessions
//! (refresh, logout, list, revoke). The HTTP layer and the CLI call these.

mod account;
mod admin;
mod audit;
mod auth;
mod background;
mod browser;
mod client;
mod clients;
mod device;
mod introspection;
mod key_ring;
mod mfa;
mod open;
mod password_check;
mod password_screen;
mod reauth;
mod recovery;
mod sessions;
mod shared_secrets;
mod storage;

use std::sync::Arc;

use once_cell::sync::OnceCell;

pub use account::AccountView;
pub use admin::{SessionSummary, UserSummary};
pub use auth::{Credentials, LoginOutcome, RegisteredUser};
pub use background::BackgroundTasks;
pub use browser::{CsrfValues, Transport};
pub use client::ClientInfo;
pub use clients::{AuthenticatedClient, ClientCredentials, ServiceClientView};
pub use introspection::{ActiveToken, FEED_MAX_WAIT, RevocationFeed};
pub use key_ring::KeyView;
pub(crate) use key_ring::check_signing_key_file;
pub use mfa::{MfaCodes, MfaEnrolment, MfaProof, MfaView};
pub use recovery::{EmailView, ForgotBy, ResetBy, VerifyBy};
pub use sessions::{IssuedSession, RefreshOutcome, SessionView};

use crate::abuse::{Limits, RateLimited, TrustedProxies};
use crate::config::Config;
use crate::domain::{
    PasswordError, PasswordPolicy, RevocationReason, RotationPolicy, UsernameError,
};
use crate::metrics::Metrics;
use crate::password::{HashError, PasswordHasher};
use crate::revocation::RevocationSet;
use crate::store::{Store, StoreError};
use crate::tokens::{
    AccessTokens, DeviceTokens, RefreshTokens, TokenError, VerifiedAccess, now_unix,
};

/// Everything an operation can fail with. The HTTP layer gives each a status and a code.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Username or password missing or empty.
    #[error("Missing username or password")]
    MissingFields,
    /// The username breaks the rules.
    #[error("{0}")]
    InvalidUsername(#[from] UsernameError),
    /// The new password breaks the policy.
    #[error("{0}")]
    InvalidPassword(#[from] PasswordError),
    /// The name is taken, in any case or width.
    #[error("Username already exists")]
    UsernameTaken,
    /// Registration is closed (`registration_enabled = false`).
    #[error("Registration is closed")]
    RegistrationClosed,
    /// Unknown user or wrong password (the two are indistinguishable).
    #[error("Invalid credentials")]
    InvalidCredentials,
    /// The account is disabled.
    #[error("Account is disabled")]
    AccountDisabled,
    /// The breached-password check could not answer and `breached_passwords.fail_closed`
    /// is on (503 with `Retry-After`).
    #[error("The breached-password check is unavailable; retry shortly")]
    BreachCheckUnavailable,
    /// The password-hashing queue is full (503 with `Retry-After`).
    #[error("Server is busy hashing passwords; retry shortly")]
    Overloaded,
    /// A rate limit refused the request; retry after the given time.
    #[error("Too many requests; retry later")]
    RateLimited(std::time::Duration),
    /// A refresh token this server did not issue, or of no session.
    #[error("Invalid refresh token")]
    InvalidRefreshToken,
    /// A rotated refresh token came back: the session has been ended.
    #[error("Refresh token was already used; the session has been ended")]
    RefreshTokenReused,
    /// The token's session was revoked, expired or idle too long.
    #[error("Session has ended")]
    SessionEnded,
    /// No such session of this user.
    #[error("Session not found")]
    SessionNotFound,
    /// `/logout` of this session with a token that has none (minted by Flask-JWT-Extended).
    #[error(
        "This token belongs to no session: nothing was logged out, and it stays valid until it expires"
    )]
    NoSession,
    /// No such user (administration).
    #[error("User not found")]
    UserNotFound,
    /// The current password given to confirm a change is wrong.
    #[error("Current password is incorrect")]
    WrongPassword,
    /// Ending other sessions needs a recent password login (a fresh token) or the password.
    #[error("Log in again or send your password to end other sessions")]
    ReauthenticationRequired,
    /// The password was right; the login goes on at `POST /login/mfa` with this token.
    /// (No access or refresh token: a client that knows only `/login` sees a failure.)
    #[error("Second factor required")]
    MfaRequired(crate::secret::Secret),
    /// The mfa_token is unknown, expired, used, or has had its attempts.
    #[error("The second-factor step is over (expired, used or too many attempts); log in again")]
    InvalidMfaToken,
    /// A wrong TOTP or recovery code at login.
    #[error("Invalid second-factor code")]
    InvalidMfaCode,
    /// A wrong code given to change the caller's own factors.
    #[error("Second-factor code is incorrect")]
    WrongMfaCode,
    /// A TOTP code of a time step that was already used (RFC 6238 §5.2).
    #[error("This code was already used; wait for the next one")]
    TotpReplayed,
    /// A second factor is enabled already (remove it first).
    #[error("A second factor is already enabled")]
    MfaAlreadyEnabled,
    /// No second factor is enrolled (or none is pending, for a confirmation).
    #[error("No second factor is enrolled")]
    MfaNotEnabled,
    /// The route needs a login with a second factor (`aal2`).
    #[error("This requires a login with a second factor")]
    SecondFactorRequired,
    /// The access token was refused (which check failed is given).
    #[error("{0}")]
    Token(#[from] TokenError),
    /// The database cannot be reached or cannot write (503 with `Retry-After`).
    #[error("Database unavailable")]
    Unavailable(String),
    /// A service client's id or secret is wrong, or the client is disabled (HTTP Basic,
    /// RFC 6749 §2.3.1).
    #[error("Invalid client credentials")]
    InvalidClient,
    /// The route sends mail and no mail transport is configured (`[email]`).
    #[error("Email is not configured on this server")]
    EmailNotConfigured,
    /// The address is not a valid one.
    #[error(transparent)]
    InvalidEmail(#[from] crate::domain::EmailError),
    /// A reset or verification code or link that is wrong, used, expired or void.
    #[error("The code or link is invalid or has expired")]
    InvalidCode,
    /// The address was verified by another account first.
    #[error("This address belongs to another account")]
    EmailTaken,
    /// Anything else: logged, answered as a generic 500.
    #[error("Internal error")]
    Internal(String),
}

impl AuthError {
    /// Stable machine-readable code (the API's `error` field, the audit log's `reason`).
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingFields => "missing_fields",
            AuthError::InvalidUsername(_) => "invalid_username",
            AuthError::InvalidPassword(_) => "invalid_password",
            AuthError::UsernameTaken => "username_taken",
            AuthError::RegistrationClosed => "registration_closed",
            AuthError::InvalidCredentials => "invalid_credentials",
            AuthError::AccountDisabled => "account_disabled",
            AuthError::Overloaded => "overloaded",
            AuthError::BreachCheckUnavailable => "breached_check_unavailable",
            AuthError::RateLimited(_) => "rate_limited",
            AuthError::InvalidRefreshToken => "invalid_refresh_token",
            AuthError::RefreshTokenReused => "refresh_token_reused",
            AuthError::SessionEnded => "session_ended",
            AuthError::SessionNotFound => "session_not_found",
            AuthError::NoSession => "no_session",
            AuthError::UserNotFound => "user_not_found",
            AuthError::WrongPassword => "wrong_password",
            AuthError::ReauthenticationRequired => "reauthentication_required",
            AuthError::MfaRequired(_) | AuthError::SecondFactorRequired => "mfa_required",
            AuthError::InvalidMfaToken => "invalid_mfa_token",
            AuthError::InvalidMfaCode => "invalid_mfa_code",
            AuthError::WrongMfaCode => "wrong_mfa_code",
            AuthError::TotpReplayed => "totp_replayed",
            AuthError::MfaAlreadyEnabled => "mfa_already_enabled",
            AuthError::MfaNotEnabled => "mfa_not_enabled",
            AuthError::Token(t) => t.code(),
            AuthError::InvalidClient => "invalid_client",
            AuthError::EmailNotConfigured => "email_not_configured",
            AuthError::InvalidEmail(_) => "invalid_email",
            AuthError::InvalidCode => "invalid_code",
            AuthError::EmailTaken => "email_taken",
            AuthError::Unavailable(_) => "unavailable",
            AuthError::Internal(_) => "internal_error",
        }
    }
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
    limits: Limits,
    proxies: TrustedProxies,
    store: Arc<dyn Store>,
    /// Started at open for serving; on first use for administration (most commands hash
    /// nothing, and must not start threads).
    hasher: OnceCell<PasswordHasher>,
    access: AccessTokens,
    /// HS256 secrets and a PEM key: the part of the ring that reloads do not change.
    configured_keys: Vec<crate::tokens::keyring::RingKey>,
    /// Seals the database's signing keys. Always present when serving; `None` for an
    /// administration command run where none is configured or kept.
    kek: Option<crate::tokens::kek::Kek>,
    refresh: RefreshTokens,
    /// Signs and checks device tokens (see `device`).
    devices: DeviceTokens,
    revocations: Arc<RevocationSet>,
    metrics: Arc<Metrics>,
    /// Keyed digests of submitted names for audit events (see `audit`).
    name_digests: audit::NameDigests,
    /// Where security events go (see `audit`).
    audit: audit::AuditLog,
    /// Service-client secrets verified moments ago (see `clients`).
    verified_clients: clients::VerifiedClients,
    /// The breached-password check, when `breached_passwords.api_url` is set.
    breached: Option<crate::breached_passwords::BreachedPasswords>,
    /// Templates and transport of account-recovery mail, when `[email]` is configured.
    mail: Option<recovery::Mail>,
}

impl Tessera {
    /// The configuration in effect.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Which proxies' forwarding headers are believed when resolving client addresses.
    pub(crate) fn trusted_proxies(&self) -> &TrustedProxies {
        &self.inner.proxies
    }

    fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The password hasher, started on first use where it was not started at open.
    pub(crate) fn hasher(&self) -> Result<&PasswordHasher, AuthError> {
        self.inner
            .hasher
            .get_or_try_init(|| open::start_hasher(&self.inner.config, &self.inner.metrics))
            .map_err(|e| AuthError::Internal(format!("cannot start password hashing: {e:#}")))
    }

    /// Password hashes running or waiting right now (0 when hashing never started).
    pub fn hash_queue_depth(&self) -> usize {
        self.inner.hasher.get().map_or(0, PasswordHasher::in_flight)
    }

    /// The key-encryption key (always there when serving; an administration command on a
    /// deployment without one has none).
    fn kek(&self) -> Result<&crate::tokens::kek::Kek, AuthError> {
        self.inner
            .kek
            .as_ref()
            .ok_or_else(|| AuthError::Internal("no key-encryption key is loaded".into()))
    }

    fn audit_log(&self) -> &audit::AuditLog {
        &self.inner.audit
    }

    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    fn policy(&self) -> PasswordPolicy<'_> {
        PasswordPolicy {
            min_chars: self.inner.config.password_min_chars,
            max_bytes: self.inner.config.password_max_bytes,
            context_words: &self.inner.config.password_context_words,
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
    fn remember_revoked(&self, session_ids: &[String], now: i64, reason: RevocationReason) {
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
}

/// A database URL with any password replaced, fit for messages and logs.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:[redacted]{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}
