//! The key ring as a service: built at start from the configured HS256 secrets, an
//! optional PEM key file and the database's sealed keys; reloaded from the database
//! periodically so every instance sees a rotation made anywhere without a restart; and
//! the operations behind `tessera keys generate|rotate|list` and the JWKS.

use anyhow::Context;
use serde::Serialize;

use super::Tessera;
use crate::config::Config;
use crate::secret::Secret;
use crate::store::{SigningKeyRecord, Store};
use crate::tokens::kek::Kek;
use crate::tokens::keyring::{KeyAlg, KeyRing, KeySource, KeyState, RingKey};
use crate::tokens::{keygen, now_unix};

/// What `tessera keys list` shows of a key: never private material.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    /// The key id (`kid`).
    pub kid: String,
    /// Its JWS algorithm name (`HS256`, `EdDSA`, `ES256`, `PS256`, `RS256`).
    pub alg: &'static str,
    /// The modulus size of an RSA key (a stored key below 3072 bits should be rotated).
    pub rsa_bits: Option<usize>,
    /// Next, current or retired.
    pub state: KeyState,
    /// Where it comes from: secret, previous secret, PEM file or database.
    pub source: KeySource,
    /// Whether it signs new tokens now.
    pub signing: bool,
    /// When the key was made (0 for configured keys).
    pub created_at: i64,
    /// When it starts (or started) signing.
    pub activate_at: i64,
    /// When it stopped signing, if it did.
    pub retired_at: Option<i64>,
    /// Whether the key's tokens are still accepted (a retired key stops once they expired).
    pub verifies: bool,
    /// The last moment a token of this key verifies (`None`: no end planned). For the HS256
    /// secret: when an asymmetric key took over signing, plus the access TTL and leeway.
    pub verifies_until: Option<i64>,
    /// An HS256 secret kept verifying on purpose (`keep_hs256_verifying`).
    pub kept_verifying: bool,
}

/// Keys that come from the configuration rather than the database.
pub(super) fn configured_keys(
    config: &Config,
    jwt_secret: Option<&Secret>,
) -> anyhow::Result<Vec<RingKey>> {
    let mut keys = Vec::new();
    if let Some(secret) = jwt_secret {
        keys.push(RingKey::hs256(secret, KeySource::Secret)?);
    }
    for (i, previous) in config.previous_jwt_secret_keys.iter().enumerate() {
        crate::tokens::key_files::check_hs256_secret(previous)
            .with_context(|| format!("previous_jwt_secret_keys[{i}]"))?;
        keys.push(RingKey::hs256(previous, KeySource::PreviousSecret)?);
    }
    if let Some((alg, der)) = signing_key_file(config)? {
        // The kid names the file's key by a digest of its public part's JWK thumbprint input.
        let provisional =
            RingKey::asymmetric("pem".into(), alg, &der, KeySource::PemFile, (0, 0, None))?;
        let kid = format!("pem-{}", &short_digest(provisional.verifying_fingerprint()));
        keys.push(RingKey::asymmetric(
            kid,
            alg,
            &der,
            KeySource::PemFile,
            (0, 0, None),
        )?);
    }
    Ok(keys)
}

/// The algorithm and private DER of `signing_key_file`, checked (RSA: at least 3072 bits).
fn signing_key_file(config: &Config) -> anyhow::Result<Option<(KeyAlg, Vec<u8>)>> {
    let (Some(path), Some(alg)) = (&config.signing_key_file, &config.signing_key_alg) else {
        return Ok(None);
    };
    let alg = KeyAlg::parse(alg)
        .filter(|a| *a != KeyAlg::Hs256)
        .ok_or_else(|| anyhow::anyhow!("signing_key_alg must be eddsa, es256, ps256 or rs256"))?;
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read signing_key_file {}", path.display()))?;
    let der = keygen::from_pem(alg, &pem)
        .with_context(|| format!("signing_key_file {}", path.display()))?;
    Ok(Some((alg, der)))
}

/// Checks `signing_key_file` as a start would (for `tessera check-config`).
pub fn check_signing_key_file(config: &Config) -> anyhow::Result<()> {
    signing_key_file(config).map(|_| ())
}

fn short_digest(bytes: Vec<u8>) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))[..16].to_owned()
}

/// The KEK, or an error that says how to supply one.
fn require_kek(kek: Option<&Kek>) -> anyhow::Result<&Kek> {
    kek.ok_or_else(|| {
        anyhow::anyhow!(
            "no key-encryption key: set TESSERA_KEK (or TESSERA_KEK_FILE) as the server has it, \
             or point --data-dir at the server's data directory"
        )
    })
}

fn aad(kid: &str, alg: &str) -> Vec<u8> {
    format!("tessera signing key\0{kid}\0{alg}").into_bytes()
}

/// Builds the ring: configured keys plus every database key still verifying.
pub(super) async fn load_ring(
    config: &Config,
    store: &dyn Store,
    kek: Option<&Kek>,
    configured: &[RingKey],
) -> anyhow::Result<KeyRing> {
    let lifetime = (config.access_token_ttl_secs + config.leeway_secs) as i64;
    let mut keys = configured.to_vec();
    for record in store
        .list_signing_keys()
        .await
        .context("cannot read signing keys")?
    {
        let alg = KeyAlg::from_jws_name(&record.alg)
            .ok_or_else(|| anyhow::anyhow!("signing key {} has unknown algorithm", record.kid))?;
        // Keys whose tokens have all expired stay in the ring (refused as `key_retired`,
        // left out of the JWKS) so a client learns why rather than "unknown key".
        let der = require_kek(kek)?.open(&aad(&record.kid, &record.alg), &record.sealed_key)?;
        keys.push(RingKey::asymmetric(
            record.kid,
            alg,
            &der,
            KeySource::Database,
            (record.created_at, record.activate_at, record.retired_at),
        )?);
    }
    Ok(KeyRing::new(
        keys,
        config.accept_tokens_without_kid,
        lifetime,
        config.keep_hs256_verifying,
    ))
}

/// RSA keys below the size new keys must have, which earlier versions generated (2048
/// bits). They are not refused: refusing would stop every instance of a running deployment
/// at the upgrade and cut off the tokens in flight. They keep signing and verifying until
/// the operator rotates them (`tessera keys rotate --alg ps256`), then verify only until
/// their tokens have expired, like any retired key. Reported once at start.
pub(super) fn warn_about_small_rsa_keys(ring: &KeyRing) {
    for key in ring.keys() {
        if let Some(bits) = key.rsa_bits.filter(|bits| *bits < keygen::MIN_RSA_BITS) {
            tracing::warn!(
                kid = %key.kid,
                bits,
                minimum = keygen::MIN_RSA_BITS,
                "a stored RSA signing key is smaller than new keys may be; rotate it: \
                 tessera keys rotate --alg ps256 (or eddsa, es256)"
            );
        }
    }
}

impl Tessera {
    /// Re-reads the database's keys and swaps the ring in; takes in a rotation of the
    /// refresh-token key made by any process.
    pub async fn reload_keys(&self) -> anyhow::Result<()> {
        let inner = &self.inner;
        if inner.config.refresh_token_key.is_none() {
            let mut keys = super::shared_secrets::refresh_keys(
                &inner.config,
                inner.store.as_ref(),
                false,
                self.sealer(),
            )
            .await?
            .into_iter();
            if let Some(current) = keys.next() {
                inner.refresh.replace(current, keys.collect());
            }
        }
        let ring = load_ring(
            &inner.config,
            inner.store.as_ref(),
            inner.kek.as_ref(),
            &inner.configured_keys,
        )
        .await?;
        inner.access.replace_ring(ring);
        Ok(())
    }

    /// Adds a new database key of `alg` that starts signing after `activate_in` seconds
    /// (published in the JWKS meanwhile); every earlier key retires at that moment and
    /// keeps verifying until its tokens have expired.
    pub async fn add_signing_key(&self, alg: KeyAlg, activate_in: u64) -> anyhow::Result<KeyView> {
        anyhow::ensure!(
            alg != KeyAlg::Hs256,
            "HS256 keys are secrets: set JWT_SECRET_KEY (and previous_jwt_secret_keys to change it)"
        );
        // RSA generation takes a while; keep it off the async workers.
        let der = tokio::task::spawn_blocking(move || keygen::generate(alg)).await??;
        let now = now_unix();
        let kid = format!(
            "{}-{}",
            alg.jws_name().to_ascii_lowercase(),
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        // Never store a key the ring could not load: that would stop every instance's start.
        RingKey::asymmetric(
            kid.clone(),
            alg,
            &der,
            KeySource::Database,
            (now, now, None),
        )?;
        let record = SigningKeyRecord {
            sealed_key: require_kek(self.inner.kek.as_ref())?
                .seal(&aad(&kid, alg.jws_name()), &der)?,
            kid,
            alg: alg.jws_name().to_owned(),
            created_at: now,
            activate_at: now + activate_in as i64,
            retired_at: None,
        };
        self.inner.store.add_signing_key(&record).await?;
        self.reload_keys().await?;
        self.list_keys()
            .into_iter()
            .find(|k| k.kid == record.kid)
            .ok_or_else(|| anyhow::anyhow!("the new key did not load"))
    }

    /// Starts a new generation of the refresh-token key (kept in the database): new
    /// refresh tokens use it at once, every instance within one key reload; tokens of the
    /// earlier generation keep working until their sessions end. Returns its number.
    pub async fn rotate_refresh_key(&self) -> anyhow::Result<i64> {
        let inner = &self.inner;
        let generation = super::shared_secrets::rotate_refresh_key(
            &inner.config,
            inner.store.as_ref(),
            self.sealer(),
        )
        .await?;
        self.reload_keys().await?;
        Ok(generation)
    }

    /// The KEK that seals what is stored in the database, when the operator supplies it
    /// (one kept in the database beside what it seals would protect nothing).
    fn sealer(&self) -> Option<&Kek> {
        self.inner
            .kek
            .as_ref()
            .filter(|_| self.inner.config.kek.is_some())
    }

    /// A new key of the signing key's algorithm (or `alg`), after the pre-publication delay.
    pub async fn rotate_signing_key(&self, alg: Option<KeyAlg>) -> anyhow::Result<KeyView> {
        let now = now_unix();
        let alg = alg
            .or_else(|| self.inner.access.ring().signer(now).map(|k| k.alg))
            .filter(|a| *a != KeyAlg::Hs256)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the ring signs with the HS256 secret; choose an algorithm: \
                     `tessera keys rotate --alg eddsa` (or es256, ps256, rs256)"
                )
            })?;
        self.add_signing_key(alg, self.inner.config.key_prepublish_secs)
            .await
    }

    /// The ring as `tessera keys list` shows it.
    pub fn list_keys(&self) -> Vec<KeyView> {
        let ring = self.inner.access.ring();
        let now = now_unix();
        let signer = ring.signer(now).map(|k| k.kid.clone());
        ring.keys()
            .iter()
            .map(|k| KeyView {
                kid: k.kid.clone(),
                alg: k.alg.jws_name(),
                rsa_bits: k.rsa_bits,
                state: k.state(now),
                source: k.source,
                signing: signer.as_deref() == Some(k.kid.as_str()),
                created_at: k.created_at,
                activate_at: k.activate_at,
                retired_at: k.retired_at,
                verifies: k.still_verifies(now, ring.lifetime()),
                verifies_until: k.verifies_until(ring.lifetime()),
                kept_verifying: k.kept_verifying,
            })
            .collect()
    }

    /// The JWK Set (RFC 7517) of the asymmetric keys that are next, current, or retired
    /// with tokens still live.
    pub fn jwks(&self) -> serde_json::Value {
        let keys = self.inner.access.ring().public_jwks(now_unix());
        serde_json::json!({ "keys": keys })
    }
}
