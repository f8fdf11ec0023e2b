//! A user's own account: who am I, change my password, delete me.
//!
//! Changing credentials always takes the current password, whatever the token: a stolen
//! access token alone (fresh or not) cannot take the account over or delete it. The
//! password is checked by the same code as `/login`, under the same limits, back-off and
//! audit, so the token buys no extra guesses.
//!
//! A `fresh` token is not required on top: whoever passes this check could get a fresh
//! token from `/login` with the same password, under the same limits, so freshness would
//! add no protection, only a second login for users whose token came from a refresh.

use crate::domain::RevocationReason;
use crate::store::UserRecord;
use crate::tokens::{AccessClaims, now_unix};

use super::audit::AuditEvent;
use super::password_check::Claimant;
use super::{AuthError, ClientInfo, Tessera};

/// What `GET /me` shows of an account.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AccountView {
    /// The user id.
    pub id: i64,
    /// The name as registered.
    pub username: String,
    /// When the account was made (Unix seconds).
    pub created_at: i64,
    /// The second factor.
    pub mfa: super::mfa::MfaView,
    /// The account's email address (verified, or waiting for verification), if any.
    pub email: Option<String>,
    /// Whether `email` is verified (only a verified address receives reset messages).
    pub email_verified: bool,
}

impl From<&UserRecord> for AccountView {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            created_at: u.created_at,
            mfa: super::mfa::MfaView::default(),
            email: None,
            email_verified: false,
        }
    }
}

impl Tessera {
    /// The caller's own account.
    pub async fn me(&self, claims: &AccessClaims) -> Result<AccountView, AuthError> {
        let user = self.caller(claims).await?;
        let mfa = self.mfa_view(&user).await?;
        let email = self.email_view(&user).await?;
        Ok(AccountView {
            mfa,
            email: email.email,
            email_verified: email.verified,
            ..AccountView::from(&user)
        })
    }

    /// Checks `password` as `/login` would (same limits, back-off and audit: see
    /// `password_check`); a mismatch is `WrongPassword` (the caller is known, so 403).
    pub(super) async fn confirm_password(
        &self,
        event: &'static str,
        user: UserRecord,
        password: String,
        client: &ClientInfo,
    ) -> Result<UserRecord, AuthError> {
        match self
            .check_password(event, Claimant::Account(user), password, None, client)
            .await
        {
            Ok(checked) => Ok(checked.user),
            Err(AuthError::InvalidCredentials) => Err(AuthError::WrongPassword),
            Err(e) => Err(e),
        }
    }

    /// Replaces the password after checking the current one, and ends every other session
    /// of the user (whoever knew the old password is logged out). Returns how many ended.
    pub async fn change_password(
        &self,
        claims: &AccessClaims,
        current: String,
        new: String,
        client: &ClientInfo,
    ) -> Result<usize, AuthError> {
        let user = self.caller(claims).await?;
        let new = self.screen_new_password(new, &user.username).await?;
        let user = self
            .confirm_password("password_change", user, current, client)
            .await?;
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
                self.audit_log().record(
                    AuditEvent::failed("password_change", &e)
                        .user(user.id, &user.username)
                        .sid(claims.sid.as_deref())
                        .client(client),
                );
                return Err(e);
            }
        };
        self.remember_revoked(&ended, now, RevocationReason::PasswordChanged);
        self.audit_log().record(
            AuditEvent::success("password_change")
                .user(user.id, &user.username)
                .sid(claims.sid.as_deref())
                .client(client)
                .count(ended.len() as u64),
        );
        Ok(ended.len())
    }

    /// Deletes the caller's account after checking the password; all sessions end.
    pub async fn delete_account(
        &self,
        claims: &AccessClaims,
        password: String,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let user = self.caller(claims).await?;
        let user = self
            .confirm_password("account_delete", user, password, client)
            .await?;
        self.delete_user_record(&user, "account_delete", client)
            .await
    }

    /// Deletes `user`, audited as `event` (the user's own deletion, or an administrator's).
    pub(super) async fn delete_user_record(
        &self,
        user: &UserRecord,
        event: &'static str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let now = now_unix();
        let ended = self
            .store()
            .delete_user(
                user.id,
                now,
                now + self.config().effective_deleted_name_hold_secs() as i64,
            )
            .await?
            .ok_or(AuthError::UserNotFound)?;
        self.remember_revoked(&ended, now, RevocationReason::AccountDeleted);
        self.audit_log().record(
            AuditEvent::success(event)
                .user(user.id, &user.username)
                .client(client)
                .count(ended.len() as u64),
        );
        Ok(())
    }
}
