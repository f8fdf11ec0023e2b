//! Readiness: whether writes get through (for `/readyz`). The loop that keeps SQLite's
//! write-ahead log bounded is with the other loops, in `background.rs`.

use super::{AuthError, Tessera};
use crate::tokens::now_unix;

impl Tessera {
    /// Whether this instance can do its work: writes get through (one small probe write
    /// when no other write has lately; see [`crate::store::WriteHealth::check`]). Not
    /// ready is always "unavailable" (503 with `Retry-After`), whatever the cause.
    pub async fn ready(&self) -> Result<(), AuthError> {
        let store = self.store();
        store
            .write_health()
            .check(store.probe_write(now_unix()))
            .await
            .map_err(|e| match AuthError::from(e) {
                AuthError::Internal(cause) => AuthError::Unavailable(cause),
                other => other,
            })
    }

    /// Puts the database in `fault` (SQLite only), so tests can make it refuse writes the
    /// way a full disk or a read-only file does, without root. Not for production use.
    #[doc(hidden)]
    pub async fn inject_storage_fault_for_tests(
        &self,
        fault: crate::store::InjectedFault,
    ) -> Result<(), AuthError> {
        Ok(self.store().inject_fault_for_tests(fault).await?)
    }

    /// The Prometheus text of this instance (`None` with metrics off), with the gauges
    /// read now: the hashing queue and the store's failed writes by reason.
    pub fn render_metrics(&self) -> Option<String> {
        let metrics = self.metrics();
        metrics.storage_write_failures(self.store().write_health().failures());
        metrics.render(self.hash_queue_depth())
    }
}
