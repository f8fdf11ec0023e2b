//! Abuse protection: who the client is (safely, behind proxies), per-source rate limits,
//! and the per-name login back-off.
//!
//! The policy, and why:
//! - Per client address (IPv6: per /64, which one subscriber usually holds), hard GCRA
//!   limits on login, register and refresh: one source cannot spray.
//! - Per (name, address), a hard, low login limit: one source cannot guess one account.
//! - Per name from all sources, no hard limit: a hard per-name lock would let anyone lock
//!   any user out. Instead, after a few failures in a row, every login to that name waits
//!   a delay that doubles with each further failure, up to a cap; one success resets it.
//!   The counter lives in the database, so it holds across instances, and is kept per
//!   name whether or not the account exists, so it reveals nothing about who exists. The
//!   real user, slowed but never refused, still gets in from their own network.

pub mod client_ip;
mod key_store;
pub mod limits;
pub mod shared;

pub use client_ip::{TrustedProxies, rate_key};
pub use limits::{RateLimited, RateLimiters};
pub use shared::{Limits, SharedCounter};

use crate::config::LoginBackoffConfig;

/// The delay before checking a password for a name with `failures` recent failures.
pub fn backoff_delay(config: &LoginBackoffConfig, failures: u32) -> std::time::Duration {
    if config.threshold == 0 || failures < config.threshold {
        return std::time::Duration::ZERO;
    }
    let doublings = (failures - config.threshold).min(30);
    let delay = config
        .base_delay_ms
        .saturating_mul(1u64 << doublings)
        .min(config.max_delay_ms);
    std::time::Duration::from_millis(delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_delay_doubles_from_the_threshold_up_to_the_cap() {
        let config = LoginBackoffConfig {
            threshold: 3,
            base_delay_ms: 100,
            max_delay_ms: 1000,
            window_secs: 60,
        };
        let delays: Vec<Duration> = (0..9).map(|f| backoff_delay(&config, f)).collect();
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![0, 0, 0, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(
            backoff_delay(&config, u32::MAX),
            Duration::from_millis(1000)
        );
        let off = LoginBackoffConfig {
            threshold: 0,
            ..config
        };
        assert_eq!(backoff_delay(&off, 100), Duration::ZERO);
    }
}
