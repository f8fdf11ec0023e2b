//! How many connections the server holds, in total and per client address.
//!
//! Every open connection is a file descriptor, and idle ones cost a client nothing: about
//! 1,000 idle connections from one address against the common 1,024 open-files limit left
//! no descriptor to accept anyone else. So the server raises its soft open-files limit to
//! the hard one at start, caps connections in total (below that limit) and per client
//! address, and a connection beyond a cap is answered `503 overloaded` (`headers::refusal`) and closed at once,
//! before it costs more than the accept. Caps count the TCP peer (IPv6: its /64, as the
//! rate limits do); a trusted proxy carries many clients and is exempt from the per-address
//! cap (it counts towards the total).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::abuse::{TrustedProxies, rate_key};

/// Descriptors kept out of the connection budget: database pool, key and log files, the
/// listener, and a margin.
const RESERVED_DESCRIPTORS: u64 = 128;

/// Raises the soft open-files limit to the hard limit; returns the soft limit in effect
/// (`None`: unlimited or unknown).
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => tracing::debug!(limit = ?limit.maximum, "raised the open-files limit"),
            Err(e) => tracing::warn!(error = %e, "cannot raise the open-files limit"),
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The total cap in effect: `configured`, or (0) the open-files limit minus a reserve.
pub fn effective_max_connections(configured: usize, open_files: Option<u64>) -> usize {
    if configured > 0 {
        return configured;
    }
    let budget = open_files.map_or(u64::MAX, |n| n.saturating_sub(RESERVED_DESCRIPTORS));
    usize::try_from(budget).unwrap_or(usize::MAX).max(64)
}

/// Open connections, counted per client address.
pub struct ConnectionCounter {
    max_total: usize,
    /// 0: no per-address cap.
    max_per_ip: usize,
    exempt: TrustedProxies,
    state: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// A counted connection; uncounted when dropped.
pub struct ConnectionSlot {
    counter: Arc<ConnectionCounter>,
    key: Option<IpAddr>,
}

impl ConnectionCounter {
    pub fn new(max_total: usize, max_per_ip: usize, exempt: TrustedProxies) -> Arc<Self> {
        Arc::new(Self {
            max_total: max_total.max(1),
            max_per_ip,
            exempt,
            state: Mutex::new(Counts::default()),
        })
    }

    /// A slot for a connection from `peer`, or `None` when a cap is reached.
    pub fn try_acquire(self: &Arc<Self>, peer: IpAddr) -> Option<ConnectionSlot> {
        let key = (self.max_per_ip > 0 && !self.exempt.is_trusted(peer)).then(|| rate_key(peer));
        let mut counts = self.lock();
        if counts.total >= self.max_total {
            return None;
        }
        if let Some(key) = key {
            let count = counts.per_ip.entry(key).or_insert(0);
            if *count >= self.max_per_ip {
                return None;
            }
            *count += 1;
        }
        counts.total += 1;
        Some(ConnectionSlot {
            counter: self.clone(),
            key,
        })
    }

    /// Open connections now.
    #[cfg(test)]
    pub fn total(&self) -> usize {
        self.lock().total
    }

    /// A panic elsewhere while holding the lock leaves plain counters: still usable.
    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.counter.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(key) = self.key
            && let Some(count) = counts.per_ip.get_mut(&key)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.per_ip.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn caps_hold_per_address_and_in_total_and_slots_give_back() {
        let proxies = TrustedProxies::new(
            vec!["10.0.0.0/8".parse().unwrap_or_else(|e| panic!("{e}"))],
            Default::default(),
        );
        let counter = ConnectionCounter::new(5, 2, proxies);
        let a1 = counter.try_acquire(ip("192.0.2.1"));
        let a2 = counter.try_acquire(ip("192.0.2.1"));
        assert!(a1.is_some() && a2.is_some());
        assert!(
            counter.try_acquire(ip("192.0.2.1")).is_none(),
            "per address"
        );
        let proxy: Vec<_> = (0..3)
            .filter_map(|_| counter.try_acquire(ip("10.1.1.1")))
            .collect();
        assert_eq!(proxy.len(), 3, "a trusted proxy is not capped per address");
        assert!(counter.try_acquire(ip("192.0.2.9")).is_none(), "in total");
        drop(a1);
        assert_eq!(counter.total(), 4);
        assert!(counter.try_acquire(ip("192.0.2.1")).is_some(), "given back");
    }

    #[test]
    fn the_automatic_total_leaves_descriptors_in_reserve() {
        assert_eq!(effective_max_connections(0, Some(1024)), 896);
        assert_eq!(effective_max_connections(0, Some(100)), 64);
        assert_eq!(effective_max_connections(500, Some(1024)), 500);
    }
}
