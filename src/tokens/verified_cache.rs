//! A bounded cache of verified tokens.
//!
//! Checking an ES256 signature costs ~100× an HS256 one here (RS256 and EdDSA less, but
//! still several times), which made `/protected` CPU-bound on signature checks. A token
//! verified once is remembered, keyed by the SHA-256 of its text (the cache never holds a
//! token), until its `exp`. What is *not* cached: the revocation check, which runs on every
//! request after this, so a revoked session is refused at once. The cache is cleared when
//! the key ring changes, so a removed key stops verifying at once too.

use std::sync::Arc;

use quick_cache::sync::Cache;
use sha2::{Digest, Sha256};

use super::AccessClaims;

/// The SHA-256 of a token's text: what the cache is keyed by (it never holds a token).
pub struct CacheKey([u8; 32]);

/// A verified token's claims, shared (a hit hands out the same claims without copying
/// them), and the last moment its signing key verifies anything.
#[derive(Clone)]
struct Entry {
    claims: Arc<AccessClaims>,
    key_verifies_until: Option<i64>,
}

pub struct VerifiedCache {
    entries: Cache<[u8; 32], Entry>,
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

    /// The claims of the token whose key this is, if it was verified before, has not
    /// expired since, and its signing key still verifies (a retired key's tokens stop at
    /// the end of its grace time, cached or not).
    pub fn get(&self, key: &CacheKey, now: i64, leeway_secs: i64) -> Option<Arc<AccessClaims>> {
        self.entries
            .get(&key.0)
            // Saturating: `exp` is the signer's to choose, and a validly signed token with
            // `exp` near i64::MAX must not overflow (a panic in debug builds).
            .filter(|entry| entry.claims.exp.saturating_add(leeway_secs) > now)
            .filter(|entry| entry.key_verifies_until.is_none_or(|until| until >= now))
            .map(|entry| entry.claims)
    }

    /// Remembers a verified token's claims; `key_verifies_until` is its key's
    /// `verifies_until` (`None`: no end).
    pub fn insert(
        &self,
        key: CacheKey,
        claims: Arc<AccessClaims>,
        key_verifies_until: Option<i64>,
    ) {
        let entry = Entry {
            claims,
            key_verifies_until,
        };
        self.entries.insert(key.0, entry);
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
        cache.insert(VerifiedCache::key("token-a"), Arc::new(claims(100)), None);
        assert_eq!(
            cache
                .get(&VerifiedCache::key("token-a"), 50, 0)
                .map(|c| c.sub.clone()),
            Some("alice".into())
        );
        assert!(
            cache.get(&VerifiedCache::key("token-a"), 100, 0).is_none(),
            "never past exp"
        );
        assert!(cache.get(&VerifiedCache::key("token-b"), 50, 0).is_none());
        for i in 0..100 {
            cache.insert(
                VerifiedCache::key(&format!("t{i}")),
                Arc::new(claims(100)),
                None,
            );
        }
        assert!(cache.entries.len() <= 2, "bounded");
        cache.clear();
        assert!(cache.get(&VerifiedCache::key("t99"), 50, 0).is_none());
    }

    #[test]
    fn an_exp_near_i64_max_does_not_overflow() {
        let cache = VerifiedCache::new(2);
        cache.insert(VerifiedCache::key("far"), Arc::new(claims(i64::MAX)), None);
        assert!(cache.get(&VerifiedCache::key("far"), 50, 5).is_some());
    }

    #[test]
    fn a_retired_keys_tokens_stop_at_its_end_cached_or_not() {
        let cache = VerifiedCache::new(2);
        cache.insert(VerifiedCache::key("old"), Arc::new(claims(1_000)), Some(60));
        assert!(cache.get(&VerifiedCache::key("old"), 60, 0).is_some());
        assert!(cache.get(&VerifiedCache::key("old"), 61, 0).is_none());
    }
}
