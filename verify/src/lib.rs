//! Verify [tessera](https://github.com/)'s access tokens in your own services, locally,
//! and honour logout at once.
//!
//! A [`Verifier`] checks a token's signature by `kid` with the key's pinned algorithm,
//! `exp`/`nbf`/`iat` with leeway, `iss`/`aud` when configured, and `type == "access"`.
//! Keys come from tessera's JWKS (cached by `Cache-Control`, refreshed in the background,
//! refetched on an unknown `kid` at most once per interval, kept while tessera is
//! unreachable up to a bound) or from an HS256 secret (Flask-compatible mode). With
//! service-client credentials it follows tessera's revocation feed, so a token of a
//! session ended on tessera is refused within about a second, without a call per request.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tessera_verify::Verifier;
//!
//! let verifier = Verifier::builder_from_base_url("https://auth.example.com")
//!     .issuer("tessera")
//!     .revocation_feed("tc_client_id", "client secret")
//!     .build()
//!     .await?;
//! let claims = verifier.verify("eyJ...").await?;
//! println!("{} in session {:?}", claims.sub, claims.sid);
//! # Ok(()) }
//! ```
//!
//! With the `axum` feature, [`Authenticated`] is an extractor (the state must give a
//! `Verifier` through `FromRef`); refusals answer 401 with `WWW-Authenticate` and
//! tessera's `{"message", "error"}` body.

#[cfg(feature = "axum")]
mod axum_extractor;
mod claims;
mod error;
mod feed;
mod keys;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

#[cfg(feature = "axum")]
pub use axum_extractor::{Authenticated, Rejection};
pub use claims::Claims;
pub use error::{BuildError, VerifyError};

use keys::{JwksCache, KeySet, PinnedKey};

/// The longest wait tessera's `GET /revocations` accepts (a larger `wait` is a 400).
const FEED_MAX_WAIT_SECS: u64 = 25;

/// What happens when the revocation feed has been unreachable longer than its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFailure {
    /// Refuse every token (503 `unavailable`): a logout is never missed. The default.
    Closed,
    /// Keep accepting tokens not known to be revoked (logged as a warning).
    Open,
}

/// Counters for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// JWKS requests made (build, background refresh and unknown `kid`s).
    pub jwks_fetches: u64,
    /// JWKS requests that failed.
    pub jwks_failures: u64,
    /// Revocation feed requests that failed.
    pub feed_failures: u64,
    /// Session ids currently known to be revoked.
    pub revoked_sessions: u64,
}

enum Keys {
    Hs256(DecodingKey),
    Jwks(JwksCache),
}

struct FeedConfig {
    url: String,
    client_id: String,
    client_secret: String,
    wait_secs: u64,
}

/// Builds a [`Verifier`].
pub struct VerifierBuilder {
    jwks_url: Option<String>,
    hs256: Option<Vec<u8>>,
    feed_url: Option<String>,
    feed_credentials: Option<(String, String)>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
    unknown_kid_interval: Duration,
    max_stale: Duration,
    default_max_age: Duration,
    feed_bound: Duration,
    feed_failure: FeedFailure,
    feed_wait_secs: u64,
    revocation_memory: Duration,
}

impl VerifierBuilder {
    fn new() -> Self {
        Self {
            jwks_url: None,
            hs256: None,
            feed_url: None,
            feed_credentials: None,
            issuer: None,
            audience: None,
            leeway: Duration::from_secs(5),
            unknown_kid_interval: Duration::from_secs(30),
            max_stale: Duration::from_secs(3600),
            default_max_age: Duration::from_secs(300),
            feed_bound: Duration::from_secs(30),
            feed_failure: FeedFailure::Closed,
            feed_wait_secs: 25,
            revocation_memory: Duration::from_secs(2 * 3600),
        }
    }

    /// Only tokens whose `iss` is this (tessera's `issuer` setting).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Only tokens whose `aud` names this service.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Clock leeway for `exp`, `nbf` and `iat` (default 5 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// An unknown `kid` refetches the key set at most once per `interval` (default 30 s).
    pub fn unknown_kid_refetch_interval(mut self, interval: Duration) -> Self {
        self.unknown_kid_interval = interval;
        self
    }

    /// How old the last good key set may get while tessera is unreachable before every
    /// token is refused (default 1 h).
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// Follow tessera's revocation feed (`/revocations`) as this service client
    /// (`tessera clients add`). Needs a base URL, or [`revocation_feed_url`](Self::revocation_feed_url).
    pub fn revocation_feed(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.feed_credentials = Some((client_id.into(), client_secret.into()));
        self
    }

    /// Where the revocation feed is, when not at the base URL.
    pub fn revocation_feed_url(mut self, url: impl Into<String>) -> Self {
        self.feed_url = Some(url.into());
        self
    }

    /// After how long without a successful feed read the verifier fails closed (or open),
    /// and what it does then (default 30 s, closed).
    pub fn on_feed_failure(mut self, after: Duration, failure: FeedFailure) -> Self {
        self.feed_bound = after;
        self.feed_failure = failure;
        self
    }

    /// Seconds each feed request may wait on tessera for news (default 25, which is also
    /// the most tessera accepts: larger values are lowered to it; tessera may shorten the
    /// wait further with its `revocation_feed_max_wait_secs`).
    pub fn feed_wait_secs(mut self, secs: u64) -> Self {
        self.feed_wait_secs = secs.min(FEED_MAX_WAIT_SECS);
        self
    }

    /// How long a revoked session is remembered (at least the access-token lifetime;
    /// default 2 h).
    pub fn revocation_memory(mut self, memory: Duration) -> Self {
        self.revocation_memory = memory;
        self
    }

    /// Fetches the key set (when there is one), starts the background refresh and feed,
    /// and returns the verifier. Needs a Tokio runtime.
    pub async fn build(self) -> Result<Verifier, BuildError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(self.feed_wait_secs + 10))
            .build()
            .map_err(|e| BuildError(format!("cannot build the HTTP client: {e}")))?;
        let keys = match (self.hs256, self.jwks_url) {
            (Some(secret), _) => Keys::Hs256(
                DecodingKey::from_secret(&secret)
                    .map_err(|e| BuildError(format!("unusable HS256 secret: {e}")))?,
            ),
            (None, Some(url)) => Keys::Jwks(JwksCache {
                url,
                set: RwLock::new(KeySet {
                    keys: HashMap::new(),
                    fetched_at: Instant::now(),
                    max_age: self.default_max_age,
                }),
                last_unknown_kid_fetch: Mutex::new(None),
                fetching: tokio::sync::Mutex::new(()),
            }),
            (None, None) => return Err(BuildError("no key source".into())),
        };
        let feed = match (self.feed_credentials, self.feed_url) {
            (Some((client_id, client_secret)), Some(url)) => Some(FeedConfig {
                url,
                client_id,
                client_secret,
                wait_secs: self.feed_wait_secs,
            }),
            (Some(_), None) => {
                return Err(BuildError(
                    "a revocation feed needs a base URL or revocation_feed_url".into(),
                ));
            }
            (None, _) => None,
        };
        let inner = Arc::new(Inner {
            http,
            keys,
            issuer: self.issuer,
            audience: self.audience,
            leeway: self.leeway,
            unknown_kid_interval: self.unknown_kid_interval,
            max_stale: self.max_stale,
            default_max_age: self.default_max_age,
            feed,
            feed_bound: self.feed_bound,
            feed_failure: self.feed_failure,
            revoked: RwLock::new(HashMap::new()),
            revocation_memory: self.revocation_memory,
            feed_ok_at: RwLock::new(None),
            started: Instant::now(),
            jwks_fetches: AtomicU64::new(0),
            jwks_failures: AtomicU64::new(0),
            feed_failures: AtomicU64::new(0),
            tasks: Mutex::new(Vec::new()),
        });
        if let Keys::Jwks(cache) = &inner.keys {
            inner
                .fetch_jwks(cache)
                .await
                .map_err(|e| BuildError(format!("cannot fetch the JWKS: {e}")))?;
        }
        let mut tasks = Vec::new();
        if matches!(inner.keys, Keys::Jwks(_)) {
            tasks.push(tokio::spawn(refresh_keys(Arc::downgrade(&inner))));
        }
        if inner.feed.is_some() {
            tasks.push(tokio::spawn(feed::follow(Arc::downgrade(&inner))));
        }
        if let Ok(mut slot) = inner.tasks.lock() {
            *slot = tasks;
        }
        Ok(Verifier { inner })
    }
}

struct Inner {
    http: reqwest::Client,
    keys: Keys,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
    unknown_kid_interval: Duration,
    max_stale: Duration,
    default_max_age: Duration,
    feed: Option<FeedConfig>,
    feed_bound: Duration,
    feed_failure: FeedFailure,
    /// session id -> when it was learnt.
    revoked: RwLock<HashMap<String, Instant>>,
    revocation_memory: Duration,
    feed_ok_at: RwLock<Option<Instant>>,
    started: Instant,
    jwks_fetches: AtomicU64,
    jwks_failures: AtomicU64,
    feed_failures: AtomicU64,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.lock() {
            for task in tasks.iter() {
                task.abort();
            }
        }
    }
}

/// Verifies tessera's access tokens. Cheap to clone; the background refresh and feed
/// stop when the last clone is dropped.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Verifier {
    /// Keys from `{base}/.well-known/jwks.json`; the revocation feed (with
    /// [`VerifierBuilder::revocation_feed`]) at `{base}/revocations`.
    pub fn builder_from_base_url(base_url: &str) -> VerifierBuilder {
        let base = base_url.trim_end_matches('/');
        let mut builder = VerifierBuilder::new();
        builder.jwks_url = Some(format!("{base}/.well-known/jwks.json"));
        builder.feed_url = Some(format!("{base}/revocations"));
        builder
    }

    /// Keys from this JWKS URL.
    pub fn builder_from_jwks_url(jwks_url: &str) -> VerifierBuilder {
        let mut builder = VerifierBuilder::new();
        builder.jwks_url = Some(jwks_url.to_owned());
        builder
    }

    /// HS256 with the secret tessera signs with (`JWT_SECRET_KEY`), as Flask-JWT-Extended
    /// verifies.
    pub fn builder_from_hs256_secret(secret: &[u8]) -> VerifierBuilder {
        let mut builder = VerifierBuilder::new();
        builder.hs256 = Some(secret.to_vec());
        builder
    }

    /// Counters for metrics and tests.
    pub fn stats(&self) -> Stats {
        let i = &self.inner;
        Stats {
            jwks_fetches: i.jwks_fetches.load(Ordering::Relaxed),
            jwks_failures: i.jwks_failures.load(Ordering::Relaxed),
            feed_failures: i.feed_failures.load(Ordering::Relaxed),
            revoked_sessions: i.revoked.read().map_or(0, |r| r.len() as u64),
        }
    }

    /// Verifies an access token (without the `Bearer ` prefix).
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let inner = &self.inner;
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let key = match &inner.keys {
            Keys::Hs256(key) => PinnedKey {
                key: key.clone(),
                alg: Algorithm::HS256,
            },
            Keys::Jwks(cache) => {
                if cache.age() > inner.max_stale {
                    // Recover as soon as tessera answers again, but not a fetch per request.
                    if cache.may_fetch_for_unknown_kid(inner.unknown_kid_interval) {
                        let _ = inner.fetch_jwks(cache).await;
                    }
                    if cache.age() > inner.max_stale {
                        return Err(VerifyError::KeysUnavailable);
                    }
                }
                let kid = header.kid.as_deref().ok_or(VerifyError::MissingKeyId)?;
                match cache.lookup(kid) {
                    Some(key) => key,
                    None => inner.key_after_refetch(cache, kid).await?,
                }
            }
        };
        if header.alg != key.alg {
            return Err(match header.alg {
                Algorithm::HS256 | Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA => {
                    VerifyError::AlgorithmMismatch
                }
                _ => VerifyError::UnsupportedAlgorithm,
            });
        }
        let claims = inner.decode(token, &key)?;
        if let Some(sid) = &claims.sid
            && inner.is_revoked(sid)
        {
            return Err(VerifyError::Revoked);
        }
        inner.check_feed_health()?;
        Ok(claims)
    }
}

impl Inner {
    async fn key_after_refetch(
        &self,
        cache: &JwksCache,
        kid: &str,
    ) -> Result<PinnedKey, VerifyError> {
        if cache.may_fetch_for_unknown_kid(self.unknown_kid_interval) {
            if let Err(e) = self.fetch_jwks(cache).await {
                tracing::warn!(error = %e, "cannot refetch the JWKS for an unknown kid");
            }
        } else {
            // Another request may be fetching for this kid right now: wait for it.
            drop(cache.fetching.lock().await);
        }
        cache.lookup(kid).ok_or(VerifyError::UnknownKey)
    }

    async fn fetch_jwks(&self, cache: &JwksCache) -> Result<(), String> {
        let _fetching = cache.fetching.lock().await;
        self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        let result = async {
            let response = self
                .http
                .get(&cache.url)
                .send()
                .await
                .map_err(|e| format!("request failed: {e}"))?;
            if !response.status().is_success() {
                return Err(format!("status {}", response.status()));
            }
            let max_age = keys::max_age(
                response
                    .headers()
                    .get(reqwest::header::CACHE_CONTROL)
                    .and_then(|v| v.to_str().ok()),
            )
            .unwrap_or(self.default_max_age);
            let body = response
                .bytes()
                .await
                .map_err(|e| format!("cannot read the body: {e}"))?;
            Ok((keys::parse_jwks(&body)?, max_age))
        }
        .await;
        match result {
            Ok((keys, max_age)) => {
                if let Ok(mut set) = cache.set.write() {
                    *set = KeySet {
                        keys,
                        fetched_at: Instant::now(),
                        max_age,
                    };
                }
                Ok(())
            }
            Err(e) => {
                self.jwks_failures.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn decode(&self, token: &str, key: &PinnedKey) -> Result<Claims, VerifyError> {
        use jsonwebtoken::errors::ErrorKind;
        let mut validation = Validation::new(key.alg);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        match &self.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key.key,
            &validation,
        )
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => VerifyError::BadSignature,
            ErrorKind::ExpiredSignature => VerifyError::Expired,
            ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
            ErrorKind::InvalidIssuer => VerifyError::WrongIssuer,
            ErrorKind::InvalidAudience => VerifyError::WrongAudience,
            ErrorKind::InvalidAlgorithm => VerifyError::AlgorithmMismatch,
            _ => VerifyError::Malformed,
        })?;
        let claims = Claims::from_map(data.claims).ok_or(VerifyError::Malformed)?;
        if claims.iat > now_unix() + self.leeway.as_secs() as i64 {
            return Err(VerifyError::NotYetValid);
        }
        if claims.token_type != "access" {
            return Err(VerifyError::WrongType);
        }
        Ok(claims)
    }

    fn is_revoked(&self, sid: &str) -> bool {
        // A poisoned lock means a panic while writing: fail closed.
        self.revoked.read().map_or(true, |r| r.contains_key(sid))
    }

    fn check_feed_health(&self) -> Result<(), VerifyError> {
        if self.feed.is_none() {
            return Ok(());
        }
        let silent_for = match self.feed_ok_at.read().ok().and_then(|at| *at) {
            Some(at) => at.elapsed(),
            None => self.started.elapsed(),
        };
        if silent_for <= self.feed_bound {
            return Ok(());
        }
        match self.feed_failure {
            FeedFailure::Closed => Err(VerifyError::RevocationsUnavailable),
            FeedFailure::Open => Ok(()),
        }
    }

    fn remember_revoked(&self, ids: Vec<String>) {
        if let Ok(mut revoked) = self.revoked.write() {
            let now = Instant::now();
            for id in ids {
                revoked.entry(id).or_insert(now);
            }
            let memory = self.revocation_memory;
            revoked.retain(|_, at| at.elapsed() < memory);
        }
    }
}

/// Refreshes the key set before it expires; retries quickly while tessera is unreachable.
async fn refresh_keys(inner: Weak<Inner>) {
    let mut retry = Duration::from_secs(1);
    loop {
        let wait = match inner.upgrade() {
            // Refreshed well before the staleness bound too, whatever max-age says.
            Some(inner) => match &inner.keys {
                Keys::Jwks(cache) => cache.refresh_in().min(inner.max_stale / 4),
                Keys::Hs256(_) => return,
            },
            None => return,
        };
        tokio::time::sleep(wait.max(Duration::from_millis(200))).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let Keys::Jwks(cache) = &inner.keys else {
            return;
        };
        match inner.fetch_jwks(cache).await {
            Ok(()) => retry = Duration::from_secs(1),
            Err(e) => {
                tracing::warn!(error = %e, age_secs = cache.age().as_secs(), "cannot refresh the JWKS; keeping the last good set");
                drop(inner);
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(Duration::from_secs(30));
            }
        }
    }
}
