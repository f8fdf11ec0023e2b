//! Per-source rate limits (GCRA, via `governor`), kept in memory per instance.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::{RateLimit, RateLimitsConfig};
use crate::metrics::Metrics;
use metrics::Counter;

/// Refused by a rate limit; try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub retry_after: Duration,
}

/// A limit and the counter of its refusals (`tessera_rate_limited_total{limit}`).
struct Limiter<K: std::hash::Hash + Eq + Clone>(Option<DefaultKeyedRateLimiter<K>>, Counter);

impl<K: std::hash::Hash + Eq + Clone> Limiter<K> {
    fn new(limit: RateLimit, refusals: Counter) -> Self {
        let quota = NonZeroU32::new(limit.per_minute).map(|per_minute| {
            let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
            Quota::per_minute(per_minute).allow_burst(burst)
        });
        Self(quota.map(DefaultKeyedRateLimiter::keyed), refusals)
    }

    fn check(&self, key: &K) -> Result<(), RateLimited> {
        let Some(limiter) = &self.0 else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            self.1.increment(1);
            RateLimited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            }
        })
    }

    fn forget_idle(&self) {
        if let Some(limiter) = &self.0 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

pub struct RateLimiters {
    login_per_ip: Limiter<IpAddr>,
    login_per_user_ip: Limiter<(String, IpAddr)>,
    register_per_ip: Limiter<IpAddr>,
    refresh_per_ip: Limiter<IpAddr>,
}

impl RateLimiters {
    pub fn new(config: &RateLimitsConfig, metrics: &Metrics) -> Self {
        let refusals = |limit| metrics.rate_limit_counter(limit);
        Self {
            login_per_ip: Limiter::new(config.login_per_ip, refusals("login_per_ip")),
            login_per_user_ip: Limiter::new(
                config.login_per_user_ip,
                refusals("login_per_user_ip"),
            ),
            register_per_ip: Limiter::new(config.register_per_ip, refusals("register_per_ip")),
            refresh_per_ip: Limiter::new(config.refresh_per_ip, refusals("refresh_per_ip")),
        }
    }

    /// `ip` is a rate key (see [`super::rate_key`]); `canonical_name` the name's canonical form.
    pub fn check_login(&self, ip: IpAddr, canonical_name: &str) -> Result<(), RateLimited> {
        self.login_per_ip.check(&ip)?;
        self.login_per_user_ip
            .check(&(canonical_name.to_owned(), ip))
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

    #[test]
    fn a_burst_passes_then_the_limit_answers_with_a_wait() -> anyhow::Result<()> {
        let config = RateLimitsConfig {
            login_per_ip: RateLimit {
                per_minute: 60,
                burst: 3,
            },
            login_per_user_ip: RateLimit {
                per_minute: 0,
                burst: 0,
            },
            ..RateLimitsConfig::default()
        };
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
        let config = RateLimitsConfig {
            login_per_ip: RateLimit {
                per_minute: 0,
                burst: 0,
            },
            login_per_user_ip: RateLimit {
                per_minute: 1,
                burst: 2,
            },
            ..RateLimitsConfig::default()
        };
        let limits = RateLimiters::new(&config, &*Metrics::new(false)?);
        let ip = IpAddr::from([192, 0, 2, 1]);
        assert!(limits.check_login(ip, "alice").is_ok());
        assert!(limits.check_login(ip, "alice").is_ok());
        assert!(limits.check_login(ip, "alice").is_err());
        assert!(limits.check_login(ip, "bob").is_ok());
        Ok(())
    }
}
