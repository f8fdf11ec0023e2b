//! The one password check behind `POST /login`, `POST /me/password` and `DELETE /me`.
//!
//! Every route that checks a password is a way to guess it, so all of them pass the same
//! protections, in the same order, on the same counters: the per-address and
//! per-(name, address) limits, the hashing pool's bound, the per-name back-off (a wrong
//! current password is a failed login for that name; see `domain::backoff`) and an audit
//! event for every failure. A stolen access token therefore buys no more guesses than `/login` gives.
//! A login presenting a known device's token (see `device`) skips the per-name back-off and
//! hashes in the pool's reserved share; its failures count against the token instead.

use std::time::Duration;

use crate::abuse::rate_key;
use crate::domain::{AttemptDecision, BackoffPolicy, Username, decide_attempt};
use crate::store::UserRecord;

use super::audit::AuditEvent;
use super::client::ClientInfo;
use super::{AuthError, Tessera};

/// Whose password is being checked.
pub(super) enum Claimant<'a> {
    /// A login: the name as the client submitted it (the account may not exist).
    Name(&'a str),
    /// The account behind an access token (changing or deleting it).
    Account(UserRecord),
}

/// A password that matched, and the account it matched.
pub(super) struct CheckedPassword {
    pub user: UserRecord,
    /// The stored hash is weaker than the configured parameters (upgrade it).
    pub needs_rehash: bool,
    /// The account has a confirmed second factor: a login is not complete yet.
    pub second_factor: bool,
}

/// What limits and audit digests key a submitted name on: its canonical form, or for a name
/// that cannot exist (it still counts) its first 64 characters.
pub(super) fn name_key(name: &Result<Username, &str>) -> String {
    match name {
        Ok(name) => name.canonical().to_owned(),
        Err(raw) => raw.chars().take(64).collect(),
    }
}

impl Tessera {
    /// Checks `password` for `claimant` under the protections of `/login` (see the module
    /// documentation). A mismatch, or an unknown name, is [`AuthError::InvalidCredentials`]
    /// after the same work; `event` names the audit events (`login`, `password_change`, …).
    pub(super) async fn check_password(
        &self,
        event: &'static str,
        claimant: Claimant<'_>,
        password: String,
        device_token: Option<&str>,
        client: &ClientInfo,
    ) -> Result<CheckedPassword, AuthError> {
        let (name, mut user) = match claimant {
            Claimant::Name(raw) => (Username::parse(raw).map_err(|_| raw), None),
            Claimant::Account(user) => {
                (Ok(Username::from_stored(user.username.clone())), Some(user))
            }
        };
        let lookup = user.is_none();
        let key = name_key(&name);
        // Submitted names reach the log only as digests unless they name an account.
        let digest = self.inner.name_digests.digest(&key);
        if let Some(ip) = client.ip
            && let Err(refused) = self.limits().check_login(rate_key(ip), &key).await
        {
            // Refused before any lookup: whether the name exists is not worth a query.
            let refused = AuthError::from(refused);
            let line = AuditEvent::failed(event, &refused);
            self.audit_attempt(line, user.as_ref(), &digest, client);
            return Err(refused);
        }
        // A known device (see `device`): its attempt is counted against its token, and it
        // takes its place in the reserved share of the hashing pool. Counted first, so a
        // locked-out token never takes a reserved place; the rare login then refused for a
        // full pool keeps its count (the token's next success clears it).
        let device = match &name {
            Ok(name) => self.claim_known_device(device_token, name).await?,
            Err(_) => None,
        };
        // When the hashing pool is full, refuse before touching the database (and before
        // counting an attempt that will not be checked).
        let slot = match self.hasher().and_then(|h| {
            match device {
                Some(_) => h.reserve_known_device(),
                None => h.reserve(),
            }
            .map_err(AuthError::from)
        }) {
            Ok(slot) => slot,
            Err(e) => {
                let line = AuditEvent::failed(event, &e);
                self.audit_attempt(line, user.as_ref(), &digest, client);
                return Err(e);
            }
        };
        let backoff_on = self.config().login_backoff.threshold > 0;
        if let Ok(name) = &name {
            if lookup {
                user = self
                    .store()
                    .find_user_by_canonical_name(name.canonical())
                    .await?;
            }
            // Others' failures do not slow a known device down (nor does its own success
            // reset the count they built up).
            if backoff_on
                && device.is_none()
                && let Err(wait) = self.claim_attempt(name.canonical()).await?
            {
                self.metrics()
                    .rate_limit_counter("login_backoff")
                    .increment(1);
                let line = AuditEvent::refused(event, "login_backoff");
                self.audit_attempt(line, user.as_ref(), &digest, client);
                return Err(AuthError::RateLimited(wait));
            }
        }
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let verification = slot.verify(password, stored).await?;
        let user = match user {
            Some(user) if verification.matches => user,
            // The attempt was counted before the check: nothing more to write.
            other => {
                if let Some(device) = &device {
                    self.device_failed(device, other.as_ref(), client);
                }
                let line = AuditEvent::failed(event, &AuthError::InvalidCredentials);
                self.audit_attempt(line, other.as_ref(), &digest, client);
                return Err(AuthError::InvalidCredentials);
            }
        };
        // With a second factor, the attempts counted for the name are forgotten only once
        // a code is right too (`mfa::login`): otherwise whoever knows the password would
        // start every round of code guesses from a clean count.
        let second_factor = self.store().mfa_status(user.id).await?.totp;
        match &device {
            Some(device) => self.device_succeeded(device).await?,
            None if backoff_on && !second_factor => {
                self.store().clear_login_failures(&key).await?;
            }
            None => {}
        }
        Ok(CheckedPassword {
            user,
            needs_rehash: verification.needs_rehash,
            second_factor,
        })
    }

    /// The protections of a password check, for a second-factor code of a known account:
    /// the same per-address and per-(name, address) limits and the same per-name back-off
    /// (a wrong code counts like a wrong password). Refusals are audited as `event`.
    pub(super) async fn throttle_code_attempt(
        &self,
        event: &'static str,
        user: &UserRecord,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let name = Username::from_stored(user.username.clone());
        let key = name.canonical();
        let refused = if let Some(ip) = client.ip
            && let Err(refused) = self.limits().check_login(rate_key(ip), key).await
        {
            Some((AuthError::from(refused), None))
        } else if self.config().login_backoff.threshold > 0
            && let Err(wait) = self.claim_attempt(key).await?
        {
            self.metrics()
                .rate_limit_counter("login_backoff")
                .increment(1);
            Some((AuthError::RateLimited(wait), Some("login_backoff")))
        } else {
            None
        };
        let Some((error, reason)) = refused else {
            return Ok(());
        };
        let line = match reason {
            Some(reason) => AuditEvent::refused(event, reason),
            None => AuditEvent::failed(event, &error),
        };
        self.audit_log()
            .record(line.user(user.id, &user.username).client(client));
        Err(error)
    }

    /// Forgets the attempts counted for the account's name (its login is complete).
    pub(super) async fn clear_attempts(&self, user: &UserRecord) -> Result<(), AuthError> {
        if self.config().login_backoff.threshold > 0 {
            let name = Username::from_stored(user.username.clone());
            self.store().clear_login_failures(name.canonical()).await?;
        }
        Ok(())
    }

    /// A refused password check: the account when one exists under the submitted name, and
    /// the name's keyed digest either way.
    fn audit_attempt(
        &self,
        line: AuditEvent<'_>,
        account: Option<&UserRecord>,
        digest: &str,
        client: &ClientInfo,
    ) {
        let line = line.name_digest(digest).client(client);
        self.audit_log().record(match account {
            Some(user) => line.user(user.id, &user.username),
            None => line,
        });
    }

    /// Counts one attempt for a name if the back-off rule allows one now (see
    /// `domain::backoff`); otherwise how long until it does. The rule decides; the store's
    /// conditional statement picks the one winner among concurrent attempts.
    async fn claim_attempt(&self, canonical: &str) -> Result<Result<(), Duration>, AuthError> {
        let config = self.config().login_backoff;
        let policy = BackoffPolicy {
            threshold: config.threshold,
            base_delay_ms: config.base_delay_ms,
            max_delay_ms: config.max_delay_ms,
            window_ms: i64::try_from(config.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        };
        // Losing the statement means another attempt for this name claimed the state in
        // between; decide again from the new state. A few losses in a row mean a burst of
        // attempts for this name, which may as well wait a step.
        for _ in 0..CLAIM_TRIES {
            let state = self.store().login_attempts(canonical).await?;
            match decide_attempt(state.as_ref(), now_unix_ms(), &policy) {
                AttemptDecision::Wait(wait) => return Ok(Err(wait)),
                AttemptDecision::Allow { next: None } => return Ok(Ok(())),
                AttemptDecision::Allow { next: Some(next) } => {
                    if self
                        .store()
                        .claim_login_attempt(canonical, state.as_ref(), &next)
                        .await?
                    {
                        return Ok(Ok(()));
                    }
                }
            }
        }
        Ok(Err(Duration::from_millis(policy.base_delay_ms.max(1))))
    }
}

/// Tries at claiming an attempt before a request is told to wait.
const CLAIM_TRIES: usize = 4;

fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
