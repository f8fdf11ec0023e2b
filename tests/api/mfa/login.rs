//! The login step: `401 mfa_required` with an `mfa_token` and no tokens, `/login/mfa` with
//! a code, `amr`/`aal` in tokens and after refresh, replay, the token's expiry, single use
//! and attempt limit, the back-off, and metrics.

use reqwest::StatusCode;
use serde_json::json;

use super::{PASSWORD, code, steady_step};
use crate::helpers::{
    assert_error, jwt_claims, only_limits, spawn_app, spawn_app_with, status_and_json, str_field,
};

#[tokio::test]
async fn a_right_password_answers_mfa_required_with_no_token_a_seed_client_could_use() {
    let app = spawn_app().await;
    app.enrolled("dana").await;
    for path in ["/login", "/api/login"] {
        let response = app
            .post_json(path, &json!({"username": "dana", "password": PASSWORD}))
            .await;
        let body = assert_error(response, StatusCode::UNAUTHORIZED, "mfa_required").await;
        assert_eq!(body["message"], "Second factor required");
        assert!(str_field(&body, "mfa_token").len() >= 40);
        // What the seed's client reads: no access token, so no login.
        assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    }
    // A wrong password is still just that.
    let wrong = app.login("dana", "not the password").await;
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn a_code_completes_the_login_and_tokens_say_so_even_after_refresh() {
    let app = spawn_app().await;
    let enrolled = app.enrolled("erin").await;
    // The enrolling session's tokens came from a password alone.
    let claims = jwt_claims(&enrolled.access_token);
    assert_eq!(
        (claims["amr"].clone(), claims["aal"].clone()),
        (json!(["pwd"]), json!("aal1"))
    );

    let token = app.mfa_token("erin").await;
    let (status, login) = status_and_json(
        app.login_mfa(&token, json!({"code": code(&enrolled.secret, 0)}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(login["message"], "Login successful");
    assert_eq!(login["user"]["username"], "erin");
    let claims = jwt_claims(str_field(&login, "access_token"));
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));
    assert_eq!(claims["aal"], "aal2");
    assert_eq!(claims["fresh"], true);
    assert_eq!(
        app.protected(str_field(&login, "access_token"))
            .await
            .status(),
        StatusCode::OK
    );

    let (status, refreshed) =
        status_and_json(app.refresh(str_field(&login, "refresh_token")).await).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let claims = jwt_claims(str_field(&refreshed, "access_token"));
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));
    assert_eq!(claims["aal"], "aal2");
    assert_eq!(claims["fresh"], false);
    // And the refreshed password-only session stays aal1.
    let (_, plain) = status_and_json(app.refresh(&enrolled.refresh_token).await).await;
    assert_eq!(jwt_claims(str_field(&plain, "access_token"))["aal"], "aal1");
}

async fn a_wrong_code_is_refused_and_a_used_code_is_totp_replayed() {
    let app = spawn_app().await;
    let enrolled = app.enrolled("frank").await;
    let token = app.mfa_token("frank").await;
    let right = code(&enrolled.secret, 0);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    for bad in [
        json!({"code": wrong}),
        json!({"code": "12"}),
        json!({"recovery_code": "nope"}),
    ] {
        let refused = app.login_mfa(&token, bad).await;
        assert_error(refused, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    }
    // The step the enrolment used (-1) is spent too.
    let old = app
        .login_mfa(&token, json!({"code": code(&enrolled.secret, -1)}))
        .await;
    assert_error(old, StatusCode::UNAUTHORIZED, "totp_replayed").await;
    assert_eq!(
        app.login_mfa(&token, json!({"code": right.clone()}))
            .await
            .status(),
        StatusCode::OK
    );
    // The same code again, with a new token: replayed.
    let again = app.mfa_token("frank").await;
    let replay = app.login_mfa(&again, json!({"code": right})).await;
    assert_error(replay, StatusCode::UNAUTHORIZED, "totp_replayed").await;
    // The next step's code is fine.
    let next = app
        .login_mfa(&again, json!({"code": code(&enrolled.secret, 1)}))
        .await;
    assert_eq!(next.status(), StatusCode::OK);
}

async fn an_mfa_token_is_single_use_short_lived_and_allows_five_attempts() {
    let app = spawn_app().await;
    let enrolled = app.enrolled("gina").await;

    // Used once: a second completion with it (even with a fresh, right code) is refused.
    let token = app.mfa_token("gina").await;
    let ok = app
        .login_mfa(&token, json!({"code": code(&enrolled.secret, 0)}))
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let reused = app
        .login_mfa(&token, json!({"code": code(&enrolled.secret, 1)}))
        .await;
    assert_error(reused, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;

    // Five attempts, then void: the right code no longer helps.
    let token = app.mfa_token("gina").await;
    for _ in 0..5 {
        let wrong = app.login_mfa(&token, json!({"code": "abcdef"})).await;
        assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    }
    let late = app
        .login_mfa(&token, json!({"code": code(&enrolled.secret, 1)}))
        .await;
    assert_error(late, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;

    // Expired: as if its five minutes had passed.
    let token = app.mfa_token("gina").await;
    app.sql("UPDATE mfa_challenges SET expires_at = 0 WHERE used_at IS NULL RETURNING 'x'")
        .await;
    let expired = app
        .login_mfa(&token, json!({"code": code(&enrolled.secret, 1)}))
        .await;
    assert_error(expired, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;

    // Unknown tokens, and requests without exactly one proof.
    let unknown = app.login_mfa("made-up", json!({"code": "123456"})).await;
    assert_error(unknown, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
    for body in [json!({}), json!({"code": "123456", "recovery_code": "x"})] {
        let bad = app.login_mfa("t", body).await;
        assert_error(bad, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}

crate::backend_tests!(
    a_wrong_code_is_refused_and_a_used_code_is_totp_replayed,
    an_mfa_token_is_single_use_short_lived_and_allows_five_attempts,
);

#[tokio::test]
async fn wrong_codes_count_toward_the_per_name_back_off_and_the_address_limit() {
    let app = spawn_app_with(|c| {
        c.login_backoff.threshold = 3;
        c.login_backoff.base_delay_ms = 60_000;
        c.login_backoff.max_delay_ms = 60_000;
    })
    .await;
    app.enrolled("hank").await;
    // The password login counts one attempt and, the user having a factor, does not clear
    // the count; two wrong codes make three; the fourth attempt waits.
    let token = app.mfa_token("hank").await;
    for _ in 0..2 {
        let wrong = app.login_mfa(&token, json!({"code": "000001"})).await;
        assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    }
    let held = app.login_mfa(&token, json!({"code": "000002"})).await;
    assert_error(held, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let login = app.login("hank", PASSWORD).await;
    assert_error(login, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // The per-(name, address) limit of logins applies to codes too: the sign-up login, the
    // enrolment's password, the password step and one code use the burst of four.
    let app = spawn_app_with(|c| {
        c.rate_limits = only_limits(|l| l.login_per_user_ip = crate::helpers::limit(1, 4));
    })
    .await;
    app.enrolled("ivy").await;
    let token = app.mfa_token("ivy").await;
    let first = app.login_mfa(&token, json!({"code": "000001"})).await;
    assert_error(first, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    let limited = app.login_mfa(&token, json!({"code": "000002"})).await;
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn verifications_are_counted_by_outcome() {
    let app = spawn_app().await;
    let enrolled = app.enrolled("jack").await;
    steady_step().await;
    let token = app.mfa_token("jack").await;
    app.login_mfa(&token, json!({"code": "abcdef"})).await;
    app.login_mfa(&token, json!({"code": code(&enrolled.secret, -1)}))
        .await;
    app.login_mfa(&token, json!({"code": code(&enrolled.secret, 0)}))
        .await;
    app.login_mfa("unknown", json!({"code": "123456"})).await;
    let text = app.get("/metrics").await.text().await.unwrap_or_default();
    for (outcome, count) in [
        ("success", 1),
        ("invalid_code", 1),
        ("replayed", 1),
        ("invalid_mfa_token", 1),
    ] {
        let line = format!("tessera_mfa_verifications_total{{outcome=\"{outcome}\"}} {count}");
        assert!(text.contains(&line), "{line} not in\n{text}");
    }
    // One login, counted once: its password step as `mfa_required` (how its second step
    // ended is the series above), not again as `success` (the one `success` is the password
    // login that enrolled).
    for line in [
        r#"tessera_logins_total{outcome="mfa_required"} 1"#,
        r#"tessera_logins_total{outcome="success"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
}

#[tokio::test]
async fn the_mfa_token_lifetime_is_the_mfa_token_ttl_secs_setting() {
    let app = spawn_app_with(|c| c.mfa.token_ttl_secs = 2).await;
    let enrolled = app.enrolled("kay").await;
    let token = app.mfa_token("kay").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let late = app
        .login_mfa(&token, json!({"code": code(&enrolled.secret, 0)}))
        .await;
    assert_error(late, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
    // Within its lifetime the same user gets in (the late attempt used no code).
    let token = app.mfa_token("kay").await;
    let ok = app
        .login_mfa(&token, json!({"code": code(&enrolled.secret, 0)}))
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
}
