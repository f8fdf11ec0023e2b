//! Every loop a running tessera keeps going, in one place.
//!
//! | loop                     | interval (setting)                                | on failure                  |
//! |--------------------------|---------------------------------------------------|-----------------------------|
//! | revocation poll          | `revocation_poll_ms`                              | warn, retry next tick       |
//! | revocation announcements | as they come (PostgreSQL `LISTEN`; none on SQLite)| reconnect after 1 s; the poll covers the gap |
//! | purge of ended sessions  | `purge_interval_secs`, `purge_batch_size`         | warn, retry next tick       |
//! | key-ring reload          | `key_reload_ms`                                   | warn, keep the current ring |
//! | live-session count       | `active_sessions_refresh_secs`                    | warn, gauge left out        |
//! | metrics upkeep           | 5 s (histograms folded without a scrape)          | cannot fail                 |
//! | SQLite log checkpoint    | `sqlite_checkpoint_interval_secs` (none on PostgreSQL) | warn, retry next tick  |
//! | audit flood summaries    | half of `audit_window_secs`                       | cannot fail                 |
//! | mail delivery (outbox)   | back to back while due, else 1 s (only with `[email]`) | warn; retry with back-off, dead after `email.max_attempts` |
//!
//! No loop ever ends the process: a database that is down makes them log and retry,
//! while requests get `503 unavailable`.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::Tessera;
use crate::store::{CheckpointMode, OnRevoked, RevokedSession};
use crate::tokens::now_unix;

/// The background loops of a [`Tessera`] (see [`Tessera::spawn_background_tasks`]).
#[must_use = "dropping BackgroundTasks stops the revocation sync, the purge of ended \
              sessions, key-ring reloads, metrics upkeep and SQLite checkpoints: keep it for as \
              long as you serve"]
pub struct BackgroundTasks {
    handles: Vec<JoinHandle<()>>,
}

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

impl Tessera {
    /// Starts the loops listed in this module's documentation. They run until the
    /// returned handle is dropped.
    pub fn spawn_background_tasks(&self) -> BackgroundTasks {
        let handles = vec![
            tokio::spawn(poll_revocations(self.clone())),
            tokio::spawn(watch_revocations(self.clone())),
            tokio::spawn(purge_ended_sessions(self.clone())),
            tokio::spawn(reload_keys(self.clone())),
            tokio::spawn(count_live_sessions(self.clone())),
            tokio::spawn(metrics_upkeep(self.clone())),
            tokio::spawn(checkpoint_sqlite_log(self.clone())),
            tokio::spawn(summarise_audit_floods(self.clone())),
            tokio::spawn(super::recovery::deliver_outbox(self.clone())),
        ];
        BackgroundTasks { handles }
    }
}

fn ticker(period: Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval(period.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker
}

/// Writes the summary of each flood of refusals once its window has passed, so a flood
/// that stops is still reported (see `audit::flood`).
async fn summarise_audit_floods(tessera: Tessera) {
    // Twice per window: a summary is written at most half a window after its window ends.
    let window_ms = tessera.config().audit_window_secs.max(1) * 1000;
    let mut ticker = ticker(Duration::from_millis(window_ms / 2));
    loop {
        ticker.tick().await;
        tessera.audit_log().flush();
    }
}

/// Reads revocations made anywhere (other instances, the CLI) into the in-memory set.
/// The first read, at start, reloads every revocation whose tokens may still be valid.
async fn poll_revocations(tessera: Tessera) {
    let revocations = tessera.inner.revocations.clone();
    let mut since = now_unix() - revocations.remember_secs();
    let mut ticker = ticker(Duration::from_millis(tessera.config().revocation_poll_ms));
    loop {
        ticker.tick().await;
        let polled_at = now_unix();
        match tessera.store().revocations_since(since).await {
            Ok(rows) => {
                for row in &rows {
                    revocations.insert(&row.id, row.revoked_at);
                }
                // Overlap by two seconds: a revocation stamped just before this poll but
                // committed just after it (or by a writer whose clock lags) is still seen.
                since = polled_at - 2;
                revocations.prune(polled_at);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read revocations from the database; will retry")
            }
        }
    }
}

/// Revocations announced by the database as they happen, ahead of the next poll.
async fn watch_revocations(tessera: Tessera) {
    let revocations = tessera.inner.revocations.clone();
    let on_revoked: OnRevoked = Arc::new(move |revoked: RevokedSession| {
        revocations.insert(&revoked.id, revoked.revoked_at);
    });
    tessera.store().watch_revocations(on_revoked).await;
}

/// Purges ended sessions, stale login-failure and device-token counts, recovered shared rate-limit
/// buckets, and lets the in-process rate limiters
/// forget clients that have gone quiet.
async fn purge_ended_sessions(tessera: Tessera) {
    let config = tessera.config();
    let failure_window = config.login_backoff.window_secs as i64;
    let mut ticker = ticker(Duration::from_secs(config.purge_interval_secs.max(1)));
    // Revoked sessions stay until their last access token has expired, so that other
    // instances and restarts still learn of the revocation from the database.
    let keep = tessera.inner.revocations.remember_secs() + 60;
    loop {
        ticker.tick().await;
        let store = tessera.store();
        match purge_sessions_in_batches(&tessera, now_unix() - keep).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "purged ended sessions"),
            Err(e) => tracing::warn!(error = %e, "purging ended sessions failed; will retry"),
        }
        if let Err(e) = store
            .purge_login_failures(now_unix() - failure_window)
            .await
        {
            tracing::warn!(error = %e, "purging login failures failed; will retry");
        }
        let device_window = config.device_tokens.failure_window_secs as i64;
        if let Err(e) = store
            .purge_device_attempts(now_unix() - device_window)
            .await
        {
            tracing::warn!(error = %e, "purging device-token attempts failed; will retry");
        }
        if let Err(e) = store.purge_rate_limits().await {
            tracing::warn!(error = %e, "purging rate-limit buckets failed; will retry");
        }
        // Expired challenges are refused by their own condition; this only frees rows.
        if let Err(e) = store.purge_mfa_challenges(now_unix()).await {
            tracing::warn!(error = %e, "purging second-factor challenges failed; will retry");
        }
        tessera.limits().local().forget_idle();
    }
}

/// Shortest pause between two purge batches: the write lock is free for the logins,
/// refreshes and logouts that queued behind a batch. A batch that took longer is followed
/// by a pause as long as it took, so a backlog never takes more than half of the
/// database's time (or of a core, for SQLite) from requests.
const PURGE_PAUSE: Duration = Duration::from_millis(10);

/// Deletes ended sessions `purge_batch_size` at a time until the backlog is gone, pausing
/// between batches; returns how many.
async fn purge_sessions_in_batches(
    tessera: &Tessera,
    cutoff: i64,
) -> Result<u64, crate::store::StoreError> {
    let batch = tessera.config().purge_batch_size;
    tessera.store().purge_ended_holds(cutoff).await?;
    let mut purged = 0;
    loop {
        let started = std::time::Instant::now();
        let deleted = tessera.store().purge_ended_sessions(cutoff, batch).await?;
        purged += deleted;
        if deleted < u64::from(batch) {
            return Ok(purged);
        }
        tokio::time::sleep(started.elapsed().max(PURGE_PAUSE)).await;
    }
}

/// Reloads the key ring, so a rotation made by any process takes effect here.
async fn reload_keys(tessera: Tessera) {
    let mut ticker = ticker(Duration::from_millis(tessera.config().key_reload_ms));
    // The ring was just loaded at start.
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if let Err(e) = tessera.reload_keys().await {
            tracing::warn!(error = %e, "cannot reload the key ring; keeping the current one");
        }
    }
}

/// Recounts live sessions for the `tessera_active_sessions` gauge: only the database
/// knows the number (sessions end by expiry, other instances open and end them), and
/// counting once per interval keeps scrapes from loading it.
async fn count_live_sessions(tessera: Tessera) {
    if !tessera.metrics().enabled() {
        return;
    }
    let period = Duration::from_secs(tessera.config().active_sessions_refresh_secs.max(1));
    let mut ticker = ticker(period);
    loop {
        ticker.tick().await;
        let policy = tessera.rotation_policy();
        let count =
            match tokio::time::timeout(period, tessera.store().count_live_sessions(policy)).await {
                Ok(Ok(count)) => Some(count),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot count live sessions for /metrics");
                    None
                }
                Err(_) => {
                    tracing::warn!("counting live sessions for /metrics timed out");
                    None
                }
            };
        tessera.metrics().set_active_sessions(count);
    }
}

/// Folds histogram samples into their buckets. Without a scrape they would pile up in
/// memory.
async fn metrics_upkeep(tessera: Tessera) {
    if !tessera.metrics().enabled() {
        return;
    }
    let mut ticker = ticker(Duration::from_secs(5));
    loop {
        ticker.tick().await;
        tessera.metrics().run_upkeep();
    }
}

/// Keeps SQLite's write-ahead log bounded. Under steady load SQLite's automatic
/// checkpoints cannot reset the log while readers keep old snapshots, so it grows (85 MB
/// beside a 68 KB database under ~900 refreshes/s) and a log never shrinks by itself.
/// This runs a passive checkpoint (never waits for anyone) every interval, and a truncating
/// one when no write came since the last tick; `journal_size_limit` (see the SQLite store)
/// caps what a reset log keeps. Returns at once for a backend without a log.
async fn checkpoint_sqlite_log(tessera: Tessera) {
    let store = tessera.store().clone();
    let mut ticker = ticker(Duration::from_secs(
        tessera.config().sqlite_checkpoint_interval_secs.max(1),
    ));
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
