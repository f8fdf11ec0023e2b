//! Known devices at login: OWASP's device-cookie scheme ("Slow Down Online Guessing
//! Attacks with Device Cookies") on top of the password check.
//!
//! Every successful login hands out a device token bound to the login name
//! (`tokens::device`). A later login for that name that presents it, valid and not locked
//! out, is a known device's: it hashes in the reserved share of the pool (a flood of other
//! logins cannot fill it) and skips the per-name back-off (others' failures do not slow it
//! down). Failures presented with a token count against that token
//! (`domain::device_lockout`); after `device_tokens.max_failures` of them it is locked out
//! until its window ends, and a login presenting it is a normal one again. Whatever is
//! wrong with a presented token, the login goes on as a normal one: the answer tells
//! nothing of tokens.

use crate::domain::{DeviceDecision, DeviceLockoutPolicy, Username, decide_device_attempt};
use crate::secret::Secret;
use crate::store::UserRecord;
use crate::tokens::{DeviceId, now_unix};

use super::audit::AuditEvent;
use super::client::ClientInfo;
use super::{AuthError, Tessera};

/// Tries at claiming an attempt before the token is treated as no token for this login.
const CLAIM_TRIES: usize = 4;

/// A login's device token that verified and was not locked out: its attempt is counted.
pub(super) struct KnownDevice {
    id: DeviceId,
    /// Attempts counted for the token, this one included.
    attempts: u32,
}

impl Tessera {
    /// A new device token for the account (none when device tokens are off).
    pub(super) fn issue_device_token(&self, user: &UserRecord) -> Option<Secret> {
        let config = self.config().device_tokens;
        if !config.enabled {
            return None;
        }
        let name = Username::from_stored(user.username.clone());
        let ttl = i64::try_from(config.ttl_secs).unwrap_or(i64::MAX);
        let expires_at = now_unix().saturating_add(ttl);
        Some(Secret::new(
            self.inner.devices.issue(name.canonical(), expires_at),
        ))
    }

    /// Whether `presented` makes this login for `name` a known device's: a token for the
    /// name that verifies, has not expired and is not locked out. Counts the attempt
    /// against the token (before the password is checked).
    pub(super) async fn claim_known_device(
        &self,
        presented: Option<&str>,
        name: &Username,
    ) -> Result<Option<KnownDevice>, AuthError> {
        let config = self.config().device_tokens;
        let Some(presented) = presented.filter(|_| config.enabled) else {
            return Ok(None);
        };
        let Some(id) = self
            .inner
            .devices
            .verify(presented, name.canonical(), now_unix())
        else {
            return Ok(None);
        };
        let policy = DeviceLockoutPolicy {
            max_failures: config.max_failures,
            window_secs: i64::try_from(config.failure_window_secs).unwrap_or(i64::MAX),
        };
        // Losing the statement means another login with this token claimed the state in
        // between; decide again from the new state. A burst of them is not a known
        // device's behaviour: after a few losses the login goes on as a normal one.
        for _ in 0..CLAIM_TRIES {
            let state = self.store().device_attempts(id.digest()).await?;
            match decide_device_attempt(state.as_ref(), now_unix(), &policy) {
                DeviceDecision::LockedOut { .. } => {
                    self.metrics()
                        .rate_limit_counter("device_token_locked")
                        .increment(1);
                    return Ok(None);
                }
                DeviceDecision::Trusted { next } => {
                    if self
                        .store()
                        .claim_device_attempt(id.digest(), state.as_ref(), &next)
                        .await?
                    {
                        return Ok(Some(KnownDevice {
                            id,
                            attempts: next.attempts,
                        }));
                    }
                }
            }
        }
        Ok(None)
    }

    /// A wrong password with a known device's token: when that was the token's last
    /// allowed failure, the lockout is audited (`device_token` / `device_token_locked`).
    pub(super) fn device_failed(
        &self,
        device: &KnownDevice,
        account: Option<&UserRecord>,
        client: &ClientInfo,
    ) {
        if device.attempts < self.config().device_tokens.max_failures {
            return;
        }
        let line = AuditEvent::refused("device_token", "device_token_locked")
            .count(u64::from(device.attempts))
            .client(client);
        self.audit_log().record(match account {
            Some(user) => line.user(user.id, &user.username),
            None => line,
        });
    }

    /// A right password with a known device's token: its counted attempts are forgotten.
    pub(super) async fn device_succeeded(&self, device: &KnownDevice) -> Result<(), AuthError> {
        self.store()
            .clear_device_attempts(device.id.digest())
            .await?;
        Ok(())
    }
}
