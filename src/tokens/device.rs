//! Device tokens: OWASP's "device cookie" (Slow Down Online Guessing Attacks with Device
//! Cookies), handed out after every successful login and presented with the next one.
//!
//! Layout (base64url, no padding) of the 57 bytes:
//! `version(1) ‖ nonce(16) ‖ expires at(8, Unix seconds, big-endian) ‖ MAC(32)`, where
//! `MAC = HMAC-SHA256(device key, "tessera device token" ‖ 0 ‖ canonical name ‖ 0 ‖
//! version ‖ nonce ‖ expires at)`.
//!
//! The token binds to the login name (its canonical form, so `Alice` and `alice` are one
//! name) without carrying it: a token shows nothing of whose it is. The key is a shared
//! secret every instance reads from the database (`service::shared_secrets`), so a token
//! from one instance is good on all. Nothing is stored per token at issue; the nonce's
//! SHA-256 names the token where its failed logins are counted (`domain::device_lockout`).
//!
//! A token that does not verify — malformed, for another name, expired, tampered, from
//! another deployment — is simply no device token: the login goes on as a normal one,
//! and the answer says nothing of why.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::secret::{Secret, random_bytes};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 16;
const BODY_LEN: usize = 1 + NONCE_LEN + 8;
const TOKEN_LEN: usize = BODY_LEN + 32;
/// Domain separation: this key signs nothing else, but the label keeps it that way.
const LABEL: &[u8] = b"tessera device token\0";

/// A device token that verified for a name: what its failed logins are counted under.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceId([u8; 32]);

impl DeviceId {
    /// SHA-256 of the token's nonce: the only thing about a token the database keeps.
    pub fn digest(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceId([redacted])")
    }
}

/// Issues and checks device tokens under one key.
pub struct DeviceTokens {
    key: Secret,
}

impl DeviceTokens {
    pub fn new(key: Secret) -> Self {
        Self { key }
    }

    fn mac(&self, canonical_name: &str, body: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        #[allow(clippy::expect_used)]
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.expose().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(LABEL);
        // Canonical names have no control characters: the 0 ends the name unambiguously.
        mac.update(canonical_name.as_bytes());
        mac.update(b"\0");
        mac.update(body);
        mac
    }

    /// A new token for `canonical_name`, good until `expires_at` (Unix seconds).
    pub fn issue(&self, canonical_name: &str, expires_at: i64) -> String {
        let mut bytes = Vec::with_capacity(TOKEN_LEN);
        bytes.push(VERSION);
        bytes.extend_from_slice(&random_bytes::<NONCE_LEN>());
        bytes.extend_from_slice(&expires_at.to_be_bytes());
        let tag = self.mac(canonical_name, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The token's id if `presented` is a token of this key for `canonical_name` that has
    /// not expired at `now`; `None` for anything else. The MAC is compared in constant time.
    pub fn verify(&self, presented: &str, canonical_name: &str, now: i64) -> Option<DeviceId> {
        // Base64url of 57 bytes is 76 characters: anything longer is not worth decoding.
        if presented.len() > 2 * TOKEN_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(presented.trim()).ok()?;
        if bytes.len() != TOKEN_LEN || bytes[0] != VERSION {
            return None;
        }
        let (body, tag) = bytes.split_at(BODY_LEN);
        self.mac(canonical_name, body).verify_slice(tag).ok()?;
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&body[1 + NONCE_LEN..]);
        if now >= i64::from_be_bytes(expires) {
            return None;
        }
        Some(DeviceId(Sha256::digest(&body[1..1 + NONCE_LEN]).into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(key: &str) -> DeviceTokens {
        DeviceTokens::new(Secret::new(key.into()))
    }

    #[test]
    fn a_token_verifies_for_its_name_until_it_expires() {
        let t = tokens("k".repeat(40).as_str());
        let token = t.issue("alice", 1000);
        assert!(t.verify(&token, "alice", 999).is_some());
        assert!(t.verify(&token, "alice", 1000).is_none(), "expired");
        assert!(t.verify(&token, "bob", 999).is_none(), "another name");
        assert!(
            tokens("other-key-other-key-other-key-other")
                .verify(&token, "alice", 999)
                .is_none(),
            "another key"
        );
    }

    #[test]
    fn tampered_or_malformed_tokens_do_not_verify() {
        let t = tokens("k".repeat(40).as_str());
        let token = t.issue("alice", 1000);
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap_or_default();
        // A later expiry (the tail of the expiry field) breaks the MAC.
        bytes[BODY_LEN - 1] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(&bytes);
        assert!(t.verify(&tampered, "alice", 999).is_none());
        for junk in ["", "x", "!!!!", &"A".repeat(500), &token[..token.len() - 1]] {
            assert!(t.verify(junk, "alice", 999).is_none(), "{junk:?}");
        }
    }

    #[test]
    fn each_token_has_its_own_id() {
        let t = tokens("k".repeat(40).as_str());
        let (a, b) = (t.issue("alice", 1000), t.issue("alice", 1000));
        assert_ne!(a, b);
        assert_ne!(t.verify(&a, "alice", 1), t.verify(&b, "alice", 1));
        assert_eq!(t.verify(&a, "alice", 1), t.verify(&a, "alice", 2));
    }
}
