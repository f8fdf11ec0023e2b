//! Registration and login.

use crate::domain::{NewPassword, Username};
use crate::store::{NewUser, UserRecord};
use crate::tokens::now_unix;

use super::sessions::{ClientInfo, IssuedSession};
use super::{AuthError, Tessera};

/// Username and password as the client sent them (already known to be non-empty strings).
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone)]
pub struct RegisteredUser {
    pub id: i64,
    pub username: String,
}

pub struct LoginOutcome {
    pub user: RegisteredUser,
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
    pub async fn register(&self, credentials: Credentials) -> Result<RegisteredUser, AuthError> {
        let username = Username::parse(&credentials.username)?;
        let password = NewPassword::parse(credentials.password, self.policy())?;
        // Cheap check first so taken names cost no hash; the unique index decides races.
        if self
            .store()
            .find_user_by_canonical_name(username.canonical())
            .await?
            .is_some()
        {
            return Err(AuthError::UsernameTaken);
        }
        let hash = self.hasher().hash(password.into_string()).await?;
        let record = self
            .store()
            .create_user(NewUser {
                username: username.as_str(),
                username_canonical: username.canonical(),
                password_hash: &hash,
                now: now_unix(),
            })
            .await?;
        tracing::info!(user_id = record.id, "user registered");
        Ok(RegisteredUser::from(&record))
    }

    /// Checks the password and opens a session. An unknown or malformed username costs
    /// the same hash as a wrong password and gets the same error.
    pub async fn login(
        &self,
        credentials: Credentials,
        client: ClientInfo,
    ) -> Result<LoginOutcome, AuthError> {
        let user = match Username::parse(&credentials.username) {
            Ok(name) => {
                self.store()
                    .find_user_by_canonical_name(name.canonical())
                    .await?
            }
            Err(_) => None,
        };
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let verification = self
            .hasher()
            .verify(credentials.password.clone(), stored)
            .await?;
        let Some(user) = user.filter(|_| verification.matches) else {
            tracing::info!(
                outcome = "invalid_credentials",
                ip = client.ip.as_deref(),
                "login failed"
            );
            return Err(AuthError::InvalidCredentials);
        };
        if user.disabled_at.is_some() {
            tracing::info!(
                user_id = user.id,
                outcome = "account_disabled",
                "login refused"
            );
            return Err(AuthError::AccountDisabled);
        }
        if verification.needs_rehash {
            self.upgrade_hash_in_background(&user, credentials.password);
        }
        let session = self.open_session(&user, &client, true).await?;
        tracing::info!(
            user_id = user.id,
            outcome = "success",
            ip = client.ip.as_deref(),
            "login succeeded"
        );
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
            let result = match this.hasher().hash(password).await {
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
