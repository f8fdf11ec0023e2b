//! Registration and login.

use crate::abuse::rate_key;
use crate::domain::{Assurance, Username};
use crate::store::{NewUser, UserRecord};
use crate::tokens::now_unix;

use super::audit::AuditEvent;
use super::browser::Transport;
use super::client::ClientInfo;
use super::password_check::{Claimant, name_key};
use super::sessions::IssuedSession;
use super::{AuthError, Tessera};

/// Username and password as the client sent them (already known to be non-empty strings).
pub struct Credentials {
    /// The name as typed.
    pub username: String,
    /// The password as typed.
    pub password: String,
    /// The device token of an earlier login on this device, if the client has one (login
    /// only; see `device`).
    pub device_token: Option<String>,
}

impl Credentials {
    /// A name and a password, without a device token.
    pub fn new(username: String, password: String) -> Self {
        Self {
            username,
            password,
            device_token: None,
        }
    }
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
    /// A new device token for this device's next login (none when device tokens are off).
    pub device_token: Option<crate::secret::Secret>,
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
    /// Creates an account (`POST /register`), unless `registration_enabled` is off. Every
    /// refusal is audited with the submitted name's digest (the name may be anything).
    pub async fn register(
        &self,
        credentials: Credentials,
        client: &ClientInfo,
    ) -> Result<RegisteredUser, AuthError> {
        let submitted = credentials.username.clone();
        let result = if self.config().registration_enabled {
            self.create_account(credentials, client).await
        } else {
            Err(AuthError::RegistrationClosed)
        };
        if let Err(e) = &result {
            // The same digest as a login's for the same name: attempts on one name line up.
            let name = Username::parse(&submitted).map_err(|_| submitted.as_str());
            let digest = self.inner.name_digests.digest(&name_key(&name));
            self.audit_log().record(
                AuditEvent::failed("register", e)
                    .name_digest(&digest)
                    .client(client),
            );
        }
        result
    }

    /// Creates an account whether or not registration is open (for administrators).
    pub(super) async fn create_account(
        &self,
        credentials: Credentials,
        client: &ClientInfo,
    ) -> Result<RegisteredUser, AuthError> {
        if let Some(ip) = client.ip {
            self.limits().check_register(rate_key(ip)).await?;
        }
        let username = Username::parse(&credentials.username)?;
        // Screened before a hashing place is taken: the breached-password check may wait on
        // the network, and must not hold a place others could hash in meanwhile.
        let password = self
            .screen_new_password(credentials.password, username.as_str())
            .await?;
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
            Err(e) => return Err(e.into()),
        };
        self.audit_log().record(
            AuditEvent::success("register")
                .user(record.id, &record.username)
                .client(client),
        );
        self.metrics().registered();
        Ok(RegisteredUser::from(&record))
    }

    /// Checks the password and opens a session. An unknown name costs the same database
    /// work and the same hash as a wrong password, and gets the same error. `transport` is
    /// how the tokens go out (cookies get the session's CSRF claim).
    pub async fn login(
        &self,
        credentials: Credentials,
        client: ClientInfo,
        transport: Transport,
    ) -> Result<LoginOutcome, AuthError> {
        let result = self.check_login(credentials, client, transport).await;
        self.metrics().login(match &result {
            Ok(_) => "success",
            Err(AuthError::InvalidCredentials) => "invalid_credentials",
            Err(AuthError::MfaRequired(_)) => "mfa_required",
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
        transport: Transport,
    ) -> Result<LoginOutcome, AuthError> {
        let password = credentials.password;
        let checked = self
            .check_password(
                "login",
                Claimant::Name(&credentials.username),
                password.clone(),
                credentials.device_token.as_deref(),
                &client,
            )
            .await?;
        let user = checked.user;
        if user.disabled_at.is_some() {
            self.audit_log().record(
                AuditEvent::failed("login", &AuthError::AccountDisabled)
                    .user(user.id, &user.username)
                    .client(&client),
            );
            return Err(AuthError::AccountDisabled);
        }
        if checked.needs_rehash {
            self.upgrade_hash_in_background(&user, password);
        }
        // The password was right, and is not enough: the login goes on at `/login/mfa`.
        if checked.second_factor {
            return Err(self.start_mfa_challenge(&user, &client).await);
        }
        let session = match self
            .open_session(&user, &client, true, transport, Assurance::Password)
            .await
        {
            Ok(session) => session,
            Err(e) => {
                self.audit_log().record(
                    AuditEvent::failed("login", &e)
                        .user(user.id, &user.username)
                        .client(&client),
                );
                return Err(e);
            }
        };
        self.audit_log().record(
            AuditEvent::success("login")
                .user(user.id, &user.username)
                .sid(Some(&session.session_id))
                .client(&client),
        );
        Ok(LoginOutcome {
            user: RegisteredUser::from(&user),
            session,
            device_token: self.issue_device_token(&user),
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
