//! Password hashing on a bounded pool of blocking threads.
//!
//! Argon2id costs ~19 MiB and tens of milliseconds per hash, so it must never run on
//! the async runtime and never more than `workers` at a time (memory stays bounded at
//! about `workers × memory_kib`). At most `queue` further requests may wait; past that
//! the caller gets [`HashError::Overloaded`] at once, which the API answers with 503,
//! so a login flood cannot pile up work or memory.

use std::sync::Arc;
use std::time::Instant;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::config::Argon2Config;
use crate::legacy_hash::{self, FormatError, LegacyPolicy};

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing queue is full")]
    Overloaded,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub matches: bool,
    /// The hash matched but was made with weaker parameters than the configured ones.
    pub needs_rehash: bool,
}

pub struct PasswordHasher {
    params: Params,
    /// Permits for requests that are running or waiting: `workers + queue`.
    admission: Arc<Semaphore>,
    /// `workers + queue`, fixed at construction (a semaphore has no capacity getter).
    capacity: usize,
    /// Permits for hashes that are running: `workers`.
    workers: Arc<Semaphore>,
    /// A real hash of a random password, verified when the username is unknown, so that
    /// an unknown user and a wrong password cost the same time.
    dummy_hash: String,
    /// Which weak legacy formats may verify (see [`crate::legacy_hash`]).
    legacy: LegacyPolicy,
}

impl PasswordHasher {
    pub fn new(config: Argon2Config, workers: usize, queue: usize) -> anyhow::Result<Self> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?;
        let dummy_password = crate::secret::generate_token_urlsafe();
        let dummy_hash = hash_blocking(&params, dummy_password.as_bytes())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let workers = workers.max(1);
        Ok(Self {
            params,
            admission: Arc::new(Semaphore::new(workers + queue)),
            capacity: workers + queue,
            workers: Arc::new(Semaphore::new(workers)),
            dummy_hash,
            legacy: LegacyPolicy::default(),
        })
    }

    /// Allows (or not) the weak legacy formats; off unless configured.
    pub fn with_legacy_policy(mut self, legacy: LegacyPolicy) -> Self {
        self.legacy = legacy;
        self
    }

    /// Hashes a new password with the configured Argon2id parameters.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let params = self.params.clone();
        self.run(move || hash_blocking(&params, password.as_bytes()))
            .await?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no
    /// user (`stored` is `None`), in which case the result never matches.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verification, HashError> {
        let known_user = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let params = self.params.clone();
        let legacy = self.legacy;
        let verification = self
            .run(move || verify_blocking(&params, legacy, password.as_bytes(), &hash))
            .await?;
        Ok(Verification {
            matches: known_user && verification.matches,
            ..verification
        })
    }

    /// Requests waiting or running right now (for metrics and tests).
    pub fn in_flight(&self) -> usize {
        self.capacity
            .saturating_sub(self.admission.available_permits())
    }

    async fn run<T, F>(&self, job: F) -> Result<T, HashError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let admitted = self
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| HashError::Overloaded)?;
        let worker = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| HashError::Internal(e.to_string()))?;
        let span = tracing::Span::current();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            let _enter = span.enter();
            let out = job();
            drop((worker, admitted));
            out
        })
        .in_current_span()
        .await
        .map_err(|e| HashError::Internal(e.to_string()))?;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "password hash computed"
        );
        Ok(result)
    }
}

fn argon2id(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, HashError> {
    let salt = crate::secret::random_bytes::<16>();
    argon2id(params)
        .hash_password_with_salt(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError::Internal(e.to_string()))
}

/// A stored hash that cannot be verified (unknown format, corrupt, above the cost limits,
/// a weak format that is not allowed) never matches: it is treated like a wrong password,
/// and logged without the hash so an operator can find such rows.
fn verify_blocking(
    params: &Params,
    legacy: LegacyPolicy,
    password: &[u8],
    stored: &str,
) -> Verification {
    let result = if stored.starts_with("$argon2") {
        verify_argon2(params, password, stored)
    } else {
        // Any other format is upgraded to Argon2id after a successful login.
        legacy_hash::verify(password, stored, legacy).map(|matches| Verification {
            matches,
            needs_rehash: matches,
        })
    };
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "stored password hash cannot be verified; refusing the login");
        Verification {
            matches: false,
            needs_rehash: false,
        }
    })
}

fn verify_argon2(
    params: &Params,
    password: &[u8],
    stored: &str,
) -> Result<Verification, FormatError> {
    let hash =
        PasswordHash::new(stored).map_err(|_| FormatError::Malformed("argon2 PHC string"))?;
    // Imported Argon2 hashes choose their own cost: refuse extreme ones, unless they are
    // no dearer than what this server is configured to make itself.
    if let Err(e) = legacy_hash::argon2_within_limits(&hash)
        && !is_at_most(&hash, params)
    {
        return Err(e);
    }
    let matches = argon2id(params).verify_password(password, &hash).is_ok();
    let needs_rehash = matches && is_weaker_than(&hash, params);
    Ok(Verification {
        matches,
        needs_rehash,
    })
}

fn is_at_most(hash: &PasswordHash, configured: &Params) -> bool {
    Params::try_from(hash).is_ok_and(|p| {
        p.m_cost() <= configured.m_cost()
            && p.t_cost() <= configured.t_cost()
            && p.p_cost() <= configured.p_cost()
    })
}

fn is_weaker_than(hash: &PasswordHash, configured: &Params) -> bool {
    if hash.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(hash) {
        Ok(p) => {
            p.m_cost() < configured.m_cost()
                || p.t_cost() < configured.t_cost()
                || p.p_cost() < configured.p_cost()
        }
        Err(_) => true,
    }
}

/// Time of one hash at the given parameters, in milliseconds (median of a few runs).
pub fn calibrate(config: Argon2Config) -> anyhow::Result<f64> {
    let params = Params::new(
        config.memory_kib,
        config.iterations,
        config.parallelism,
        None,
    )
    .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?;
    let mut samples = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        hash_blocking(&params, b"calibration-password").map_err(|e| anyhow::anyhow!("{e}"))?;
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Argon2Config = Argon2Config {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() -> anyhow::Result<()> {
        let hasher = PasswordHasher::new(CHEAP, 1, 4)?;
        let hash = hasher.hash("correct horse".into()).await?;
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            hasher
                .verify("correct horse".into(), Some(hash.clone()))
                .await?
                .matches
        );
        assert!(
            !hasher
                .verify("wrong horse".into(), Some(hash))
                .await?
                .matches
        );
        assert!(!hasher.verify("anything".into(), None).await?.matches);
        Ok(())
    }

    #[tokio::test]
    async fn weaker_hashes_ask_for_a_rehash() -> anyhow::Result<()> {
        let weak = PasswordHasher::new(CHEAP, 1, 4)?;
        let hash = weak.hash("pw-pw-pw-pw".into()).await?;
        let strong = PasswordHasher::new(
            Argon2Config {
                memory_kib: 2048,
                ..CHEAP
            },
            1,
            4,
        )?;
        let v = strong.verify("pw-pw-pw-pw".into(), Some(hash)).await?;
        assert!(v.matches && v.needs_rehash);
        Ok(())
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() -> anyhow::Result<()> {
        let hasher = Arc::new(PasswordHasher::new(
            Argon2Config {
                memory_kib: 8192,
                iterations: 3,
                ..CHEAP
            },
            1,
            0,
        )?);
        let busy = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash("first-password".into()).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let second = hasher.hash("second-password".into()).await;
        assert!(matches!(second, Err(HashError::Overloaded)));
        assert!(busy.await?.is_ok());
        Ok(())
    }
}
