//! Per-source rate limits (GCRA, via `governor`), kept in memory per instance.
//!
//! Memory is bounded whatever clients send: the per-(name, address) limit is keyed by a
//! 16-byte digest of the canonical name, not the name (NFKC can turn a 50-character name
//! into kilobytes), and each limit holds at most `max_keys` keys (see `key_store`).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use sha2::{Digest, Sha256};

use super::key_store::BoundedKeyStore;
use crate::config::{RateLimit, RateLimitsConfig};
use crate::metrics::Metrics;
use metrics::Counter;

/// Keys one limit may hold (a few MB at most per limit). Reached only when tens of
/// thousands of addresses are active within one recovery period (seconds to a minute).
pub const MAX_KEYS_PER_LIMIT: usize = 65_536;

/// A name as the per-(name, address) limit keys it: fixed size whatever the name.
type NameDigest = [u8; 16];

fn name_digest(canonical_name: &str) -> NameDigest {
    let digest = Sha256::digest(canonical_name.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// Refused by a rate limit; try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub retry_after: Duration,
}

/// The limiter of one limit: GCRA over a bounded key store, on the default clock.
type KeyedLimiter<K> = RateLimiter<K, BoundedKeyStore<K>, DefaultClock>;

/// A limit, the counter of its refusals (`tessera_rate_limited_total{limit}`), and when a
/// full key store was last pruned.
struct Limiter<K: Hash + Eq + Clone> {
    limiter: Option<KeyedLimiter<K>>,
    refusals: Counter,
    max_keys: usize,
    /// Seconds since the Unix epoch of the last prune forced by a full store.
    last_forced_prune: AtomicU64,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    fn new(limit: RateLimit, refusals: Counter, max_keys: usize) -> Self {
        let quota = NonZeroU32::new(limit.per_minute).map(|per_minute| {
            let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
            Quota::per_minute(per_minute).allow_burst(burst)
        });
        Self {
            limiter: quota.map(|quota| {
                RateLimiter::new(
                    quota,
                    BoundedKeyStore::new(max_keys),
                    DefaultClock::default(),
                )
            }),
            refusals,
            max_keys: max_keys.max(1),
            last_forced_prune: AtomicU64::new(0),
        }
    }

    fn check(&self, key: &K) -> Result<(), RateLimited> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() >= self.max_keys {
            self.make_room(limiter);
        }
        limiter.check_key(key).map_err(|not_until| {
            self.refusals.increment(1);
            RateLimited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            }
        })
    }

    /// Drops fully recovered keys, at most once a second: a scan of the whole store must not
    /// run on every request while it stays full.
    fn make_room(&self, limiter: &KeyedLimiter<K>) {
        let now = crate::tokens::now_unix().max(0) as u64;
        let last = self.last_forced_prune.load(Ordering::Relaxed);
        if now > last
            && self
                .last_forced_prune
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            limiter.retain_recent();
            if limiter.len() >= self.max_keys {
                tracing::warn!(
                    keys = limiter.len(),
                    "a rate limit is full of active keys; new clients pass it uncounted"
                );
            }
        }
    }

    fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len())
    }
}

pub struct RateLimiters {
    login_per_ip: Limiter<IpAddr>,
    login_per_user_ip: Limiter<(NameDigest, IpAddr)>,
    register_per_ip: Limiter<IpAddr>,
    refresh_per_ip: Limiter<IpAddr>,
}

impl RateLimiters {
    pub fn new(config: &RateLimitsConfig, metrics: &Metrics) -> Self {
        Self::with_max_keys(config, metrics, MAX_KEYS_PER_LIMIT)
    }

    fn with_max_keys(config: &RateLimitsConfig, metrics: &Metrics, max_keys: usize) -> Self {
        let counter = |name| metrics.rate_limit_counter(name);
        Self {
            login_per_ip: Limiter::new(config.login_per_ip, counter("login_per_ip"), max_keys),
            login_per_user_ip: Limiter::new(
                config.login_per_user_ip,
                counter("login_per_user_ip"),
                max_keys,
            ),
            register_per_ip: Limiter::new(
                config.register_per_ip,
                counter("register_per_ip"),
                max_keys,
            ),
            refresh_per_ip: Limiter::new(
                config.refresh_per_ip,
                counter("refresh_per_ip"),
                max_keys,
            ),
        }
    }

    /// `ip` is a rate key (see [`super::rate_key`]); `canonical_name` the name's canonical form.
    pub fn check_login(&self, ip: IpAddr, canonical_name: &str) -> Result<(), RateLimited> {
        self.login_per_ip.check(&ip)?;
        self.login_per_user_ip
            .check(&(name_digest(canonical_name), ip))
    }

    pub fn check_register(&self, ip: IpAddr) -> Result<(), RateLimited> {
        self.register_per_ip.check(&ip)
    }

    pub fn check_refresh(&self, ip: IpAddr) -> Result<(), RateLimited> {
        self.refresh_per_ip.check(&ip)
    }

    /// Drops the state of keys whose limits have fully recovered, so memory tracks only
    /// recent clients.
    pub fn forget_idle(&self) {
        self.login_per_ip.forget_idle();
        self.login_per_user_ip.forget_idle();
        self.register_per_ip.forget_idle();
        self.refresh_per_ip.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The login limits as `(per_minute, burst)` per address and per (name, address); the
    /// others as by default.
    fn login_limits(per_ip: (u32, u32), per_user_ip: (u32, u32)) -> RateLimitsConfig {
        let limit = |(per_minute, burst)| RateLimit { per_minute, burst };
        RateLimitsConfig {
            login_per_ip: limit(per_ip),
            login_per_user_ip: limit(per_user_ip),
            ..RateLimitsConfig::default()
        }
    }

    #[test]
    fn a_burst_passes_then_the_limit_answers_with_a_wait() -> anyhow::Result<()> {
        let config = login_limits((60, 3), (0, 0));
        let limits = RateLimiters::new(&config, &*Metrics::new(false)?);
        let ip = IpAddr::from([192, 0, 2, 1]);
        for _ in 0..3 {
            assert!(limits.check_login(ip, "alice").is_ok());
        }
        let refused = limits.check_login(ip, "bob").err();
        assert!(refused.is_some_and(
            |r| r.retry_after > Duration::ZERO && r.retry_after <= Duration::from_secs(1)
        ));
        assert!(
            limits
                .check_login(IpAddr::from([192, 0, 2, 2]), "alice")
                .is_ok(),
            "other sources are unaffected"
        );
        Ok(())
    }

    #[test]
    fn the_name_and_address_pair_is_limited_separately() -> anyhow::Result<()> {
        let config = login_limits((0, 0), (1, 2));
        let limits = RateLimiters::new(&config, &*Metrics::new(false)?);
        let ip = IpAddr::from([192, 0, 2, 1]);
        assert!(limits.check_login(ip, "alice").is_ok());
        assert!(limits.check_login(ip, "alice").is_ok());
        assert!(limits.check_login(ip, "alice").is_err());
        assert!(limits.check_login(ip, "bob").is_ok());
        Ok(())
    }

    #[test]
    fn keys_are_bounded_whatever_the_names() -> anyhow::Result<()> {
        let config = login_limits((0, 0), (1, 2));
        let limits = RateLimiters::with_max_keys(&config, &*Metrics::new(false)?, 100);
        let ip = IpAddr::from([192, 0, 2, 1]);
        // The first key is limited before the map fills...
        let long = "\u{fdfa}".repeat(50);
        assert!(limits.check_login(ip, &long).is_ok());
        assert!(limits.check_login(ip, &long).is_ok());
        assert!(limits.check_login(ip, &long).is_err());
        for i in 0..1_000 {
            let _ = limits.check_login(ip, &format!("{long}{i}"));
        }
        assert!(
            limits.login_per_user_ip.len() <= 100,
            "at most max_keys keys"
        );
        // ...and stays limited once it is full.
        assert!(limits.check_login(ip, &long).is_err());
        Ok(())
    }

    #[test]
    fn a_full_store_makes_room_by_dropping_recovered_keys() -> anyhow::Result<()> {
        let config = login_limits((0, 0), (6_000, 1));
        let limits = RateLimiters::with_max_keys(&config, &*Metrics::new(false)?, 10);
        let ip = IpAddr::from([192, 0, 2, 1]);
        for i in 0..10 {
            assert!(limits.check_login(ip, &format!("n{i}")).is_ok());
        }
        assert_eq!(limits.login_per_user_ip.len(), 10);
        std::thread::sleep(Duration::from_millis(100));
        assert!(limits.check_login(ip, "new").is_ok());
        assert_eq!(
            limits.login_per_user_ip.len(),
            1,
            "recovered keys made room"
        );
        assert!(
            limits.check_login(ip, "new").is_err(),
            "the new key is counted"
        );
        Ok(())
    }
}
