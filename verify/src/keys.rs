//! The JWK Set cache: keys by `kid`, each with the one algorithm it may verify (no
//! `alg: none`, no HS/RS confusion: an HMAC key never comes from a key set).
//!
//! Fetched at build, refreshed in the background before its `Cache-Control: max-age`
//! runs out, refetched early when an unknown `kid` arrives, but at most once per
//! `unknown_kid_interval` (a flood of made-up `kid`s costs tessera one request per
//! interval). While tessera is unreachable the last good set keeps verifying, until it is
//! older than `max_stale`; then every token is refused (fail closed).

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};

/// One verification key and its pinned algorithm.
#[derive(Clone)]
pub(crate) struct PinnedKey {
    pub key: DecodingKey,
    pub alg: Algorithm,
}

/// The algorithm a public JWK verifies: its `alg` when given, otherwise what its type
/// implies. `None` for key types tessera never publishes.
fn pinned_alg(jwk: &serde_json::Value) -> Option<Algorithm> {
    let field = |name: &str| jwk.get(name).and_then(|v| v.as_str());
    let implied = match (field("kty")?, field("crv")) {
        ("OKP", Some("Ed25519")) => Algorithm::EdDSA,
        ("EC", Some("P-256")) => Algorithm::ES256,
        ("RSA", _) => Algorithm::RS256,
        _ => return None,
    };
    match field("alg") {
        None => Some(implied),
        Some(alg) => {
            let alg: Algorithm = alg.parse().ok()?;
            (alg == implied).then_some(alg)
        }
    }
}

/// Parses a JWK Set; keys without `kid` or of other types are skipped.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<HashMap<String, PinnedKey>, String> {
    let set: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("JWKS is not JSON: {e}"))?;
    let keys = set
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("JWKS has no keys array")?;
    let mut out = HashMap::new();
    for value in keys {
        let Some(kid) = value.get("kid").and_then(|v| v.as_str()) else {
            continue;
        };
        let Some(alg) = pinned_alg(value) else {
            continue;
        };
        let Ok(jwk) = serde_json::from_value::<Jwk>(value.clone()) else {
            continue;
        };
        if let Ok(key) = DecodingKey::from_jwk(&jwk) {
            out.insert(kid.to_owned(), PinnedKey { key, alg });
        }
    }
    Ok(out)
}

/// `max-age` from a `Cache-Control` value.
pub(crate) fn max_age(cache_control: Option<&str>) -> Option<Duration> {
    cache_control?.split(',').find_map(|part| {
        let (name, value) = part.trim().split_once('=')?;
        if name.trim().eq_ignore_ascii_case("max-age") {
            value
                .trim()
                .trim_matches('"')
                .parse()
                .ok()
                .map(Duration::from_secs)
        } else {
            None
        }
    })
}

pub(crate) struct KeySet {
    pub keys: HashMap<String, PinnedKey>,
    /// When this set was fetched.
    pub fetched_at: Instant,
    /// How long tessera said it may be cached.
    pub max_age: Duration,
}

pub(crate) struct JwksCache {
    pub url: String,
    pub set: RwLock<KeySet>,
    /// When an unknown `kid` last caused a fetch.
    pub last_unknown_kid_fetch: Mutex<Option<Instant>>,
    /// Serialises fetches (background and unknown-kid ones).
    pub fetching: tokio::sync::Mutex<()>,
}

impl JwksCache {
    pub fn lookup(&self, kid: &str) -> Option<PinnedKey> {
        self.set.read().ok()?.keys.get(kid).cloned()
    }

    /// How old the last good set is.
    pub fn age(&self) -> Duration {
        self.set
            .read()
            .map(|s| s.fetched_at.elapsed())
            .unwrap_or(Duration::MAX)
    }

    /// When the background refresh should fetch next: at 80% of the set's lifetime.
    pub fn refresh_in(&self) -> Duration {
        self.set
            .read()
            .map(|s| (s.max_age.mul_f64(0.8)).saturating_sub(s.fetched_at.elapsed()))
            .unwrap_or_default()
    }

    /// Whether an unknown `kid` may fetch now (and records that it does).
    pub fn may_fetch_for_unknown_kid(&self, interval: Duration) -> bool {
        let Ok(mut last) = self.last_unknown_kid_fetch.lock() else {
            return false;
        };
        match *last {
            Some(at) if at.elapsed() < interval => false,
            _ => {
                *last = Some(Instant::now());
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_algorithm_is_pinned_by_key_type_and_a_contradicting_alg_drops_the_key() {
        let ok = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "a"});
        assert_eq!(pinned_alg(&ok), Some(Algorithm::EdDSA));
        let rsa_as_hs = serde_json::json!({"kty": "RSA", "alg": "HS256", "n": "AA", "e": "AQAB"});
        assert_eq!(pinned_alg(&rsa_as_hs), None);
        let oct = serde_json::json!({"kty": "oct", "k": "AA", "alg": "HS256"});
        assert_eq!(pinned_alg(&oct), None);
        let ec = serde_json::json!({"kty": "EC", "crv": "P-256", "alg": "ES256"});
        assert_eq!(pinned_alg(&ec), Some(Algorithm::ES256));
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age(Some("public, max-age=300")),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age(Some("no-store")), None);
        assert_eq!(max_age(None), None);
    }

    #[test]
    fn a_jwks_with_foreign_keys_keeps_only_the_usable_ones() {
        let body = br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"},{"kty":"EC","crv":"P-256","kid":"e","x":"WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis","y":"y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE"}]}"#;
        let keys = parse_jwks(body).unwrap_or_default();
        assert_eq!(keys.len(), 1);
        assert!(keys.contains_key("e"));
        assert!(parse_jwks(b"[]").is_err());
    }
}
