//! Sessions: opening at login, refresh rotation with reuse detection, logout, listing, revocation.

use crate::domain::{
    Assurance, LogoutScope, RevocationReason, RotationDecision, Username, decide_rotation,
};
use crate::store::{NewSession, UserRecord};
use crate::tokens::{AccessClaims, LoginProof, RefreshToken, now_unix};

use super::audit::AuditEvent;
use super::browser::{CsrfValues, Transport};
use super::client::ClientInfo;
use super::{AuthError, Tessera};

/// Tokens handed to the client. `Debug` is deliberately not derived: these are secrets.
pub struct IssuedSession {
    /// The session's id (the `sid` claim).
    pub session_id: String,
    /// The new access token (a JWT).
    pub access_token: String,
    /// The session's next refresh token.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The session's CSRF values, when the tokens go out in cookies.
    pub csrf: Option<CsrfValues>,
}

/// A refresh's new tokens.
pub struct RefreshOutcome {
    /// The access token and the next refresh token.
    pub session: IssuedSession,
    /// The request was a concurrent duplicate answered from the grace window.
    pub grace_replay: bool,
    /// The session's owner.
    pub user_id: i64,
    /// The owner's name.
    pub username: String,
}

/// A live session as `GET /sessions` shows it (never a token).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// The session id (the `sid` claim of its access tokens).
    pub id: String,
    /// When it was opened (Unix seconds).
    pub created_at: i64,
    /// When its refresh token was last used.
    pub last_used_at: i64,
    /// When it ends however it is used.
    pub expires_at: i64,
    /// The user agent that opened it.
    pub user_agent: Option<String>,
    /// The address that opened it.
    pub ip: Option<String>,
    /// Whether it is the caller's own session.
    pub current: bool,
}

/// Longest user agent kept; the rest is cut (clients control this header).
const MAX_USER_AGENT_CHARS: usize = 256;

impl Tessera {
    /// Opens a session for `user`, whose login proved `assurance` (every token of the
    /// session, refreshed ones too, says so in `amr`/`aal`). The one way sessions begin:
    /// a password login and one completed with a second factor both come here.
    pub(super) async fn open_session(
        &self,
        user: &UserRecord,
        client: &ClientInfo,
        fresh: bool,
        transport: Transport,
        assurance: Assurance,
    ) -> Result<IssuedSession, AuthError> {
        let now = now_unix();
        let token = RefreshToken::new_session();
        let ip = client.ip.map(|ip| ip.to_string());
        let user_agent: Option<String> = client
            .user_agent
            .as_ref()
            .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect());
        let ended = self
            .store()
            .create_session(NewSession {
                id: &token.session_id,
                user_id: user.id,
                now,
                expires_at: now + self.config().session_ttl_secs as i64,
                user_agent: user_agent.as_deref(),
                ip: ip.as_deref(),
                refresh_nonce_digest: &token.nonce_digest(),
                opened_at_us: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros() as i64),
                max_live: self.config().max_sessions_per_user,
                policy: self.rotation_policy(),
                assurance,
            })
            .await?;
        if !ended.is_empty() {
            self.remember_revoked(&ended, now, RevocationReason::SessionLimit);
            self.audit_log().record(
                AuditEvent::success("session_limit")
                    .user(user.id, &user.username)
                    .client(client)
                    .count(ended.len() as u64),
            );
        }
        let proof = LoginProof { fresh, assurance };
        self.issue(user.id, &user.username, &token, proof, transport, now)
    }

    fn issue(
        &self,
        user_id: i64,
        username: &str,
        token: &RefreshToken,
        proof: LoginProof,
        transport: Transport,
        now: i64,
    ) -> Result<IssuedSession, AuthError> {
        let csrf = (transport == Transport::Cookie).then(|| self.csrf_values(&token.session_id));
        let claim = csrf.as_ref().map(|values| values.access.clone());
        let access = self
            .inner
            .access
            .issue(user_id, username, &token.session_id, proof, claim, now)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(IssuedSession {
            session_id: token.session_id.clone(),
            access_token: access.token,
            refresh_token: self.inner.refresh.encode(token),
            expires_in: access.expires_in,
            csrf,
        })
    }

    /// Exchanges a refresh token for a new access token and the next refresh token.
    /// `transport` is how the new tokens go out (cookies get the session's CSRF claim).
    pub async fn refresh(
        &self,
        presented: &str,
        client: &ClientInfo,
        transport: Transport,
    ) -> Result<RefreshOutcome, AuthError> {
        let result = self.rotate(presented, client, transport).await;
        self.audit_log().record(match &result {
            Ok(outcome) => AuditEvent::success("refresh")
                .user(outcome.user_id, &outcome.username)
                .sid(Some(&outcome.session.session_id))
                .client(client),
            Err(e) => AuditEvent::failed("refresh", e).client(client),
        });
        self.metrics().refresh(match &result {
            Ok(o) if o.grace_replay => "grace_replay",
            Ok(_) => "rotated",
            Err(AuthError::RefreshTokenReused) => "reused",
            Err(AuthError::InvalidRefreshToken) => "invalid",
            Err(AuthError::SessionEnded) => "ended",
            Err(AuthError::AccountDisabled) => "account_disabled",
            Err(AuthError::RateLimited(_)) => "rate_limited",
            Err(_) => "error",
        });
        result
    }

    async fn rotate(
        &self,
        presented: &str,
        client: &ClientInfo,
        transport: Transport,
    ) -> Result<RefreshOutcome, AuthError> {
        if let Some(ip) = client.ip {
            self.limits()
                .check_refresh(crate::abuse::rate_key(ip))
                .await?;
        }
        // The MAC proves the server made this token; the store checks that the nonce is this
        // session's and that the counter is current (or was, moments ago).
        let token = self
            .inner
            .refresh
            .parse(presented)
            .map_err(|_| AuthError::InvalidRefreshToken)?;
        let policy = self.rotation_policy();
        let counter = i64::try_from(token.counter).map_err(|_| AuthError::InvalidRefreshToken)?;
        let digest = token.nonce_digest();
        let store = self.store();
        // The common case is one statement: the presented token is current and advances.
        // Otherwise the session's state says why not (see `domain::rotation`).
        let (counter, owner, grace_replay) = match store
            .advance_refresh_counter(&token.session_id, &digest, counter, policy)
            .await?
        {
            Some((counter, owner)) => (counter, owner, false),
            None => {
                let found = store.rotation_state(&token.session_id, &digest).await?;
                let state = found.as_ref().map(|(state, _)| state);
                match (decide_rotation(state, counter, &policy), found) {
                    (RotationDecision::GraceReplay { counter }, Some((_, owner))) => {
                        (counter, owner, true)
                    }
                    (RotationDecision::Reused, _) => {
                        let reason = RevocationReason::RefreshTokenReused;
                        store
                            .revoke_session_by_id(&token.session_id, policy.now, reason)
                            .await?;
                        self.remember_revoked(
                            std::slice::from_ref(&token.session_id),
                            policy.now,
                            reason,
                        );
                        // The refresh's own audit line reports the refusal; this one says
                        // which session ended for it.
                        self.audit_log().record(
                            AuditEvent::success("session_revoke_on_reuse")
                                .sid(Some(&token.session_id))
                                .client(client),
                        );
                        return Err(AuthError::RefreshTokenReused);
                    }
                    (RotationDecision::Ended, _) => return Err(AuthError::SessionEnded),
                    // `Advance` cannot follow an UPDATE that did not match (counters only
                    // grow, and liveness was judged at the same instant): treat it, like an
                    // unknown session, as an invalid token.
                    _ => return Err(AuthError::InvalidRefreshToken),
                }
            }
        };
        if owner.disabled {
            return Err(AuthError::AccountDisabled);
        }
        let next = token.at_counter(counter as u64);
        // The session's assurance, not this request's: a refresh proves no factor, and
        // keeps what the login proved.
        let proof = LoginProof {
            fresh: false,
            assurance: owner.assurance,
        };
        let session = self.issue(
            owner.user_id,
            &owner.username,
            &next,
            proof,
            transport,
            policy.now,
        )?;
        Ok(RefreshOutcome {
            session,
            grace_replay,
            user_id: owner.user_id,
            username: owner.username,
        })
    }

    /// The user behind an access token: through its session (whose owner must be the
    /// token's `uid`), by `uid` for a token without a session, or by exact name for tokens
    /// with neither (minted by Flask-JWT-Extended during a cut-over). Never by name when an
    /// id is there: a name can pass to a new owner, an id cannot. A disabled account is
    /// refused either way.
    pub(super) async fn caller(&self, claims: &AccessClaims) -> Result<UserRecord, AuthError> {
        let user_id = match (&claims.sid, claims.uid) {
            (Some(sid), uid) => {
                let session = self
                    .store()
                    .find_session(sid)
                    .await?
                    .filter(|s| s.revoked_at.is_none())
                    .ok_or(AuthError::SessionEnded)?;
                if uid.is_some_and(|id| id != session.user_id) {
                    // Validly signed, yet pairing one account's session with another's
                    // id: made by someone holding the signing secret. Worth a line.
                    self.audit_log().record(
                        AuditEvent::refused("access_token", "uid_mismatch")
                            .user_id(session.user_id)
                            .sid(Some(sid)),
                    );
                    return Err(AuthError::SessionEnded);
                }
                Some(session.user_id)
            }
            (None, uid) => uid,
        };
        let user = match user_id {
            Some(id) => self
                .store()
                .find_user_by_id(id)
                .await?
                .ok_or(AuthError::SessionEnded)?,
            None => {
                // The Flask app's user table is another namespace, where `ALICE` and
                // `alice` can be two people: a token naming only a `sub` belongs to the
                // account registered under exactly that name, never to its canonical match.
                let name = Username::parse(&claims.sub).map_err(|_| AuthError::SessionEnded)?;
                self.store()
                    .find_user_by_canonical_name(name.canonical())
                    .await?
                    .filter(|user| user.username == claims.sub)
                    .ok_or(AuthError::SessionEnded)?
            }
        };
        // Disabling ends sessions, but a token without one has nothing to end: refuse here.
        if user.disabled_at.is_some() {
            return Err(AuthError::AccountDisabled);
        }
        Ok(user)
    }

    /// Ends this session, the user's other sessions, or all of them; returns how many ended.
    /// Ending other sessions needs re-authentication: a fresh token or `password`.
    pub async fn logout(
        &self,
        claims: &AccessClaims,
        scope: LogoutScope,
        password: Option<String>,
        client: &ClientInfo,
    ) -> Result<usize, AuthError> {
        let mut user = self.caller(claims).await?;
        if scope != LogoutScope::Local {
            user = self
                .reauthenticated("logout", claims, user, password, client)
                .await?;
        }
        // A token without a session (Flask-JWT-Extended's) cannot be ended: it stays valid
        // until it expires. Saying "logged out" would make the client believe otherwise.
        if claims.sid.is_none() && scope == LogoutScope::Local {
            return Err(AuthError::NoSession);
        }
        let now = now_unix();
        // A refused logout is an error to the client: its session is not reported ended.
        let ids = self
            .store()
            .revoke_user_sessions(
                user.id,
                claims.sid.as_deref(),
                scope,
                now,
                RevocationReason::Logout,
            )
            .await
            .map_err(|e| {
                let e = AuthError::from(e);
                self.audit_log().record(
                    AuditEvent::failed("logout", &e)
                        .user(user.id, &user.username)
                        .sid(claims.sid.as_deref())
                        .client(client)
                        .scope(scope.as_str()),
                );
                e
            })?;
        self.remember_revoked(&ids, now, RevocationReason::Logout);
        self.audit_log().record(
            AuditEvent::success("logout")
                .user(user.id, &user.username)
                .sid(claims.sid.as_deref())
                .client(client)
                .scope(scope.as_str())
                .count(ids.len() as u64),
        );
        Ok(ids.len())
    }

    /// The caller's live sessions, newest first.
    pub async fn list_sessions(
        &self,
        claims: &AccessClaims,
    ) -> Result<Vec<SessionView>, AuthError> {
        let user = self.caller(claims).await?;
        let sessions = self
            .store()
            .list_live_sessions(user.id, self.rotation_policy())
            .await?;
        Ok(sessions
            .into_iter()
            .map(|s| SessionView {
                current: claims.sid.as_deref() == Some(s.id.as_str()),
                id: s.id,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
                user_agent: s.user_agent,
                ip: s.ip,
            })
            .collect())
    }

    /// Ends one of the caller's sessions; one other than the caller's own needs
    /// re-authentication (a fresh token or `password`). Another user's session id is "not
    /// found", and audited.
    pub async fn revoke_session(
        &self,
        claims: &AccessClaims,
        session_id: &str,
        password: Option<String>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let mut user = self.caller(claims).await?;
        if claims.sid.as_deref() != Some(session_id) {
            user = self
                .reauthenticated("session_revoke", claims, user, password, client)
                .await?;
        }
        let now = now_unix();
        if !self
            .store()
            .revoke_session(user.id, session_id, now, RevocationReason::RevokedByUser)
            .await?
        {
            // Someone else's session is answered exactly like a missing one, but logged.
            if let Some(other) = self.store().find_session(session_id).await?
                && other.user_id != user.id
            {
                self.audit_log().record(
                    AuditEvent::refused("session_revoke", "not_session_owner")
                        .user(user.id, &user.username)
                        .sid(claims.sid.as_deref())
                        .client(client),
                );
            }
            return Err(AuthError::SessionNotFound);
        }
        self.remember_revoked(
            &[session_id.to_owned()],
            now,
            RevocationReason::RevokedByUser,
        );
        self.audit_log().record(
            AuditEvent::success("session_revoke")
                .user(user.id, &user.username)
                .sid(Some(session_id))
                .client(client),
        );
        Ok(())
    }
}
