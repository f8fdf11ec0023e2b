//! The vocabulary of sessions, shared by the service, the store, the metrics and the audit
//! log: which sessions a logout ends, and why a session was revoked.

/// Which of a user's sessions a logout ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutScope {
    /// This session only.
    Local,
    /// All of the user's sessions but this one.
    Others,
    /// All of the user's sessions.
    Global,
}

impl LogoutScope {
    /// The API's (and the audit log's) name for it.
    pub const fn as_str(self) -> &'static str {
        match self {
            LogoutScope::Local => "local",
            LogoutScope::Others => "others",
            LogoutScope::Global => "global",
        }
    }
}

/// Why a session was revoked. One spelling ([`RevocationReason::as_str`]) is stored in the
/// `revoke_reason` column, used as the metric label and written to the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    /// The user logged out (`POST /logout`).
    Logout,
    /// The user ended one of their sessions (`DELETE /sessions/{id}`).
    RevokedByUser,
    /// A rotated refresh token came back: it was copied.
    RefreshTokenReused,
    /// The user changed their password (their other sessions end).
    PasswordChanged,
    /// The account was deleted.
    AccountDeleted,
    /// An administrator disabled the account.
    UserDisabled,
    /// An administrator set a new password.
    PasswordReset,
    /// An administrator ended the session.
    RevokedByAdmin,
    /// The user opened more sessions than `max_sessions_per_user`: the oldest ended.
    SessionLimit,
    /// The user enrolled or removed a second factor (their other sessions end).
    MfaChanged,
    /// An administrator removed the user's second factor (`tessera user mfa-reset`).
    MfaReset,
    /// A service client revoked one of the session's tokens (`POST /revoke`, RFC 7009).
    RevokedByService,
}

impl RevocationReason {
    /// Every reason, in the order of their metric series.
    pub const ALL: [RevocationReason; 12] = [
        RevocationReason::Logout,
        RevocationReason::RevokedByUser,
        RevocationReason::RefreshTokenReused,
        RevocationReason::PasswordChanged,
        RevocationReason::AccountDeleted,
        RevocationReason::UserDisabled,
        RevocationReason::PasswordReset,
        RevocationReason::RevokedByAdmin,
        RevocationReason::SessionLimit,
        RevocationReason::MfaChanged,
        RevocationReason::MfaReset,
        RevocationReason::RevokedByService,
    ];

    /// The one spelling: stored, used as the metric label and logged.
    pub const fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Logout => "logout",
            RevocationReason::RevokedByUser => "revoked_by_user",
            RevocationReason::RefreshTokenReused => "refresh_token_reused",
            RevocationReason::PasswordChanged => "password_changed",
            RevocationReason::AccountDeleted => "account_deleted",
            RevocationReason::UserDisabled => "user_disabled",
            RevocationReason::PasswordReset => "password_reset",
            RevocationReason::RevokedByAdmin => "revoked_by_admin",
            RevocationReason::SessionLimit => "session_limit",
            RevocationReason::MfaChanged => "mfa_changed",
            RevocationReason::MfaReset => "mfa_reset",
            RevocationReason::RevokedByService => "revoked_by_service",
        }
    }

    /// The position of this reason in [`RevocationReason::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_listed_once_at_its_own_index() {
        for (i, reason) in RevocationReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i, "{reason:?}");
        }
        let mut names: Vec<_> = RevocationReason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RevocationReason::ALL.len());
    }
}
