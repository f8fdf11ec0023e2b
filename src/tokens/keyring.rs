//! The key ring: every signing key has a `kid`, one algorithm, and dates from which its
//! state follows (next → current → retired). Tokens carry the `kid` of the key that signed
//! them; verification looks the key up by that `kid` and pins the key's own algorithm, so
//! the token's `alg` header can never choose how it is checked (no `alg: none`, no HS256
//! keyed with a public key, no RS/ES swap).
//!
//! States are computed from timestamps rather than stored, so every instance that has
//! loaded the same rows agrees on them at the same moment, without a promotion job:
//! - next: `activate_at > now` (published in the JWKS, not yet signing);
//! - current: activated and not retired; the most recently activated one signs;
//! - retired: `retired_at <= now`; verifies until `retired_at + ttl + leeway`, then is dropped.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// A signing algorithm of the key ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum KeyAlg {
    /// HMAC-SHA256 with a shared secret (the seed's, and Flask-JWT-Extended's).
    Hs256,
    /// Ed25519.
    EdDsa,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256: kept for existing keys and verifiers that know no
    /// other RSA scheme; PS256 is the RSA choice for new keys.
    Rs256,
    /// RSASSA-PSS with SHA-256 (RFC 7518 §3.5): RSA with a padding that has a security
    /// proof, which PKCS#1 v1.5 lacks.
    Ps256,
}

impl KeyAlg {
    /// The name in the JWS `alg` header (RFC 7518, RFC 8037).
    pub fn jws_name(self) -> &'static str {
        match self {
            KeyAlg::Hs256 => "HS256",
            KeyAlg::EdDsa => "EdDSA",
            KeyAlg::Es256 => "ES256",
            KeyAlg::Rs256 => "RS256",
            KeyAlg::Ps256 => "PS256",
        }
    }

    /// Every algorithm of the ring.
    pub const ALL: [KeyAlg; 5] = [
        KeyAlg::Hs256,
        KeyAlg::EdDsa,
        KeyAlg::Es256,
        KeyAlg::Rs256,
        KeyAlg::Ps256,
    ];

    /// The algorithm a JWS `alg` names.
    pub fn from_jws_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.jws_name() == name)
    }

    /// Whether keys of this algorithm are RSA keys (size rules apply).
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyAlg::Rs256 | KeyAlg::Ps256)
    }

    /// Accepts CLI spellings: `hs256`, `eddsa`/`ed25519`, `es256`, `rs256`, `ps256`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "hs256" => Some(KeyAlg::Hs256),
            "eddsa" | "ed25519" => Some(KeyAlg::EdDsa),
            "es256" => Some(KeyAlg::Es256),
            "rs256" => Some(KeyAlg::Rs256),
            "ps256" => Some(KeyAlg::Ps256),
            _ => None,
        }
    }

    /// The jsonwebtoken algorithm.
    pub fn algorithm(self) -> Algorithm {
        match self {
            KeyAlg::Hs256 => Algorithm::HS256,
            KeyAlg::EdDsa => Algorithm::EdDSA,
            KeyAlg::Es256 => Algorithm::ES256,
            KeyAlg::Rs256 => Algorithm::RS256,
            KeyAlg::Ps256 => Algorithm::PS256,
        }
    }

    fn encoding_key(self, der: &[u8]) -> Option<EncodingKey> {
        match self {
            KeyAlg::Hs256 => None,
            KeyAlg::EdDsa => Some(EncodingKey::from_ed_der(der)),
            KeyAlg::Es256 => Some(EncodingKey::from_ec_der(der)),
            // Both RSA schemes sign with the same PKCS#1 key; the algorithm picks the padding.
            KeyAlg::Rs256 | KeyAlg::Ps256 => Some(EncodingKey::from_rsa_der(der)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Next,
    Current,
    Retired,
}

/// Where a key came from (shown by `tessera keys list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// `JWT_SECRET_KEY` or the generated `jwt_secret` file.
    Secret,
    /// `previous_jwt_secret_keys`: verify only.
    PreviousSecret,
    Database,
    PemFile,
}

#[derive(Clone)]
pub struct RingKey {
    pub kid: String,
    pub alg: KeyAlg,
    pub source: KeySource,
    pub created_at: i64,
    pub activate_at: i64,
    pub retired_at: Option<i64>,
    signing: Option<EncodingKey>,
    verifying: DecodingKey,
    /// Public JWK (asymmetric keys only; HS256 secrets are never published).
    public_jwk: Option<Jwk>,
    /// The modulus size of an RSA key (`None` for other algorithms).
    pub rsa_bits: Option<usize>,
    /// An HS256 secret that keeps verifying after an asymmetric key took over signing,
    /// because the operator said so (`keep_hs256_verifying`).
    pub kept_verifying: bool,
    /// The first part of every token this key signs: the base64url JSON header
    /// `{"typ":"JWT","alg":…,"kid":…}` exactly as written when signing. A token that
    /// starts with it names this key and its algorithm, and nothing else, so verification
    /// recognises it by its text instead of decoding and parsing it.
    jws_header: String,
    /// HS256 only: the HMAC already keyed with the secret (the key's inner and outer
    /// blocks hashed once, not on every check).
    hs256_mac: Option<Hmac<Sha256>>,
}

impl RingKey {
    /// An HS256 secret. Its kid is derived from the secret (a one-way digest), so every
    /// instance configured with the same secret names it the same way.
    pub fn hs256(secret: &Secret, source: KeySource) -> anyhow::Result<Self> {
        let bytes = secret.expose().as_bytes();
        let digest = Sha256::new()
            .chain_update(b"tessera hs256 kid\0")
            .chain_update(bytes)
            .finalize();
        let kid = format!("hs256-{}", &hex::encode(digest)[..16]);
        let signing = match source {
            KeySource::PreviousSecret => None,
            _ => Some(EncodingKey::from_secret(bytes)?),
        };
        let hs256_mac = <Hmac<Sha256> as KeyInit>::new_from_slice(bytes)
            .map_err(|e| anyhow::anyhow!("HS256 secret: {e}"))?;
        Ok(Self {
            jws_header: jws_header(KeyAlg::Hs256, &kid)?,
            hs256_mac: Some(hs256_mac),
            kid,
            alg: KeyAlg::Hs256,
            source,
            created_at: 0,
            activate_at: 0,
            retired_at: None,
            signing,
            verifying: DecodingKey::from_secret(bytes)?,
            public_jwk: None,
            rsa_bits: None,
            kept_verifying: false,
        })
    }

    /// An asymmetric key from its private DER (see `keygen`). The verifying key is built
    /// from the public JWK, so what tessera checks with is exactly what it publishes.
    pub fn asymmetric(
        kid: String,
        alg: KeyAlg,
        der: &[u8],
        source: KeySource,
        (created_at, activate_at, retired_at): (i64, i64, Option<i64>),
    ) -> anyhow::Result<Self> {
        let signing = alg
            .encoding_key(der)
            .ok_or_else(|| anyhow::anyhow!("HS256 keys come from secrets"))?;
        let mut jwk = Jwk::from_encoding_key(&signing, alg.algorithm())
            .map_err(|e| anyhow::anyhow!("key {kid} is not a valid {} key: {e}", alg.jws_name()))?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let verifying = DecodingKey::from_jwk(&jwk)?;
        Ok(Self {
            jws_header: jws_header(alg, &kid)?,
            hs256_mac: None,
            kid,
            alg,
            source,
            created_at,
            activate_at,
            retired_at,
            signing: Some(signing),
            verifying,
            public_jwk: Some(jwk),
            rsa_bits: alg.is_rsa().then(|| rsa_modulus_bits(der)).flatten(),
            kept_verifying: false,
        })
    }

    pub fn state(&self, now: i64) -> KeyState {
        match self.retired_at {
            Some(at) if at <= now => KeyState::Retired,
            _ if self.source == KeySource::PreviousSecret => KeyState::Retired,
            _ if self.activate_at > now => KeyState::Next,
            _ => KeyState::Current,
        }
    }

    /// Whether tokens this key signed may still be unexpired (`lifetime` = ttl + leeway).
    pub fn still_verifies(&self, now: i64, lifetime: i64) -> bool {
        self.verifies_until(lifetime)
            .is_none_or(|until| until >= now)
    }

    /// The last moment a token this key signed may verify (`None`: no end).
    pub fn verifies_until(&self, lifetime: i64) -> Option<i64> {
        if self.kept_verifying {
            return None;
        }
        self.retired_at.map(|at| at.saturating_add(lifetime))
    }

    /// Bytes identifying the public key (its JWK JSON), for naming PEM-file keys.
    pub fn verifying_fingerprint(&self) -> Vec<u8> {
        self.public_jwk
            .as_ref()
            .and_then(|jwk| serde_json::to_vec(&jwk.algorithm).ok())
            .unwrap_or_default()
    }

    pub fn verifying(&self) -> &DecodingKey {
        &self.verifying
    }

    /// The keyed HMAC of an HS256 secret (`None` for other algorithms).
    pub fn hs256_mac(&self) -> Option<&Hmac<Sha256>> {
        self.hs256_mac.as_ref()
    }
}

/// The header `jsonwebtoken::encode` writes for a token signed with `alg` under `kid`:
/// its `Header` serialised to JSON, then base64url without padding.
fn jws_header(alg: KeyAlg, kid: &str) -> anyhow::Result<String> {
    let mut header = jsonwebtoken::Header::new(alg.algorithm());
    header.kid = Some(kid.to_owned());
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?))
}

/// One loaded ring. Replaced as a whole when keys are reloaded.
pub struct KeyRing {
    keys: Vec<RingKey>,
    /// Accept tokens without a `kid` header (checked against the HS256 secrets only).
    pub accept_without_kid: bool,
    /// Access-token lifetime plus leeway: how long a retired key keeps verifying.
    lifetime: i64,
}

impl KeyRing {
    /// `keep_hs256_verifying`: HS256 secrets keep verifying after an asymmetric key took
    /// over signing (a fleet where Flask apps still mint tokens with the secret).
    pub fn new(
        mut keys: Vec<RingKey>,
        accept_without_kid: Option<bool>,
        lifetime: i64,
        keep_hs256_verifying: bool,
    ) -> Self {
        // Whoever holds the HS256 secret can mint a token for any `sub` and `sid` (its kid
        // is computable from the secret). Once an asymmetric key signs, the secret has
        // signed its last token, so it retires at that moment like any replaced key and
        // verifies until that token has expired. A PEM key has no switch time (activate_at
        // 0): the secret then verifies nothing.
        let switch = keys
            .iter()
            .filter(|k| k.alg != KeyAlg::Hs256 && k.signing.is_some())
            .map(|k| k.activate_at)
            .min();
        if let Some(switch) = switch {
            for key in keys.iter_mut().filter(|k| k.alg == KeyAlg::Hs256) {
                key.retired_at = Some(key.retired_at.map_or(switch, |at| at.min(switch)));
                key.kept_verifying = keep_hs256_verifying;
            }
        }
        let mut ring = Self {
            keys,
            accept_without_kid: false,
            lifetime,
        };
        // Default: on while tokens are signed with the HS256 secret (seed compatibility:
        // Flask-JWT-Extended mints kid-less tokens with it) or the secret is kept on
        // purpose for a mixed fleet; off once an asymmetric key signs.
        let signer_is_hs256 = ring
            .signer(crate::tokens::now_unix())
            .is_some_and(|k| k.alg == KeyAlg::Hs256);
        ring.accept_without_kid =
            accept_without_kid.unwrap_or(signer_is_hs256 || keep_hs256_verifying);
        ring
    }

    /// Whether `other` verifies exactly the tokens this ring verifies: the same keys (a kid
    /// names its key material: derived from the secret, the PEM key's fingerprint, or
    /// random for a database key) with the same algorithms, times and flags. A periodic
    /// reload that finds nothing new must not throw the verified-token cache away.
    pub fn verifies_like(&self, other: &KeyRing) -> bool {
        fn facts(key: &RingKey) -> impl PartialEq + '_ {
            (
                key.kid.as_str(),
                key.alg,
                key.activate_at,
                key.retired_at,
                key.kept_verifying,
                key.signing.is_some(),
            )
        }
        self.accept_without_kid == other.accept_without_kid
            && self.lifetime == other.lifetime
            && self.keys.len() == other.keys.len()
            && self
                .keys
                .iter()
                .zip(&other.keys)
                .all(|(a, b)| facts(a) == facts(b))
    }

    /// The key that signs at `now`: the most recently activated current key with private
    /// material from the database or a PEM file, else the HS256 secret.
    pub fn signer(&self, now: i64) -> Option<&RingKey> {
        let asymmetric = self
            .keys
            .iter()
            .filter(|k| k.alg != KeyAlg::Hs256 && k.signing.is_some())
            .filter(|k| k.state(now) == KeyState::Current)
            .max_by_key(|k| k.activate_at);
        asymmetric.or_else(|| {
            self.keys
                .iter()
                .find(|k| k.source == KeySource::Secret && k.signing.is_some())
        })
    }

    pub fn signing_key(key: &RingKey) -> Option<&EncodingKey> {
        key.signing.as_ref()
    }

    pub fn find(&self, kid: &str) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The key whose tokens start with exactly this header part (see `RingKey::jws_header`).
    pub fn signed_with_header(&self, header: &str) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.jws_header == header)
    }

    /// HS256 secrets, for kid-less tokens: the signing one first, then previous ones.
    pub fn hs256_keys(&self) -> impl Iterator<Item = &RingKey> {
        self.keys.iter().filter(|k| k.alg == KeyAlg::Hs256)
    }

    pub fn lifetime(&self) -> i64 {
        self.lifetime
    }

    pub fn keys(&self) -> &[RingKey] {
        &self.keys
    }

    /// Public keys for `/.well-known/jwks.json`: next, current, and retired ones whose
    /// tokens may still be live. Never an HS256 secret.
    pub fn public_jwks(&self, now: i64) -> Vec<Jwk> {
        self.keys
            .iter()
            .filter(|k| k.still_verifies(now, self.lifetime))
            .filter_map(|k| k.public_jwk.clone())
            .collect()
    }
}
/// The modulus size of an RSA private key in PKCS#1 DER (`None`: not one), to report
/// stored keys made before the 3072-bit minimum (`keygen::MIN_RSA_BITS`) applied.
pub fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    <rsa::PrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_der(der)
        .ok()
        .map(|key| rsa::traits::PublicKeyParts::n(&key).bit_width() as usize)
}
