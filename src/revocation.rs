//! Revoked sessions, kept in memory so that checking an access token never reads the database.
//!
//! Only revocations younger than the access-token lifetime (plus leeway) matter: any older
//! token of a revoked session has expired anyway, so the set stays small and is pruned.
//! Revocations made by other processes (other instances, the CLI) are fed in by the
//! background loops (`service/background.rs`): a poll of the database, which also reloads
//! recent revocations after a restart, and PostgreSQL's announcements.

use std::collections::HashMap;
use std::sync::RwLock;

pub struct RevocationSet {
    /// session id -> time after which the entry can be forgotten.
    revoked: RwLock<HashMap<String, i64>>,
    remember_secs: i64,
}

impl RevocationSet {
    pub fn new(remember_secs: i64) -> Self {
        Self {
            revoked: RwLock::new(HashMap::new()),
            remember_secs,
        }
    }

    pub fn insert(&self, session_id: &str, revoked_at: i64) {
        let forget_after = revoked_at + self.remember_secs;
        if let Ok(mut map) = self.revoked.write() {
            map.insert(session_id.to_owned(), forget_after);
        }
    }

    pub fn is_revoked(&self, session_id: &str) -> bool {
        // A poisoned lock means a panic while writing; fail closed.
        self.revoked
            .read()
            .map(|map| map.contains_key(session_id))
            .unwrap_or(true)
    }

    /// Forgets revocations whose tokens have all expired.
    pub fn prune(&self, now: i64) {
        if let Ok(mut map) = self.revoked.write() {
            map.retain(|_, forget_after| *forget_after > now);
        }
    }

    /// How far back revocations must be loaded at start.
    pub fn remember_secs(&self) -> i64 {
        self.remember_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_forgotten_after_the_token_lifetime() {
        let set = RevocationSet::new(900);
        set.insert("a", 1_000);
        assert!(set.is_revoked("a"));
        assert!(!set.is_revoked("b"));
        set.prune(1_899);
        assert!(set.is_revoked("a"));
        set.prune(1_900);
        assert!(!set.is_revoked("a"));
    }
}
