//! Administration, for the CLI: the same operations on the same database as a running
//! server. Revocations made here reach running servers through the database (their poll,
//! or PostgreSQL notifications) within about a second.

use crate::domain::{LogoutScope, RevocationReason, RotationPolicy, Username};
use crate::store::{ReservedName, SessionRecord, UserRecord};
use crate::tokens::now_unix;

use super::audit::AuditEvent;
use super::{AuthError, ClientInfo, Credentials, RegisteredUser, Tessera};

/// A user as `tessera user list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserSummary {
    /// The user id.
    pub id: i64,
    /// The name as registered.
    pub username: String,
    /// When the account was made (Unix seconds).
    pub created_at: i64,
    /// Whether logins and refreshes are refused.
    pub disabled: bool,
}

/// A live session as `tessera sessions list` shows it (never a token).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionSummary {
    /// The session id.
    pub id: String,
    /// Its owner's name.
    pub username: String,
    /// When it was opened (Unix seconds).
    pub created_at: i64,
    /// When its refresh token was last used.
    pub last_used_at: i64,
    /// When it ends however it is used.
    pub expires_at: i64,
    /// The user agent that opened it.
    pub user_agent: Option<String>,
    /// The address that opened it.
    pub ip: Option<String>,
}

impl From<(SessionRecord, String)> for SessionSummary {
    fn from((s, username): (SessionRecord, String)) -> Self {
        Self {
            id: s.id,
            username,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            user_agent: s.user_agent,
            ip: s.ip,
        }
    }
}

impl Tessera {
    pub(super) async fn user_named(&self, name: &str) -> Result<UserRecord, AuthError> {
        let name = Username::parse(name)?;
        self.store()
            .find_user_by_canonical_name(name.canonical())
            .await?
            .ok_or(AuthError::UserNotFound)
    }

    /// Creates a user, under the same rules as `POST /register`.
    pub async fn admin_add_user(
        &self,
        username: String,
        password: String,
    ) -> Result<RegisteredUser, AuthError> {
        // Closing registration closes `POST /register`, not the operator's door.
        self.create_account(Credentials::new(username, password), &ClientInfo::default())
            .await
    }

    /// Every user, in id order.
    pub async fn admin_list_users(&self) -> Result<Vec<UserSummary>, AuthError> {
        Ok(self
            .store()
            .list_users()
            .await?
            .into_iter()
            .map(|u| UserSummary {
                id: u.id,
                username: u.username,
                created_at: u.created_at,
                disabled: u.disabled_at.is_some(),
            })
            .collect())
    }

    /// Disables or enables an account. Disabling ends all its sessions at once.
    pub async fn admin_set_disabled(&self, name: &str, disabled: bool) -> Result<usize, AuthError> {
        let user = self.user_named(name).await?;
        let now = now_unix();
        let ended = if disabled {
            // One transaction: never disabled with sessions left running, or the other way.
            let ended = self
                .store()
                .disable_user(user.id, now)
                .await?
                .ok_or(AuthError::UserNotFound)?;
            self.remember_revoked(&ended, now, RevocationReason::UserDisabled);
            ended.len()
        } else {
            self.store().set_user_disabled(user.id, None).await?;
            0
        };
        let event = if disabled {
            "admin_user_disable"
        } else {
            "admin_user_enable"
        };
        self.audit_log().record(
            AuditEvent::success(event)
                .user(user.id, &user.username)
                .count(ended as u64),
        );
        Ok(ended)
    }

    /// Sets a new password (an administrator's reset) and ends all the user's sessions.
    pub async fn admin_set_password(
        &self,
        name: &str,
        password: String,
    ) -> Result<usize, AuthError> {
        let user = self.user_named(name).await?;
        let password = self.screen_new_password(password, &user.username).await?;
        let hash = self.hasher()?.hash(password.into_string()).await?;
        let now = now_unix();
        let reason = RevocationReason::PasswordReset;
        // One transaction: the new hash is never stored without the end of the sessions.
        let ended = self
            .store()
            .replace_password(user.id, &hash, now, None, reason)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        self.remember_revoked(&ended, now, reason);
        let ended = ended.len();
        self.audit_log().record(
            AuditEvent::success("admin_password_reset")
                .user(user.id, &user.username)
                .count(ended as u64),
        );
        Ok(ended)
    }

    /// Reserves a name so that nobody can register it; `false` if it already was.
    pub async fn admin_reserve_name(&self, name: &str) -> Result<bool, AuthError> {
        let name = Username::parse(name)?;
        let reserved = ReservedName {
            username_canonical: name.canonical().to_owned(),
            username: name.as_str().to_owned(),
            reason: "reserved_by_operator".into(),
        };
        let newly = self.store().reserve_names(&[reserved], now_unix()).await? == 1;
        let digest = self.inner.name_digests.digest(name.canonical());
        self.audit_log()
            .record(AuditEvent::success("admin_name_reserve").name_digest(&digest));
        Ok(newly)
    }

    /// Lifts a reservation; `false` if the name was not reserved.
    pub async fn admin_release_name(&self, name: &str) -> Result<bool, AuthError> {
        let name = Username::parse(name)?;
        let released = self.store().release_name(name.canonical()).await?;
        let digest = self.inner.name_digests.digest(name.canonical());
        let event = match released {
            true => AuditEvent::success("admin_name_release"),
            false => AuditEvent::refused("admin_name_release", "not_reserved"),
        };
        self.audit_log().record(event.name_digest(&digest));
        Ok(released)
    }

    /// Deletes a user; every session ends at once.
    pub async fn admin_delete_user(&self, name: &str) -> Result<(), AuthError> {
        let user = self.user_named(name).await?;
        self.delete_user_record(&user, "admin_user_delete", &ClientInfo::default())
            .await
    }

    /// Live sessions of one user (by name), or of everyone.
    pub async fn admin_list_sessions(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<SessionSummary>, AuthError> {
        let user_id = match name {
            Some(name) => Some(self.user_named(name).await?.id),
            None => None,
        };
        let policy = RotationPolicy {
            now: now_unix(),
            grace_secs: 0,
            idle_timeout_secs: self.rotation_policy().idle_timeout_secs,
        };
        let sessions = self
            .store()
            .list_sessions_with_owner(user_id, policy)
            .await?;
        Ok(sessions.into_iter().map(SessionSummary::from).collect())
    }

    /// Ends one session, whoever owns it.
    pub async fn admin_revoke_session(&self, session_id: &str) -> Result<(), AuthError> {
        let now = now_unix();
        self.store()
            .revoke_session_by_id(session_id, now, RevocationReason::RevokedByAdmin)
            .await?
            .ok_or(AuthError::SessionNotFound)?;
        self.remember_revoked(
            &[session_id.to_owned()],
            now,
            RevocationReason::RevokedByAdmin,
        );
        self.audit_log()
            .record(AuditEvent::success("admin_session_revoke").sid(Some(session_id)));
        Ok(())
    }

    /// Ends every session of a user; returns how many ended.
    pub async fn admin_revoke_user_sessions(&self, name: &str) -> Result<usize, AuthError> {
        let user = self.user_named(name).await?;
        let ended = self
            .end_all_sessions(user.id, now_unix(), RevocationReason::RevokedByAdmin)
            .await?;
        self.audit_log().record(
            AuditEvent::success("admin_user_sessions_revoke")
                .user(user.id, &user.username)
                .count(ended as u64),
        );
        Ok(ended)
    }

    /// Ends every session of every user (after a leak of a key or of the database):
    /// every refresh token stops working, and every access token at once, on every
    /// instance within a second. Returns how many ended.
    pub async fn admin_revoke_all_sessions(&self) -> Result<usize, AuthError> {
        let now = now_unix();
        let reason = RevocationReason::RevokedByAdmin;
        let ended = self.store().revoke_all_sessions(now, reason).await?;
        self.remember_revoked(&ended, now, reason);
        self.audit_log()
            .record(AuditEvent::success("admin_sessions_revoke_all").count(ended.len() as u64));
        Ok(ended.len())
    }

    async fn end_all_sessions(
        &self,
        user_id: i64,
        now: i64,
        reason: RevocationReason,
    ) -> Result<usize, AuthError> {
        let ended = self
            .store()
            .revoke_user_sessions(user_id, None, LogoutScope::Global, now, reason)
            .await?;
        self.remember_revoked(&ended, now, reason);
        Ok(ended.len())
    }
}
