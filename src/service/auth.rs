//! Registration and login.

use crate::abuse::{backoff_delay, rate_key};
use crate::domain::{NewPassword, Username};
use crate::store::{NewUser, UserRecord};
use crate::tokens::now_unix;

use super::sessions::{ClientInfo, IssuedSession};
use super::{AuthError, Tessera};

/// Username and password as the client sent them (already known to be non-empty strings).
pub struct Credentials {
    /// The name as typed.
    pub username: String,
    /// The password as typed.
    pub password: String,
}

/// A user as the API shows it: `{"id", "username"}`.
#[derive(Debug, Clone)]
pub struct RegisteredUser {
    /// The user id.
    pub id: i64,
    /// The name as registered.
    pub username: String,
}

/// A successful login: who, and the new session's tokens.
pub struct LoginOutcome {
    /// Who logged in.
    pub user: RegisteredUser,
    /// The tokens of the session the login opened.
    pub session: IssuedSession,
}

impl From<&UserRecord> for RegisteredUser {
    fn from(r: &UserRecord) -> Self {
        Self {
            id: r.id,
            username: r.username.clone(),
        }
    }
}

impl Tessera {
    /// Creates an account (`POST /register`): limits, name and password rules, one Argon2id hash.
    pub async fn register(
        &self,
        credentials: Credentials,
        client: &ClientInfo,
    ) -> Result<RegisteredUser, AuthError> {
        if let Some(ip) = client.ip {
            self.limits().check_register(rate_key(ip)).await?;
        }
        let username = Username::parse(&credentials.username)?;
        let password = NewPassword::parse(credentials.password, self.policy())?;
        // When the hashing pool is full, refuse before touching the database.
        let slot = self.hasher()?.reserve()?;
        // Cheap check first so taken names cost no hash; the unique index decides races.
        if self
            .store()
            .find_user_by_canonical_name(username.canonical())
            .await?
            .is_some()
        {
            return Err(AuthError::UsernameTaken);
        }
        let hash = slot.hash(password.into_string()).await?;
        let created = self
            .store()
            .create_user(NewUser {
                username: username.as_str(),
                username_canonical: username.canonical(),
                password_hash: &hash,
                now: now_unix(),
            })
            .await;
        // Only a user the database has kept is reported created, in the answer and here.
        let record = match created {
            Ok(record) => record,
            Err(e) => {
                let e = AuthError::from(e);
                audit("register", failure_outcome(&e), username.as_str(), client);
                return Err(e);
            }
        };
        audit("register", "success", username.as_str(), client);
        self.metrics().registered();
        Ok(RegisteredUser::from(&record))
    }

    /// Checks the password and opens a session. An unknown name costs the same database
    /// work and the same hash as a wrong password, and gets the same error.
    pub async fn login(
        &self,
        credentials: Credentials,
        client: ClientInfo,
    ) -> Result<LoginOutcome, AuthError> {
        let result = self.check_login(credentials, client).await;
        self.metrics().login(match &result {
            Ok(_) => "success",
            Err(AuthError::InvalidCredentials) => "invalid_credentials",
            Err(AuthError::AccountDisabled) => "account_disabled",
            Err(AuthError::RateLimited(_)) => "rate_limited",
            Err(AuthError::Overloaded) => "overloaded",
            Err(_) => "error",
        });
        result
    }

    async fn check_login(
        &self,
        credentials: Credentials,
        client: ClientInfo,
    ) -> Result<LoginOutcome, AuthError> {
        let name = Username::parse(&credentials.username).ok();
        // Limits key on the canonical name; a malformed name cannot exist but still counts.
        let key: String = match &name {
            Some(name) => name.canonical().to_owned(),
            None => credentials.username.chars().take(64).collect(),
        };
        if let Some(ip) = client.ip {
            self.limits().check_login(rate_key(ip), &key).await?;
        }
        // When the hashing pool is full, refuse before touching the database.
        let mut slot = self.hasher()?.reserve()?;
        let backoff = self.config().login_backoff;
        let now = now_unix();
        let failures_since = now - backoff.window_secs as i64;
        let (user, failures) = match &name {
            Some(name) => {
                let user = self
                    .store()
                    .find_user_by_canonical_name(name.canonical())
                    .await?;
                let failures = match backoff.threshold {
                    0 => 0,
                    _ => {
                        self.store()
                            .recent_login_failures(name.canonical(), failures_since)
                            .await?
                    }
                };
                (user, failures)
            }
            None => (None, 0),
        };
        let delay = backoff_delay(&backoff, failures);
        if !delay.is_zero() {
            // Waiting costs this task nothing but time; the hash runs after it.
            tracing::info!(target: "tessera::audit", event = "login", outcome = "delayed",
                username = %key, ip = %client_ip_text(&client), failures,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
            // The place in the pool is given back while waiting, so names under back-off
            // cannot hold the pool hostage.
            drop(slot);
            tokio::time::sleep(delay).await;
            slot = self.hasher()?.reserve()?;
        }
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let verification = slot.verify(credentials.password.clone(), stored).await?;
        let Some(user) = user.filter(|_| verification.matches) else {
            if name.is_some() && backoff.threshold > 0 {
                self.store()
                    .record_login_failure(&key, now, failures_since)
                    .await?;
            }
            audit("login", "invalid_credentials", &key, &client);
            return Err(AuthError::InvalidCredentials);
        };
        if failures > 0 {
            self.store().clear_login_failures(&key).await?;
        }
        if user.disabled_at.is_some() {
            audit("login", "account_disabled", &user.username, &client);
            return Err(AuthError::AccountDisabled);
        }
        if verification.needs_rehash {
            self.upgrade_hash_in_background(&user, credentials.password);
        }
        let session = match self.open_session(&user, &client, true).await {
            Ok(session) => session,
            Err(e) => {
                audit("login", failure_outcome(&e), &user.username, &client);
                return Err(e);
            }
        };
        audit("login", "success", &user.username, &client);
        Ok(LoginOutcome {
            user: RegisteredUser::from(&user),
            session,
        })
    }

    /// Replaces a weaker hash with one at the configured parameters, after the response:
    /// a failure here must not fail the login.
    fn upgrade_hash_in_background(&self, user: &UserRecord, password: String) {
        let this = self.clone();
        let (user_id, old_hash) = (user.id, user.password_hash.clone());
        tokio::spawn(async move {
            let hashed = match this.hasher() {
                Ok(hasher) => hasher.hash(password).await.map_err(AuthError::from),
                Err(e) => Err(e),
            };
            let result = match hashed {
                Ok(new_hash) => this
                    .store()
                    .upgrade_password_hash(user_id, &old_hash, &new_hash)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match result {
                Ok(_) => tracing::info!(user_id, "password hash upgraded"),
                Err(e) => {
                    tracing::warn!(user_id, error = %e, "password hash upgrade failed; will retry at next login")
                }
            }
        });
    }
}

/// A structured audit event (target `tessera::audit`): what happened, to which name, from
/// where. Never a password, hash or token.
fn audit(event: &str, outcome: &str, username: &str, client: &ClientInfo) {
    let ip = client_ip_text(client);
    tracing::info!(target: "tessera::audit", event, outcome, username, ip = %ip, "audit");
}

/// The `outcome` of an audit line for an operation that was refused or failed.
pub(super) fn failure_outcome(e: &AuthError) -> &'static str {
    match e {
        AuthError::Unavailable(_) => "unavailable",
        AuthError::UsernameTaken => "username_taken",
        AuthError::Internal(_) => "error",
        _ => "refused",
    }
}

fn client_ip_text(client: &ClientInfo) -> String {
    client
        .ip
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into())
}
