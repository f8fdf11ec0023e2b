//! Storage upkeep and readiness: whether writes get through (for `/readyz`), and the loop
//! that keeps SQLite's write-ahead log from growing without bound.
//!
//! Under steady load SQLite's automatic checkpoints cannot reset the log while readers
//! keep old snapshots, so it grows (85 MB beside a 68 KB database under ~900 refreshes/s)
//! and a log never shrinks by itself. This loop runs a passive checkpoint (never waits for
//! anyone) every interval, and a truncating one when no write came since the last tick;
//! `journal_size_limit` (see the SQLite store) caps what a reset log keeps.

use std::sync::Arc;
use std::time::Duration;

use super::{AuthError, Tessera};
use crate::store::{CheckpointMode, Store};
use crate::tokens::now_unix;

impl Tessera {
    /// Whether this instance can do its work: writes get through (one small probe write
    /// when no other write has lately; see [`crate::store::WriteHealth::check`]).
    pub async fn check_ready(&self) -> Result<(), AuthError> {
        let store = self.store();
        store
            .write_health()
            .check(store.probe_write(now_unix()))
            .await
            .map_err(AuthError::from)
    }
}

/// Starts [`checkpoint_periodically`] at the configured interval.
pub(super) fn spawn_checkpoints(tessera: &Tessera) -> tokio::task::JoinHandle<()> {
    let interval = Duration::from_secs(tessera.config().sqlite_checkpoint_interval_secs);
    tokio::spawn(checkpoint_periodically(tessera.store().clone(), interval))
}

/// Checkpoints the SQLite log every `interval` until dropped; returns at once for a
/// backend without one.
pub async fn checkpoint_periodically(store: Arc<dyn Store>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut writes_seen = store.write_health().writes();
    loop {
        ticker.tick().await;
        // Idle: no write since the last tick. Probes (`/readyz`) do not count, but their
        // few frames are truncated away too, so an idle server's log stays empty.
        let writes = store.write_health().writes();
        let idle = writes == writes_seen;
        writes_seen = writes;
        let mode = if idle {
            CheckpointMode::Truncate
        } else {
            CheckpointMode::Passive
        };
        match store.checkpoint(mode).await {
            Ok(None) => return,
            Ok(Some(done)) => {
                tracing::debug!(
                    ?mode,
                    busy = done.busy,
                    log_frames = done.log_frames,
                    checkpointed_frames = done.checkpointed_frames,
                    "WAL checkpoint"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, ?mode, "WAL checkpoint failed; will retry");
            }
        }
    }
}
