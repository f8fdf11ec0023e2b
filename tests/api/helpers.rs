//! `spawn_app()`: a fresh tessera on a random port with its own SQLite database, and a
//! client with one helper per endpoint.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tessera::config::{RateLimit, RateLimitsConfig};
use tessera::{Application, Config, Tessera};

use crate::backend::{Backend, TestDatabase, current_backend};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The HS256 secret the app signs with, so tests can forge tokens like an attacker who has it.
    pub secret: String,
    pub tessera: Tessera,
    // Dropped after the app's fields above: the database goes last.
    _data_dir: tempfile::TempDir,
    _database: Option<TestDatabase>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts an app after `adjust` has changed its test configuration, on the backend the
/// test runs on (see `backend_tests!`).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let secret = tessera::secret::generate_token_urlsafe();
    let mut config = Config::for_tests(data_dir.path());
    let backend = current_backend();
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDatabase::create().await),
    };
    if let Some(database) = &database {
        config.database_url = Some(database.url.clone());
    }
    config.jwt_secret_key = Some(tessera::secret::Secret::new(secret.clone()));
    adjust(&mut config);
    let app = Application::build(config)
        .await
        .unwrap_or_else(|e| panic!("app failed to build: {e:#}"));
    let address = format!("http://{}", app.local_addr());
    let tessera = app.tessera().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"));
    TestApp {
        address,
        client,
        secret,
        tessera,
        _data_dir: data_dir,
        _database: database,
    }
}

/// A rate limit of `per_minute` on average and `burst` at once.
pub const fn limit(per_minute: u32, burst: u32) -> RateLimit {
    RateLimit { per_minute, burst }
}

/// Rate limits with every limit off but those `set` turns on (tests send everything
/// from 127.0.0.1, so a test enables only the limit it is about).
pub fn only_limits(set: impl FnOnce(&mut RateLimitsConfig)) -> RateLimitsConfig {
    let off = limit(0, 0);
    let mut limits = RateLimitsConfig {
        login_per_ip: off,
        login_per_user_ip: off,
        register_per_ip: off,
        refresh_per_ip: off,
    };
    set(&mut limits);
    limits
}

/// A second instance on `app`'s database, with its own (empty) data directory and the
/// same `JWT_SECRET_KEY`: another process of the same deployment. Every other secret it
/// finds in the database.
pub async fn spawn_instance_beside(app: &TestApp, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let source = app.tessera.config();
    let mut config = Config::for_tests(data_dir.path());
    config.database_url = Some(source.effective_database_url());
    config.jwt_secret_key = source.jwt_secret_key.clone();
    adjust(&mut config);
    let instance = Application::build(config)
        .await
        .unwrap_or_else(|e| panic!("second instance: {e:#}"));
    let address = format!("http://{}", instance.local_addr());
    let tessera = instance.tessera().clone();
    tokio::spawn(instance.run_until(std::future::pending()));
    TestApp {
        address,
        client: app.client.clone(),
        secret: app.secret.clone(),
        tessera,
        _data_dir: data_dir,
        _database: None,
    }
}

/// The codes of a presented bearer token that failed: RFC 6750 says their 401 carries
/// `error="invalid_token"` in `WWW-Authenticate`.
const TOKEN_FAILURES: &[&str] = &[
    "invalid_token",
    "invalid_signature",
    "token_expired",
    "token_not_yet_valid",
    "wrong_token_type",
    "invalid_issuer",
    "invalid_audience",
    "token_revoked",
    "unsupported_algorithm",
    "algorithm_mismatch",
    "unknown_key_id",
    "key_retired",
    "missing_key_id",
];

/// The one check of an error answer: its status, the `{"message", "error"}` shape with
/// `code`, `WWW-Authenticate` on every 401 (with `error="invalid_token"` exactly when a
/// presented token failed), and `Retry-After` in whole seconds on 429 and 503. Returns
/// the body.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let challenge = header(reqwest::header::WWW_AUTHENTICATE);
    let retry_after = header(reqwest::header::RETRY_AFTER);
    let (actual, body) = status_and_json(response).await;
    assert_eq!(actual, status, "unexpected status; body: {body}");
    assert_error_shape(&body, code);
    if status == StatusCode::UNAUTHORIZED {
        let challenge =
            challenge.unwrap_or_else(|| panic!("401 without a readable WWW-Authenticate: {body}"));
        // Service clients authenticate with HTTP Basic (RFC 6749 §5.2), everyone else
        // with a bearer token.
        let scheme = if code == "invalid_client" {
            "Basic"
        } else {
            "Bearer"
        };
        assert!(challenge.starts_with(scheme), "{challenge}");
        assert_eq!(
            challenge.contains(r#"error="invalid_token""#),
            TOKEN_FAILURES.contains(&code),
            "{code}: {challenge}"
        );
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        assert!(
            retry_after
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|secs| secs >= 1),
            "{status} without Retry-After in whole seconds: {retry_after:?}"
        );
    }
    body
}

/// The error body shape: `{"message": "...", "error": code}`.
pub fn assert_error_shape(body: &Value, code: &str) {
    assert!(body["message"].is_string(), "no message in {body}");
    assert_eq!(body["error"], code, "unexpected error code in {body}");
}

/// A response's status and JSON body (`Value::Null` when the body is not JSON).
pub async fn status_and_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn unwrap_response(result: reqwest::Result<Response>) -> Response {
    result.unwrap_or_else(|e| panic!("request failed: {e}"))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        unwrap_response(self.client.post(self.url(path)).json(body).send().await)
    }

    pub async fn get(&self, path: &str) -> Response {
        unwrap_response(self.client.get(self.url(path)).send().await)
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Response {
        unwrap_response(
            self.client
                .get(self.url(path))
                .bearer_auth(token)
                .send()
                .await,
        )
    }

    pub async fn register(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/register",
            &json!({ "username": username, "password": password }),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/login",
            &json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Registers and logs in; returns the login body (`access_token`, `refresh_token`, …).
    pub async fn signed_up(&self, username: &str, password: &str) -> Value {
        assert_eq!(
            self.register(username, password).await.status(),
            StatusCode::CREATED
        );
        let (status, body) = status_and_json(self.login(username, password).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn protected(&self, token: &str) -> Response {
        self.get_with_token("/protected", token).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/refresh", &json!({ "refresh_token": refresh_token }))
            .await
    }

    pub async fn logout(&self, access_token: &str, scope: Option<&str>) -> Response {
        let request = self
            .client
            .post(self.url("/logout"))
            .bearer_auth(access_token);
        let request = match scope {
            Some(scope) => request.json(&json!({ "scope": scope })),
            None => request,
        };
        unwrap_response(request.send().await)
    }

    pub async fn sessions(&self, access_token: &str) -> Response {
        self.get_with_token("/sessions", access_token).await
    }

    pub async fn delete_session(&self, access_token: &str, id: &str) -> Response {
        unwrap_response(
            self.client
                .delete(self.url(&format!("/sessions/{id}")))
                .bearer_auth(access_token)
                .send()
                .await,
        )
    }

    /// Runs `sql` on the app's database directly, as another process would (an operator,
    /// another instance, the Flask app during a cut-over), and returns the first column of
    /// each row it gives back, as text.
    pub async fn sql(&self, sql: &str) -> Vec<String> {
        use sqlx::{AssertSqlSafe, Connection};
        let url = self.tessera.config().effective_database_url();
        let rows: Result<Vec<(String,)>, sqlx::Error> = if url.starts_with("sqlite:") {
            let mut db = sqlx::SqliteConnection::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            sqlx::query_as(AssertSqlSafe(sql.to_owned()))
                .fetch_all(&mut db)
                .await
        } else {
            let mut db = sqlx::PgConnection::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            sqlx::query_as(AssertSqlSafe(sql.to_owned()))
                .fetch_all(&mut db)
                .await
        };
        rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
            .into_iter()
            .map(|(text,)| text)
            .collect()
    }

    /// Puts a user row with `hash` straight into the table (`name` lower-case ASCII, its
    /// own canonical form), as a hand-edited or foreign database would have it.
    pub async fn insert_user_row(&self, name: &str, hash: &str) {
        let inserted = self
            .sql(&format!(
                "INSERT INTO users (username, username_canonical, password_hash, created_at, \
                 password_changed_at) VALUES ('{name}', '{name}', '{}', 0, 0) RETURNING username",
                hash.replace('\'', "''")
            ))
            .await;
        assert_eq!(inserted, vec![name.to_owned()]);
    }

    /// Signs `claims` with the app's secret, as any HS256 library would.
    pub fn sign(&self, claims: &Value) -> String {
        sign_hs256(&self.secret, claims)
    }
}

pub fn sign_hs256(secret: &str, claims: &Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())
        .unwrap_or_else(|e| panic!("key: {e}"));
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), claims, &key)
        .unwrap_or_else(|e| panic!("encode: {e}"))
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The header of a JWT, decoded without checking anything.
pub fn jwt_header(token: &str) -> Value {
    use base64::Engine;
    let header = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// The payload of a JWT, decoded without checking anything.
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

pub fn str_field<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string field {name} in {body}"))
}

/// Writes `request` (raw HTTP/1.1 that says `Connection: close`) to `stream` and returns
/// everything the server sent before closing (or within 10 s). A TLS peer that closes
/// without close_notify ends the read with an error: what was read counts.
pub async fn raw_http_exchange<S>(stream: &mut S, request: &str) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut received = Vec::new();
    let wait = std::time::Duration::from_secs(10);
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut received)).await;
    String::from_utf8_lossy(&received).into_owned()
}
