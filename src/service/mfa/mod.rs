//! The second factor, on the account's side: enrol a TOTP factor, confirm it with a first
//! code (which hands out the recovery codes), regenerate recovery codes, remove the factor,
//! and the administrator's reset. The login step is in [`login`].
//!
//! Acts that change factors need what a password change needs and more: enrolment and new
//! recovery codes take re-authentication (the password, or a fresh token), removal takes
//! the password and a code. Enrolling or removing ends the user's other sessions
//! (`mfa.end_other_sessions`): they were opened under the old rules.

mod login;
mod recovery;
mod totp;

use crate::domain::{RevocationReason, parse_totp_code};
use crate::store::{EndSessions, MfaStatus, TotpConfirmation, UserRecord};
use crate::tokens::{AccessClaims, now_unix};

use super::audit::AuditEvent;
use super::{AuthError, ClientInfo, Tessera};
use totp::TotpSecret;

/// What an authenticator app needs to start: shown once, at enrolment.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MfaEnrolment {
    /// The TOTP secret, base32 (160 bits; SHA-1, 6 digits, 30 s).
    pub secret: String,
    /// The `otpauth://totp/…` URI with the configured issuer.
    pub otpauth_uri: String,
    /// The URI as a QR code, inline SVG.
    pub qr_svg: String,
}

/// A new set of recovery codes: shown once, never stored readably.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MfaCodes {
    /// Ten codes of 120 bits, each usable once (`abcd-efgh-…`, six groups; case, dashes
    /// and spaces do not matter).
    pub recovery_codes: Vec<String>,
    /// Other sessions of the user that ended with the change.
    pub ended_sessions: usize,
}

/// What proves the second factor.
#[derive(Debug, Clone)]
pub enum MfaProof {
    /// A TOTP code from the authenticator app.
    Code(String),
    /// One of the recovery codes.
    RecoveryCode(String),
}

/// The second factor as `GET /me` shows it.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
pub struct MfaView {
    /// A confirmed TOTP factor.
    pub totp: bool,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u64,
}

impl From<MfaStatus> for MfaView {
    fn from(s: MfaStatus) -> Self {
        Self {
            totp: s.totp,
            recovery_codes_left: s.recovery_codes_left,
        }
    }
}

impl Tessera {
    /// Starts (or restarts) enrolment: a new secret, pending until confirmed by a code.
    pub async fn enrol_totp(
        &self,
        claims: &AccessClaims,
        password: Option<String>,
        client: &ClientInfo,
    ) -> Result<MfaEnrolment, AuthError> {
        let user = self.caller(claims).await?;
        let user = self
            .reauthenticated("mfa_totp_enrol", claims, user, password, client)
            .await?;
        let secret = TotpSecret::generate();
        let sealed = secret
            .seal(self.kek()?, user.id)
            .map_err(|e| AuthError::Internal(format!("cannot seal a TOTP secret: {e:#}")))?;
        if !self
            .store()
            .put_pending_totp(user.id, &sealed, now_unix())
            .await?
        {
            return Err(self.refuse(
                "mfa_totp_enrol",
                AuthError::MfaAlreadyEnabled,
                &user,
                client,
            ));
        }
        let otpauth_uri = totp::otpauth_uri(&self.config().mfa.issuer, &user.username, &secret);
        let qr_svg =
            totp::qr_svg(&otpauth_uri).map_err(|e| AuthError::Internal(format!("{e:#}")))?;
        self.audit_log().record(
            AuditEvent::success("mfa_totp_enrol")
                .user(user.id, &user.username)
                .sid(claims.sid.as_deref())
                .client(client),
        );
        Ok(MfaEnrolment {
            secret: secret.base32(),
            otpauth_uri,
            qr_svg,
        })
    }

    /// Confirms the pending factor with a first code; returns the first recovery codes.
    pub async fn confirm_totp(
        &self,
        claims: &AccessClaims,
        code: &str,
        client: &ClientInfo,
    ) -> Result<MfaCodes, AuthError> {
        const EVENT: &str = "mfa_totp_confirm";
        let user = self.caller(claims).await?;
        let record = match self.store().find_totp(user.id).await? {
            Some(record) if record.confirmed_at.is_none() => record,
            Some(_) => return Err(self.refuse(EVENT, AuthError::MfaAlreadyEnabled, &user, client)),
            None => return Err(self.refuse(EVENT, AuthError::MfaNotEnabled, &user, client)),
        };
        let kek = self.kek()?;
        let now = now_unix();
        let step = self
            .open_secret(&user, &record.sealed_secret)?
            .matching_step(code, now)
            .ok_or_else(|| self.refuse(EVENT, AuthError::WrongMfaCode, &user, client))?;
        let codes = recovery::new_set(kek, user.id);
        let ended = self
            .store()
            .confirm_totp(TotpConfirmation {
                user_id: user.id,
                sealed_secret: &record.sealed_secret,
                step,
                recovery_digests: &codes.digests,
                now,
                end_sessions: self.end_other_sessions(claims),
            })
            .await?
            // Replaced by a new enrolment meanwhile (or confirmed by a racing request).
            .ok_or_else(|| self.refuse(EVENT, AuthError::MfaNotEnabled, &user, client))?;
        self.remember_revoked(&ended, now, RevocationReason::MfaChanged);
        self.audit_log().record(
            AuditEvent::success(EVENT)
                .user(user.id, &user.username)
                .sid(claims.sid.as_deref())
                .client(client)
                .count(ended.len() as u64),
        );
        Ok(MfaCodes {
            recovery_codes: codes.shown,
            ended_sessions: ended.len(),
        })
    }

    /// Replaces the recovery codes with a new set (the old ones stop working).
    pub async fn regenerate_recovery_codes(
        &self,
        claims: &AccessClaims,
        password: Option<String>,
        client: &ClientInfo,
    ) -> Result<MfaCodes, AuthError> {
        const EVENT: &str = "mfa_recovery_codes_regenerate";
        let user = self.caller(claims).await?;
        let user = self
            .reauthenticated(EVENT, claims, user, password, client)
            .await?;
        let codes = recovery::new_set(self.kek()?, user.id);
        if !self
            .store()
            .replace_recovery_codes(user.id, &codes.digests, now_unix())
            .await?
        {
            return Err(self.refuse(EVENT, AuthError::MfaNotEnabled, &user, client));
        }
        self.audit_log().record(
            AuditEvent::success(EVENT)
                .user(user.id, &user.username)
                .sid(claims.sid.as_deref())
                .client(client),
        );
        Ok(MfaCodes {
            recovery_codes: codes.shown,
            ended_sessions: 0,
        })
    }

    /// Removes the factor and its recovery codes after the password and a code (TOTP or
    /// recovery); returns how many other sessions ended.
    pub async fn remove_totp(
        &self,
        claims: &AccessClaims,
        password: String,
        proof: MfaProof,
        client: &ClientInfo,
    ) -> Result<usize, AuthError> {
        const EVENT: &str = "mfa_totp_remove";
        let user = self.caller(claims).await?;
        let user = self.confirm_password(EVENT, user, password, client).await?;
        if !self.store().mfa_status(user.id).await?.totp {
            return Err(self.refuse(EVENT, AuthError::MfaNotEnabled, &user, client));
        }
        // The code is used up like a login's: the same step cannot serve twice.
        match self.verify_proof(&user, &proof, now_unix()).await {
            Ok(_) => {}
            Err(AuthError::InvalidMfaCode) => {
                return Err(self.refuse(EVENT, AuthError::WrongMfaCode, &user, client));
            }
            Err(e) => return Err(self.refuse(EVENT, e, &user, client)),
        }
        let now = now_unix();
        let ended = self
            .store()
            .remove_mfa(user.id, now, self.end_other_sessions(claims))
            .await?
            .ok_or_else(|| self.refuse(EVENT, AuthError::MfaNotEnabled, &user, client))?;
        self.remember_revoked(&ended, now, RevocationReason::MfaChanged);
        self.audit_log().record(
            AuditEvent::success(EVENT)
                .user(user.id, &user.username)
                .sid(claims.sid.as_deref())
                .client(client)
                .count(ended.len() as u64),
        );
        Ok(ended.len())
    }

    /// The second factor of an account, for `GET /me`.
    pub(super) async fn mfa_view(&self, user: &UserRecord) -> Result<MfaView, AuthError> {
        Ok(self.store().mfa_status(user.id).await?.into())
    }

    /// An administrator's reset (`tessera user mfa-reset NAME`): the factor and recovery
    /// codes go, and every session of the user ends. Returns how many ended; a user without
    /// a factor is an error (`mfa_not_enabled`), so a typo is not reported as a reset.
    pub async fn admin_reset_mfa(&self, name: &str) -> Result<usize, AuthError> {
        let user = self.user_named(name).await?;
        let now = now_unix();
        let end_all = EndSessions {
            keep: None,
            reason: RevocationReason::MfaReset,
        };
        let ended = self
            .store()
            .remove_mfa(user.id, now, Some(end_all))
            .await?
            .ok_or(AuthError::MfaNotEnabled)?;
        self.remember_revoked(&ended, now, RevocationReason::MfaReset);
        self.audit_log().record(
            AuditEvent::success("admin_mfa_reset")
                .user(user.id, &user.username)
                .count(ended.len() as u64),
        );
        Ok(ended.len())
    }

    /// Checks a TOTP or recovery code of `user` and uses it up, in the one conditional
    /// statement each: `InvalidMfaCode` for a wrong code, `TotpReplayed` for a TOTP code
    /// of a step already used. Returns how the factor was shown.
    async fn verify_proof(
        &self,
        user: &UserRecord,
        proof: &MfaProof,
        now: i64,
    ) -> Result<crate::domain::Assurance, AuthError> {
        use crate::domain::Assurance;
        match proof {
            MfaProof::Code(code) => {
                // Malformed input is a wrong code, decided before any database work.
                if parse_totp_code(code).is_none() {
                    return Err(AuthError::InvalidMfaCode);
                }
                let record = self
                    .store()
                    .find_totp(user.id)
                    .await?
                    .filter(|r| r.confirmed_at.is_some())
                    .ok_or(AuthError::InvalidMfaCode)?;
                let step = self
                    .open_secret(user, &record.sealed_secret)?
                    .matching_step(code, now)
                    .ok_or(AuthError::InvalidMfaCode)?;
                if self.store().accept_totp_step(user.id, step).await? {
                    Ok(Assurance::PasswordAndTotp)
                } else {
                    Err(AuthError::TotpReplayed)
                }
            }
            MfaProof::RecoveryCode(code) => {
                let digest = recovery::digest_of_submitted(self.kek()?, user.id, code)
                    .ok_or(AuthError::InvalidMfaCode)?;
                if self
                    .store()
                    .use_recovery_code(user.id, &digest, now)
                    .await?
                {
                    Ok(Assurance::PasswordAndRecoveryCode)
                } else {
                    Err(AuthError::InvalidMfaCode)
                }
            }
        }
    }

    fn open_secret(&self, user: &UserRecord, sealed: &[u8]) -> Result<TotpSecret, AuthError> {
        TotpSecret::open(self.kek()?, user.id, sealed)
            .map_err(|e| AuthError::Internal(format!("cannot open a TOTP secret: {e:#}")))
    }

    /// Which sessions a change of factors ends: every other one, unless configured off.
    fn end_other_sessions<'a>(&self, claims: &'a AccessClaims) -> Option<EndSessions<'a>> {
        self.config().mfa.end_other_sessions.then_some(EndSessions {
            keep: claims.sid.as_deref(),
            reason: RevocationReason::MfaChanged,
        })
    }

    /// Audits a refusal of `event` for a known user and hands the error back.
    fn refuse(
        &self,
        event: &'static str,
        error: AuthError,
        user: &UserRecord,
        client: &ClientInfo,
    ) -> AuthError {
        self.audit_log().record(
            AuditEvent::failed(event, &error)
                .user(user.id, &user.username)
                .client(client),
        );
        error
    }
}
