//! Audit events (target `tessera::audit`): what happened, to which account, from where.
//! Never a password, hash or token.
//!
//! A failed login names the account only when one exists under the submitted name. What
//! people type into the name field is sometimes their password, so a name that belongs to
//! nobody is logged as a short keyed digest instead: equal for equal names (attempts on
//! one name can be followed), useless for reading back what was typed. The key is derived
//! from the HS256 secret (which every instance of a deployment shares, and which changes
//! only in a coordinated restart), so all instances log the same digests.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::AuthError;
use super::client::ClientInfo;
use crate::secret::Secret;

/// An audit event about an account that exists.
pub(super) fn audit(event: &str, outcome: &str, username: &str, client: &ClientInfo) {
    let ip = client_ip_text(client);
    tracing::info!(target: "tessera::audit", event, outcome, username, ip = %ip, "audit");
}

/// An audit event about a submitted name: the account's name when `account` says one
/// exists under it, and the name's keyed digest either way.
pub(super) fn audit_attempt(
    event: &str,
    outcome: &str,
    account: Option<&str>,
    name_digest: &str,
    client: &ClientInfo,
) {
    let ip = client_ip_text(client);
    match account {
        Some(username) => tracing::info!(target: "tessera::audit", event, outcome, username,
            name_digest, ip = %ip, "audit"),
        None => tracing::info!(target: "tessera::audit", event, outcome, name_digest,
            ip = %ip, "audit"),
    }
}

pub(super) fn client_ip_text(client: &ClientInfo) -> String {
    client
        .ip
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Keyed digests of submitted names for the audit log.
pub(super) struct NameDigests {
    key: [u8; 32],
}

impl NameDigests {
    /// Derives the digest key from a server secret (with a label of its own, so the digest
    /// reveals nothing about the secret's other uses).
    pub(super) fn new(secret: &Secret) -> Self {
        Self {
            key: hmac_sha256(secret.expose().as_bytes(), b"tessera audit name digest v1"),
        }
    }

    /// 48 bits of HMAC-SHA256 in hex: enough to tell names apart in a log, too short to
    /// serve as a dictionary for the names (or passwords) behind them.
    pub(super) fn digest(&self, name: &str) -> String {
        hex::encode(&hmac_sha256(&self.key, name.as_bytes())[..6])
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail here.
    match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0; 32],
    }
}

/// The `outcome` of an audit line for an operation that was refused or failed.
pub(super) fn failure_outcome(e: &AuthError) -> &'static str {
    match e {
        AuthError::Unavailable(_) => "unavailable",
        AuthError::UsernameTaken => "username_taken",
        AuthError::Internal(_) => "error",
        _ => "refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_short_stable_and_keyed() {
        let one = NameDigests::new(&Secret::new("k".repeat(40)));
        let other = NameDigests::new(&Secret::new("j".repeat(40)));
        let digest = one.digest("hunter2-typed-as-a-name");
        assert_eq!(digest.len(), 12);
        assert_eq!(digest, one.digest("hunter2-typed-as-a-name"));
        assert_ne!(digest, one.digest("hunter3-typed-as-a-name"));
        assert_ne!(digest, other.digest("hunter2-typed-as-a-name"));
        assert!(!digest.contains("hunter"));
    }
}
