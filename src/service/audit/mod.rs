//! Security events: one shape for every line with target `tessera::audit` (ASVS 16.2.1,
//! 16.3.1–16.3.3). The catalogue of events is in SECURITY.md ("Logging inventory").
//!
//! Every line has `event` and `outcome` (`success`, `refused` or `error`), and as far as
//! they are known: `reason` (the API's error code, for refusals), `user_id`, `username`
//! (only for an account that exists; otherwise `name_digest`, see [`names`]), `sid`, `ip`,
//! `request_id`, and for some events `kid`, `scope` or `count`. Never a password, hash,
//! token or secret: nothing here takes one.
//!
//! Refusals go through a flood gate (see [`flood`]): at most `audit_burst` lines per event
//! and reason in each `audit_window_secs`, then one `audit_suppressed` line with the count.

mod flood;
mod names;

use std::net::IpAddr;
use std::time::{Duration, Instant};

pub(super) use names::NameDigests;

impl super::Tessera {
    /// Records a refused bearer token: the reason (the API's error code) and the `kid` it
    /// named, never the token.
    pub(crate) fn audit_refused_token(
        &self,
        reason: &'static str,
        kid: Option<&str>,
        client: &ClientInfo,
    ) {
        self.audit_log().record(
            AuditEvent::refused("access_token", reason)
                .kid(kid)
                .client(client),
        );
    }

    /// Records a cookie-authenticated write refused by the CSRF checks (the session it
    /// named, never a token or CSRF value).
    pub(crate) fn audit_refused_csrf(&self, sid: Option<&str>, client: &ClientInfo) {
        self.audit_log().record(
            AuditEvent::refused("csrf", "csrf_failed")
                .sid(sid)
                .client(client),
        );
    }

    /// Records a connection refused by a connection cap (before any request was read).
    pub(crate) fn audit_refused_connection(&self, ip: IpAddr) {
        let mut event = AuditEvent::refused("connection", "overloaded");
        event.ip = Some(ip);
        self.audit_log().record(event);
    }
}

use super::AuthError;
use super::client::ClientInfo;
use flood::{Admission, FloodGate, Summary};

/// How an audited operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Success,
    /// A rule said no (bad credentials, a refused token, a limit).
    Refused,
    /// tessera could not finish it (database down, internal error).
    Error,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Refused => "refused",
            Outcome::Error => "error",
        }
    }
}

/// One security event, built up and then handed to [`AuditLog::record`].
#[must_use = "an audit event is only written by AuditLog::record"]
pub(super) struct AuditEvent<'a> {
    event: &'static str,
    outcome: Outcome,
    reason: Option<&'static str>,
    user_id: Option<i64>,
    username: Option<&'a str>,
    name_digest: Option<&'a str>,
    sid: Option<&'a str>,
    ip: Option<IpAddr>,
    request_id: Option<&'a str>,
    kid: Option<&'a str>,
    scope: Option<&'static str>,
    count: Option<u64>,
    service_client: Option<&'a str>,
}

impl<'a> AuditEvent<'a> {
    fn new(event: &'static str, outcome: Outcome, reason: Option<&'static str>) -> Self {
        Self {
            event,
            outcome,
            reason,
            user_id: None,
            username: None,
            name_digest: None,
            sid: None,
            ip: None,
            request_id: None,
            kid: None,
            scope: None,
            count: None,
            service_client: None,
        }
    }

    pub(super) fn success(event: &'static str) -> Self {
        Self::new(event, Outcome::Success, None)
    }

    pub(super) fn refused(event: &'static str, reason: &'static str) -> Self {
        Self::new(event, Outcome::Refused, Some(reason))
    }

    /// The outcome and reason `e` stands for: unavailability and internal errors are
    /// `error`, anything else `refused`; the reason is the API's error code.
    pub(super) fn failed(event: &'static str, e: &AuthError) -> Self {
        let outcome = match e {
            AuthError::Unavailable(_) | AuthError::Internal(_) => Outcome::Error,
            _ => Outcome::Refused,
        };
        Self::new(event, outcome, Some(e.code()))
    }

    /// An account that exists.
    pub(super) fn user(mut self, id: i64, username: &'a str) -> Self {
        self.user_id = Some(id);
        self.username = Some(username);
        self
    }

    /// An account id alone (the name is not at hand, or not to be trusted).
    pub(super) fn user_id(mut self, id: i64) -> Self {
        self.user_id = Some(id);
        self
    }

    /// The keyed digest of a submitted name.
    pub(super) fn name_digest(mut self, digest: &'a str) -> Self {
        self.name_digest = Some(digest);
        self
    }

    pub(super) fn sid(mut self, sid: Option<&'a str>) -> Self {
        self.sid = sid;
        self
    }

    pub(super) fn client(mut self, client: &'a ClientInfo) -> Self {
        self.ip = client.ip;
        self.request_id = client.request_id.as_deref();
        self
    }

    /// The `kid` a refused token named (at most 64 characters of it: it is attacker input).
    pub(super) fn kid(mut self, kid: Option<&'a str>) -> Self {
        self.kid = kid.map(|k| match k.char_indices().nth(64) {
            Some((end, _)) => &k[..end],
            None => k,
        });
        self
    }

    pub(super) fn scope(mut self, scope: &'static str) -> Self {
        self.scope = Some(scope);
        self
    }

    pub(super) fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// The service client id presented (at most 64 characters of it: it is caller input).
    pub(super) fn service_client(mut self, client_id: &'a str) -> Self {
        self.service_client = Some(match client_id.char_indices().nth(64) {
            Some((end, _)) => &client_id[..end],
            None => client_id,
        });
        self
    }

    fn write(&self) {
        // `Option` fields that are `None` are left out of the line.
        macro_rules! line {
            ($level:expr) => {
                tracing::event!(target: "tessera::audit", $level,
                    event = self.event,
                    outcome = self.outcome.as_str(),
                    reason = self.reason,
                    user_id = self.user_id,
                    username = self.username,
                    name_digest = self.name_digest,
                    sid = self.sid,
                    ip = self.ip.map(tracing::field::display),
                    request_id = self.request_id,
                    kid = self.kid,
                    scope = self.scope,
                    count = self.count,
                    service_client = self.service_client,
                    "audit")
            };
        }
        match self.outcome {
            Outcome::Success => line!(tracing::Level::INFO),
            Outcome::Refused | Outcome::Error => line!(tracing::Level::WARN),
        }
    }
}

/// Writes audit events, holding back floods of refusals.
pub(super) struct AuditLog {
    gate: FloodGate,
    window_secs: u64,
}

impl AuditLog {
    pub(super) fn new(window_secs: u64, burst: u32) -> Self {
        Self {
            gate: FloodGate::new(Duration::from_secs(window_secs.max(1)), burst),
            window_secs,
        }
    }

    pub(super) fn record(&self, event: AuditEvent<'_>) {
        let Some(reason) = event.reason.filter(|_| event.outcome != Outcome::Success) else {
            event.write();
            return;
        };
        let (admission, summary) = self.gate.admit(event.event, reason, Instant::now());
        if let Some(summary) = summary {
            self.write_summary(&summary);
        }
        if admission == Admission::Write {
            event.write();
        }
    }

    /// Reports floods whose window has passed (run periodically by the background tasks).
    pub(super) fn flush(&self) {
        for summary in self.gate.flush(Instant::now()) {
            self.write_summary(&summary);
        }
    }

    fn write_summary(&self, s: &Summary) {
        tracing::warn!(target: "tessera::audit", event = "audit_suppressed",
            outcome = "refused", suppressed_event = s.event, reason = s.reason,
            count = s.suppressed, window_secs = self.window_secs, "audit");
    }
}
