//! Instances that share nothing but the database: every secret they must agree on is
//! created once in the database, a disagreeing instance refuses to start, and the
//! refresh-token key rotates without logging anyone out. Real `tessera` processes.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend::TestDatabase;
use crate::helpers::{jwt_claims, status_and_json, str_field, unwrap_response};
use crate::process::{ServerProcess, tessera_command};

const PASSWORD: &str = "correct horse battery staple";

/// `size` instances on one database, each with its own empty data directory and
/// nothing else but `env`, started at the same moment.
pub struct Deployment {
    pub instances: Vec<ServerProcess>,
    client: reqwest::Client,
    database_url: String,
    dirs: Vec<tempfile::TempDir>,
}

impl Deployment {
    pub fn start(database_url: &str, size: usize, env: &[(&str, &str)]) -> Deployment {
        let dirs: Vec<_> = (0..size)
            .map(|_| tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let instances = std::thread::scope(|scope| {
            let starting: Vec<_> = dirs
                .iter()
                .map(|dir| {
                    scope.spawn(|| {
                        let mut env = env.to_vec();
                        env.push(("TESSERA_DATABASE_URL", database_url));
                        ServerProcess::start(dir.path(), &env)
                    })
                })
                .collect();
            starting
                .into_iter()
                .map(|s| {
                    s.join()
                        .unwrap_or_else(|_| panic!("an instance failed to start"))
                })
                .collect()
        });
        Deployment {
            instances,
            client: reqwest::Client::new(),
            database_url: database_url.to_owned(),
            dirs,
        }
    }

    pub async fn post(&self, instance: usize, path: &str, body: &Value) -> (StatusCode, Value) {
        let url = self.instances[instance].url(path);
        status_and_json(unwrap_response(
            self.client.post(url).json(body).send().await,
        ))
        .await
    }

    async fn protected(&self, instance: usize, token: &str) -> StatusCode {
        let url = self.instances[instance].url("/protected");
        unwrap_response(self.client.get(url).bearer_auth(token).send().await).status()
    }

    pub async fn sign_up(&self, instance: usize, name: &str) -> Value {
        let credentials = json!({"username": name, "password": PASSWORD});
        let (status, body) = self.post(instance, "/register", &credentials).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = self.post(instance, "/login", &credentials).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn refresh(&self, instance: usize, token: &str) -> (StatusCode, Value) {
        self.post(instance, "/refresh", &json!({"refresh_token": token}))
            .await
    }

    /// `tessera ARGS` on this deployment's database, from a data directory of its own.
    fn cli(&self, args: &[&str]) -> Output {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        tessera_command()
            .args(args)
            .arg("--json")
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--database-url")
            .arg(&self.database_url)
            .env("TESSERA_LOG_LEVEL", "warn")
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn succeeded(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

/// Refreshes `token` on every instance in turn, `rounds` times; the last refresh token.
async fn refresh_around(deployment: &Deployment, token: &str, rounds: usize) -> String {
    let mut token = token.to_owned();
    for round in 0..rounds {
        let instance = round % deployment.instances.len();
        let (status, body) = deployment.refresh(instance, &token).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "refresh on instance {instance}: {body}"
        );
        token = str_field(&body, "refresh_token").to_owned();
    }
    token
}

/// Starts `tessera serve` and expects it to refuse; its standard error.
fn refused_start(data_dir: &std::path::Path, env: &[(&str, &str)]) -> String {
    let mut command = tessera_command();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("an instance with a conflicting key started");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_pg_tests),
    ignore = "PostgreSQL tests skipped: set TESSERA_TEST_DATABASE_URL to run them"
)]
async fn instances_sharing_only_the_database_url_serve_one_deployment() {
    let database = TestDatabase::create().await;
    // Started at the same moment on an empty database: they must end with one of each key.
    let deployment = Deployment::start(&database.url, 3, &[]);
    let login = deployment.sign_up(0, "ada").await;
    let last = refresh_around(&deployment, str_field(&login, "refresh_token"), 6).await;
    let (status, refreshed) = deployment.refresh(2, &last).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    for instance in 0..3 {
        assert_eq!(
            deployment
                .protected(instance, str_field(&refreshed, "access_token"))
                .await,
            StatusCode::OK
        );
    }

    // 20 sessions refreshed at once, spread over the three.
    let mut sessions = Vec::new();
    for i in 0..20 {
        let (status, body) = deployment
            .post(
                i % 3,
                "/login",
                &json!({"username": "ada", "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        sessions.push(str_field(&body, "refresh_token").to_owned());
    }
    let deployment = std::sync::Arc::new(deployment);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, token) in sessions.into_iter().enumerate() {
        let deployment = deployment.clone();
        tasks.spawn(async move { deployment.refresh((i + 1) % 3, &token).await });
    }
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // One generation of each secret, stored by whichever instance came first.
    let stored = database
        .query_texts("SELECT name || ':' || generation FROM shared_secrets ORDER BY name")
        .await;
    assert_eq!(
        stored,
        vec![
            "device_token_key:1",
            "jwt_secret:1",
            "key_encryption_key:1",
            "refresh_token_key:1"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_pg_tests),
    ignore = "PostgreSQL tests skipped: set TESSERA_TEST_DATABASE_URL to run them"
)]
async fn a_key_generated_with_the_cli_signs_and_verifies_on_every_instance() {
    let database = TestDatabase::create().await;
    let secret = tessera::secret::generate_token_urlsafe();
    let deployment = Deployment::start(&database.url, 3, &[("JWT_SECRET_KEY", &secret)]);
    let generated = succeeded(&deployment.cli(&["keys", "generate", "--alg", "eddsa"]));
    let kid = generated["generated"]["kid"]
        .as_str()
        .unwrap_or_else(|| panic!("no kid in {generated}"))
        .to_owned();
    deployment.sign_up(0, "bea").await;
    // Each instance reloads its ring within `key_reload_ms` (2 s by default).
    let deadline = Instant::now() + Duration::from_secs(10);
    let token = loop {
        let (status, login) = deployment
            .post(
                1,
                "/login",
                &json!({"username": "bea", "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{login}");
        let token = str_field(&login, "access_token").to_owned();
        if crate::helpers::jwt_header(&token)["kid"] == kid.as_str() {
            break token;
        }
        assert!(
            Instant::now() < deadline,
            "instance 1 never signed with {kid}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(jwt_claims(&token)["sub"], "bea");
    for instance in [0, 2] {
        assert_eq!(deployment.protected(instance, &token).await, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_pg_tests),
    ignore = "PostgreSQL tests skipped: set TESSERA_TEST_DATABASE_URL to run them"
)]
async fn an_instance_whose_configured_key_disagrees_refuses_to_start_and_names_the_setting() {
    let database = TestDatabase::create().await;
    let secret = tessera::secret::generate_token_urlsafe();
    let deployment = Deployment::start(&database.url, 1, &[("JWT_SECRET_KEY", &secret)]);
    let other = tessera::secret::generate_token_urlsafe();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = database.url.as_str();
    let stderr = refused_start(
        dir.path(),
        &[("TESSERA_DATABASE_URL", url), ("JWT_SECRET_KEY", &other)],
    );
    assert!(stderr.contains("JWT_SECRET_KEY"), "{stderr}");
    assert!(
        !stderr.contains(&other) && !stderr.contains(&secret),
        "{stderr}"
    );

    // An instance without the setting cannot take the secret from the database either:
    // it is only in the others' configuration.
    let stderr = refused_start(dir.path(), &[("TESSERA_DATABASE_URL", url)]);
    assert!(stderr.contains("JWT_SECRET_KEY"), "{stderr}");

    let refresh_key = tessera::secret::generate_token_urlsafe();
    let stderr = refused_start(
        dir.path(),
        &[
            ("TESSERA_DATABASE_URL", url),
            ("JWT_SECRET_KEY", &secret),
            ("TESSERA_REFRESH_TOKEN_KEY", &refresh_key),
        ],
    );
    assert!(stderr.contains("TESSERA_REFRESH_TOKEN_KEY"), "{stderr}");
    // The running instance is untouched.
    deployment.sign_up(0, "cy").await;
}

/// A rotation of the refresh-token key logs nobody out: sessions opened before it keep
/// refreshing, onto the new key, on every instance.
async fn rotate_refresh_key_under(deployment: &Deployment) {
    let login = deployment.sign_up(0, "dee").await;
    let before = str_field(&login, "refresh_token").to_owned();
    let rotated = succeeded(&deployment.cli(&["keys", "rotate-refresh"]));
    assert_eq!(rotated["refresh_token_key"]["generation"], 2, "{rotated}");
    // Every instance takes the new key in at its next key reload (2 s by default).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let last = deployment.instances.len() - 1;
    let (status, body) = deployment.refresh(last, &before).await;
    assert_eq!(status, StatusCode::OK, "the old key still verifies: {body}");
    let after = str_field(&body, "refresh_token").to_owned();
    assert_ne!(after, before);
    refresh_around(deployment, &after, 2 * deployment.instances.len()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_pg_tests),
    ignore = "PostgreSQL tests skipped: set TESSERA_TEST_DATABASE_URL to run them"
)]
async fn rotating_the_refresh_key_logs_nobody_out_on_postgresql() {
    let database = TestDatabase::create().await;
    let deployment = Deployment::start(&database.url, 3, &[]);
    rotate_refresh_key_under(&deployment).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_refresh_key_logs_nobody_out_on_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
    // A server and the CLI on one file, the server with its own data directory.
    let deployment = Deployment::start(&url, 1, &[]);
    rotate_refresh_key_under(&deployment).await;
    assert!(
        deployment.dirs.iter().all(|d| {
            ["jwt_secret", "refresh_token_key", "key_encryption_key"]
                .iter()
                .all(|key| !d.path().join(key).exists())
        }),
        "no key file is written: the secrets are in the database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_pg_tests),
    ignore = "PostgreSQL tests skipped: set TESSERA_TEST_DATABASE_URL to run them"
)]
async fn with_an_operator_supplied_kek_no_secret_is_stored_in_clear() {
    let database = TestDatabase::create().await;
    let kek = tessera::secret::generate_token_urlsafe();
    let deployment = Deployment::start(&database.url, 2, &[("TESSERA_KEK", &kek)]);
    let login = deployment.sign_up(0, "eve").await;
    refresh_around(&deployment, str_field(&login, "refresh_token"), 2).await;
    let stored = database
        .query_texts(
            "SELECT name || '=' || COALESCE(value, 'fingerprint only') FROM shared_secrets \
             ORDER BY name",
        )
        .await;
    assert_eq!(stored.len(), 4, "{stored:?}");
    assert_eq!(stored[2], "key_encryption_key=fingerprint only");
    for row in [&stored[0], &stored[1], &stored[3]] {
        assert!(row.contains("=sealed:"), "{row}");
    }
    assert!(!stored.iter().any(|row| row.contains(&kek)));
}
