//! Whether writes are getting through: every write the store makes reports here, so
//! `/readyz` can answer "not ready" while the database refuses writes (a full disk, a
//! read-only file, a PostgreSQL that refuses connections) and the failed-writes metric can
//! say why.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{StoreError, StoreResult, storage_fault};

/// After a refused write, `/readyz` answers "not ready" for this long without probing
/// (unless a write has got through since): a write refused moments ago says as much as a
/// probe, and a flood of `/readyz` requests must not become a flood of writes to a
/// database that is refusing them.
const HOLD: Duration = Duration::from_secs(2);
/// A probe that got through this recently (with no write refused since) answers for the
/// next checks: at most one probe write a second, however often `/readyz` is called. Real
/// writes do not stand in for a probe: the database may have gone away since, and reads
/// failing meanwhile are not counted here.
const FRESH: Duration = Duration::from_secs(1);

/// Why the database refused a write: the `reason` label of
/// `tessera_storage_write_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFault {
    /// `SQLITE_FULL`, PostgreSQL 53100 `disk_full`.
    DiskFull = 0,
    /// `SQLITE_READONLY`, PostgreSQL 25006 (a standby, or a read-only transaction default).
    ReadOnly = 1,
    /// The database lock stayed taken past the busy timeout (`SQLITE_BUSY`, `SQLITE_LOCKED`).
    Busy = 2,
    /// The database cannot be reached or refuses connections (I/O errors, a closed pool,
    /// PostgreSQL classes 08, 53, 57, 58, 55000, 3D000).
    Unavailable = 3,
}

/// The label values, in the order of [`WriteFault`]'s discriminants.
pub const WRITE_FAULTS: [&str; 4] = ["disk_full", "read_only", "busy", "unavailable"];

/// What made a write, for [`WriteHealth::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// A request's (or the CLI's): activity, and proof that writes get through.
    Request,
    /// A readiness probe: proof that writes get through, but no activity (an idle server
    /// probed by its orchestrator is still idle for the WAL upkeep).
    Probe,
    /// A checkpoint: its failure counts (a full disk shows there too), its success proves
    /// nothing about writes.
    Upkeep,
}

/// Outcomes of recent writes. Lock-free for writes, which all report here; readiness
/// checks take turns to probe.
#[derive(Debug, Default)]
pub struct WriteHealth {
    failures: [AtomicU64; 4],
    /// Writes that got through, probes not counted (the WAL upkeep reads idleness from it).
    writes: AtomicU64,
    /// One probe at a time; readiness checks that wait share its outcome.
    probing: tokio::sync::Mutex<()>,
    /// Unix milliseconds of the last refused write (0: none yet).
    failed_at: AtomicU64,
    /// Unix milliseconds of the last write that got through (0: none yet).
    succeeded_at: AtomicU64,
    /// Unix milliseconds of the last probe that got through (0: none yet).
    probed_at: AtomicU64,
}

impl WriteHealth {
    /// Notes the outcome of a write and turns its error into a [`StoreError`].
    pub fn record<T>(&self, result: Result<T, sqlx::Error>, kind: WriteKind) -> StoreResult<T> {
        match result {
            Ok(value) => {
                if kind == WriteKind::Request {
                    self.writes.fetch_add(1, Ordering::Relaxed);
                }
                if kind != WriteKind::Upkeep {
                    self.succeeded_at.store(unix_now(), Ordering::Relaxed);
                }
                Ok(value)
            }
            Err(e) => {
                if let Some(fault) = storage_fault(&e) {
                    self.failed(fault);
                }
                Err(e.into())
            }
        }
    }

    pub fn failed(&self, fault: WriteFault) {
        self.failures[fault as usize].fetch_add(1, Ordering::Relaxed);
        self.failed_at.store(unix_now(), Ordering::Relaxed);
    }

    /// Writes that got through so far (probes and checkpoints not counted).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Whether writes get through: not if the last write was refused, within the last
    /// `HOLD` (2 s); yes if a probe got through within the last `FRESH` (1 s) and no write
    /// was refused since; otherwise as `probe` (one small write) finds, one probe at a time.
    pub async fn check<F>(&self, probe: F) -> StoreResult<()>
    where
        F: Future<Output = StoreResult<()>>,
    {
        let refused = || StoreError::Unavailable("the database is refusing writes".into());
        if self.failing() {
            return Err(refused());
        }
        if self.probed_lately() {
            return Ok(());
        }
        let _turn = self.probing.lock().await;
        // Whoever probed while this check waited has the answer already.
        if self.failing() {
            return Err(refused());
        }
        if self.probed_lately() {
            return Ok(());
        }
        probe.await?;
        self.probed_at.store(unix_now(), Ordering::Relaxed);
        Ok(())
    }

    fn probed_lately(&self) -> bool {
        within(&self.probed_at, FRESH)
            && self.failed_at.load(Ordering::Relaxed) <= self.probed_at.load(Ordering::Relaxed)
    }

    /// Refused writes so far, by [`WRITE_FAULTS`] reason.
    pub fn failures(&self) -> [u64; 4] {
        std::array::from_fn(|i| self.failures[i].load(Ordering::Relaxed))
    }

    /// Whether the last write was refused, within the last `HOLD`.
    fn failing(&self) -> bool {
        within(&self.failed_at, HOLD)
            && self.succeeded_at.load(Ordering::Relaxed) < self.failed_at.load(Ordering::Relaxed)
    }
}

fn within(at: &AtomicU64, window: Duration) -> bool {
    let at = at.load(Ordering::Relaxed);
    let window = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    at != 0 && unix_now().saturating_sub(at) < window
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
