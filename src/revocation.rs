//! Revoked sessions, kept in memory so that checking an access token never reads the database.
//!
//! Only revocations younger than the access-token lifetime (plus leeway) matter: any older
//! token of a revoked session has expired anyway, so the set stays small and is pruned.
//! "Expired" is counted the way verification counts it: a token is still accepted *during*
//! the second `exp + leeway` (the check is `now <= exp + leeway`), and an instance whose clock
//! runs behind accepts it longer still, so an entry is kept one second past that, plus
//! [`SKEW_MARGIN_SECS`].
//! Revocations made by other processes (other instances, the CLI) are fed in by the
//! background loops (`service/background.rs`): a poll of the database, which also reloads
//! recent revocations after a restart, and PostgreSQL's announcements.

use std::collections::HashMap;
use std::sync::RwLock;

/// How far instances' clocks may disagree: a token minted by an instance whose clock is
/// ahead expires later, by this clock, than its `iat` suggests.
pub const SKEW_MARGIN_SECS: i64 = 60;

pub struct RevocationSet {
    /// session id -> time after which the entry can be forgotten.
    revoked: RwLock<HashMap<String, i64>>,
    remember_secs: i64,
    /// Woken when a session id is added that was not in the set (the revocation feed's
    /// long polls wait on it).
    added: tokio::sync::Notify,
}

impl RevocationSet {
    pub fn new(remember_secs: i64) -> Self {
        Self {
            revoked: RwLock::new(HashMap::new()),
            remember_secs,
            added: tokio::sync::Notify::new(),
        }
    }

    pub fn insert(&self, session_id: &str, revoked_at: i64) {
        // A token of this session was minted at `revoked_at` at the latest, so it verifies
        // through the second `revoked_at + ttl + leeway` inclusive; forgetting the entry at
        // that second (as before) let it through again. Saturating: `revoked_at` may come
        // from another process's row.
        let forget_after = revoked_at
            .saturating_add(self.remember_secs)
            .saturating_add(1 + SKEW_MARGIN_SECS);
        let added = match self.revoked.write() {
            Ok(mut map) => map.insert(session_id.to_owned(), forget_after).is_none(),
            Err(_) => false,
        };
        if added {
            self.added.notify_waiters();
        }
    }

    /// Completes when a session id new to the set is added (create it before checking for
    /// news, so nothing added in between is missed).
    pub fn added(&self) -> tokio::sync::futures::Notified<'_> {
        self.added.notified()
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

    /// How far back revocations must be loaded at start (and kept in the database).
    pub fn remember_secs(&self) -> i64 {
        self.remember_secs + 1 + SKEW_MARGIN_SECS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token issued at the moment of revocation (ttl 900, leeway 5) still verifies
    /// during the second `exp + leeway`, so the entry must outlive that second, and by the
    /// skew margin more. (jsonwebtoken checks `exp` against the real clock, so the token is
    /// minted `ttl + leeway` seconds in the past.)
    #[test]
    fn a_revoked_token_stays_refused_through_the_last_second_it_verifies() -> anyhow::Result<()> {
        use crate::secret::Secret;
        use crate::tokens::keyring::{KeyRing, KeySource, RingKey};
        use crate::tokens::{AccessTokens, now_unix};

        let (ttl, leeway) = (900u64, 5u64);
        let key = RingKey::hs256(&Secret::new("k".repeat(40)), KeySource::Secret)?;
        let tokens = AccessTokens::new(
            KeyRing::new(vec![key], None, 905, false),
            "t".into(),
            Vec::new(),
            ttl,
            leeway,
        );
        // Retried if the clock ticks over a second boundary in the middle.
        let last_second = loop {
            let last_second = now_unix();
            let revoked_at = last_second - (ttl + leeway) as i64;
            let proof = crate::tokens::LoginProof {
                fresh: true,
                assurance: crate::domain::Assurance::Password,
            };
            let token = tokens.issue(1, "alice", "sid-1", proof, None, revoked_at)?;
            let verified = tokens.verify(&token.token, last_second).is_ok();
            if now_unix() == last_second {
                assert!(verified, "the token verifies during exp + leeway");
                break last_second;
            }
        };
        let set = RevocationSet::new((ttl + leeway) as i64);
        set.insert("sid-1", last_second - (ttl + leeway) as i64);
        set.prune(last_second);
        assert!(
            set.is_revoked("sid-1"),
            "forgotten while the token still verifies"
        );
        // Another instance whose clock runs up to the skew margin behind still refuses it.
        set.prune(last_second + SKEW_MARGIN_SECS);
        assert!(set.is_revoked("sid-1"));
        set.prune(last_second + 1 + SKEW_MARGIN_SECS);
        assert!(!set.is_revoked("sid-1"), "and forgotten after that");
        Ok(())
    }

    #[test]
    fn entries_are_forgotten_after_the_token_lifetime() {
        let set = RevocationSet::new(900);
        set.insert("a", 1_000);
        assert!(set.is_revoked("a"));
        assert!(!set.is_revoked("b"));
        set.prune(1_900 + SKEW_MARGIN_SECS);
        assert!(set.is_revoked("a"));
        set.prune(1_901 + SKEW_MARGIN_SECS);
        assert!(!set.is_revoked("a"));
    }
}
