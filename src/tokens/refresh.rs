//! Refresh tokens: opaque, rotated on every use, reproducible within the grace window.
//!
//! Layout (base64url, no padding) of the 89 bytes:
//! `version(1) ‖ session id(16) ‖ rotation counter(8, big-endian) ‖ nonce(32) ‖ MAC(32)`,
//! where `MAC = HMAC-SHA256(refresh key, version ‖ session id ‖ counter ‖ nonce)`.
//!
//! Why this design (the one Supabase Auth moved to) rather than a random string per
//! rotation: when two tabs refresh with the same token at once, the loser must get the
//! *same* successor as the winner, yet the database may keep only digests. Here the
//! successor is a pure function of what the loser presents plus the server key, so
//! nothing reversible is stored and any instance can rebuild it from the database's
//! counter. The nonce is 32 random bytes fixed per session and stored only as its
//! SHA-256 digest; the key lives outside the database. A stolen database alone cannot
//! mint a token (no nonce), a stolen key alone cannot either (no nonce), and a stolen
//! token cannot be advanced without the key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use std::sync::{Arc, RwLock};

use crate::secret::{Secret, random_bytes};

const VERSION: u8 = 1;
const SID_LEN: usize = 16;
const NONCE_LEN: usize = 32;
const MAC_LEN: usize = 32;
const BODY_LEN: usize = 1 + SID_LEN + 8 + NONCE_LEN;
const TOKEN_LEN: usize = BODY_LEN + MAC_LEN;

/// A refresh token whose MAC has been checked.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub session_id: String,
    pub counter: u64,
    nonce: [u8; NONCE_LEN],
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshToken")
            .field("session_id", &self.session_id)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("refresh token is invalid")]
pub struct RefreshTokenError;

/// Encodes refresh tokens with the newest key and accepts those of every key still held
/// (earlier generations keep working until their sessions have rotated or expired).
pub struct RefreshTokens {
    /// Swapped whole when a rotation is loaded.
    keys: RwLock<Arc<KeySet>>,
}

struct KeySet {
    current: Secret,
    /// Newest first.
    previous: Vec<Secret>,
}

impl RefreshToken {
    /// The first token of a new session: a fresh random session id and nonce.
    pub fn new_session() -> Self {
        Self {
            session_id: URL_SAFE_NO_PAD.encode(random_bytes::<SID_LEN>()),
            counter: 0,
            nonce: random_bytes(),
        }
    }

    /// The token that replaces this one after a rotation.
    #[cfg(test)]
    pub fn successor(&self) -> Self {
        Self {
            counter: self.counter + 1,
            ..self.clone()
        }
    }

    /// The same session's token at rotation `counter`.
    pub fn at_counter(&self, counter: u64) -> Self {
        Self {
            counter,
            ..self.clone()
        }
    }

    /// SHA-256 of the nonce: the only part of the token the database keeps.
    pub fn nonce_digest(&self) -> Vec<u8> {
        Sha256::digest(self.nonce).to_vec()
    }
}

impl RefreshTokens {
    /// `current` signs; `previous` (newest first) still verify.
    pub fn new(current: Secret, previous: Vec<Secret>) -> Self {
        Self {
            keys: RwLock::new(Arc::new(KeySet { current, previous })),
        }
    }

    /// Takes a rotation in: `current` signs from now on.
    pub fn replace(&self, current: Secret, previous: Vec<Secret>) {
        let keys = Arc::new(KeySet { current, previous });
        if let Ok(mut held) = self.keys.write() {
            *held = keys;
        }
    }

    fn keys(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            // A panic while swapping keys left the old list, which is still whole.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn mac(key: &Secret) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        #[allow(clippy::expect_used)]
        <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose().as_bytes())
            .expect("HMAC takes any key length")
    }

    pub fn encode(&self, token: &RefreshToken) -> String {
        let mut bytes = Vec::with_capacity(TOKEN_LEN);
        bytes.push(VERSION);
        // The session id is our own base64url of 16 bytes; decoding it back cannot fail.
        let sid = URL_SAFE_NO_PAD
            .decode(&token.session_id)
            .unwrap_or_default();
        bytes.extend_from_slice(&sid);
        bytes.extend_from_slice(&token.counter.to_be_bytes());
        bytes.extend_from_slice(&token.nonce);
        let mut mac = Self::mac(&self.keys().current);
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes a presented token and checks its MAC in constant time.
    pub fn parse(&self, presented: &str) -> Result<RefreshToken, RefreshTokenError> {
        if presented.len() > 4 * TOKEN_LEN {
            return Err(RefreshTokenError);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(presented.trim())
            .map_err(|_| RefreshTokenError)?;
        if bytes.len() != TOKEN_LEN || bytes[0] != VERSION {
            return Err(RefreshTokenError);
        }
        let (body, tag) = bytes.split_at(BODY_LEN);
        // Every held key is tried (each comparison in constant time), newest first.
        let keys = self.keys();
        let verified = std::iter::once(&keys.current)
            .chain(&keys.previous)
            .any(|key| {
                let mut mac = Self::mac(key);
                mac.update(body);
                mac.verify_slice(tag).is_ok()
            });
        if !verified {
            return Err(RefreshTokenError);
        }
        let sid = &body[1..1 + SID_LEN];
        let mut counter = [0u8; 8];
        counter.copy_from_slice(&body[1 + SID_LEN..1 + SID_LEN + 8]);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&body[1 + SID_LEN + 8..]);
        Ok(RefreshToken {
            session_id: URL_SAFE_NO_PAD.encode(sid),
            counter: u64::from_be_bytes(counter),
            nonce,
        })
    }
}

/// Which CSRF value of a session: the one carried in its access tokens, or the one bound
/// to its refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfPurpose {
    /// `csrf_access_token`: the `csrf` claim of the session's access tokens.
    Access,
    /// `csrf_refresh_token`: presented with the refresh-token cookie.
    Refresh,
}

/// Bytes of HMAC output in a CSRF value (128 bits; 22 characters of base64url).
const CSRF_LEN: usize = 16;

impl RefreshTokens {
    /// The session's CSRF value for `purpose`. One value per session, not per rotation:
    /// two tabs refreshing at once would otherwise race for the cookie, and the loser's
    /// next write would fail. Derived, not stored, under the refresh key (which never
    /// leaves the server), with a label no refresh-token MAC input can collide with.
    pub fn csrf_value(&self, purpose: CsrfPurpose, session_id: &str) -> String {
        Self::csrf_with(&self.keys().current, purpose, session_id)
    }

    /// Whether `presented` is the session's CSRF value under any held key (so a key
    /// rotation does not fail the browsers holding values of the previous key). Constant
    /// time per key.
    pub fn csrf_matches(&self, purpose: CsrfPurpose, session_id: &str, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        let keys = self.keys();
        std::iter::once(&keys.current)
            .chain(&keys.previous)
            .fold(false, |found, key| {
                let expected = Self::csrf_with(key, purpose, session_id);
                found | bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
            })
    }

    fn csrf_with(key: &Secret, purpose: CsrfPurpose, session_id: &str) -> String {
        let mut mac = Self::mac(key);
        mac.update(match purpose {
            CsrfPurpose::Access => b"tessera csrf access\0",
            CsrfPurpose::Refresh => b"tessera csrf refresh\0",
        });
        mac.update(session_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&digest[..CSRF_LEN])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> RefreshTokens {
        RefreshTokens::new(
            Secret::new("refresh-key-for-tests-0123456789".into()),
            Vec::new(),
        )
    }

    #[test]
    fn a_token_round_trips_and_its_successor_is_reproducible() -> Result<(), RefreshTokenError> {
        let t = tokens();
        let first = RefreshToken::new_session();
        let encoded = t.encode(&first);
        assert!(encoded.len() >= 43, "at least 32 bytes of base64url");
        let parsed = t.parse(&encoded)?;
        assert_eq!(parsed, first);
        assert_eq!(t.encode(&parsed.successor()), t.encode(&first.successor()));
        assert_ne!(t.encode(&first.successor()), encoded);
        Ok(())
    }

    #[test]
    fn csrf_values_are_per_session_and_purpose_and_survive_a_key_rotation() {
        let t = tokens();
        let (a, b) = ("session-a", "session-b");
        let access = t.csrf_value(CsrfPurpose::Access, a);
        assert_eq!(access.len(), 22);
        assert_eq!(access, t.csrf_value(CsrfPurpose::Access, a));
        assert_ne!(access, t.csrf_value(CsrfPurpose::Refresh, a));
        assert_ne!(access, t.csrf_value(CsrfPurpose::Access, b));
        assert!(t.csrf_matches(CsrfPurpose::Access, a, &access));
        assert!(!t.csrf_matches(CsrfPurpose::Access, b, &access));
        assert!(!t.csrf_matches(CsrfPurpose::Refresh, a, &access));
        assert!(!t.csrf_matches(CsrfPurpose::Access, a, ""));
        let old_key = Secret::new("refresh-key-for-tests-0123456789".into());
        t.replace(
            Secret::new("a-newer-refresh-key-0123456789ab".into()),
            vec![old_key],
        );
        assert!(t.csrf_matches(CsrfPurpose::Access, a, &access));
        assert_ne!(t.csrf_value(CsrfPurpose::Access, a), access);
    }

    #[test]
    fn tampering_or_another_key_is_refused() {
        let t = tokens();
        let encoded = t.encode(&RefreshToken::new_session());
        let mut bytes = URL_SAFE_NO_PAD.decode(&encoded).unwrap_or_default();
        bytes[20] ^= 1;
        assert_eq!(
            t.parse(&URL_SAFE_NO_PAD.encode(&bytes)),
            Err(RefreshTokenError)
        );
        let other = RefreshTokens::new(
            Secret::new("another-key-another-key-another".into()),
            Vec::new(),
        );
        assert_eq!(other.parse(&encoded), Err(RefreshTokenError));
        assert_eq!(
            t.parse("eyJhbGciOiJIUzI1NiJ9.e30.sig"),
            Err(RefreshTokenError)
        );
    }

    #[test]
    fn after_a_rotation_new_tokens_use_the_new_key_and_old_ones_still_verify()
    -> Result<(), RefreshTokenError> {
        let t = tokens();
        let old = t.encode(&RefreshToken::new_session());
        let new_key = Secret::new("the-next-refresh-key-0123456789ab".into());
        let old_key = Secret::new("refresh-key-for-tests-0123456789".into());
        t.replace(new_key.clone(), vec![old_key]);
        let parsed = t.parse(&old)?;
        let successor = t.encode(&parsed.successor());
        // Only the new key makes the successor: without the old key it still verifies.
        let new_only = RefreshTokens::new(new_key, Vec::new());
        assert!(new_only.parse(&successor).is_ok());
        assert_eq!(new_only.parse(&old), Err(RefreshTokenError));
        Ok(())
    }
}
