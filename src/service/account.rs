//! A user's own account: who am I, change my password, delete me.
//!
//! Changing credentials always takes the current password, whatever the token: a stolen
//! access token alone (fresh or not) cannot take the account over or delete it.

use crate::domain::{NewPassword, RevocationReason};
use crate::store::UserRecord;
use crate::tokens::{AccessClaims, now_unix};

use super::{AuthError, Tessera};

/// What `GET /me` shows of an account.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AccountView {
    /// The user id.
    pub id: i64,
    /// The name as registered.
    pub username: String,
    /// When the account was made (Unix seconds).
    pub created_at: i64,
}

impl From<&UserRecord> for AccountView {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            created_at: u.created_at,
        }
    }
}

impl Tessera {
    /// The caller's own account.
    pub async fn me(&self, claims: &AccessClaims) -> Result<AccountView, AuthError> {
        let user = self.caller(claims).await?;
        Ok(AccountView::from(&user))
    }

    /// Checks `password` against the user's stored hash; a mismatch is `WrongPassword`.
    async fn confirm_password(&self, user: &UserRecord, password: String) -> Result<(), AuthError> {
        let verification = self
            .hasher()?
            .verify(password, Some(user.password_hash.clone()))
            .await?;
        if verification.matches {
            Ok(())
        } else {
            Err(AuthError::WrongPassword)
        }
    }

    /// Replaces the password after checking the current one, and ends every other session
    /// of the user (whoever knew the old password is logged out). Returns how many ended.
    pub async fn change_password(
        &self,
        claims: &AccessClaims,
        current: String,
        new: String,
    ) -> Result<usize, AuthError> {
        let user = self.caller(claims).await?;
        let new = NewPassword::parse(new, self.policy())?;
        self.confirm_password(&user, current).await?;
        let hash = self.hasher()?.hash(new.into_string()).await?;
        let now = now_unix();
        // The new hash and the end of the other sessions are one transaction: a refused
        // change leaves both as they were, and the answer says so.
        let stored = self
            .store()
            .replace_password(
                user.id,
                &hash,
                now,
                claims.sid.as_deref(),
                RevocationReason::PasswordChanged,
            )
            .await
            .map_err(AuthError::from)
            .and_then(|ended| ended.ok_or(AuthError::SessionEnded));
        let ended = match stored {
            Ok(ended) => ended,
            Err(e) => {
                tracing::warn!(target: "tessera::audit", event = "password_change",
                    outcome = super::auth::failure_outcome(&e), username = %user.username, "audit");
                return Err(e);
            }
        };
        self.remember_revoked(&ended, now, RevocationReason::PasswordChanged);
        tracing::info!(target: "tessera::audit", event = "password_change", outcome = "success",
            username = %user.username, ended_sessions = ended.len(), "audit");
        Ok(ended.len())
    }

    /// Deletes the caller's account after checking the password; all sessions end.
    pub async fn delete_account(
        &self,
        claims: &AccessClaims,
        password: String,
    ) -> Result<(), AuthError> {
        let user = self.caller(claims).await?;
        self.confirm_password(&user, password).await?;
        self.delete_user_record(&user).await
    }

    pub(super) async fn delete_user_record(&self, user: &UserRecord) -> Result<(), AuthError> {
        let now = now_unix();
        let ended = self
            .store()
            .delete_user(user.id, now)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        self.remember_revoked(&ended, now, RevocationReason::AccountDeleted);
        tracing::info!(target: "tessera::audit", event = "account_delete", outcome = "success",
            username = %user.username, ended_sessions = ended.len(), "audit");
        Ok(())
    }
}
