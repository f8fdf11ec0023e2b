//! What service clients ask of tokens: introspection (RFC 7662), revocation (RFC 7009) and
//! the feed of revoked sessions that `tessera-verify` follows.
//!
//! An access token is introspected like a request verifies it: signature, claims and the
//! in-memory revocation set, never the database. A refresh token is checked through the
//! store (its MAC first, so made-up tokens cost no read): it is active while it is the
//! session's current token and the session is live and its owner enabled.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::RevocationReason;
use crate::tokens::now_unix;

use super::audit::AuditEvent;
use super::client::ClientInfo;
use super::clients::AuthenticatedClient;
use super::{AuthError, Tessera};

/// What introspection says of a live token (RFC 7662 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    /// The username.
    pub sub: String,
    /// The session (absent on tokens minted by Flask-JWT-Extended).
    pub sid: Option<String>,
    /// Expires at (Unix seconds; for a refresh token, when its session ends).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// The issuer.
    pub iss: String,
    /// `access_token` or `refresh_token`.
    pub token_type: &'static str,
    /// The account's stable id.
    pub uid: Option<i64>,
}

/// Revoked sessions since a cursor, and the cursor to ask with next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationFeed {
    /// Revoked session ids (sorted, without repeats).
    pub session_ids: Vec<String>,
    /// Pass as `since` next time.
    pub cursor: i64,
}

/// The longest `wait` a feed request may ask for (`revocation_feed_max_wait_secs` may
/// shorten it). The feed's route has its own time limit, `request_timeout_secs` plus this,
/// so the request time limit does not cut a long poll short.
pub const FEED_MAX_WAIT: Duration = Duration::from_secs(25);

/// Rows stamped this close to the cursor were probably sent already (the cursor overlaps
/// the previous read by this much, see [`Tessera::revocation_feed`]).
const CURSOR_OVERLAP_SECS: i64 = 2;

fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

impl Tessera {
    /// RFC 7662: the token's facts if it is live, `None` for anything else (expired,
    /// revoked, unknown, malformed, of a disabled user).
    pub async fn introspect(&self, token: &str) -> Result<Option<ActiveToken>, AuthError> {
        if looks_like_jwt(token) {
            // No database read: the in-memory revocation set answers for the session
            // (disabling or deleting a user revokes their sessions into it).
            return Ok(self.verify_access_token(token).ok().map(|v| {
                let claims = Arc::unwrap_or_clone(v.claims);
                ActiveToken {
                    sub: claims.sub,
                    sid: claims.sid,
                    exp: claims.exp,
                    iat: claims.iat,
                    iss: claims.iss.unwrap_or_else(|| self.config().issuer.clone()),
                    token_type: "access_token",
                    uid: claims.uid,
                }
            }));
        }
        let Ok(parsed) = self.inner.refresh.parse(token) else {
            return Ok(None);
        };
        let Ok(counter) = i64::try_from(parsed.counter) else {
            return Ok(None);
        };
        let found = self
            .store()
            .rotation_state(&parsed.session_id, &parsed.nonce_digest())
            .await?;
        let policy = self.rotation_policy();
        Ok(match found {
            Some((state, owner))
                if state.counter == counter && !owner.disabled && policy.is_live(&state) =>
            {
                Some(ActiveToken {
                    sub: owner.username,
                    sid: Some(parsed.session_id),
                    exp: state.expires_at,
                    iat: state.rotated_at.unwrap_or(state.last_used_at),
                    iss: self.config().issuer.clone(),
                    token_type: "refresh_token",
                    uid: Some(owner.user_id),
                })
            }
            _ => None,
        })
    }

    /// RFC 7009: ends the session of a valid access or refresh token (on every instance,
    /// through the revocation table and set). Anything else is ignored, as the RFC says.
    /// `true` if a session was ended by this call.
    pub async fn revoke_token(
        &self,
        token: &str,
        by: &AuthenticatedClient,
        client: &ClientInfo,
    ) -> Result<bool, AuthError> {
        let session_id = if looks_like_jwt(token) {
            // A revoked or expired token has nothing left to end.
            self.verify_access_token(token)
                .ok()
                .and_then(|v| v.claims.sid.clone())
        } else {
            match self.inner.refresh.parse(token) {
                Ok(parsed) => self
                    .store()
                    .rotation_state(&parsed.session_id, &parsed.nonce_digest())
                    .await?
                    .map(|_| parsed.session_id),
                Err(_) => None,
            }
        };
        let Some(session_id) = session_id else {
            return Ok(false);
        };
        let now = now_unix();
        let reason = RevocationReason::RevokedByService;
        let owner = self
            .store()
            .revoke_session_by_id(&session_id, now, reason)
            .await?;
        self.remember_revoked(std::slice::from_ref(&session_id), now, reason);
        let mut event = AuditEvent::success("token_revoke")
            .sid(Some(&session_id))
            .service_client(&by.client_id)
            .client(client);
        if let Some(user_id) = owner {
            event = event.user_id(user_id);
        }
        self.audit_log().record(event);
        Ok(owner.is_some())
    }

    /// Sessions revoked at or after `since` (all whose access tokens may still be valid
    /// when `since` is `None`). When there is nothing new, waits up to `wait` for a
    /// revocation (announced to this instance's set by its own logouts, the database
    /// poll or PostgreSQL's notifications), reading the table again at least once a second.
    ///
    /// The returned cursor overlaps this read by two seconds, so a revocation committed
    /// just after it is not missed; ids may therefore come twice.
    pub async fn revocation_feed(
        &self,
        since: Option<i64>,
        wait: Duration,
    ) -> Result<RevocationFeed, AuthError> {
        let deadline = tokio::time::Instant::now() + wait;
        let revocations = self.inner.revocations.clone();
        loop {
            let added = revocations.added();
            let polled_at = now_unix();
            let from = since.unwrap_or(polled_at - revocations.remember_secs());
            let rows = self.store().revocations_since(from).await?;
            let news = since.is_none()
                || rows
                    .iter()
                    .any(|r| r.revoked_at >= from + CURSOR_OVERLAP_SECS);
            let now = tokio::time::Instant::now();
            if news || now >= deadline {
                let mut session_ids: Vec<String> = rows.into_iter().map(|r| r.id).collect();
                session_ids.sort_unstable();
                session_ids.dedup();
                return Ok(RevocationFeed {
                    session_ids,
                    cursor: (polled_at - CURSOR_OVERLAP_SECS).max(from),
                });
            }
            let nap = (deadline - now).min(Duration::from_secs(1));
            // Woken early by a revocation this instance hears of; the table is read again
            // either way (the set may hold it before the row is visible to this read).
            let _ = tokio::time::timeout(nap, added).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
