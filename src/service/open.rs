//! Assembling a [`Tessera`]: for serving, which creates whatever is missing (data
//! directory, database, keys) so `tessera serve` needs no setup; or for administration,
//! which opens only what exists and creates nothing.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use once_cell::sync::OnceCell;

use super::{Inner, Tessera, key_ring, redact_url, shared_secrets};
use crate::abuse::{Limits, RateLimiters, SharedCounter, TrustedProxies};
use crate::breached_passwords::BreachedPasswords;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::password::PasswordHasher;
use crate::revocation::RevocationSet;
use crate::secret::{Secret, generate_token_urlsafe};
use crate::store::{Store, StoreError};
use crate::tokens::keyring::KeyRing;
use crate::tokens::{AccessTokens, DeviceTokens, RefreshTokens};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Serve,
    Administer,
}

impl Tessera {
    /// Prepares the data directory, keys and database (migrations applied), ready to serve.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        Self::open_for(config, Purpose::Serve).await
    }

    /// Opens an existing deployment for administration commands: creates no database,
    /// writes no key and starts no hashing thread until a command hashes a password. A
    /// SQLite database that does not exist is an error that names the file looked for.
    pub async fn open_for_admin(config: Config) -> anyhow::Result<Self> {
        Self::open_for(config, Purpose::Administer).await
    }

    async fn open_for(mut config: Config, purpose: Purpose) -> anyhow::Result<Self> {
        config.validate()?;
        config.add_page_refresh_path();
        let url = config.effective_database_url();
        if purpose == Purpose::Serve && !config.cookies.secure {
            tracing::warn!(
                "cookies.secure = false: cookies will travel over plain HTTP; for development \
                 on http://localhost only"
            );
        }
        if purpose == Purpose::Serve {
            crate::data_dir::prepare(&config)?;
        } else if let Some(file) = crate::store::sqlite_file(&url)
            && !file.exists()
        {
            anyhow::bail!(
                "no tessera database at {}: check --data-dir or --database-url (nothing was created)",
                file.display()
            );
        }
        let connect_timeout = Duration::from_secs(config.db_connect_timeout_secs);
        let store = crate::store::connect_with(
            &url,
            config.db_max_connections,
            connect_timeout,
            config.sqlite_synchronous,
        )
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(&url)))?;
        migrate_with_retry(store.as_ref(), connect_timeout).await?;
        let secrets =
            shared_secrets::load(&config, store.as_ref(), purpose == Purpose::Serve).await?;
        let jwt_secret = secrets.jwt_secret;
        let kek = secrets.kek;
        // Names the deployment where instances meet outside the database (Redis keys):
        // derived from the HS256 secret they all share (it changes only in a coordinated
        // restart), revealing nothing of it.
        let deployment_id = jwt_secret
            .as_ref()
            .map(|key| key.fingerprint("deployment")[..12].to_owned())
            .unwrap_or_default();
        let mut refresh_keys = secrets.refresh_keys.into_iter();
        // Administration never issues or reads refresh tokens: a key that is never written
        // and never used stands in when the deployment has none yet.
        let refresh_key = refresh_keys
            .next()
            .unwrap_or_else(|| Secret::new(generate_token_urlsafe()));

        let metrics = Metrics::new(config.metrics_enabled)?;
        let hasher = OnceCell::new();
        if purpose == Purpose::Serve {
            // Started now, so a bad Argon2 setting stops the start, not the first login.
            let _ = hasher.set(start_hasher(&config, &metrics)?);
        }
        let configured_keys = key_ring::configured_keys(&config, jwt_secret.as_ref())?;
        let ring = match key_ring::load_ring(
            &config,
            store.as_ref(),
            kek.as_ref(),
            &configured_keys,
        )
        .await
        {
            Ok(ring) => {
                key_ring::warn_about_small_rsa_keys(&ring);
                ring
            }
            // A database that is down at start must not stop the server (it answers 503
            // and recovers); the reload task loads the database's keys once it is back.
            Err(e) if store.ping().await.is_err() => {
                tracing::warn!(error = %e, "cannot load signing keys yet; using configured keys");
                KeyRing::new(
                    configured_keys.clone(),
                    config.accept_tokens_without_kid,
                    (config.access_token_ttl_secs + config.leeway_secs) as i64,
                    config.keep_hs256_verifying,
                )
            }
            Err(e) => return Err(e),
        };
        let access = AccessTokens::new(
            ring,
            config.issuer.clone(),
            config.audience.clone(),
            config.access_token_ttl_secs,
            config.leeway_secs,
        );
        let remember = (config.access_token_ttl_secs + config.leeway_secs) as i64;
        let breached = match &config.breached_passwords.api_url {
            Some(url) => Some(BreachedPasswords::new(
                url,
                Duration::from_millis(config.breached_passwords.timeout_ms),
            )?),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                limits: Limits::new(
                    config.rate_limits,
                    RateLimiters::new(&config.rate_limits, &metrics),
                    SharedCounter::from_settings(
                        config.rate_limit_url.as_deref(),
                        &store,
                        &deployment_id,
                    )?,
                    &metrics,
                ),
                metrics,
                proxies: TrustedProxies::new(
                    config.trusted_proxies.clone(),
                    config.forwarded_header,
                ),
                hasher,
                access,
                configured_keys,
                kek,
                name_digests: super::audit::NameDigests::new(
                    jwt_secret.as_ref().unwrap_or(&refresh_key),
                ),
                audit: super::audit::AuditLog::new(config.audit_window_secs, config.audit_burst),
                refresh: RefreshTokens::new(refresh_key, refresh_keys.collect()),
                // Administration issues no device token: a key never used stands in.
                devices: DeviceTokens::new(
                    secrets
                        .device_key
                        .unwrap_or_else(|| Secret::new(generate_token_urlsafe())),
                ),
                revocations: Arc::new(RevocationSet::new(remember)),
                store,
                breached,
                mail: super::recovery::Mail::from_config(&config)?,
                verified_clients: Default::default(),
                config,
            }),
        })
    }
}

/// The bounded hashing pool at the configured parameters (its threads start here).
pub(super) fn start_hasher(config: &Config, metrics: &Metrics) -> anyhow::Result<PasswordHasher> {
    let devices = &config.device_tokens;
    let reserve = if devices.enabled {
        crate::password::Reserve {
            places: devices.reserved_places,
            workers: devices.reserved_workers,
        }
    } else {
        crate::password::Reserve::default()
    };
    Ok(PasswordHasher::with_reserve(
        config.argon2,
        config.effective_hash_workers(),
        config.hash_queue,
        reserve,
    )?
    .with_duration_histogram(metrics.hash_duration())
    .with_legacy_policy(crate::legacy_hash::LegacyPolicy {
        allow_weak: config.allow_weak_legacy_hashes,
    }))
}

/// Migrations at start. A database that is still starting (a container beside this one)
/// gets a few tries before tessera gives up.
async fn migrate_with_retry(store: &dyn Store, timeout: Duration) -> anyhow::Result<()> {
    let mut attempt = 1;
    loop {
        match store.migrate().await {
            Ok(()) => return Ok(()),
            Err(StoreError::Unavailable(e)) if attempt < 5 => {
                tracing::warn!(error = %e, attempt, "database not reachable yet; retrying");
                tokio::time::sleep(timeout.min(Duration::from_secs(2))).await;
                attempt += 1;
            }
            Err(e) => return Err(e).context("cannot apply database migrations"),
        }
    }
}
