//! The login step between a right password and a session, for users with a second factor.
//!
//! `POST /login` answers `401 mfa_required` with an `mfa_token` (never tokens: a client
//! that knows only the seed's contract reads a failed login). `POST /login/mfa` with that
//! token and a TOTP or recovery code opens the session through the same
//! `open_session` as a password login, with `amr`/`aal` saying what was shown.
//!
//! The mfa_token is 256 random bits; only its SHA-256 is stored (like a refresh token's
//! nonce: a random value needs no key). It lives `mfa.token_ttl_secs` (5 minutes by default), is bound to its user,
//! allows `MFA_TOKEN_MAX_ATTEMPTS` codes and is used once; each of these is a condition of
//! one UPDATE. Code attempts also pass the password check's limits and back-off for the
//! user's name, so a known password buys no more code guesses than password guesses.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::domain::MFA_TOKEN_MAX_ATTEMPTS;
use crate::secret::{Secret, random_bytes};
use crate::service::audit::AuditEvent;
use crate::service::{AuthError, ClientInfo, LoginOutcome, RegisteredUser, Tessera, Transport};
use crate::store::UserRecord;
use crate::tokens::now_unix;

use super::MfaProof;

/// The audit event of a second-factor check at login.
const EVENT: &str = "mfa_verify";

fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Tessera {
    /// After the right password of a user with a factor: records a challenge and answers
    /// with the error that carries its token (`mfa_required`).
    pub(in crate::service) async fn start_mfa_challenge(
        &self,
        user: &UserRecord,
        client: &ClientInfo,
    ) -> AuthError {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>());
        let now = now_unix();
        // Validated to at most an hour, so the conversion cannot fail.
        let ttl = i64::try_from(self.config().mfa.token_ttl_secs).unwrap_or(300);
        let stored = self
            .store()
            .create_mfa_challenge(&token_digest(&token), user.id, now, now + ttl)
            .await;
        if let Err(e) = stored {
            let e = AuthError::from(e);
            self.audit_log().record(
                AuditEvent::failed("login", &e)
                    .user(user.id, &user.username)
                    .client(client),
            );
            return e;
        }
        self.audit_log().record(
            AuditEvent::success("mfa_challenge")
                .user(user.id, &user.username)
                .client(client),
        );
        AuthError::MfaRequired(Secret::new(token))
    }

    /// Completes a login with the mfa_token of its first step and a second factor.
    pub async fn complete_mfa_login(
        &self,
        mfa_token: &str,
        proof: MfaProof,
        client: ClientInfo,
        transport: Transport,
    ) -> Result<LoginOutcome, AuthError> {
        let result = self
            .check_mfa_login(mfa_token, proof, &client, transport)
            .await;
        self.metrics().mfa_verification(match &result {
            Ok(_) => "success",
            Err(AuthError::InvalidMfaCode) => "invalid_code",
            Err(AuthError::TotpReplayed) => "replayed",
            Err(AuthError::InvalidMfaToken) => "invalid_mfa_token",
            Err(AuthError::RateLimited(_)) => "rate_limited",
            Err(_) => "error",
        });
        // Not counted in `tessera_logins_total` again: its password step was counted there
        // once, as `mfa_required`.
        result
    }

    async fn check_mfa_login(
        &self,
        mfa_token: &str,
        proof: MfaProof,
        client: &ClientInfo,
        transport: Transport,
    ) -> Result<LoginOutcome, AuthError> {
        let now = now_unix();
        let digest = token_digest(mfa_token);
        // Counting the attempt is what finds the challenge: an unknown, expired, used or
        // spent token matches no row, and an attempt is counted before its code is looked at.
        let Some(user_id) = self
            .store()
            .claim_mfa_challenge_attempt(&digest, now, MFA_TOKEN_MAX_ATTEMPTS)
            .await?
        else {
            let refused = AuthError::InvalidMfaToken;
            self.audit_log()
                .record(AuditEvent::failed(EVENT, &refused).client(client));
            return Err(refused);
        };
        let user = self
            .store()
            .find_user_by_id(user_id)
            .await?
            .ok_or(AuthError::InvalidMfaToken)?;
        if user.disabled_at.is_some() {
            return Err(self.refuse(EVENT, AuthError::AccountDisabled, &user, client));
        }
        self.throttle_code_attempt(EVENT, &user, client).await?;
        let assurance = match self.verify_proof(&user, &proof, now).await {
            Ok(assurance) => assurance,
            Err(e) => return Err(self.refuse(EVENT, e, &user, client)),
        };
        // Two requests with one token and two right codes: one opens the session.
        if !self.store().complete_mfa_challenge(&digest, now).await? {
            return Err(self.refuse(EVENT, AuthError::InvalidMfaToken, &user, client));
        }
        self.clear_attempts(&user).await?;
        self.audit_log().record(
            AuditEvent::success(EVENT)
                .user(user.id, &user.username)
                .scope(assurance.as_stored())
                .client(client),
        );
        let session = match self
            .open_session(&user, client, true, transport, assurance)
            .await
        {
            Ok(session) => session,
            Err(e) => return Err(self.refuse("login", e, &user, client)),
        };
        self.audit_log().record(
            AuditEvent::success("login")
                .user(user.id, &user.username)
                .sid(Some(&session.session_id))
                .client(client),
        );
        Ok(LoginOutcome {
            user: RegisteredUser::from(&user),
            session,
            device_token: self.issue_device_token(&user),
        })
    }
}
