//! One-time use under concurrency: the same TOTP code, or the same recovery code, sent at
//! once (to one instance, or to two instances of one database) logs in exactly once. The
//! store's conditional UPDATE picks the winner; these run on SQLite and PostgreSQL.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{code, steady_step};
use crate::helpers::{TestApp, spawn_app, spawn_instance_beside, status_and_json};

/// Sends `proof` four times at once, each with a fresh mfa_token from `apps[i]` (the
/// requests are in flight together; the servers handle them on their own threads).
async fn race(apps: [&TestApp; 4], name: &str, proof: Value) -> Vec<(StatusCode, Value)> {
    let mut tokens = Vec::new();
    for app in apps {
        tokens.push(app.mfa_token(name).await);
    }
    let attempt = |i: usize| {
        let proof = proof.clone();
        let (app, token) = (apps[i], tokens[i].clone());
        async move { status_and_json(app.login_mfa(&token, proof).await).await }
    };
    let (a, b, c, d) = tokio::join!(attempt(0), attempt(1), attempt(2), attempt(3));
    vec![a, b, c, d]
}

fn assert_one_winner(results: &[(StatusCode, Value)], loser_code: &str) {
    let winners = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(winners, 1, "{results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(
            (*status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some(loser_code)),
            "{body}"
        );
    }
}

async fn one_totp_code_sent_four_times_at_once_logs_in_once() {
    let app = spawn_app().await;
    let enrolled = app.enrolled("kate").await;
    steady_step().await;
    let code = code(&enrolled.secret, 0);
    let results = race([&app, &app, &app, &app], "kate", json!({"code": code})).await;
    assert_one_winner(&results, "totp_replayed");
}

async fn two_instances_racing_with_one_totp_code_log_in_once() {
    let app = spawn_app().await;
    let other = spawn_instance_beside(&app, |_| {}).await;
    let enrolled = app.enrolled("liam").await;
    steady_step().await;
    let code = code(&enrolled.secret, 0);
    let results = race([&app, &other, &app, &other], "liam", json!({"code": code})).await;
    assert_one_winner(&results, "totp_replayed");
}

async fn one_recovery_code_sent_at_once_to_two_instances_works_once() {
    let app = spawn_app().await;
    let other = spawn_instance_beside(&app, |_| {}).await;
    let enrolled = app.enrolled("mona").await;
    let recovery = enrolled.recovery_codes[0].clone();
    let proof = json!({"recovery_code": recovery});
    let results = race([&app, &other, &app, &other], "mona", proof).await;
    assert_one_winner(&results, "invalid_mfa_code");
}

crate::backend_tests!(
    one_totp_code_sent_four_times_at_once_logs_in_once,
    two_instances_racing_with_one_totp_code_log_in_once,
    one_recovery_code_sent_at_once_to_two_instances_works_once,
);
