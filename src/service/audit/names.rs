//! Submitted names in the audit log.
//!
//! A failed login names the account only when one exists under the submitted name. What
//! people type into the name field is sometimes their password, so a name that belongs to
//! nobody is logged as a short keyed digest instead: equal for equal names (attempts on
//! one name can be followed), useless for reading back what was typed. The key is derived
//! from the HS256 secret (which every instance of a deployment shares, and which changes
//! only in a coordinated restart), so all instances log the same digests.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secret::Secret;

/// Keyed digests of submitted names for the audit log.
pub(in crate::service) struct NameDigests {
    key: [u8; 32],
}

impl NameDigests {
    /// Derives the digest key from a server secret (with a label of its own, so the digest
    /// reveals nothing about the secret's other uses).
    pub(in crate::service) fn new(secret: &Secret) -> Self {
        Self {
            key: hmac_sha256(secret.expose().as_bytes(), b"tessera audit name digest v1"),
        }
    }

    /// 48 bits of HMAC-SHA256 in hex: enough to tell names apart in a log, too short to
    /// serve as a dictionary for the names (or passwords) behind them.
    pub(in crate::service) fn digest(&self, name: &str) -> String {
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
