//! Guessing a password through every route that checks one: `/login`, and with a stolen
//! access token `POST /me/password` and `DELETE /me`. All of them share the limits, the
//! per-name failure count and the back-off of `/login` (issue 12, items 1 and 3).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, limit, only_limits, spawn_app_with, status_and_json, str_field,
    unwrap_response,
};

const PASSWORD: &str = "correct-horse";

async fn change_password(app: &TestApp, token: &str, current: &str) -> reqwest::Response {
    let body = json!({"current_password": current, "new_password": "a-new-password"});
    let request = app
        .client
        .post(app.url("/me/password"))
        .bearer_auth(token)
        .json(&body);
    unwrap_response(request.send().await)
}

async fn delete_me(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    let request = app
        .client
        .delete(app.url("/me"))
        .bearer_auth(token)
        .json(&json!({ "password": password }));
    unwrap_response(request.send().await)
}

async fn failures_recorded(app: &TestApp, canonical: &str) -> Vec<String> {
    app.sql(&format!(
        "SELECT CAST(failures AS TEXT) FROM login_failures WHERE username_canonical = '{canonical}'"
    ))
    .await
}

async fn a_stolen_token_gets_no_more_guesses_through_me_password_than_login_gives() {
    let app = spawn_app_with(|c| {
        c.rate_limits = only_limits(|l| l.login_per_user_ip = limit(1, 3));
    })
    .await;
    let login = app.signed_up("Bob", PASSWORD).await;
    let token = str_field(&login, "access_token");
    // The sign-up's own login used one of the three.
    for _ in 0..2 {
        assert_error(
            change_password(&app, token, "guess").await,
            StatusCode::FORBIDDEN,
            "wrong_password",
        )
        .await;
    }
    assert_error(
        change_password(&app, token, "guess").await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    // The same budget as `/login` for this name from this address: both are spent.
    assert_error(
        delete_me(&app, token, "guess").await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_error(
        app.login("bob", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    // Even the right password is not checked while the limit holds: no oracle.
    assert_error(
        change_password(&app, token, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}

async fn the_per_address_limit_covers_the_account_routes_too() {
    let app =
        spawn_app_with(|c| c.rate_limits = only_limits(|l| l.login_per_ip = limit(1, 2))).await;
    let login = app.signed_up("carol", PASSWORD).await;
    let token = str_field(&login, "access_token");
    assert_error(
        delete_me(&app, token, "guess").await,
        StatusCode::FORBIDDEN,
        "wrong_password",
    )
    .await;
    assert_error(
        delete_me(&app, token, "guess").await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}

async fn a_wrong_current_password_counts_as_a_failed_login_for_the_name() {
    let app = spawn_app_with(|c| c.login_backoff.threshold = 100).await;
    let login = app.signed_up("Dave", PASSWORD).await;
    let token = str_field(&login, "access_token");
    change_password(&app, token, "guess-1").await;
    delete_me(&app, token, "guess-2").await;
    assert_eq!(failures_recorded(&app, "dave").await, vec!["2".to_owned()]);
    // And the right one resets the count, as a successful login does.
    let response = change_password(&app, token, PASSWORD).await;
    let (status, body): (StatusCode, Value) = status_and_json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(failures_recorded(&app, "dave").await.is_empty());
}

/// `n` logins to `username` at once, each from its own address (behind a trusted proxy).
async fn concurrent_logins(
    app: &TestApp,
    n: usize,
    username: &str,
    password: &str,
) -> Vec<reqwest::Response> {
    let requests = (0..n).map(|i| {
        let request = app
            .client
            .post(app.url("/login"))
            .header("x-forwarded-for", format!("198.51.100.{}", i + 1))
            .json(&json!({"username": username, "password": password}));
        async move { unwrap_response(request.send().await) }
    });
    futures_join_all(requests).await
}

async fn futures_join_all<F: std::future::Future<Output = reqwest::Response> + Send + 'static>(
    requests: impl Iterator<Item = F>,
) -> Vec<reqwest::Response> {
    let handles: Vec<_> = requests.map(tokio::spawn).collect();
    let mut responses = Vec::new();
    for handle in handles {
        responses.push(handle.await.unwrap_or_else(|e| panic!("{e}")));
    }
    responses
}

async fn concurrent_guesses_for_one_name_get_one_check_per_step_whatever_the_addresses() {
    let app = spawn_app_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap_or_else(|e| panic!("{e}"))];
        c.login_backoff.threshold = 2;
        c.login_backoff.base_delay_ms = 1500;
        c.login_backoff.max_delay_ms = 3000;
    })
    .await;
    app.register("victim", PASSWORD).await;
    let responses = concurrent_logins(&app, 16, "Victim", "guess").await;
    let mut checked = 0;
    for response in responses {
        if response.status() == StatusCode::UNAUTHORIZED {
            checked += 1;
            assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        } else {
            // Refused before any hash: the step has not passed.
            assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        }
    }
    assert!(
        (1..=2).contains(&checked),
        "only the threshold's attempts may be checked at once, not {checked}"
    );
    // The next step admits exactly one check, however many try.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let responses = concurrent_logins(&app, 12, "victim", "guess").await;
    let checked = responses
        .iter()
        .filter(|r| r.status() == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(checked, 1, "one check per step");
    // The real user gets in once the step (now 3 s) has passed.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (status, body) = status_and_json(app.login("victim", PASSWORD).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn the_account_routes_are_spaced_out_like_login() {
    let app = spawn_app_with(|c| {
        c.login_backoff.threshold = 1;
        c.login_backoff.base_delay_ms = 5000;
    })
    .await;
    let login = app.signed_up("Erin", PASSWORD).await;
    let token = str_field(&login, "access_token");
    assert_error(
        change_password(&app, token, "guess").await,
        StatusCode::FORBIDDEN,
        "wrong_password",
    )
    .await;
    assert_error(
        change_password(&app, token, "guess").await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_error(
        app.login("erin", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    let metrics = app.get("/metrics").await.text().await.unwrap_or_default();
    assert!(
        metrics.contains(r#"tessera_rate_limited_total{limit="login_backoff"} 2"#),
        "{metrics}"
    );
}

crate::backend_tests!(
    concurrent_guesses_for_one_name_get_one_check_per_step_whatever_the_addresses,
    the_account_routes_are_spaced_out_like_login,
    a_stolen_token_gets_no_more_guesses_through_me_password_than_login_gives,
    the_per_address_limit_covers_the_account_routes_too,
    a_wrong_current_password_counts_as_a_failed_login_for_the_name,
);
