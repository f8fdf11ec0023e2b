//! Access tokens: JWTs whose claims follow Flask-JWT-Extended (`fresh`, `iat`,
//! `jti`, `type`, `sub`, `nbf`, `exp`) plus `iss` and `sid`, so a Flask app holding
//! the same secret accepts them, and tessera accepts the Flask app's.
//!
//! Tokens are signed by the key ring's current key (HS256 by default, or EdDSA/ES256/PS256/RS256)
//! and carry its `kid`. Verification picks the key by `kid` and pins that key's algorithm:
//! a token that names any other algorithm (`none`, or HS256 to smuggle a public key in as
//! an HMAC secret) is refused before its signature is looked at.

use std::sync::{Arc, RwLock};

use jsonwebtoken::Header;
use serde::{Deserialize, Serialize};

use super::jws;
use super::keyring::{KeyAlg, KeyRing, RingKey};
use super::verified_cache::VerifiedCache;
use crate::domain::Assurance;

/// The claims of an access token, in Flask-JWT-Extended's layout plus `sid` and `iss`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// `true` right after a password check; a token from a refresh is not fresh.
    /// Flask-JWT-Extended also writes a timestamp here, so any JSON value is accepted.
    #[serde(default)]
    pub fresh: serde_json::Value,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// The token's unique id.
    #[serde(default)]
    pub jti: String,
    /// `access` (a refresh JWT is refused).
    #[serde(rename = "type")]
    pub token_type: String,
    /// The username, as the seed's `create_access_token(identity=username)` puts it.
    pub sub: String,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The issuer, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The session the token belongs to; absent on tokens minted by Flask-JWT-Extended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The account's id: unlike `sub` (a name, which can pass to someone else after the
    /// account is deleted), an id is never given to another account. Absent on tokens
    /// minted by Flask-JWT-Extended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<i64>,
    /// The services the token is meant for, when `audience` is configured (RFC 7519: one
    /// string or a list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// The session's CSRF value, on tokens handed out in a cookie: a cookie-authenticated
    /// write must repeat it in `X-CSRF-TOKEN` (Flask-JWT-Extended's signed double submit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
    /// How the session's login authenticated (`["pwd"]`, `["pwd", "otp"]`,
    /// `["pwd", "recovery"]`; RFC 8176 values, Supabase Auth's claim names). Absent on
    /// tokens minted by Flask-JWT-Extended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// `aal1` (a password) or `aal2` (a password and a second factor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aal: Option<String>,
}

/// The `aud` claim: one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `name` is one of the audiences.
    pub fn contains(&self, name: &str) -> bool {
        match self {
            Audience::One(one) => one == name,
            Audience::Many(many) => many.iter().any(|a| a == name),
        }
    }

    /// The claim for the configured audiences (`None` when none are configured).
    fn for_config(audiences: &[String]) -> Option<Self> {
        match audiences {
            [] => None,
            [one] => Some(Audience::One(one.clone())),
            many => Some(Audience::Many(many.to_vec())),
        }
    }
}

/// Why a presented access token was refused. Each maps to its own API error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, `alg: none`, or a claim missing or of the wrong type.
    #[error("Token is malformed")]
    Malformed,
    /// The signature does not verify with the key its `kid` names.
    #[error("Token signature is invalid")]
    BadSignature,
    /// Past `exp` (beyond the leeway).
    #[error("Token has expired")]
    Expired,
    /// Before `nbf` (beyond the leeway).
    #[error("Token is not valid yet")]
    NotYetValid,
    /// Not an access token.
    #[error("Token is not an access token")]
    WrongType,
    /// `iss` is not the configured issuer.
    #[error("Token was issued by another issuer")]
    WrongIssuer,
    /// No `aud` naming one of the configured audiences.
    #[error("Token is not meant for this service")]
    WrongAudience,
    /// Its session has ended.
    #[error("Token has been revoked")]
    Revoked,
    /// An algorithm tessera never accepts.
    #[error("Token algorithm is not accepted")]
    UnsupportedAlgorithm,
    /// An algorithm other than the one pinned to its key.
    #[error("Token algorithm does not match its key")]
    AlgorithmMismatch,
    /// A `kid` the key ring does not hold.
    #[error("Token names an unknown key")]
    UnknownKey,
    /// Its key was retired long enough ago that none of its tokens can still be valid.
    #[error("Token was signed by a retired key")]
    KeyRetired,
    /// No `kid`, where tokens without one are not accepted.
    #[error("Token has no key id")]
    MissingKeyId,
}

impl TokenError {
    /// Stable machine-readable code (the API's `error` field, the audit log's `reason`).
    pub fn code(self) -> &'static str {
        match self {
            TokenError::Malformed => "invalid_token",
            TokenError::BadSignature => "invalid_signature",
            TokenError::Expired => "token_expired",
            TokenError::NotYetValid => "token_not_yet_valid",
            TokenError::WrongType => "wrong_token_type",
            TokenError::WrongIssuer => "invalid_issuer",
            TokenError::WrongAudience => "invalid_audience",
            TokenError::Revoked => "token_revoked",
            TokenError::UnsupportedAlgorithm => "unsupported_algorithm",
            TokenError::AlgorithmMismatch => "algorithm_mismatch",
            TokenError::UnknownKey => "unknown_key_id",
            TokenError::KeyRetired => "key_retired",
            TokenError::MissingKeyId => "missing_key_id",
        }
    }
}

/// What a valid access token says about its bearer (shared with the verified-token cache:
/// a token seen before costs no copy of its claims).
#[derive(Debug, Clone)]
pub struct VerifiedAccess {
    pub claims: Arc<AccessClaims>,
}

pub struct IssuedAccessToken {
    pub token: String,
    pub expires_in: i64,
}

/// How the bearer authenticated, as each access token of a session says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginProof {
    /// Straight from a login (`fresh`), not a refresh.
    pub fresh: bool,
    /// What the session's login proved (`amr`, `aal`).
    pub assurance: Assurance,
}

/// Mints and verifies access tokens with the key ring.
pub struct AccessTokens {
    ring: RwLock<Arc<KeyRing>>,
    issuer: String,
    /// The configured audiences; empty = no `aud` is issued or required.
    audiences: Vec<String>,
    ttl_secs: i64,
    leeway_secs: i64,
    /// Tokens verified before (see `verified_cache`).
    verified: VerifiedCache,
}

/// At most this many verified tokens are remembered (a few MiB at most).
const VERIFIED_CACHE_ENTRIES: usize = 10_000;

/// The `kid` a token's header names, read without checking anything (for the audit log).
pub fn unverified_kid(token: &str) -> Option<String> {
    jws::split(token)
        .and_then(|jws| jws.header())
        .ok()
        .and_then(|header| header.kid)
}

impl jws::Times for AccessClaims {
    fn exp_nbf(&self) -> (i64, i64) {
        (self.exp, self.nbf)
    }
}

impl AccessTokens {
    pub fn new(
        ring: KeyRing,
        issuer: String,
        audiences: Vec<String>,
        ttl_secs: u64,
        leeway_secs: u64,
    ) -> Self {
        Self {
            ring: RwLock::new(Arc::new(ring)),
            issuer,
            audiences,
            ttl_secs: ttl_secs as i64,
            leeway_secs: leeway_secs as i64,
            verified: VerifiedCache::new(VERIFIED_CACHE_ENTRIES),
        }
    }

    /// The ring in use now (cheap: one `Arc` clone).
    pub fn ring(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(ring) => ring.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in a reloaded ring; tokens in flight finish with the one they started with.
    pub fn replace_ring(&self, ring: KeyRing) {
        let ring = Arc::new(ring);
        let previous = match self.ring.write() {
            Ok(mut slot) => std::mem::replace(&mut *slot, ring.clone()),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), ring.clone()),
        };
        // A key that left the ring must stop verifying at once, cached tokens included.
        // The periodic reload (every `key_reload_ms`) mostly finds the same ring: emptying
        // the cache then would make every token miss after each reload.
        if !previous.verifies_like(&ring) {
            self.verified.clear();
        }
    }

    /// A new access token for account `uid` named `username`, tied to session `sid`,
    /// signed by the ring's current key and naming it in `kid`.
    pub fn issue(
        &self,
        uid: i64,
        username: &str,
        sid: &str,
        proof: LoginProof,
        csrf: Option<String>,
        now: i64,
    ) -> anyhow::Result<IssuedAccessToken> {
        let claims = AccessClaims {
            fresh: serde_json::Value::Bool(proof.fresh),
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            token_type: "access".into(),
            sub: username.to_owned(),
            nbf: now,
            exp: now + self.ttl_secs,
            iss: Some(self.issuer.clone()),
            sid: Some(sid.to_owned()),
            uid: Some(uid),
            aud: Audience::for_config(&self.audiences),
            csrf,
            amr: Some(
                proof
                    .assurance
                    .amr()
                    .iter()
                    .map(|m| (*m).to_owned())
                    .collect(),
            ),
            aal: Some(proof.assurance.aal().to_owned()),
        };
        let ring = self.ring();
        let key = ring
            .signer(now)
            .ok_or_else(|| anyhow::anyhow!("the key ring has no signing key"))?;
        let encoding = KeyRing::signing_key(key)
            .ok_or_else(|| anyhow::anyhow!("the signing key has no private part"))?;
        let mut header = Header::new(key.alg.algorithm());
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, encoding)?;
        Ok(IssuedAccessToken {
            token,
            expires_in: self.ttl_secs,
        })
    }

    /// Checks key, algorithm, signature, times, type and issuer. Revocation is checked by
    /// the caller.
    pub fn verify(&self, token: &str, now: i64) -> Result<VerifiedAccess, TokenError> {
        // A token verified before is answered from the cache before anything is parsed:
        // only tokens that passed every check below are in it, each until its `exp` and its
        // key's end (the cache is emptied when the key ring changes). One digest instead
        // of base64, two JSON parses and a signature check.
        let cache_key = VerifiedCache::key(token);
        if let Some(claims) = self.verified.get(&cache_key, now, self.leeway_secs) {
            return Ok(VerifiedAccess { claims });
        }
        let jws = jws::split(token)?;
        let ring = self.ring();
        // The claims, and the last moment the key that verified them verifies anything.
        let (claims, key_verifies_until) = match ring.signed_with_header(jws.header_part) {
            // Byte for byte the header tessera writes for this key: it names this key and
            // its algorithm and nothing else, so there is nothing to decode or parse.
            Some(key) => self.with_key(&jws, key, &ring, now)?,
            None => self.with_header(&jws, &ring, now)?,
        };
        let verified = self.check_claims(claims, now)?;
        // Cached under the digest computed for the lookup above, until the token's `exp`
        // and its key's end (kid or not: a ring that changes empties the cache).
        self.verified
            .insert(cache_key, verified.claims.clone(), key_verifies_until);
        Ok(verified)
    }

    /// The checks beyond signature and times that jsonwebtoken does not do.
    fn check_claims(&self, claims: AccessClaims, now: i64) -> Result<VerifiedAccess, TokenError> {
        if claims.token_type != "access" {
            return Err(TokenError::WrongType);
        }
        if claims.iat > now + self.leeway_secs {
            return Err(TokenError::NotYetValid);
        }
        // Tokens without `iss` (Flask-JWT-Extended's) are accepted; a different issuer is not.
        if claims.iss.as_deref().is_some_and(|iss| iss != self.issuer) {
            return Err(TokenError::WrongIssuer);
        }
        // With audiences configured, a token for some other service (or for none, such as
        // a Flask-minted one) is refused: RFC 7519 §4.1.3.
        if !self.audiences.is_empty()
            && !claims
                .aud
                .as_ref()
                .is_some_and(|aud| self.audiences.iter().any(|a| aud.contains(a)))
        {
            return Err(TokenError::WrongAudience);
        }
        Ok(VerifiedAccess {
            claims: Arc::new(claims),
        })
    }

    /// Verification with the header parsed: its `alg` must be one tessera signs with, and
    /// its `kid` a key of the ring, whose algorithm it must be; without a `kid`, only the
    /// HS256 secrets are tried, and only while the compatibility setting is on.
    fn with_header(
        &self,
        jws: &jws::Jws<'_>,
        ring: &KeyRing,
        now: i64,
    ) -> Result<(AccessClaims, Option<i64>), TokenError> {
        let header = jws.header()?;
        // Only the five algorithms tessera signs with exist here: `none`, HS512, PS384…
        // are refused before anything else is looked at.
        let alg = KeyAlg::from_jws_name(&header.alg).ok_or(TokenError::UnsupportedAlgorithm)?;
        match header.kid.as_deref() {
            Some(kid) => {
                let key = ring.find(kid).ok_or(TokenError::UnknownKey)?;
                // Pin the algorithm to the key's own: an HS256 token "signed" with an
                // EdDSA/RSA public key (the classic confusion) names the wrong algorithm
                // for that kid and is refused here.
                if key.alg != alg {
                    return Err(TokenError::AlgorithmMismatch);
                }
                self.with_key(jws, key, ring, now)
            }
            None => {
                // Flask-JWT-Extended's tokens have no kid; only the HS256 secrets may
                // check them, and only while the compatibility setting is on.
                if !ring.accept_without_kid {
                    return Err(TokenError::MissingKeyId);
                }
                if alg != KeyAlg::Hs256 {
                    return Err(TokenError::AlgorithmMismatch);
                }
                // A secret retired by an asymmetric signer checks nothing after its last
                // token expired, kid or no kid.
                let mut outcome = Err(TokenError::KeyRetired);
                for key in ring
                    .hs256_keys()
                    .filter(|k| k.still_verifies(now, ring.lifetime()))
                {
                    outcome = self.with_key(jws, key, ring, now);
                    if !matches!(outcome, Err(TokenError::BadSignature)) {
                        break;
                    }
                }
                outcome
            }
        }
    }

    /// Verification with `key`, whose algorithm the token names: the key must still
    /// verify, then the signature, times and claims are checked.
    fn with_key(
        &self,
        jws: &jws::Jws<'_>,
        key: &RingKey,
        ring: &KeyRing,
        now: i64,
    ) -> Result<(AccessClaims, Option<i64>), TokenError> {
        if !key.still_verifies(now, ring.lifetime()) {
            return Err(TokenError::KeyRetired);
        }
        let claims = jws.verified_claims(key, now, self.leeway_secs)?;
        Ok((claims, key.verifies_until(ring.lifetime())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::secret::Secret;
    use crate::tokens::keyring::{KeySource, RingKey};

    fn tokens() -> AccessTokens {
        let key = RingKey::hs256(&Secret::new("k".repeat(40)), KeySource::Secret)
            .unwrap_or_else(|e| panic!("{e}"));
        AccessTokens::new(
            KeyRing::new(vec![key], None, 900, false),
            "tessera".into(),
            Vec::new(),
            900,
            0,
        )
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() -> anyhow::Result<()> {
        let t = tokens();
        let now = super::super::now_unix();
        let proof = LoginProof {
            fresh: true,
            assurance: Assurance::PasswordAndTotp,
        };
        let issued = t.issue(7, "Alice", "sid-1", proof, None, now)?;
        let v = t.verify(&issued.token, now)?;
        assert_eq!(v.claims.sub, "Alice");
        assert_eq!(v.claims.sid.as_deref(), Some("sid-1"));
        assert_eq!(v.claims.uid, Some(7));
        assert_eq!(v.claims.aud, None);
        assert_eq!(v.claims.exp - v.claims.iat, 900);
        assert_eq!(v.claims.amr, Some(vec!["pwd".to_owned(), "otp".to_owned()]));
        assert_eq!(v.claims.aal.as_deref(), Some("aal2"));
        Ok(())
    }

    /// The header recognised by its text (no decoding) is exactly what signing writes,
    /// for every algorithm; a header that says the same in other bytes is not recognised
    /// and goes the parsing way, where an HS256 token signed over it verifies alike; a
    /// forged signature fails behind tessera's own header, and a signature made over
    /// tessera's header fails behind another.
    #[test]
    fn the_header_signing_writes_is_recognised_and_other_spellings_still_parse()
    -> anyhow::Result<()> {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let now = super::super::now_unix();
        let proof = LoginProof {
            fresh: false,
            assurance: Assurance::Password,
        };
        for alg in [KeyAlg::Hs256, KeyAlg::EdDsa, KeyAlg::Es256] {
            let key = match alg {
                KeyAlg::Hs256 => RingKey::hs256(&Secret::new("s".repeat(40)), KeySource::Secret)?,
                _ => RingKey::asymmetric(
                    format!("k-{}", alg.jws_name()),
                    alg,
                    &super::super::keygen::generate(alg)?,
                    KeySource::Database,
                    (0, 0, None),
                )?,
            };
            let ring = KeyRing::new(vec![key], Some(false), 900, false);
            let t = AccessTokens::new(ring, "tessera".into(), Vec::new(), 900, 0);
            let token = t.issue(7, "Alice", "sid-1", proof, None, now)?.token;
            let (header, rest) = token.split_once('.').unwrap_or_default();
            assert!(t.ring().signed_with_header(header).is_some(), "{alg:?}");
            assert_eq!(t.verify(&token, now)?.claims.sub, "Alice");

            // The same header with its members in another order: not recognised, parsed.
            let json: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header)?)?;
            let reordered = format!(r#"{{"kid":{},"alg":{}}}"#, json["kid"], json["alg"]);
            let respelled = URL_SAFE_NO_PAD.encode(reordered);
            assert!(t.ring().signed_with_header(&respelled).is_none());
            let (payload, _) = rest.split_once('.').unwrap_or_default();
            let forged = format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]));
            assert!(t.verify(&forged, now).is_err(), "{alg:?}: forged signature");
            let (_, signature) = token.rsplit_once('.').unwrap_or_default();
            let moved = format!("{respelled}.{payload}.{signature}");
            // The signature covers the header's bytes: respelled, the old one no longer fits.
            assert_eq!(
                t.verify(&moved, now).err(),
                Some(TokenError::BadSignature),
                "{alg:?}"
            );
            if alg == KeyAlg::Hs256 {
                use hmac::{KeyInit, Mac};
                let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(
                    "s".repeat(40).as_bytes(),
                )?;
                mac.update(format!("{respelled}.{payload}").as_bytes());
                let resigned = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
                let parsed = format!("{respelled}.{payload}.{resigned}");
                assert_eq!(t.verify(&parsed, now)?.claims.sub, "Alice", "parsed header");
            }
        }
        Ok(())
    }

    #[test]
    fn reloading_the_same_ring_keeps_verified_tokens_and_a_new_ring_drops_them()
    -> anyhow::Result<()> {
        let t = tokens();
        let now = super::super::now_unix();
        let proof = LoginProof {
            fresh: true,
            assurance: Assurance::Password,
        };
        let issued = t.issue(7, "Alice", "sid-1", proof, None, now)?;
        t.verify(&issued.token, now)?;
        let cached = || {
            t.verified
                .get(&VerifiedCache::key(&issued.token), now, 0)
                .is_some()
        };
        assert!(cached());
        let same = RingKey::hs256(&Secret::new("k".repeat(40)), KeySource::Secret)?;
        t.replace_ring(KeyRing::new(vec![same], None, 900, false));
        assert!(cached(), "an unchanged ring keeps the cache");
        let other = RingKey::hs256(&Secret::new("o".repeat(40)), KeySource::Secret)?;
        t.replace_ring(KeyRing::new(vec![other], None, 900, false));
        assert!(!cached(), "a changed ring empties it");
        Ok(())
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(
            tokens().verify("not.a.jwt", 0).err(),
            Some(TokenError::Malformed)
        );
    }
}
