//! The one password check behind `POST /login`, `POST /me/password` and `DELETE /me`.
//!
//! Every route that checks a password is a way to guess it, so all of them pass the same
//! protections, in the same order, on the same counters: the per-address and
//! per-(name, address) limits, the hashing pool's bound, the per-name back-off (a wrong
//! current password is a failed login for that name) and an audit event for every
//! outcome. A stolen access token therefore buys no more guesses than `/login` gives.

use crate::abuse::{backoff_delay, rate_key};
use crate::domain::Username;
use crate::store::UserRecord;
use crate::tokens::now_unix;

use super::auth::{audit, client_ip_text};
use super::sessions::ClientInfo;
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
        client: &ClientInfo,
    ) -> Result<CheckedPassword, AuthError> {
        let (name, mut user) = match claimant {
            Claimant::Name(raw) => (Username::parse(raw).map_err(|_| raw), None),
            Claimant::Account(user) => {
                (Ok(Username::from_stored(user.username.clone())), Some(user))
            }
        };
        let lookup = user.is_none();
        // Limits key on the canonical name; a malformed name cannot exist but still counts.
        let key: String = match &name {
            Ok(name) => name.canonical().to_owned(),
            Err(raw) => raw.chars().take(64).collect(),
        };
        if let Some(ip) = client.ip
            && let Err(refused) = self.limiters().check_login(rate_key(ip), &key)
        {
            audit(event, "rate_limited", &key, client);
            return Err(refused.into());
        }
        // When the hashing pool is full, refuse before touching the database.
        let mut slot = self.hasher()?.reserve()?;
        let backoff = self.config().login_backoff;
        let now = now_unix();
        let failures_since = now - backoff.window_secs as i64;
        let failures = match &name {
            Ok(name) => {
                if lookup {
                    user = self
                        .store()
                        .find_user_by_canonical_name(name.canonical())
                        .await?;
                }
                match backoff.threshold {
                    0 => 0,
                    _ => {
                        self.store()
                            .recent_login_failures(name.canonical(), failures_since)
                            .await?
                    }
                }
            }
            Err(_) => 0,
        };
        let delay = backoff_delay(&backoff, failures);
        if !delay.is_zero() {
            // Waiting costs this task nothing but time; the hash runs after it.
            tracing::info!(target: "tessera::audit", event, outcome = "delayed",
                username = %key, ip = %client_ip_text(client), failures,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
            // The place in the pool is given back while waiting, so names under back-off
            // cannot hold the pool hostage.
            drop(slot);
            tokio::time::sleep(delay).await;
            slot = self.hasher()?.reserve()?;
        }
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let verification = slot.verify(password, stored).await?;
        let Some(user) = user.filter(|_| verification.matches) else {
            if name.is_ok() && backoff.threshold > 0 {
                self.store()
                    .record_login_failure(&key, now, failures_since)
                    .await?;
            }
            audit(event, "invalid_credentials", &key, client);
            return Err(AuthError::InvalidCredentials);
        };
        if failures > 0 {
            self.store().clear_login_failures(&key).await?;
        }
        Ok(CheckedPassword {
            user,
            needs_rehash: verification.needs_rehash,
        })
    }
}
