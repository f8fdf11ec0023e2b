//! Password hashing on a bounded pool of blocking threads.
//!
//! Argon2id costs ~19 MiB and tens of milliseconds per hash, so it must never run on
//! the async runtime and never more than `workers` at a time (memory stays bounded at
//! about `workers × memory_kib`; see `crate::password::workers`). At most `queue` further requests
//! may wait; past that the caller gets [`HashError::Overloaded`] at once, which the API
//! answers with 503, so a login flood cannot pile up work or memory.

pub(crate) mod argon2_memory;
pub(crate) mod workers;

use std::time::Instant;

use crate::password::workers::{PoolError, Reservation, Share, WorkerPool};
use argon2::{Params, PasswordHash};

use crate::config::Argon2Config;
use crate::legacy_hash::{self, FormatError, LegacyPolicy, wrapped};

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing queue is full")]
    Overloaded,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// The share of the hashing pool kept for logins of known devices (device tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reserve {
    /// Places (running or waiting) only they may take; 0: none.
    pub places: usize,
    /// Workers that run them before any other job.
    pub workers: usize,
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
    /// `workers` threads and a queue of `queue` requests: bounded CPU and memory.
    pool: WorkerPool,
    /// A real hash of a random password, verified when the username is unknown, so that
    /// an unknown user and a wrong password cost the same time.
    dummy_hash: String,
    /// `tessera_password_hash_duration_seconds` (a no-op unless metrics are on).
    duration: metrics::Histogram,
    /// Which weak legacy formats may verify (see [`crate::legacy_hash`]).
    legacy: LegacyPolicy,
}

impl PasswordHasher {
    #[cfg(test)]
    pub fn new(config: Argon2Config, workers: usize, queue: usize) -> anyhow::Result<Self> {
        Self::with_reserve(config, workers, queue, Reserve::default())
    }

    /// A hasher whose pool keeps `reserve` for known devices' logins (see
    /// [`PasswordHasher::reserve_known_device`]).
    pub fn with_reserve(
        config: Argon2Config,
        workers: usize,
        queue: usize,
        reserve: Reserve,
    ) -> anyhow::Result<Self> {
        let params = argon2_params(config)?;
        let dummy_password = crate::secret::generate_token_urlsafe();
        let dummy_hash = hash_blocking(&params, dummy_password.as_bytes())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let pool = WorkerPool::with_reserve(
            "tessera-hash",
            workers.max(1),
            queue,
            reserve.places,
            reserve.workers,
        )?;
        Ok(Self {
            params,
            pool,
            dummy_hash,
            duration: metrics::Histogram::noop(),
            legacy: LegacyPolicy::default(),
        })
    }

    /// Allows (or not) the weak legacy formats; off unless configured.
    pub fn with_legacy_policy(mut self, legacy: LegacyPolicy) -> Self {
        self.legacy = legacy;
        self
    }

    /// Records the time of each hash and verification in `histogram`.
    pub fn with_duration_histogram(mut self, histogram: metrics::Histogram) -> Self {
        self.duration = histogram;
        self
    }

    /// Takes a place in the hashing pool before any other work of a request: when the
    /// pool is full the request is refused (503) before it touches the database.
    pub fn reserve(&self) -> Result<HashSlot<'_>, HashError> {
        self.reserve_in(Share::Shared)
    }

    /// A place for the login of a known device (a valid device token): in the reserved
    /// share, which a flood of other logins cannot fill, or else in the shared pool.
    pub fn reserve_known_device(&self) -> Result<HashSlot<'_>, HashError> {
        self.reserve_in(Share::Reserved)
            .or_else(|_| self.reserve_in(Share::Shared))
    }

    fn reserve_in(&self, share: Share) -> Result<HashSlot<'_>, HashError> {
        let reservation = self
            .pool
            .try_reserve(share)
            .map_err(|_| HashError::Overloaded)?;
        Ok(HashSlot {
            hasher: self,
            reservation,
        })
    }

    /// Hashes a new password with the configured Argon2id parameters.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.reserve()?.hash(password).await
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no
    /// user (`stored` is `None`), in which case the result never matches. Tests only:
    /// requests check passwords through `Tessera::check_password`, under its limits.
    #[cfg(test)]
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verification, HashError> {
        self.reserve()?.verify(password, stored).await
    }

    /// Requests waiting or running right now (for metrics and tests).
    pub fn in_flight(&self) -> usize {
        self.pool.in_flight()
    }
}

/// A reserved place in the hashing pool, good for one hash or one verification.
pub struct HashSlot<'a> {
    hasher: &'a PasswordHasher,
    reservation: Reservation,
}

impl HashSlot<'_> {
    pub async fn hash(self, password: String) -> Result<String, HashError> {
        let params = self.hasher.params.clone();
        self.run(move || hash_blocking(&params, password.as_bytes()))
            .await?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no
    /// user (`stored` is `None`), in which case the result never matches.
    pub async fn verify(
        self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verification, HashError> {
        let known_user = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.hasher.dummy_hash.clone());
        let params = self.hasher.params.clone();
        let legacy = self.hasher.legacy;
        let verification = self
            .run(move || verify_blocking(&params, legacy, password.as_bytes(), &hash))
            .await?;
        Ok(Verification {
            matches: known_user && verification.matches,
            ..verification
        })
    }

    async fn run<T, F>(self, job: F) -> Result<T, HashError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let started = Instant::now();
        let result = self.reservation.run(job).await.map_err(|e| match e {
            PoolError::Full => HashError::Overloaded,
            PoolError::Stopped => HashError::Internal(e.to_string()),
        })?;
        self.hasher.duration.record(started.elapsed());
        tracing::debug!(
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "password hash computed"
        );
        Ok(result)
    }
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, HashError> {
    let salt = crate::secret::random_bytes::<16>();
    crate::password::argon2_memory::hash(params, password, &salt).map_err(HashError::Internal)
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
    } else if stored.starts_with(wrapped::PREFIX) {
        // Always upgraded after a match, to a plain Argon2id hash of the password.
        verify_wrapped(params, password, stored).map(|matches| Verification {
            matches,
            needs_rehash: matches,
        })
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
    // Computed in this thread's reused Argon2 memory (see crate::password::argon2_memory).
    let matches = crate::password::argon2_memory::verify(password, &hash, params)
        .map_err(|_| FormatError::Malformed("argon2 PHC string"))?;
    let needs_rehash = matches && is_weaker_than(&hash, params);
    Ok(Verification {
        matches,
        needs_rehash,
    })
}

/// argon2id(legacy(password)) against a wrapped legacy hash (see
/// [`crate::legacy_hash::wrapped`]). Every candidate output is run through Argon2id and
/// compared (no early exit), so the time does not tell which one matched.
fn verify_wrapped(params: &Params, password: &[u8], stored: &str) -> Result<bool, FormatError> {
    let wrapped = wrapped::parse(stored)?;
    let hash = PasswordHash::new(wrapped.argon2)
        .map_err(|_| FormatError::Malformed("argon2 PHC string"))?;
    if let Err(e) = legacy_hash::argon2_within_limits(&hash)
        && !is_at_most(&hash, params)
    {
        return Err(e);
    }
    let mut matched = false;
    for output in wrapped::legacy_outputs(password, &wrapped)? {
        matched |= crate::password::argon2_memory::verify(&output, &hash, params)
            .map_err(|_| FormatError::Malformed("argon2 PHC string"))?;
    }
    Ok(matched)
}

/// The stored form of an imported legacy hash: Argon2id with `config` over its output
/// (see [`crate::legacy_hash::wrapped`]). Argon2 hashes are returned as they are. Runs
/// one Argon2id: call it off the async runtime.
pub fn wrap_legacy(stored: &str, config: Argon2Config) -> Result<String, FormatError> {
    if stored.starts_with("$argon2") {
        return Ok(stored.to_owned());
    }
    let unwrapped = wrapped::unwrap(stored)?;
    let params = argon2_params(config).map_err(|_| FormatError::Malformed("argon2 parameters"))?;
    let salt = crate::secret::random_bytes::<16>();
    let argon2 = crate::password::argon2_memory::hash(&params, &unwrapped.output, &salt)
        .map_err(|_| FormatError::Malformed("argon2 parameters"))?;
    Ok(wrapped::format(&unwrapped, &argon2))
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

fn argon2_params(config: Argon2Config) -> anyhow::Result<Params> {
    Params::new(
        config.memory_kib,
        config.iterations,
        config.parallelism,
        None,
    )
    .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))
}

/// Time of one hash at the given parameters, in milliseconds (median of a few runs).
pub fn calibrate(config: Argon2Config) -> anyhow::Result<f64> {
    let params = argon2_params(config)?;
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
    use std::sync::Arc;

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

    /// The parts of a legacy hash's output as the source stored it (hex, base64), 8
    /// characters at a time: none may appear in the wrapped form.
    fn output_windows(stored: &str) -> Vec<String> {
        let output = match stored.rsplit_once('$') {
            Some(_) if stored.starts_with("$2") => stored[29..].to_owned(),
            Some((_, out)) => out.to_owned(),
            None => String::new(),
        };
        let chars: Vec<char> = output.chars().collect();
        chars.windows(8).map(|w| w.iter().collect()).collect()
    }

    #[test]
    fn wrapped_legacy_hashes_verify_as_argon2id_of_the_legacy_output() -> anyhow::Result<()> {
        let params = argon2_params(CHEAP)?;
        let strict = LegacyPolicy { allow_weak: false };
        let vectors = crate::legacy_hash::tests::vectors();
        for v in vectors.iter().filter(|v| v.kind != "argon2") {
            let what = format!("{} ({})", v.kind, v.source);
            let wrapped =
                wrap_legacy(&v.hash, CHEAP).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
            assert!(wrapped.starts_with(wrapped::PREFIX), "{what}");
            for window in output_windows(&v.hash) {
                assert!(!wrapped.contains(&window), "{what}: {window} kept");
            }
            // Weak formats verify once wrapped, whatever allow_weak_legacy_hashes says.
            let right = verify_blocking(&params, strict, v.password.as_bytes(), &wrapped);
            assert_eq!((right.matches, right.needs_rehash), (true, true), "{what}");
            let wrong = verify_blocking(&params, strict, v.wrong.as_bytes(), &wrapped);
            assert!(!wrong.matches, "{what}");
        }
        // Argon2 hashes are kept as they are.
        let argon2 = vectors
            .iter()
            .find(|v| v.kind == "argon2")
            .map(|v| v.hash.clone());
        let argon2 = argon2.unwrap_or_default();
        assert_eq!(wrap_legacy(&argon2, CHEAP), Ok(argon2));
        Ok(())
    }

    #[test]
    fn a_tampered_wrapped_hash_never_matches() -> anyhow::Result<()> {
        let params = argon2_params(CHEAP)?;
        let legacy = "pbkdf2:sha256:1000$salt$".to_owned() + &"ab".repeat(32);
        let wrapped = wrap_legacy(&legacy, CHEAP).map_err(|e| anyhow::anyhow!("{e}"))?;
        let costly = wrapped.replace(":1000$", ":999999999$");
        for stored in [
            costly.as_str(),
            "$tessera-wrapped$l=32$nonsense",
            "$tessera-wrapped$",
        ] {
            let v = verify_blocking(&params, LegacyPolicy::default(), b"anything", stored);
            assert!(!v.matches, "{stored}");
        }
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
        // The one place (one worker, no queue) taken, as a request in flight holds it: no
        // sleep that a loaded machine could outlast.
        let busy = hasher.reserve()?;
        let second = hasher.hash("second-password".into()).await;
        assert!(matches!(second, Err(HashError::Overloaded)));
        drop(busy);
        assert!(hasher.hash("first-password".into()).await.is_ok());
        Ok(())
    }
}
