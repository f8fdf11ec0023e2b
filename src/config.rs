//! Configuration: defaults < TOML file (`--config`) < `TESSERA_*` environment < CLI flags.
//!
//! Every field has a safe default, so `tessera serve` runs with no configuration at all.
//! Tests build a [`Config`] with [`Config::for_tests`] and never read the environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

mod browser;
mod device;
mod email;
mod ui;
pub use browser::{CookiesConfig, CorsConfig, SameSite};
pub use device::DeviceTokensConfig;
pub use email::{EmailConfig, MailTransport};
pub use ui::UiConfig;
#[doc(hidden)]
pub use ui::resource_origin as ui_resource_origin;

/// All settings of a tessera instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Directory for the SQLite database and generated key files.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: `tessera.db` in the data directory.
    pub database_url: Option<String>,
    /// Maximum number of pooled database connections.
    pub db_max_connections: u32,
    /// How long a request waits for a database connection before `503 unavailable`.
    pub db_connect_timeout_secs: u64,
    /// SQLite only: when a commit counts as done. `full` (the default) survives a power
    /// loss; `normal` is faster but may lose the last commits to one (see the README).
    pub sqlite_synchronous: SqliteSynchronous,
    /// SQLite only: how often the write-ahead log is copied back into the database file
    /// (a passive checkpoint, or a truncating one when no write came since the last).
    pub sqlite_checkpoint_interval_secs: u64,
    /// HS256 signing secret (`JWT_SECRET_KEY`); created once in the database (shared by
    /// every instance) when unset.
    #[serde(skip_serializing)]
    pub jwt_secret_key: Option<Secret>,
    /// Earlier HS256 secrets, still accepted (verify only) so a shared secret can be changed
    /// without downtime: sign with `jwt_secret_key`, verify with it and these.
    #[serde(skip_serializing)]
    pub previous_jwt_secret_keys: Vec<Secret>,
    /// Accept tokens without a `kid` header (as Flask-JWT-Extended mints them), checked
    /// against the HS256 secrets. Unset: on while the HS256 secret signs, off once an
    /// asymmetric key (`tessera keys generate`) signs.
    pub accept_tokens_without_kid: Option<bool>,
    /// Keep the HS256 secrets verifying after an asymmetric key signs (a fleet whose Flask
    /// apps still mint tokens with the shared secret). Off: the secrets verify only until
    /// the last token they signed has expired (switch time + access TTL + leeway).
    pub keep_hs256_verifying: bool,
    /// Key-encryption key sealing private signing keys and shared secrets in the database
    /// (`TESSERA_KEK`, `TESSERA_KEK_FILE`). Unset: created in the database beside what it
    /// seals, which is no encryption at rest (see the README).
    #[serde(skip_serializing)]
    pub kek: Option<Secret>,
    /// A PEM private key (PKCS#8; PKCS#1 also for RSA, at least 3072 bits) to sign with
    /// instead of the database's keys, with `signing_key_alg` (`eddsa`, `es256`, `ps256`,
    /// `rs256`).
    pub signing_key_file: Option<PathBuf>,
    /// Algorithm of `signing_key_file`: `eddsa`, `es256`, `ps256` or `rs256`.
    pub signing_key_alg: Option<String>,
    /// How long `tessera keys rotate` publishes the next key before it signs: longer than
    /// verifiers cache the JWKS (`jwks_max_age_secs`).
    pub key_prepublish_secs: u64,
    /// `Cache-Control: max-age` of `/.well-known/jwks.json`.
    pub jwks_max_age_secs: u64,
    /// How often the key ring is reloaded from the database (rotations by other processes).
    pub key_reload_ms: u64,
    /// Key that authenticates refresh tokens; created once in the database (shared by
    /// every instance, rotated with `tessera keys rotate-refresh`) when unset.
    #[serde(skip_serializing)]
    pub refresh_token_key: Option<Secret>,
    /// Earlier refresh-token keys still accepted, when `refresh_token_key` is configured
    /// and has been changed: their sessions keep refreshing (onto the new key).
    #[serde(skip_serializing)]
    pub previous_refresh_token_keys: Vec<Secret>,
    /// `iss` claim of issued tokens.
    pub issuer: String,
    /// Audiences put into `aud` and required of every presented access token (one string
    /// or a list); empty: no `aud` is issued or checked.
    #[serde(deserialize_with = "one_or_many")]
    pub audience: Vec<String>,
    /// Access-token lifetime in seconds (Flask-JWT-Extended's default: 15 minutes).
    pub access_token_ttl_secs: u64,
    /// Absolute session (refresh-token) lifetime in seconds.
    pub session_ttl_secs: u64,
    /// Sessions unused for this long end; 0 disables the idle timeout.
    pub session_idle_timeout_secs: u64,
    /// Refused-request audit lines written in full per event and reason in each
    /// `audit_window_secs`; the rest are counted into one summary line.
    pub audit_burst: u32,
    /// The window of `audit_burst`, in seconds.
    pub audit_window_secs: u64,
    /// Live sessions one user may hold; a login beyond it ends the oldest. 0: no limit.
    pub max_sessions_per_user: u32,
    /// How old a password login's (`fresh`) access token may be and still end the user's
    /// other sessions without the password being sent again.
    pub reauthentication_max_age_secs: u64,
    /// How long a deleted account's name stays unavailable; unset: the longest time any
    /// token of the account could still verify (session lifetime or access-token lifetime
    /// plus leeway, whichever is longer).
    pub deleted_name_hold_secs: Option<u64>,
    /// How long after a rotation the previous refresh token still yields the same successor.
    pub refresh_grace_secs: u64,
    /// Clock skew tolerated when checking `exp`, `nbf` and `iat`.
    pub leeway_secs: u64,
    /// Argon2id parameters for new password hashes.
    pub argon2: Argon2Config,
    /// Hashing workers; 0 means one per CPU core.
    pub hash_workers: usize,
    /// Requests allowed to wait for a hashing worker before `503 overloaded`.
    pub hash_queue: usize,
    /// Whether `POST /register` creates accounts. Off: it answers `403 registration_closed`
    /// (`tessera user add` still works). Close it during a Flask cut-over, while the
    /// Flask app still registers users (see the README's cut-over guide).
    pub registration_enabled: bool,
    /// Shortest new password, in characters (Unicode scalar values after NFC); login never
    /// applies it. (`password_min_bytes`, its earlier name, is still read: see `load`.)
    pub password_min_chars: usize,
    /// Longest new password accepted, in bytes.
    pub password_max_bytes: usize,
    /// Words no new password may contain, compared after NFKC and case folding (words
    /// shorter than 3 characters are ignored); the product's name by default. Add the
    /// site's and the organisation's names.
    pub password_context_words: Vec<String>,
    /// The optional breached-password check of new passwords (off unless `api_url` is set).
    pub breached_passwords: BreachedPasswordsConfig,
    /// Verify werkzeug's weak legacy hashes (single salted HMAC, unsalted digest,
    /// `plain$$`) so those imported users can log in once and be upgraded. Off: such a
    /// hash is a cleartext password in all but name.
    pub allow_weak_legacy_hashes: bool,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// A request that takes longer than this gets `408 request_timeout`.
    pub request_timeout_secs: u64,
    /// How often expired sessions and old revocations are purged.
    pub purge_interval_secs: u64,
    /// Ended sessions deleted per statement by the purge; a round deletes batch after
    /// batch, pausing between them, so no statement holds the write lock for long.
    pub purge_batch_size: u32,
    /// How often revocations made by other processes are read from the database.
    pub revocation_poll_ms: u64,
    /// Longest wait of a `GET /revocations` long poll when there is no news (a request's
    /// `wait` is shortened to it). At most 25, the feed's documented maximum; lower it when
    /// a proxy in front of tessera closes idle requests sooner. The route's time limit is
    /// `request_timeout_secs` plus this.
    pub revocation_feed_max_wait_secs: u64,
    /// `pretty`, `json`, or `auto` (pretty on a terminal, JSON otherwise).
    pub log_format: LogFormat,
    /// tracing filter, e.g. `info` or `tessera=debug`.
    pub log_level: String,
    /// Peers whose forwarding header (`forwarded_header`) is believed (CIDR list).
    /// Empty (the default): the TCP peer is the client, whatever headers say.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The one header the trusted proxies write: `x-forwarded-for` (default) or
    /// `forwarded` (RFC 7239). The other is never read.
    pub forwarded_header: ForwardedHeader,
    /// Per-source request limits (GCRA).
    pub rate_limits: RateLimitsConfig,
    /// Where rate limits are counted: `redis://…`, `database` (PostgreSQL) or `memory`
    /// (per process). Unset: the database when it is PostgreSQL, else per process.
    pub rate_limit_url: Option<String>,
    /// Growing spacing between password checks for a name after repeated attempts, from
    /// any source (excess attempts: `429`).
    pub login_backoff: LoginBackoffConfig,
    /// Device tokens (OWASP's device cookies): a login that presents its device's token
    /// skips the per-name back-off and hashes in a reserved share of the pool.
    pub device_tokens: DeviceTokensConfig,
    /// The second factor (TOTP and recovery codes).
    pub mfa: MfaConfig,
    /// Longest time a client may take to send a request's headers; also how long an idle
    /// keep-alive connection is kept (slow-loris clients cannot hold connections).
    pub header_read_timeout_secs: u64,
    /// Largest accepted request head (request line and headers); beyond it: 431.
    pub max_header_bytes: usize,
    /// Open connections at most; 0 (default): the open-files limit (raised to the hard
    /// limit at start) minus 128. Beyond: `503 overloaded`, closed at once.
    pub max_connections: usize,
    /// Open connections from one client address (IPv6: one /64) at most; 0: no cap.
    /// Trusted proxies are exempt. Beyond: `503 overloaded`, closed at once.
    pub max_connections_per_ip: usize,
    /// A new connection that sends nothing for this long is closed.
    pub first_byte_timeout_ms: u64,
    /// Send `Strict-Transport-Security` (for a deployment served over HTTPS: with `tls`, or
    /// through a TLS terminator).
    pub hsts: bool,
    /// Native TLS: with both files set the listeners speak HTTPS; with neither, plain HTTP
    /// (then tessera must sit behind a TLS terminator).
    pub tls: TlsConfig,
    /// Tokens in cookies for browser apps (asked for per request with
    /// `"transport": "cookie"`): names, attributes and the CSRF rules' one option.
    pub cookies: CookiesConfig,
    /// Origins allowed to call tessera from a browser with credentials.
    pub cors: CorsConfig,
    /// The hosted pages under `/ui/` (sign in, sign up, my account): prefix, branding,
    /// templates, where sign-in may send the browser back to.
    pub ui: UiConfig,
    /// Mail for account recovery and address verification (off unless configured).
    pub email: EmailConfig,
    /// Serve Prometheus metrics at `GET /metrics` (and record them).
    pub metrics_enabled: bool,
    /// Serve `/metrics` on this address only (not on `listen`), e.g. a private interface.
    pub metrics_listen: Option<SocketAddr>,
    /// When set, `/metrics` requires `Authorization: Bearer <this>` (compared in constant
    /// time); `TESSERA_METRICS_TOKEN_FILE` reads it from a file.
    #[serde(skip_serializing)]
    pub metrics_token: Option<Secret>,
    /// How often the `tessera_active_sessions` gauge is recounted in the database (one
    /// query per interval, never one per scrape).
    pub active_sessions_refresh_secs: u64,
}

/// Native TLS settings (`[tls]` in TOML, `TESSERA_TLS__…` in the environment).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first (`TESSERA_TLS__CERT_FILE`).
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the leaf certificate (`TESSERA_TLS__KEY_FILE`).
    pub key_file: Option<PathBuf>,
    /// How often the two files are checked for a change (a renewed certificate is then
    /// used for new connections without a restart).
    pub reload_interval_ms: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            reload_interval_ms: 5_000,
        }
    }
}

impl TlsConfig {
    /// Whether the listeners speak HTTPS.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() && self.key_file.is_some()
    }
}

/// A GCRA limit: `per_minute` requests per minute on average, `burst` at once.
/// `per_minute = 0` turns the limit off.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests per minute on average; 0 turns the limit off.
    pub per_minute: u32,
    /// Requests allowed at once before the average applies.
    pub burst: u32,
}

/// The rate limits, one per protected action and source.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// Logins from one client address (IPv6: one /64), whatever the names.
    pub login_per_ip: RateLimit,
    /// Logins to one name from one client address: the hard limit on guessing.
    pub login_per_user_ip: RateLimit,
    /// Registrations from one client address.
    pub register_per_ip: RateLimit,
    /// Refreshes from one client address.
    pub refresh_per_ip: RateLimit,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        Self {
            login_per_ip: RateLimit {
                per_minute: 60,
                burst: 20,
            },
            login_per_user_ip: RateLimit {
                per_minute: 10,
                burst: 5,
            },
            register_per_ip: RateLimit {
                per_minute: 20,
                burst: 10,
            },
            refresh_per_ip: RateLimit {
                per_minute: 600,
                burst: 100,
            },
        }
    }
}

/// The breached-password check: a k-anonymity range API in Have I Been Pwned's format.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct BreachedPasswordsConfig {
    /// Base URL: `https://api.pwnedpasswords.com` or a mirror (`GET {url}/range/{prefix}`).
    /// Unset (the default): no check.
    pub api_url: Option<String>,
    /// How long one check may take, connection included.
    pub timeout_ms: u64,
    /// When the API times out or is down: refuse the new password with `503
    /// breached_check_unavailable` (true) or accept it, with a warning and a metric
    /// (false, the default: an outage of a third party must not stop sign-ups).
    pub fail_closed: bool,
}

impl Default for BreachedPasswordsConfig {
    fn default() -> Self {
        Self {
            api_url: None,
            timeout_ms: 2000,
            fail_closed: false,
        }
    }
}

/// The growing delay for logins to one name after repeated failures.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LoginBackoffConfig {
    /// Password checks for a name (since its last success) before they are spaced out;
    /// 0 turns the back-off off. See `domain::backoff`.
    pub threshold: u32,
    /// Spacing at the threshold; doubles with each further attempt.
    pub base_delay_ms: u64,
    /// The spacing never grows beyond this.
    pub max_delay_ms: u64,
    /// Attempts are forgotten this long after the last one.
    pub window_secs: u64,
}

impl Default for LoginBackoffConfig {
    fn default() -> Self {
        Self {
            threshold: 5,
            base_delay_ms: 250,
            max_delay_ms: 8000,
            window_secs: 900,
        }
    }
}

/// The second factor: TOTP (RFC 6238) and recovery codes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MfaConfig {
    /// The name authenticator apps show beside the account (`issuer` of the `otpauth://`
    /// URI); no `:`.
    pub issuer: String,
    /// Enrolling or removing a factor ends the user's other sessions (whoever held one
    /// logged in without the factor, or with the factor now gone).
    pub end_other_sessions: bool,
    /// Seconds an `mfa_token` (the first step's answer to a right password) may be used
    /// for the second step: long enough to open an authenticator app, short enough that a
    /// token taken from a log or a screen is soon worthless. 300 by default.
    pub token_ttl_secs: u64,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            issuer: "tessera".into(),
            end_other_sessions: true,
            token_ttl_secs: 300,
        }
    }
}

/// Argon2id parameters for new password hashes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Config {
    /// Memory per hash, in KiB (19456, OWASP's minimum, by default).
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

/// Which forwarding header trusted proxies write. Exactly one is read: a proxy that
/// writes one header passes the other through from the client untouched, so reading both
/// (or falling back from one to the other) would let the client choose its address.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx, HAProxy, most load balancers).
    #[default]
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// `Forwarded: for=…` (RFC 7239).
    #[serde(rename = "forwarded")]
    Forwarded,
}

/// SQLite's `synchronous` setting in WAL mode.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// Every commit is synced to disk before it is acknowledged: a power loss or an
    /// operating-system crash loses nothing that was acknowledged. An auth server's
    /// default, since a lost logout or password change revives a session.
    #[default]
    Full,
    /// The log is synced at checkpoints only: faster, and consistent after a power loss,
    /// but the last commits before it may be rolled back.
    Normal,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Pretty on a terminal, JSON otherwise.
    Auto,
    /// Human-readable, one event per line.
    Pretty,
    /// One JSON object per line.
    Json,
}

impl Default for Argon2Config {
    /// The OWASP minimum for Argon2id: 19 MiB, two passes, one lane.
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("tessera-data"),
            database_url: None,
            db_max_connections: 8,
            db_connect_timeout_secs: 3,
            sqlite_synchronous: SqliteSynchronous::Full,
            sqlite_checkpoint_interval_secs: 10,
            jwt_secret_key: None,
            refresh_token_key: None,
            previous_refresh_token_keys: Vec::new(),
            previous_jwt_secret_keys: Vec::new(),
            accept_tokens_without_kid: None,
            keep_hs256_verifying: false,
            kek: None,
            signing_key_file: None,
            signing_key_alg: None,
            key_prepublish_secs: 600,
            jwks_max_age_secs: 300,
            key_reload_ms: 2000,
            issuer: "tessera".into(),
            access_token_ttl_secs: 15 * 60,
            session_ttl_secs: 30 * 24 * 3600,
            session_idle_timeout_secs: 7 * 24 * 3600,
            max_sessions_per_user: 100,
            audit_burst: 20,
            audit_window_secs: 10,
            reauthentication_max_age_secs: 300,
            deleted_name_hold_secs: None,
            audience: Vec::new(),
            refresh_grace_secs: 10,
            leeway_secs: 5,
            argon2: Argon2Config::default(),
            hash_workers: 0,
            hash_queue: 64,
            registration_enabled: true,
            password_min_chars: 8,
            password_max_bytes: 1024,
            password_context_words: vec!["tessera".into()],
            breached_passwords: BreachedPasswordsConfig::default(),
            allow_weak_legacy_hashes: false,
            body_limit_bytes: 16 * 1024,
            request_timeout_secs: 10,
            purge_interval_secs: 300,
            purge_batch_size: 1000,
            revocation_poll_ms: 500,
            revocation_feed_max_wait_secs: 25,
            log_format: LogFormat::Auto,
            log_level: "info".into(),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::default(),
            rate_limits: RateLimitsConfig::default(),
            rate_limit_url: None,
            login_backoff: LoginBackoffConfig::default(),
            device_tokens: DeviceTokensConfig::default(),
            mfa: MfaConfig::default(),
            header_read_timeout_secs: 10,
            max_header_bytes: 16 * 1024,
            max_connections: 0,
            max_connections_per_ip: 128,
            first_byte_timeout_ms: 5_000,
            hsts: false,
            tls: TlsConfig::default(),
            cookies: CookiesConfig::default(),
            cors: CorsConfig::default(),
            ui: UiConfig::default(),
            email: EmailConfig::default(),
            metrics_enabled: true,
            metrics_listen: None,
            metrics_token: None,
            active_sessions_refresh_secs: 15,
        }
    }
}

impl Config {
    /// Layers defaults, the optional TOML file and the environment.
    /// CLI flags are applied by the caller on top of the result.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                anyhow::bail!("configuration file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        // The seed's variable, honoured as is; TESSERA_JWT_SECRET_KEY overrides it.
        figment = figment
            .merge(
                Env::raw()
                    .only(&["JWT_SECRET_KEY"])
                    .map(|_| "jwt_secret_key".into()),
            )
            .merge(Env::prefixed("TESSERA_").split("__").filter(|k| {
                let key = k.as_str().to_ascii_lowercase();
                // `*_FILE` variants are read by `read_secret_files`, not set here.
                key != "email.smtp_url_file" && known_env_key(&key)
            }));
        let mut config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        // The earlier name of `password_min_chars` (which counted bytes) still sets it, from
        // a file or the environment, while `password_min_chars` is left at its default.
        if let Ok(min) = figment.extract_inner::<usize>("password_min_bytes")
            && figment.find_value("password_min_chars").ok()
                == Some(figment::value::Value::from(
                    Config::default().password_min_chars,
                ))
        {
            config.password_min_chars = min;
        }
        config.read_secret_files()?;
        Ok(config)
    }

    /// `TESSERA_*` variables that name no setting (typos), so the caller can warn about them.
    pub fn unknown_env_vars() -> Vec<String> {
        std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| k.starts_with("TESSERA_"))
            .filter(|k| {
                let key = k["TESSERA_".len()..]
                    .to_ascii_lowercase()
                    .replace("__", ".");
                !known_env_key(&key) && !NON_SETTING_VARS.contains(&k.as_str())
            })
            .collect()
    }

    /// `*_FILE` variants, so secrets can come from mounted files instead of the environment.
    fn read_secret_files(&mut self) -> anyhow::Result<()> {
        let read = |var: &str| -> anyhow::Result<Option<Secret>> {
            match std::env::var_os(var) {
                None => Ok(None),
                Some(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        anyhow::anyhow!("cannot read {var} ({}): {e}", Path::new(&path).display())
                    })?;
                    Ok(Some(Secret::new(
                        text.trim_end_matches(['\r', '\n']).to_owned(),
                    )))
                }
            }
        };
        if let Some(secret) = read("JWT_SECRET_KEY_FILE")?.or(read("TESSERA_JWT_SECRET_KEY_FILE")?)
        {
            self.jwt_secret_key = Some(secret);
        }
        if let Some(secret) = read("TESSERA_KEK_FILE")? {
            self.kek = Some(secret);
        }
        if let Some(secret) = read("TESSERA_REFRESH_TOKEN_KEY_FILE")? {
            self.refresh_token_key = Some(secret);
        }
        if let Some(secret) = read("TESSERA_EMAIL__SMTP_URL_FILE")? {
            self.email.smtp_url = Some(secret);
        }
        if let Some(secret) = read("TESSERA_METRICS_TOKEN_FILE")? {
            self.metrics_token = Some(secret);
        }
        Ok(())
    }

    /// Fast, isolated settings for tests: port 0, cheap Argon2, given data directory.
    pub fn for_tests(data_dir: &Path) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.to_path_buf(),
            argon2: Argon2Config {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            log_level: "warn".into(),
            purge_interval_secs: 3600,
            revocation_poll_ms: 200,
            key_reload_ms: 200,
            active_sessions_refresh_secs: 1,
            // Tests send many requests from 127.0.0.1; the limit tests set their own.
            rate_limits: RateLimitsConfig {
                login_per_ip: RateLimit {
                    per_minute: 0,
                    burst: 0,
                },
                login_per_user_ip: RateLimit {
                    per_minute: 0,
                    burst: 0,
                },
                register_per_ip: RateLimit {
                    per_minute: 0,
                    burst: 0,
                },
                refresh_per_ip: RateLimit {
                    per_minute: 0,
                    burst: 0,
                },
            },
            login_backoff: LoginBackoffConfig {
                threshold: 0,
                ..LoginBackoffConfig::default()
            },
            ..Self::default()
        }
    }

    /// With the hosted pages on, the refresh cookie is also sent to `ui.prefix` (one more
    /// cookie path, set and cleared with the others), so a signed-in page can renew its
    /// session when the access token expires (`ui::session`). Nothing changes when a listed
    /// path already covers the prefix.
    pub fn add_page_refresh_path(&mut self) {
        let prefix = &self.ui.prefix;
        let covered = self.cookies.refresh_paths.iter().any(|path| {
            let path = path.trim_end_matches('/');
            prefix == path || prefix.starts_with(&format!("{path}/"))
        });
        if self.ui.enabled && !covered {
            self.cookies.refresh_paths.push(prefix.clone());
        }
    }

    /// The database URL in effect: the configured one or the default file in the data directory.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("tessera.db").display()),
        }
    }

    /// How long a deleted account's name is held back from registration.
    pub fn effective_deleted_name_hold_secs(&self) -> u64 {
        self.deleted_name_hold_secs.unwrap_or_else(|| {
            self.session_ttl_secs
                .max(self.access_token_ttl_secs + self.leeway_secs)
        })
    }

    /// Hashing workers in effect (0 = one per core).
    pub fn effective_hash_workers(&self) -> usize {
        if self.hash_workers > 0 {
            self.hash_workers
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }

    /// Fails fast, with a message that says how to fix it, on settings that cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.access_token_ttl_secs > 0,
            "access_token_ttl_secs must be positive"
        );
        anyhow::ensure!(
            self.session_ttl_secs > 0,
            "session_ttl_secs must be positive"
        );
        anyhow::ensure!(
            self.password_min_chars >= 1 && self.password_min_chars <= self.password_max_bytes,
            "password_min_chars must be at least 1 and at most password_max_bytes"
        );
        // 64 characters must always be possible (ASVS 6.2.9), even of 4-byte characters.
        anyhow::ensure!(
            self.password_max_bytes >= 256,
            "password_max_bytes must be at least 256 (64 characters of up to 4 bytes each)"
        );
        self.device_tokens.validate()?;
        anyhow::ensure!(
            self.breached_passwords.timeout_ms >= 1,
            "breached_passwords.timeout_ms must be at least 1"
        );
        if let Some(url) = &self.breached_passwords.api_url {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "breached_passwords.api_url must start with http:// or https://"
            );
        }
        anyhow::ensure!(
            !self.mfa.issuer.is_empty() && !self.mfa.issuer.contains(':'),
            "mfa.issuer must be a non-empty name without ':' (authenticator apps split on it)"
        );
        anyhow::ensure!(
            (1..=3600).contains(&self.mfa.token_ttl_secs),
            "mfa.token_ttl_secs must be between 1 and 3600 (an hour; 300 is the default)"
        );
        anyhow::ensure!(
            self.body_limit_bytes >= 256,
            "body_limit_bytes must be at least 256"
        );
        anyhow::ensure!(
            self.db_max_connections >= 1,
            "db_max_connections must be at least 1"
        );
        anyhow::ensure!(
            self.purge_batch_size >= 1,
            "purge_batch_size must be at least 1"
        );
        anyhow::ensure!(
            self.revocation_poll_ms >= 10,
            "revocation_poll_ms must be at least 10"
        );
        anyhow::ensure!(
            self.revocation_feed_max_wait_secs <= crate::service::FEED_MAX_WAIT.as_secs(),
            "revocation_feed_max_wait_secs must be at most {} (0 answers at once)",
            crate::service::FEED_MAX_WAIT.as_secs()
        );
        anyhow::ensure!(
            self.key_reload_ms >= 10,
            "key_reload_ms must be at least 10"
        );
        if let Some(token) = &self.metrics_token {
            anyhow::ensure!(
                token.expose().len() >= 16,
                "metrics_token must be at least 16 characters (tessera secret prints one)"
            );
        }
        anyhow::ensure!(
            self.audience.iter().all(|a| !a.trim().is_empty()),
            "audience entries must not be empty"
        );
        if let Some(hold) = self.deleted_name_hold_secs {
            anyhow::ensure!(
                hold >= self.access_token_ttl_secs + self.leeway_secs,
                "deleted_name_hold_secs must be at least access_token_ttl_secs + leeway_secs, \
                 or a token of the deleted account could read its successor's"
            );
        }
        anyhow::ensure!(
            self.sqlite_checkpoint_interval_secs >= 1,
            "sqlite_checkpoint_interval_secs must be at least 1"
        );
        anyhow::ensure!(
            self.signing_key_file.is_some() == self.signing_key_alg.is_some(),
            "signing_key_file and signing_key_alg go together (alg: eddsa, es256, ps256 or rs256)"
        );
        anyhow::ensure!(
            self.tls.cert_file.is_some() == self.tls.key_file.is_some(),
            "tls.cert_file and tls.key_file go together: set both (TESSERA_TLS__CERT_FILE and \
             TESSERA_TLS__KEY_FILE, PEM files) to serve HTTPS, or neither to serve plain HTTP \
             behind a TLS terminator"
        );
        anyhow::ensure!(
            self.tls.reload_interval_ms >= 100,
            "tls.reload_interval_ms must be at least 100"
        );
        self.cookies.validate(self.listen)?;
        self.cors.validate()?;
        self.ui.validate()?;
        self.email.validate()?;
        Ok(())
    }
}

/// One string or a list of strings (`audience = "api"` or `audience = ["api", "admin"]`).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// `TESSERA_*` variables that are read elsewhere, not settings of [`Config`].
const NON_SETTING_VARS: &[&str] = &[
    "TESSERA_KEK_FILE",
    "TESSERA_TEST_DATABASE_URL",
    "TESSERA_TEST_REDIS_URL",
    "TESSERA_JWT_SECRET_KEY_FILE",
    "TESSERA_REFRESH_TOKEN_KEY_FILE",
    "TESSERA_METRICS_TOKEN_FILE",
    "TESSERA_EMAIL__SMTP_URL_FILE",
    "TESSERA_CHROMEDRIVER",
    "TESSERA_CHROMIUM",
    "TESSERA_PYTHON",
];

/// Whether a (lower-case, dotted) key names a setting.
fn known_env_key(key: &str) -> bool {
    let top = key.split('.').next().unwrap_or(key);
    let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
    let secret_keys = [
        "jwt_secret_key",
        "refresh_token_key",
        "previous_refresh_token_keys",
        // The earlier name of password_min_chars, still read.
        "password_min_bytes",
        "previous_jwt_secret_keys",
        "kek",
        "metrics_token",
    ];
    secret_keys.contains(&top) || defaults.get(top).is_some()
}

#[cfg(test)]
// figment::Jail fixes the error type of its closures; its size is not ours to choose.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn the_earlier_name_of_the_password_minimum_is_still_read() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TESSERA_PASSWORD_MIN_BYTES", "12");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.password_min_chars, 12);
            assert!(
                !Config::unknown_env_vars().contains(&"TESSERA_PASSWORD_MIN_BYTES".to_owned()),
                "no warning for the earlier name"
            );
            Ok(())
        });
    }

    #[test]
    fn layers_apply_in_order_defaults_file_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "tessera.toml",
                r#"
                listen = "127.0.0.1:9000"
                access_token_ttl_secs = 60
                issuer = "from-file"
                [argon2]
                memory_kib = 32768
                "#,
            )?;
            jail.set_env("TESSERA_ISSUER", "from-env");
            jail.set_env("TESSERA_ARGON2__ITERATIONS", "3");
            jail.set_env("TESSERA_DATABASE_URL", "postgres://u@db/tessera");
            jail.set_env("TESSERA_TRUSTED_PROXIES", r#"["10.0.0.0/8", "fd00::/8"]"#);
            jail.set_env("TESSERA_FORWARDED_HEADER", "forwarded");
            jail.set_env("TESSERA_RATE_LIMITS__LOGIN_PER_IP__PER_MINUTE", "0");
            let config =
                Config::load(Some(Path::new("tessera.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
            assert_eq!(config.access_token_ttl_secs, 60);
            assert_eq!(config.issuer, "from-env");
            assert_eq!(
                config.argon2,
                Argon2Config {
                    memory_kib: 32768,
                    iterations: 3,
                    parallelism: 1
                }
            );
            assert_eq!(
                config.database_url.as_deref(),
                Some("postgres://u@db/tessera")
            );
            assert_eq!(config.session_ttl_secs, Config::default().session_ttl_secs);
            assert_eq!(config.trusted_proxies.len(), 2);
            assert_eq!(config.forwarded_header, ForwardedHeader::Forwarded);
            assert_eq!(config.rate_limits.login_per_ip.per_minute, 0);
            assert_eq!(
                config.rate_limits.login_per_ip.burst,
                RateLimitsConfig::default().login_per_ip.burst
            );
            Ok(())
        });
    }

    fn jwt_secret(config: &Config) -> Option<String> {
        config
            .jwt_secret_key
            .as_ref()
            .map(|s| s.expose().to_owned())
    }

    #[test]
    fn the_seeds_secret_variable_is_honoured_and_the_prefixed_one_wins() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("JWT_SECRET_KEY", "seed-secret-seed-secret-seed-secret");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                jwt_secret(&config).as_deref(),
                Some("seed-secret-seed-secret-seed-secret")
            );
            jail.set_env(
                "TESSERA_JWT_SECRET_KEY",
                "prefixed-secret-prefixed-secret-xx",
            );
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                jwt_secret(&config).as_deref(),
                Some("prefixed-secret-prefixed-secret-xx")
            );
            Ok(())
        });
    }

    #[test]
    fn secrets_can_come_from_files() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("secret.txt", "file-secret-file-secret-file-secret\n")?;
            jail.set_env("JWT_SECRET_KEY_FILE", "secret.txt");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                jwt_secret(&config).as_deref(),
                Some("file-secret-file-secret-file-secret")
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_tessera_variables_are_reported_not_applied() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TESSERA_LISTNE", "0.0.0.0:1");
            jail.set_env("TESSERA_LOG_LEVEL", "debug");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.listen, Config::default().listen);
            assert_eq!(config.log_level, "debug");
            let unknown = Config::unknown_env_vars();
            assert!(
                unknown.contains(&"TESSERA_LISTNE".to_owned()),
                "{unknown:?}"
            );
            assert!(
                !unknown.contains(&"TESSERA_LOG_LEVEL".to_owned()),
                "{unknown:?}"
            );
            Ok(())
        });
    }

    #[test]
    fn the_mfa_token_lifetime_comes_from_the_environment_and_is_bounded() {
        figment::Jail::expect_with(|jail| {
            assert_eq!(
                Config::load(None)
                    .map_err(|e| e.to_string())?
                    .mfa
                    .token_ttl_secs,
                300
            );
            jail.set_env("TESSERA_MFA__TOKEN_TTL_SECS", "120");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.mfa.token_ttl_secs, 120);
            assert!(config.validate().is_ok());
            for bad in ["0", "3601"] {
                jail.set_env("TESSERA_MFA__TOKEN_TTL_SECS", bad);
                let error = Config::load(None)
                    .map_err(|e| e.to_string())?
                    .validate()
                    .err()
                    .map(|e| e.to_string());
                assert!(
                    error
                        .as_deref()
                        .is_some_and(|e| e.contains("mfa.token_ttl_secs")),
                    "{bad}: {error:?}"
                );
            }
            Ok(())
        });
    }

    #[test]
    fn sqlite_durability_is_full_unless_set_to_normal() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.sqlite_synchronous, SqliteSynchronous::Full);
            jail.set_env("TESSERA_SQLITE_SYNCHRONOUS", "normal");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.sqlite_synchronous, SqliteSynchronous::Normal);
            jail.set_env("TESSERA_SQLITE_SYNCHRONOUS", "off");
            assert!(
                Config::load(None).is_err(),
                "only full and normal are offered"
            );
            Ok(())
        });
    }

    #[test]
    fn tls_files_come_from_the_environment_and_go_together() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TESSERA_TLS__CERT_FILE", "/etc/tessera/cert.pem");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                config.tls.cert_file.as_deref(),
                Some(Path::new("/etc/tessera/cert.pem"))
            );
            let error = config.validate().err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("TESSERA_TLS__KEY_FILE")),
                "{error:?}"
            );
            jail.set_env("TESSERA_TLS__KEY_FILE", "/etc/tessera/key.pem");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert!(config.validate().is_ok() && config.tls.enabled());
            let unknown = Config::unknown_env_vars();
            assert!(
                !unknown.iter().any(|k| k.starts_with("TESSERA_TLS")),
                "{unknown:?}"
            );
            Ok(())
        });
    }

    #[test]
    fn password_screening_settings_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.password_context_words, ["tessera"]);
            assert_eq!(
                config.breached_passwords,
                BreachedPasswordsConfig::default()
            );
            jail.set_env(
                "TESSERA_BREACHED_PASSWORDS__API_URL",
                "https://api.pwnedpasswords.com",
            );
            jail.set_env("TESSERA_BREACHED_PASSWORDS__FAIL_CLOSED", "true");
            jail.set_env("TESSERA_PASSWORD_CONTEXT_WORDS", r#"["tessera", "acme"]"#);
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                config.breached_passwords.api_url.as_deref(),
                Some("https://api.pwnedpasswords.com")
            );
            assert!(config.breached_passwords.fail_closed);
            assert_eq!(config.password_context_words, ["tessera", "acme"]);
            let unknown = Config::unknown_env_vars();
            assert!(
                !unknown.iter().any(|v| v.contains("PASSWORD")),
                "{unknown:?}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_missing_configuration_file_is_an_error() {
        figment::Jail::expect_with(|_| {
            assert!(Config::load(Some(Path::new("nope.toml"))).is_err());
            Ok(())
        });
    }
}
