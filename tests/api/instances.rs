//! Several tessera processes on one PostgreSQL database, as behind a load balancer, and
//! what happens when PostgreSQL goes away. These need PostgreSQL, so they run only where
//! `TESSERA_TEST_DATABASE_URL` is set (`.ci/run` sets it).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend::TestDatabase;
use crate::helpers::{status_and_json, str_field, unwrap_response};
use crate::process::ServerProcess;

const PASSWORD: &str = "correct horse battery staple";

/// Three instances sharing one fresh database and the same keys.
struct Cluster {
    instances: Vec<ServerProcess>,
    client: reqwest::Client,
    _dirs: Vec<tempfile::TempDir>,
    _database: TestDatabase,
}

impl Cluster {
    async fn start(size: usize) -> Cluster {
        let database = TestDatabase::create().await;
        let secret = tessera::secret::generate_token_urlsafe();
        let refresh_key = tessera::secret::generate_token_urlsafe();
        let mut dirs = Vec::new();
        let mut instances = Vec::new();
        for _ in 0..size {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            instances.push(ServerProcess::start(
                dir.path(),
                &[
                    ("TESSERA_DATABASE_URL", &database.url),
                    ("JWT_SECRET_KEY", &secret),
                    ("TESSERA_REFRESH_TOKEN_KEY", &refresh_key),
                ],
            ));
            dirs.push(dir);
        }
        Cluster {
            instances,
            client: reqwest::Client::new(),
            _dirs: dirs,
            _database: database,
        }
    }

    async fn post(&self, instance: usize, path: &str, body: &Value) -> (StatusCode, Value) {
        let url = self.instances[instance].url(path);
        status_and_json(unwrap_response(
            self.client.post(url).json(body).send().await,
        ))
        .await
    }

    async fn get(&self, instance: usize, path: &str, token: &str) -> (StatusCode, Value) {
        let url = self.instances[instance].url(path);
        status_and_json(unwrap_response(
            self.client.get(url).bearer_auth(token).send().await,
        ))
        .await
    }

    async fn login(&self, instance: usize, username: &str) -> Value {
        let (status, body) = self
            .post(
                instance,
                "/login",
                &json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_pg_tests),
    ignore = "PostgreSQL tests skipped: set TESSERA_TEST_DATABASE_URL to run them"
)]
async fn a_user_registered_on_one_instance_logs_in_on_another_and_is_served_by_a_third() {
    let cluster = Cluster::start(3).await;
    let (status, _) = cluster
        .post(
            0,
            "/register",
            &json!({"username": "Ada", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let login = cluster.login(1, "ada").await;
    let (status, body) = cluster
        .get(2, "/protected", str_field(&login, "access_token"))
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"logged_in_as": "Ada"}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_pg_tests),
    ignore = "PostgreSQL tests skipped: set TESSERA_TEST_DATABASE_URL to run them"
)]
async fn a_logout_on_one_instance_is_honoured_by_the_others_within_a_second() {
    let cluster = Cluster::start(3).await;
    cluster
        .post(
            0,
            "/register",
            &json!({"username": "bo", "password": PASSWORD}),
        )
        .await;
    let login = cluster.login(0, "bo").await;
    let token = str_field(&login, "access_token");
    for instance in 0..3 {
        assert_eq!(
            cluster.get(instance, "/protected", token).await.0,
            StatusCode::OK
        );
    }
    let url = cluster.instances[0].url("/logout");
    let logout = unwrap_response(cluster.client.post(url).bearer_auth(token).send().await);
    assert_eq!(logout.status(), StatusCode::OK);
    let logged_out_at = Instant::now();
    for instance in 1..3 {
        loop {
            let (status, body) = cluster.get(instance, "/protected", token).await;
            if status == StatusCode::UNAUTHORIZED {
                assert_eq!(body["error"], "token_revoked");
                break;
            }
            assert!(
                logged_out_at.elapsed() < Duration::from_secs(1),
                "instance {instance} still accepts the token"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(logged_out_at.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_pg_tests),
    ignore = "PostgreSQL tests skipped: set TESSERA_TEST_DATABASE_URL to run them"
)]
async fn concurrent_refreshes_spread_over_instances_all_get_the_same_successor() {
    let cluster = std::sync::Arc::new(Cluster::start(3).await);
    cluster
        .post(
            0,
            "/register",
            &json!({"username": "cy", "password": PASSWORD}),
        )
        .await;
    let login = cluster.login(0, "cy").await;
    let refresh_token = str_field(&login, "refresh_token").to_owned();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (cluster, token) = (cluster.clone(), refresh_token.clone());
        tasks.spawn(async move {
            cluster
                .post(i % 3, "/refresh", &json!({"refresh_token": token}))
                .await
        });
    }
    let mut successors = std::collections::HashSet::new();
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, StatusCode::OK, "{body}");
        successors.insert(str_field(&body, "refresh_token").to_owned());
    }
    assert_eq!(
        successors.len(),
        1,
        "every concurrent refresh must get the same successor"
    );
    let successor = successors.into_iter().next().unwrap_or_default();
    let (status, body) = cluster
        .post(2, "/refresh", &json!({"refresh_token": successor}))
        .await;
    assert_eq!(status, StatusCode::OK, "the session stays valid: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_pg_tests),
    ignore = "PostgreSQL tests skipped: set TESSERA_TEST_DATABASE_URL to run them"
)]
async fn duplicate_registrations_from_50_clients_over_instances_yield_one_201() {
    let cluster = std::sync::Arc::new(Cluster::start(3).await);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let cluster = cluster.clone();
        let name = if i % 2 == 0 { "dup" } else { "DUP" };
        tasks.spawn(async move {
            cluster
                .post(
                    i % 3,
                    "/register",
                    &json!({"username": name, "password": PASSWORD}),
                )
                .await
        });
    }
    let mut statuses = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.unwrap_or_else(|e| panic!("{e}"));
        if status == StatusCode::BAD_REQUEST {
            assert_eq!(body["error"], "username_taken");
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::BAD_REQUEST)
            .count(),
        49
    );
}
