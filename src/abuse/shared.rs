//! Rate limits counted for the whole deployment, not per process: with three instances
//! behind a load balancer, an address gets the configured budget in total.
//!
//! The same GCRA as the in-process limiter (`limits.rs`), one atomic step per check, in
//! PostgreSQL (an `UNLOGGED` table; the default when the database is PostgreSQL) or in
//! Redis (`rate_limit_url = "redis://…"`). Each bucket keeps its theoretical arrival time
//! (TAT) on the shared store's own clock, so instances whose clocks differ still agree.
//!
//! If the shared store cannot answer, the check falls back to this process's own limiter
//! and says so in the log (at most every 10 s): the service stays up, and an attacker
//! gets at most one process's budget per instance meanwhile, as before limits were shared.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::limits::{RateLimited, RateLimiters};
use crate::config::{RateLimit, RateLimitsConfig};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::tokens::now_unix;
use metrics::Counter;

/// Where limits are counted.
pub enum SharedCounter {
    /// The deployment's PostgreSQL database.
    Database(Arc<dyn Store>),
    /// A Redis server, connected on first use (and again after a failure).
    Redis {
        client: redis::Client,
        connection: OnceCell<ConnectionManager>,
        /// `tessera:<deployment>:`, so deployments sharing one Redis never share buckets.
        prefix: String,
    },
}

/// GCRA in one atomic step: `KEYS[1]` the bucket, `ARGV` the emission interval and the
/// burst tolerance in ms. Returns 0 when the request passes, else the wait in ms. The
/// clock is Redis's own (`TIME`), shared by every instance.
const REDIS_GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
if next_tat - now > tolerance then return next_tat - now - tolerance end
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now)
return 0
";

impl SharedCounter {
    /// The counter `rate_limit_url` names: `redis://…`, `database`, or `memory` (none);
    /// unset means the database when it is PostgreSQL, else none. `deployment` names the
    /// deployment (the same on all its instances) in Redis keys.
    pub fn from_settings(
        rate_limit_url: Option<&str>,
        store: &Arc<dyn Store>,
        deployment: &str,
    ) -> anyhow::Result<Option<SharedCounter>> {
        match rate_limit_url {
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Ok(Some(SharedCounter::Redis {
                    client: redis::Client::open(url)
                        .map_err(|e| anyhow::anyhow!("rate_limit_url: {e}"))?,
                    connection: OnceCell::new(),
                    prefix: format!("tessera:{deployment}:"),
                }))
            }
            Some("database") => {
                anyhow::ensure!(
                    store.shares_rate_limits(),
                    "rate_limit_url = \"database\" needs PostgreSQL; SQLite limits are per process"
                );
                Ok(Some(SharedCounter::Database(store.clone())))
            }
            Some("memory") => Ok(None),
            Some(other) => anyhow::bail!(
                "rate_limit_url must be redis://…, \"database\" or \"memory\", not {other:?}"
            ),
            None if store.shares_rate_limits() => Ok(Some(SharedCounter::Database(store.clone()))),
            None => Ok(None),
        }
    }

    /// Takes one request from the bucket `key` under `limit`: `None` passes, `Some(wait)`
    /// is refused for that long.
    async fn take(&self, key: &str, limit: RateLimit) -> Result<Option<Duration>, String> {
        let (interval_ms, tolerance_ms) = gcra(limit);
        let wait_ms = match self {
            SharedCounter::Database(store) => store
                .take_rate_limit_token(key, interval_ms, tolerance_ms)
                .await
                .map_err(|e| e.to_string())?,
            SharedCounter::Redis {
                client,
                connection,
                prefix,
            } => {
                let mut connection = connection
                    .get_or_try_init(|| async {
                        let config = ConnectionManagerConfig::new()
                            .set_connection_timeout(Duration::from_millis(500))
                            .set_response_timeout(Duration::from_millis(500))
                            .set_number_of_retries(1);
                        ConnectionManager::new_with_config(client.clone(), config).await
                    })
                    .await
                    .map_err(|e| e.to_string())?
                    .clone();
                let wait: i64 = redis::Script::new(REDIS_GCRA)
                    .key(format!("{prefix}{key}"))
                    .arg(interval_ms)
                    .arg(tolerance_ms)
                    .invoke_async(&mut connection)
                    .await
                    .map_err(|e| e.to_string())?;
                (wait > 0).then_some(wait)
            }
        };
        Ok(wait_ms.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0).max(1))))
    }
}

/// GCRA parameters of a limit, in ms: the emission interval (one request per interval
/// on average) and the tolerance (`burst` requests at once). The interval is at least
/// 1 ms: a shared limit counts at most 60,000 requests a minute per key.
fn gcra(limit: RateLimit) -> (i64, i64) {
    let interval = (60_000 / i64::from(limit.per_minute.max(1))).max(1);
    (interval, interval * i64::from(limit.burst.max(1)))
}

/// The limits of one instance: shared across the deployment where configured, with this
/// process's own limiter as the fallback (and the only one on SQLite).
pub struct Limits {
    config: RateLimitsConfig,
    local: RateLimiters,
    shared: Option<SharedCounter>,
    /// Refusals by the shared counter, per limit (the local limiter counts its own).
    refusals: SharedRefusals,
    /// When the last fallback was logged (Unix seconds), to log it at most every 10 s.
    fallback_logged_at: AtomicI64,
}

impl Limits {
    pub fn new(
        config: RateLimitsConfig,
        local: RateLimiters,
        shared: Option<SharedCounter>,
        metrics: &Metrics,
    ) -> Self {
        Self {
            config,
            local,
            shared,
            refusals: SharedRefusals {
                login_per_ip: metrics.rate_limit_counter("login_per_ip"),
                login_per_user_ip: metrics.rate_limit_counter("login_per_user_ip"),
                register_per_ip: metrics.rate_limit_counter("register_per_ip"),
                refresh_per_ip: metrics.rate_limit_counter("refresh_per_ip"),
            },
            fallback_logged_at: AtomicI64::new(0),
        }
    }

    /// The in-process limiters (their idle keys are forgotten by the purge loop).
    pub fn local(&self) -> &RateLimiters {
        &self.local
    }

    /// `ip` is a rate key (see [`super::rate_key`]); `canonical_name` the name's canonical form.
    pub async fn check_login(&self, ip: IpAddr, canonical_name: &str) -> Result<(), RateLimited> {
        let Some(shared) = &self.shared else {
            return self.local.check_login(ip, canonical_name);
        };
        // The name enters the key as a fixed-size digest: names are attacker-chosen.
        let name = hex::encode(&Sha256::digest(canonical_name.as_bytes())[..16]);
        let by_ip = self
            .take(
                shared,
                &format!("login_ip:{ip}"),
                self.config.login_per_ip,
                &self.refusals.login_per_ip,
            )
            .await;
        let checked = match by_ip {
            Ok(()) => {
                self.take(
                    shared,
                    &format!("login_user_ip:{name}:{ip}"),
                    self.config.login_per_user_ip,
                    &self.refusals.login_per_user_ip,
                )
                .await
            }
            Err(refused) => Err(refused),
        };
        checked.or_else(|fallback| fallback.resolve(|| self.local.check_login(ip, canonical_name)))
    }

    pub async fn check_register(&self, ip: IpAddr) -> Result<(), RateLimited> {
        let Some(shared) = &self.shared else {
            return self.local.check_register(ip);
        };
        self.take(
            shared,
            &format!("register_ip:{ip}"),
            self.config.register_per_ip,
            &self.refusals.register_per_ip,
        )
        .await
        .or_else(|fallback| fallback.resolve(|| self.local.check_register(ip)))
    }

    pub async fn check_refresh(&self, ip: IpAddr) -> Result<(), RateLimited> {
        let Some(shared) = &self.shared else {
            return self.local.check_refresh(ip);
        };
        self.take(
            shared,
            &format!("refresh_ip:{ip}"),
            self.config.refresh_per_ip,
            &self.refusals.refresh_per_ip,
        )
        .await
        .or_else(|fallback| fallback.resolve(|| self.local.check_refresh(ip)))
    }

    async fn take(
        &self,
        shared: &SharedCounter,
        key: &str,
        limit: RateLimit,
        refusals: &Counter,
    ) -> Result<(), Refusal> {
        if limit.per_minute == 0 {
            return Ok(());
        }
        match shared.take(key, limit).await {
            Ok(None) => Ok(()),
            Ok(Some(retry_after)) => {
                refusals.increment(1);
                Err(Refusal::Limited(RateLimited { retry_after }))
            }
            Err(cause) => {
                let now = now_unix();
                let last = self.fallback_logged_at.load(Ordering::Relaxed);
                if now - last >= 10
                    && self
                        .fallback_logged_at
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    tracing::warn!(error = %cause, "shared rate limits unreachable; counting in this process meanwhile");
                }
                Err(Refusal::Unreachable)
            }
        }
    }
}

/// `tessera_rate_limited_total{limit}` for refusals by the shared counter.
struct SharedRefusals {
    login_per_ip: Counter,
    login_per_user_ip: Counter,
    register_per_ip: Counter,
    refresh_per_ip: Counter,
}

/// Why a shared check did not pass.
enum Refusal {
    Limited(RateLimited),
    /// The shared counter did not answer: this process's limiter decides instead.
    Unreachable,
}

impl Refusal {
    fn resolve(self, local: impl FnOnce() -> Result<(), RateLimited>) -> Result<(), RateLimited> {
        match self {
            Refusal::Limited(limited) => Err(limited),
            Refusal::Unreachable => local(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_parameters_follow_the_limit() {
        let limit = |per_minute, burst| RateLimit { per_minute, burst };
        assert_eq!(gcra(limit(60, 20)), (1000, 20_000));
        assert_eq!(gcra(limit(600, 100)), (100, 10_000));
        // A burst of 0 still lets one request through, as the in-process limiter does.
        assert_eq!(gcra(limit(6, 0)), (10_000, 10_000));
        // Beyond 60,000 a minute the interval stays 1 ms (a zero one would never refuse,
        // and Redis refuses a zero expiry).
        assert_eq!(gcra(limit(1_000_000, 5)), (1, 5));
    }
}
