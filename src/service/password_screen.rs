//! The one screening of a new password, for every path that sets one: registration,
//! `tessera user add`, `POST /me/password`, `tessera user set-password` (and any reset
//! or page that lands later must call it too). Login never screens: imported users
//! whose passwords predate the policy still get in.
//!
//! First the local rules (`NewPassword::parse`: length, username, context words, the
//! common-password list), which are cheap and need no network; only a password that
//! passes them is sent, as a 5-hex-digit SHA-1 prefix, to the breached-password API.
//!
//! When that API cannot answer (timeout, down, an unusable answer) the password is
//! accepted by default: an outage of a third party must not stop sign-ups and password
//! changes, and the local list still applies. The failure is logged as a warning (never
//! with the password, its hash or the prefix) and counted in
//! `tessera_breached_password_check_total{outcome="failed_open"}`. With
//! `breached_passwords.fail_closed` the password is refused instead, with `503
//! breached_check_unavailable` and `Retry-After` (the client should retry; the password
//! itself was not found wanting).

use crate::domain::{NewPassword, PasswordError};

use super::{AuthError, Tessera};

impl Tessera {
    /// Accepts `raw` as the new password of `username`, or says why not.
    pub(super) async fn screen_new_password(
        &self,
        raw: String,
        username: &str,
    ) -> Result<NewPassword, AuthError> {
        let password = NewPassword::parse(raw, self.policy(), username)?;
        let Some(breached) = &self.inner.breached else {
            return Ok(password);
        };
        let fail_closed = self.config().breached_passwords.fail_closed;
        let (outcome, result) = match breached.is_breached(password.expose()).await {
            Ok(false) => ("not_found", Ok(password)),
            Ok(true) => ("found", Err(PasswordError::Breached.into())),
            Err(e) => {
                tracing::warn!(error = %e, fail_closed,
                    "breached-password check failed; the new password was {}",
                    if fail_closed { "refused" } else { "accepted unchecked" });
                if fail_closed {
                    ("failed_closed", Err(AuthError::BreachCheckUnavailable))
                } else {
                    ("failed_open", Ok(password))
                }
            }
        };
        self.metrics().breached_check(outcome);
        result
    }
}
