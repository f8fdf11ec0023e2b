//! Settings of device tokens (`[device_tokens]` in TOML, `TESSERA_DEVICE_TOKENS__…`): OWASP's
//! device cookies, which let known devices past a login flood (see `tokens::device`).

use serde::{Deserialize, Serialize};

/// Device tokens: issued at every successful login, presented with the next one.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceTokensConfig {
    /// Issue device tokens and honour them. Off: logins neither get nor use one.
    pub enabled: bool,
    /// How long a device token is good for, in seconds (every login issues a new one).
    pub ttl_secs: u64,
    /// Failed logins a device token may have within `failure_window_secs` before it is
    /// locked out (a login presenting it is then a normal one) until that window ends.
    pub max_failures: u32,
    /// The window of `max_failures`, in seconds from the first counted attempt.
    pub failure_window_secs: u64,
    /// Places in the hashing pool (running or waiting) that only logins with a valid
    /// device token may take, on top of `hash_workers + hash_queue`; 0: no reserved share
    /// (such logins take places in the shared pool, and still skip the per-name back-off).
    pub reserved_places: usize,
    /// Hashing workers (at most `hash_workers`) that run a waiting device-token login
    /// before any other job: how soon such a login starts under a flood.
    pub reserved_workers: usize,
}

impl Default for DeviceTokensConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl_secs: 365 * 24 * 3600,
            max_failures: 5,
            failure_window_secs: 3600,
            reserved_places: 16,
            reserved_workers: 1,
        }
    }
}

impl DeviceTokensConfig {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        anyhow::ensure!(
            self.ttl_secs > 0,
            "device_tokens.ttl_secs must be positive (or set device_tokens.enabled = false)"
        );
        anyhow::ensure!(
            self.max_failures >= 1 && self.failure_window_secs >= 1,
            "device_tokens.max_failures and device_tokens.failure_window_secs must be at least 1"
        );
        anyhow::ensure!(
            self.reserved_places == 0 || self.reserved_workers >= 1,
            "device_tokens.reserved_workers must be at least 1 when reserved_places is set \
             (a reserved place no worker serves first waits behind the whole queue)"
        );
        Ok(())
    }
}
