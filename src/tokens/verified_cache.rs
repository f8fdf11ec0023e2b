//! A bounded cache of verified tokens.
//!
//! Checking an ES256 signature costs ~100× an HS256 one here (RS256 and EdDSA less, but
//! still several times), which made `/protected` CPU-bound on signature checks. A token
//! verified once is remembered, keyed by the SHA-256 of its text (the cache never holds a
//! token), until its `exp`. What is *not* cached: the revocation check, which runs on every
//! request after this, so a revoked session is refused at once. The cache is cleared when
//! the key ring changes, so a removed key stops verifying at once too.

use quick_cache::sync::Cache;
use sha2::{Digest, Sha256};

use super::AccessClaims;

/// The SHA-256 of a token's text: what the cache is keyed by (it never holds a token).
pub struct CacheKey([u8; 32]);

pub struct VerifiedCache {
    entries: Cache<[u8; 32], AccessClaims>,
}

impl VerifiedCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Cache::new(capacity.max(1)),
        }
    }

    /// The cache key of `token`: computed once per check and used for both the lookup and,
    /// on a miss, the insert (hashing a token costs as much as checking its HS256 MAC).
    pub fn key(token: &str) -> CacheKey {
        CacheKey(Sha256::digest(token.as_bytes()).into())
    }

    /// The claims of the token whose key this is, if it was verified before and has not
    /// expired since.
    pub fn get(&self, key: &CacheKey, now: i64, leeway_secs: i64) -> Option<AccessClaims> {
        self.entries
            .get(&key.0)
            // Saturating: `exp` is the signer's to choose, and a validly signed token with
            // `exp` near i64::MAX must not overflow (a panic in debug builds).
            .filter(|claims| claims.exp.saturating_add(leeway_secs) > now)
    }

    pub fn insert(&self, key: CacheKey, claims: &AccessClaims) {
        self.entries.insert(key.0, claims.clone());
    }

    pub fn clear(&self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            fresh: serde_json::Value::Bool(true),
            iat: 0,
            jti: "j".into(),
            token_type: "access".into(),
            sub: "alice".into(),
            nbf: 0,
            exp,
            iss: None,
            sid: Some("s".into()),
            uid: Some(1),
            aud: None,
            csrf: None,
            amr: None,
            aal: None,
        }
    }

    #[test]
    fn entries_are_found_until_they_expire_and_are_bounded() {
        let cache = VerifiedCache::new(2);
        cache.insert(VerifiedCache::key("token-a"), &claims(100));
        assert_eq!(
            cache
                .get(&VerifiedCache::key("token-a"), 50, 0)
                .map(|c| c.sub),
            Some("alice".into())
        );
        assert!(
            cache.get(&VerifiedCache::key("token-a"), 100, 0).is_none(),
            "never past exp"
        );
        assert!(cache.get(&VerifiedCache::key("token-b"), 50, 0).is_none());
        for i in 0..100 {
            cache.insert(VerifiedCache::key(&format!("t{i}")), &claims(100));
        }
        assert!(cache.entries.len() <= 2, "bounded");
        cache.clear();
        assert!(cache.get(&VerifiedCache::key("t99"), 50, 0).is_none());
    }

    #[test]
    fn an_exp_near_i64_max_does_not_overflow() {
        let cache = VerifiedCache::new(2);
        cache.insert(VerifiedCache::key("far"), &claims(i64::MAX));
        assert!(cache.get(&VerifiedCache::key("far"), 50, 5).is_some());
    }
}
