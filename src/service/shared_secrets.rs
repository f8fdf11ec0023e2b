//! Secrets every instance of a deployment must agree on, kept in the database so that
//! instances need nothing but its URL.
//!
//! | secret               | from the configuration (wins)        | otherwise                               |
//! |----------------------|--------------------------------------|-----------------------------------------|
//! | HS256 signing secret | `JWT_SECRET_KEY` (+ previous list)   | created once in the database            |
//! | refresh-token key    | `TESSERA_REFRESH_TOKEN_KEY` (+ previous list) | created once in the database; rotated with `tessera keys rotate-refresh` |
//! | key-encryption key   | `TESSERA_KEK`                        | created once in the database            |
//! | device-token key     | (none)                               | created once in the database            |
//!
//! Whichever instance starts first creates a missing secret (one conditional INSERT: two
//! instances starting at once end with the same one). A secret supplied by configuration
//! is never stored: only its fingerprint (a keyed digest), so that an instance configured
//! with a different value refuses to start instead of issuing tokens the others reject.
//!
//! Protection: a secret created in the database is stored sealed with the key-encryption
//! key when the operator supplies one, and in clear otherwise; a KEK kept in the
//! database beside what it seals protects nothing, so encryption at rest takes an
//! operator-supplied `TESSERA_KEK`. A deployment upgraded from data-directory key files
//! adopts them into the database on its first start, so existing tokens stay valid.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::config::Config;
use crate::secret::{Secret, generate_token_urlsafe};
use crate::store::{SharedSecretRecord, Store};
use crate::tokens::kek::Kek;
use crate::tokens::key_files::{check_hs256_secret, load_existing};
use crate::tokens::now_unix;

pub(super) const JWT_SECRET: &str = "jwt_secret";
pub(super) const REFRESH_TOKEN_KEY: &str = "refresh_token_key";
pub(super) const KEY_ENCRYPTION_KEY: &str = "key_encryption_key";
pub(super) const DEVICE_TOKEN_KEY: &str = "device_token_key";

/// The shared secrets an instance runs with.
pub(super) struct SharedSecrets {
    /// `None` only for an administration command on a deployment that has none yet.
    pub jwt_secret: Option<Secret>,
    /// Newest first; empty only for an administration command on a deployment without one.
    pub refresh_keys: Vec<Secret>,
    pub kek: Option<Kek>,
    /// Signs device tokens (`tokens::device`); `None` only for an administration command on
    /// a deployment that has none yet.
    pub device_key: Option<Secret>,
}

/// One secret as this instance is configured for it.
struct Wanted<'a> {
    name: &'static str,
    /// The setting that supplies it, for messages.
    setting: &'static str,
    configured: Option<&'a Secret>,
    /// Earlier values still accepted (a rotation done in the configuration).
    previous: &'a [Secret],
}

/// Loads (and, when `create`, creates) every shared secret.
pub(super) async fn load(
    config: &Config,
    store: &dyn Store,
    create: bool,
) -> anyhow::Result<SharedSecrets> {
    let kek_wanted = Wanted {
        name: KEY_ENCRYPTION_KEY,
        setting: "TESSERA_KEK",
        configured: config.kek.as_ref(),
        previous: &[],
    };
    let kek = match resolve(&kek_wanted, config, store, create, None)
        .await?
        .first()
    {
        Some(secret) => Some(kek_from_secret(secret)?),
        None => None,
    };
    // Seal what is created in the database only with a KEK that is not stored there.
    let sealer = kek.as_ref().filter(|_| config.kek.is_some());
    let jwt = Wanted {
        name: JWT_SECRET,
        setting: "JWT_SECRET_KEY",
        configured: config.jwt_secret_key.as_ref(),
        previous: &[],
    };
    let jwt_secret = resolve(&jwt, config, store, create, sealer)
        .await?
        .into_iter()
        .next();
    if let Some(secret) = &jwt_secret {
        check_hs256_secret(secret)?;
    }
    let refresh_keys = refresh_keys(config, store, create, sealer).await?;
    for key in &refresh_keys {
        check_hs256_secret(key).context("refresh_token_key")?;
    }
    // Nothing outside tessera verifies device tokens, so no setting supplies this key.
    let device = Wanted {
        name: DEVICE_TOKEN_KEY,
        setting: "device_token_key",
        configured: None,
        previous: &[],
    };
    let device_key = resolve(&device, config, store, create, sealer)
        .await?
        .into_iter()
        .next();
    Ok(SharedSecrets {
        jwt_secret,
        refresh_keys,
        kek,
        device_key,
    })
}

/// The KEK made from its secret (configured, or kept in the database).
fn kek_from_secret(secret: &Secret) -> anyhow::Result<Kek> {
    anyhow::ensure!(
        secret.expose().len() >= 32,
        "the key-encryption key must be at least 32 characters (TESSERA_KEK / TESSERA_KEK_FILE)"
    );
    Kek::from_secret(secret)
}

/// The refresh-token keys, newest first.
pub(super) async fn refresh_keys(
    config: &Config,
    store: &dyn Store,
    create: bool,
    sealer: Option<&Kek>,
) -> anyhow::Result<Vec<Secret>> {
    let wanted = Wanted {
        name: REFRESH_TOKEN_KEY,
        setting: "TESSERA_REFRESH_TOKEN_KEY",
        configured: config.refresh_token_key.as_ref(),
        previous: &config.previous_refresh_token_keys,
    };
    resolve(&wanted, config, store, create, sealer).await
}

/// Adds a new generation of the refresh-token key to the database: new refresh tokens
/// use it at once (every instance picks it up at its next key reload), earlier ones keep
/// working until their sessions end. Returns the new generation's number.
pub(super) async fn rotate_refresh_key(
    config: &Config,
    store: &dyn Store,
    sealer: Option<&Kek>,
) -> anyhow::Result<i64> {
    anyhow::ensure!(
        config.refresh_token_key.is_none(),
        "the refresh-token key comes from the configuration (TESSERA_REFRESH_TOKEN_KEY): set the \
         new key there and list the old one in previous_refresh_token_keys"
    );
    let rows = store.shared_secrets(REFRESH_TOKEN_KEY).await?;
    let generation = rows.first().map_or(1, |r| r.generation + 1);
    let secret = Secret::new(generate_token_urlsafe());
    let added = store
        .add_shared_secret(&record(REFRESH_TOKEN_KEY, generation, &secret, sealer)?)
        .await?;
    anyhow::ensure!(
        added,
        "another rotation of the refresh-token key happened at the same moment; nothing was changed"
    );
    Ok(generation)
}

/// The values of one secret, newest first (several only for rotated refresh keys).
async fn resolve(
    wanted: &Wanted<'_>,
    config: &Config,
    store: &dyn Store,
    create: bool,
    sealer: Option<&Kek>,
) -> anyhow::Result<Vec<Secret>> {
    // Two rounds at most: when another instance wins the race to create the secret, the
    // second round reads what it stored.
    for _ in 0..2 {
        let rows = store.shared_secrets(wanted.name).await?;
        if rows.is_empty() {
            if let Some(configured) = wanted.configured {
                if !create {
                    return check_configured(wanted, configured, &rows, store, create).await;
                }
                store
                    .add_shared_secret(&fingerprint_only(wanted.name, 1, configured))
                    .await?;
                continue;
            }
            // A key file from before secrets moved into the database is adopted.
            let value = match load_existing(&config.data_dir, wanted.name, None)? {
                Some(secret) => secret,
                None if create => Secret::new(generate_token_urlsafe()),
                None => return Ok(Vec::new()),
            };
            if !create {
                return Ok(vec![value]);
            }
            store
                .add_shared_secret(&record(wanted.name, 1, &value, sealer)?)
                .await?;
            continue;
        }
        return match wanted.configured {
            Some(configured) => check_configured(wanted, configured, &rows, store, create).await,
            None => stored_values(wanted, &rows, config, sealer, create),
        };
    }
    anyhow::bail!(
        "{} could not be created in the database; retry the start",
        wanted.name
    )
}

/// A configured secret must be the one the database's fingerprint names. A configured
/// rotation (the database's latest value listed among the previous ones) is recorded.
async fn check_configured(
    wanted: &Wanted<'_>,
    configured: &Secret,
    rows: &[SharedSecretRecord],
    store: &dyn Store,
    create: bool,
) -> anyhow::Result<Vec<Secret>> {
    let values = || {
        std::iter::once(configured.clone())
            .chain(wanted.previous.iter().cloned())
            .collect()
    };
    let Some(latest) = rows.first() else {
        return Ok(values());
    };
    if latest.fingerprint == configured.fingerprint(wanted.name) {
        return Ok(values());
    }
    let rotated_here = wanted
        .previous
        .iter()
        .any(|p| p.fingerprint(wanted.name) == latest.fingerprint);
    if rotated_here && create {
        let row = fingerprint_only(wanted.name, latest.generation + 1, configured);
        store.add_shared_secret(&row).await?;
        return Ok(values());
    }
    let origin = if latest.value.is_some() {
        "the one this deployment created in its database when none was configured"
    } else {
        "the one the other instances of this database are configured with"
    };
    anyhow::bail!(
        "{} differs from {origin} (fingerprint {}): set the same value on every instance{}",
        wanted.setting,
        latest.fingerprint,
        if latest.value.is_some() {
            format!(", or unset {} to use the stored one", wanted.setting)
        } else {
            String::new()
        }
    )
}

/// The values stored in the database, newest first, for as long as tokens made with them
/// can still be presented: an earlier generation stops once a full session lifetime has
/// passed since its successor took over.
fn stored_values(
    wanted: &Wanted<'_>,
    rows: &[SharedSecretRecord],
    config: &Config,
    sealer: Option<&Kek>,
    serving: bool,
) -> anyhow::Result<Vec<Secret>> {
    let now = now_unix();
    let mut values = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if let Some(successor) = i.checked_sub(1).and_then(|j| rows.get(j))
            && now >= successor.created_at + config.session_ttl_secs as i64
        {
            break;
        }
        let Some(stored) = &row.value else {
            // Administration signs and checks no token: it goes without a secret that only
            // the servers' configuration holds (a command that needs it says so).
            if !serving {
                return Ok(values);
            }
            anyhow::bail!(
                "the other instances of this database take {} from their configuration: set {} \
                 here too",
                wanted.name,
                wanted.setting
            );
        };
        let secret = open_value(wanted, row, stored, sealer)?;
        anyhow::ensure!(
            secret.fingerprint(wanted.name) == row.fingerprint,
            "{} generation {} in the database does not match its fingerprint",
            wanted.name,
            row.generation
        );
        values.push(secret);
    }
    Ok(values)
}

fn open_value(
    wanted: &Wanted<'_>,
    row: &SharedSecretRecord,
    stored: &str,
    sealer: Option<&Kek>,
) -> anyhow::Result<Secret> {
    if let Some(plain) = stored.strip_prefix("plain:") {
        return Ok(Secret::new(plain.to_owned()));
    }
    let sealed = stored
        .strip_prefix("sealed:")
        .ok_or_else(|| anyhow::anyhow!("{} is stored in an unknown form", wanted.name))?;
    let kek = sealer.ok_or_else(|| {
        anyhow::anyhow!(
            "{} is sealed with an operator-supplied key-encryption key: set TESSERA_KEK",
            wanted.name
        )
    })?;
    let bytes = kek.open(&aad(&row.name, row.generation), &STANDARD.decode(sealed)?)?;
    Ok(Secret::new(String::from_utf8(bytes)?))
}

/// A row holding `secret`, sealed when an operator-supplied KEK is at hand.
fn record(
    name: &str,
    generation: i64,
    secret: &Secret,
    sealer: Option<&Kek>,
) -> anyhow::Result<SharedSecretRecord> {
    let value = match sealer {
        Some(kek) => {
            let sealed = kek.seal(&aad(name, generation), secret.expose().as_bytes())?;
            format!("sealed:{}", STANDARD.encode(sealed))
        }
        None => format!("plain:{}", secret.expose()),
    };
    Ok(SharedSecretRecord {
        value: Some(value),
        ..fingerprint_only(name, generation, secret)
    })
}

/// A row that records only which secret the configuration supplies.
fn fingerprint_only(name: &str, generation: i64, secret: &Secret) -> SharedSecretRecord {
    SharedSecretRecord {
        name: name.to_owned(),
        generation,
        value: None,
        fingerprint: secret.fingerprint(name),
        created_at: now_unix(),
    }
}

/// Binds a sealed value to its row, so it cannot be moved to another secret.
fn aad(name: &str, generation: i64) -> Vec<u8> {
    format!("tessera shared secret\0{name}\0{generation}").into_bytes()
}
