//! Rate limits that hold for the deployment, not per process: counted in PostgreSQL or
//! Redis, and falling back to each process's own limiter when the shared store is gone.

use reqwest::StatusCode;
use serde_json::json;

use crate::backend::TestDatabase;
use crate::shared_secrets::Deployment;

/// 6 logins a minute from one address, 3 at once: the limit under test.
const LOGIN_LIMIT: [(&str, &str); 2] = [
    ("TESSERA_RATE_LIMITS__LOGIN_PER_IP__PER_MINUTE", "6"),
    ("TESSERA_RATE_LIMITS__LOGIN_PER_IP__BURST", "3"),
];

/// Logs in (with a wrong password) `attempts` times over the instances in turn; how many
/// were let through to the password check (not 429), and asserts no other answer.
async fn logins_let_through(deployment: &Deployment, attempts: usize) -> usize {
    let mut through = 0;
    for i in 0..attempts {
        let body = json!({"username": format!("user{i}"), "password": "wrong password!"});
        let (status, answer) = deployment
            .post(i % deployment.instances.len(), "/login", &body)
            .await;
        match status {
            StatusCode::UNAUTHORIZED => through += 1,
            StatusCode::TOO_MANY_REQUESTS => assert_eq!(answer["error"], "rate_limited"),
            other => panic!("login answered {other}: {answer}"),
        }
    }
    through
}

fn with_limit<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    LOGIN_LIMIT
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_pg_tests),
    ignore = "PostgreSQL tests skipped: set TESSERA_TEST_DATABASE_URL to run them"
)]
async fn one_address_gets_the_configured_budget_over_three_instances_on_postgresql() {
    let database = TestDatabase::create().await;
    let deployment = Deployment::start(&database.url, 3, &with_limit(&[]));
    // Three instances with per-process limits would let 9 through.
    assert_eq!(logins_let_through(&deployment, 9).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(tessera_pg_tests, tessera_redis_tests)),
    ignore = "Redis tests skipped: set TESSERA_TEST_REDIS_URL (and TESSERA_TEST_DATABASE_URL) to run them"
)]
async fn one_address_gets_the_configured_budget_over_three_instances_with_redis() {
    let database = TestDatabase::create().await;
    let redis = std::env::var("TESSERA_TEST_REDIS_URL").unwrap_or_default();
    let deployment = Deployment::start(
        &database.url,
        3,
        &with_limit(&[("TESSERA_RATE_LIMIT_URL", &redis)]),
    );
    assert_eq!(logins_let_through(&deployment, 9).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_shared_store_unreachable_each_instance_limits_on_its_own_and_stays_up() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
    // Nothing listens on port 1: Redis is "stopped" for the whole test.
    let deployment = Deployment::start(
        &url,
        1,
        &with_limit(&[("TESSERA_RATE_LIMIT_URL", "redis://127.0.0.1:1/")]),
    );
    assert_eq!(logins_let_through(&deployment, 5).await, 3);
    let logs = deployment.instances[0].log_text();
    assert!(
        logs.contains("shared rate limits unreachable"),
        "the fallback is logged"
    );
}
