//! Prometheus metrics of one tessera instance: HTTP requests by matched route and status,
//! domain events (logins, registrations, refreshes, revocations, rate-limit hits,
//! password hashing), and writes the database refused, by reason.
//!
//! Each instance owns its recorder instead of installing a global one: tests start many
//! apps in one process, and an embedding application may have a recorder of its own. The
//! domain counters are registered once, here, for every label value (all labels are small
//! fixed sets), so emitting one is an atomic add: no key hashing, no allocation, and the
//! series exist at 0 before the first event, which `rate()` needs.
//!
//! No label ever carries a username, token, address or raw path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use metrics::{Counter, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

use crate::domain::RevocationReason;
use crate::store::WRITE_FAULTS;

/// A map for the per-request look-ups (foldhash; see `http_series`).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

const HTTP_REQUESTS: &str = "tessera_http_requests_total";
const HTTP_DURATION: &str = "tessera_http_request_duration_seconds";
const HASH_DURATION: &str = "tessera_password_hash_duration_seconds";
const HASH_QUEUE: &str = "tessera_password_hash_queue_depth";
const WRITE_FAILURES: &str = "tessera_storage_write_failures_total";
const BREACHED_CHECKS: &str = "tessera_breached_password_check_total";
const MFA_VERIFICATIONS: &str = "tessera_mfa_verifications_total";
const EMAIL_MESSAGES: &str = "tessera_email_messages_total";
const EMAIL_DELIVERY: &str = "tessera_email_delivery_seconds";

/// Request latency buckets: a bare route takes tens of microseconds, a login tens of
/// milliseconds, a stuck request up to the 10 s time limit.
const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// From queued to sent: a second when the mail server answers, hours when it was down.
const EMAIL_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0, 21600.0];
/// What became of a message: `queued` (written to the outbox), `throttled` (a per-hour
/// limit refused it: nothing queued), `sent`, `failed` (an attempt failed; retried), `dead`
/// (its last attempt failed).
pub const EMAIL_OUTCOMES: [&str; 5] = ["queued", "throttled", "sent", "failed", "dead"];
/// Argon2id at the OWASP minimum takes ≈ 30 ms per core; stronger settings up to ~1 s.
const HASH_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// How a `POST /login` ended; each attempt is counted once. A login that needs a second
/// factor is counted here when its password step ends (`mfa_required`, or a failure);
/// its second step is counted in `tessera_mfa_verifications_total` (`success` there is a
/// session opened with both factors), never here again.
pub const LOGIN_OUTCOMES: [&str; 7] = [
    // A session opened with the password alone.
    "success",
    // The password was right; the login waits for the second factor (`/login/mfa`).
    "mfa_required",
    "invalid_credentials",
    "account_disabled",
    "rate_limited",
    "overloaded",
    "error",
];
pub const REFRESH_OUTCOMES: [&str; 8] = [
    "rotated",
    "grace_replay",
    "reused",
    "invalid",
    "ended",
    "account_disabled",
    "rate_limited",
    "error",
];
/// How a second-factor code (`/login/mfa`) was judged: `invalid_code` (wrong TOTP or
/// recovery code), `replayed` (a TOTP code of a step already used), `invalid_mfa_token`
/// (unknown, expired, used or spent token).
pub const MFA_OUTCOMES: [&str; 6] = [
    "success",
    "invalid_code",
    "replayed",
    "invalid_mfa_token",
    "rate_limited",
    "error",
];
/// How a breached-password check ended: `failed_open` and `failed_closed` are a timeout,
/// a down API or an unusable answer, with the password accepted or refused.
pub const BREACHED_CHECK_OUTCOMES: [&str; 4] =
    ["not_found", "found", "failed_open", "failed_closed"];
pub const RATE_LIMITS: [&str; 6] = [
    "login_per_ip",
    "login_per_user_ip",
    "register_per_ip",
    "refresh_per_ip",
    // Not a rate limit of `abuse::limits` but the per-name back-off (`domain::backoff`).
    "login_backoff",
    // A device token presented after its failures (`domain::device_lockout`): not refused,
    // but no longer a known device's login.
    "device_token_locked",
];

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The recorder and the pre-registered domain series. Disabled: every handle is a no-op.
pub struct Metrics {
    recorder: Option<PrometheusRecorder>,
    logins: Vec<Counter>,
    mfa_verifications: Vec<Counter>,
    registrations: Counter,
    refreshes: Vec<Counter>,
    revocations: Vec<Counter>,
    rate_limited: Vec<Counter>,
    breached_checks: Vec<Counter>,
    email_messages: Vec<Counter>,
    email_delivery: Histogram,
    /// By [`WRITE_FAULTS`] reason; set from the store's own counts at each scrape.
    write_failures: Vec<Counter>,
    hash_duration: Histogram,
    /// Live sessions across all instances as last counted; `u64::MAX`: not known.
    active_sessions: AtomicU64,
    /// The request counter and duration histogram of each (status, route) seen so far.
    /// Registering a labelled series costs ~5k instructions (label strings, a key, two
    /// recorder lookups); looking a handle up here costs a read lock and two hashes. The map
    /// stays small: routes are templates, never raw paths.
    /// Looked up on every request: foldhash, not the DoS-resistant default hasher (the keys
    /// are route templates and status codes, never client-chosen strings).
    http_series: RwLock<FastMap<u16, FastMap<Box<str>, HttpSeries>>>,
}

/// The series of one (status, route).
struct HttpSeries {
    requests: Counter,
    duration: Histogram,
}

impl Metrics {
    pub fn new(enabled: bool) -> anyhow::Result<Arc<Self>> {
        if !enabled {
            return Ok(Arc::new(Self::disabled()));
        }
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), HTTP_BUCKETS)?
            .set_buckets_for_metric(Matcher::Full(HASH_DURATION.into()), HASH_BUCKETS)?
            .set_buckets_for_metric(Matcher::Full(EMAIL_DELIVERY.into()), EMAIL_BUCKETS)?
            .build_recorder();
        describe(&recorder);
        let counters = |name: &'static str, label: &'static str, values: &[&'static str]| {
            values
                .iter()
                .map(|v| recorder.register_counter(&key(name, [(label, *v)]), &METADATA))
                .collect::<Vec<_>>()
        };
        Ok(Arc::new(Self {
            logins: counters("tessera_logins_total", "outcome", &LOGIN_OUTCOMES),
            mfa_verifications: counters(MFA_VERIFICATIONS, "outcome", &MFA_OUTCOMES),
            registrations: recorder.register_counter(
                &Key::from_static_name("tessera_registrations_total"),
                &METADATA,
            ),
            refreshes: counters("tessera_refreshes_total", "outcome", &REFRESH_OUTCOMES),
            revocations: counters(
                "tessera_session_revocations_total",
                "reason",
                &RevocationReason::ALL.map(RevocationReason::as_str),
            ),
            rate_limited: counters("tessera_rate_limited_total", "limit", &RATE_LIMITS),
            breached_checks: counters(BREACHED_CHECKS, "outcome", &BREACHED_CHECK_OUTCOMES),
            email_messages: counters(EMAIL_MESSAGES, "outcome", &EMAIL_OUTCOMES),
            email_delivery: recorder
                .register_histogram(&Key::from_static_name(EMAIL_DELIVERY), &METADATA),
            write_failures: counters(WRITE_FAILURES, "reason", &WRITE_FAULTS),
            hash_duration: recorder
                .register_histogram(&Key::from_static_name(HASH_DURATION), &METADATA),
            recorder: Some(recorder),
            active_sessions: AtomicU64::new(u64::MAX),
            http_series: RwLock::default(),
        }))
    }

    fn disabled() -> Self {
        Self {
            recorder: None,
            logins: Vec::new(),
            mfa_verifications: Vec::new(),
            registrations: Counter::noop(),
            refreshes: Vec::new(),
            revocations: Vec::new(),
            rate_limited: Vec::new(),
            breached_checks: Vec::new(),
            email_messages: Vec::new(),
            email_delivery: Histogram::noop(),
            write_failures: Vec::new(),
            hash_duration: Histogram::noop(),
            active_sessions: AtomicU64::new(u64::MAX),
            http_series: RwLock::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.recorder.is_some()
    }

    /// Counts a login by how it ended (one of [`LOGIN_OUTCOMES`]).
    pub fn login(&self, outcome: &str) {
        increment(&self.logins, &LOGIN_OUTCOMES, outcome, 1);
    }

    /// Counts a second-factor verification by how it ended (one of [`MFA_OUTCOMES`]).
    pub fn mfa_verification(&self, outcome: &str) {
        increment(&self.mfa_verifications, &MFA_OUTCOMES, outcome, 1);
    }

    /// Counts a breached-password check by how it ended (one of [`BREACHED_CHECK_OUTCOMES`]).
    pub fn breached_check(&self, outcome: &str) {
        increment(&self.breached_checks, &BREACHED_CHECK_OUTCOMES, outcome, 1);
    }

    /// Counts messages by what became of them (one of [`EMAIL_OUTCOMES`]).
    pub fn email(&self, outcome: &str) {
        increment(&self.email_messages, &EMAIL_OUTCOMES, outcome, 1);
    }

    /// Records how long a sent message waited in the outbox.
    pub fn email_delivered_after(&self, waited: Duration) {
        self.email_delivery.record(waited.as_secs_f64());
    }

    pub fn registered(&self) {
        self.registrations.increment(1);
    }

    /// Counts a refresh by how it ended (one of [`REFRESH_OUTCOMES`]).
    pub fn refresh(&self, outcome: &str) {
        increment(&self.refreshes, &REFRESH_OUTCOMES, outcome, 1);
    }

    pub fn revoked(&self, reason: RevocationReason, sessions: usize) {
        if let Some(counter) = self.revocations.get(reason.index()) {
            counter.increment(sessions as u64);
        }
    }

    /// The counter of refusals by one rate limit (named as in `RATE_LIMITS`).
    pub fn rate_limit_counter(&self, limit: &str) -> Counter {
        RATE_LIMITS
            .iter()
            .position(|l| *l == limit)
            .and_then(|i| self.rate_limited.get(i).cloned())
            .unwrap_or_else(Counter::noop)
    }

    pub fn hash_duration(&self) -> Histogram {
        self.hash_duration.clone()
    }

    /// Records one HTTP request. `route` is the matched route template (never the raw
    /// path, which a client controls); `None` for requests no route matched.
    pub fn http_request(&self, route: Option<&str>, status: StatusCode, elapsed: Duration) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        let route = route.unwrap_or("unmatched");
        let status = status.as_u16();
        let seconds = elapsed.as_secs_f64();
        {
            let all = self.http_series.read().unwrap_or_else(|p| p.into_inner());
            if let Some(series) = all.get(&status).and_then(|r| r.get(route)) {
                series.requests.increment(1);
                series.duration.record(seconds);
                return;
            }
        }
        // First request of this (status, route): register its series once.
        let series = {
            let labels = vec![
                Label::new("route", route.to_owned()),
                Label::new("status", status.to_string()),
            ];
            let series = HttpSeries {
                requests: recorder
                    .register_counter(&Key::from_parts(HTTP_REQUESTS, labels.clone()), &METADATA),
                duration: recorder
                    .register_histogram(&Key::from_parts(HTTP_DURATION, labels), &METADATA),
            };
            series.requests.increment(1);
            series.duration.record(seconds);
            series
        };
        let mut all = self.http_series.write().unwrap_or_else(|p| p.into_inner());
        all.entry(status).or_default().insert(route.into(), series);
    }

    /// Records the number of live sessions (`None`: the count failed; the series is then
    /// left out, rather than a stale value that looks current).
    pub fn set_active_sessions(&self, count: Option<u64>) {
        self.active_sessions
            .store(count.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Sets the failed-writes counters to the store's counts (the store counts every write
    /// it makes, including those of code that has no metrics handle).
    pub fn storage_write_failures(&self, totals: [u64; WRITE_FAULTS.len()]) {
        for (counter, total) in self.write_failures.iter().zip(totals) {
            counter.absolute(total);
        }
    }

    /// The text exposition of every metric, with the hash queue depth read now.
    pub fn render(&self, hash_queue_depth: usize) -> Option<String> {
        let recorder = self.recorder.as_ref()?;
        recorder
            .register_gauge(&Key::from_static_name(HASH_QUEUE), &METADATA)
            .set(hash_queue_depth as f64);
        let mut text = recorder.handle().render();
        let sessions = self.active_sessions.load(Ordering::Relaxed);
        if sessions != u64::MAX {
            text.push_str(
                "# HELP tessera_active_sessions Sessions neither revoked nor expired, across all instances.\n\
                 # TYPE tessera_active_sessions gauge\n",
            );
            text.push_str(&format!("tessera_active_sessions {sessions}\n"));
        }
        Some(text)
    }

    /// Folds histogram samples into their buckets. Without a scrape they would pile up in
    /// memory, so this runs periodically as well.
    pub fn run_upkeep(&self) {
        if let Some(recorder) = &self.recorder {
            recorder.handle().run_upkeep();
        }
    }
}

fn key<const N: usize>(name: &'static str, labels: [(&'static str, &'static str); N]) -> Key {
    Key::from_parts(
        name,
        labels
            .iter()
            .map(|(k, v)| Label::from_static_parts(k, v))
            .collect::<Vec<_>>(),
    )
}

fn increment(counters: &[Counter], values: &[&str], value: &str, by: u64) {
    if let Some(counter) = values
        .iter()
        .position(|v| *v == value)
        .and_then(|i| counters.get(i))
    {
        counter.increment(by);
    }
}

fn describe(recorder: &PrometheusRecorder) {
    let describe_counter = |name: &'static str, text: &'static str| {
        recorder.describe_counter(
            KeyName::from_const_str(name),
            None,
            SharedString::const_str(text),
        );
    };
    describe_counter(HTTP_REQUESTS, "HTTP requests by matched route and status.");
    describe_counter("tessera_logins_total", "Logins by outcome.");
    describe_counter("tessera_registrations_total", "Accounts created.");
    describe_counter(
        MFA_VERIFICATIONS,
        "Second-factor codes checked at login, by outcome.",
    );
    describe_counter(
        "tessera_refreshes_total",
        "Refresh-token exchanges by outcome.",
    );
    describe_counter(
        "tessera_session_revocations_total",
        "Sessions revoked, by reason.",
    );
    describe_counter(
        "tessera_rate_limited_total",
        "Requests refused by a rate limit, by limit.",
    );
    describe_counter(
        EMAIL_MESSAGES,
        "Account-recovery and verification messages, by what became of them.",
    );
    describe_counter(
        BREACHED_CHECKS,
        "Breached-password checks of new passwords, by outcome.",
    );
    describe_counter(
        WRITE_FAILURES,
        "Writes the database refused (full disk, read-only, busy, unavailable), by reason.",
    );
    recorder.describe_histogram(
        KeyName::from_const_str(HTTP_DURATION),
        Some(Unit::Seconds),
        SharedString::const_str("HTTP request latency by matched route and status."),
    );
    recorder.describe_histogram(
        KeyName::from_const_str(HASH_DURATION),
        Some(Unit::Seconds),
        SharedString::const_str("Time to compute one password hash or verification."),
    );
    recorder.describe_gauge(
        KeyName::from_const_str(HASH_QUEUE),
        None,
        SharedString::const_str("Password hashes running or waiting for a worker."),
    );
}
