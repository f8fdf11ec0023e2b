//! Password reset: by link and by code, pages that consume nothing, single use under
//! concurrency, expiry, bounded guesses, no enumeration, the outbox through an SMTP
//! outage and across two instances, the per-address limit, and the administrator's link.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::smtp_sink::{self, SmtpSink};
use super::{PASSWORD, WAIT, app_with_mail, last_message_to, user_with_verified_email};
use crate::helpers::{
    TestApp, assert_error, spawn_instance_beside, status_and_json, str_field, unwrap_response,
};

const NEW_PASSWORD: &str = "a brand new passphrase";

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn forgot(app: &TestApp, body: Value) -> (StatusCode, Value) {
    status_and_json(app.post_json("/password/forgot", &body).await).await
}

async fn reset(app: &TestApp, body: Value) -> (StatusCode, Value) {
    status_and_json(app.post_json("/password/reset", &body).await).await
}

async fn a_link_resets_once_ends_every_session_and_its_page_consumes_nothing() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink.url(), |_| {}).await;
    let login = user_with_verified_email(&app, &sink, "alice", "alice@example.com").await;
    let before = sink.messages().len();
    let (status, body) = forgot(&app, json!({"username": "ALICE"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        body,
        json!({"message": "If the account exists, a message has been sent"})
    );
    let message = last_message_to(&sink, "alice@example.com", before).await;
    assert!(
        message
            .text
            .contains("http://tessera.test/ui/password/reset?token="),
        "{}",
        message.text
    );
    let token = smtp_sink::link_token(&message.text);

    // A scanner opens the link (and the path older messages had) again and again: nothing
    // is spent.
    for method in [
        reqwest::Method::GET,
        reqwest::Method::HEAD,
        reqwest::Method::GET,
    ] {
        let old = unwrap_response(
            no_redirects()
                .request(
                    method.clone(),
                    app.url(&format!("/password/reset?token={token}")),
                )
                .send()
                .await,
        );
        assert_eq!(old.status(), StatusCode::SEE_OTHER, "{method}");
        assert_eq!(
            old.headers()["location"],
            format!("/ui/password/reset?token={token}").as_str()
        );
        let response = unwrap_response(
            app.client
                .request(
                    method.clone(),
                    app.url(&format!("/ui/password/reset?token={token}")),
                )
                .send()
                .await,
        );
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert!(csp.contains("form-action 'self'"), "{csp}");
        let html = response.text().await.unwrap_or_default();
        if method == reqwest::Method::GET {
            // (minijinja writes the prefix's `/` as `&#x2f;` in attributes.)
            assert!(
                html.contains(r#"action="&#x2f;ui/password/reset""#),
                "{html}"
            );
            assert!(html.contains(r#"autocomplete="new-password""#));
        }
    }
    // The person submits the page's form.
    let mut browser = crate::pages::Browser::new(&app);
    let page = browser
        .get(&format!("/ui/password/reset?token={token}"))
        .await;
    let csrf = page.csrf();
    let done = browser
        .post(
            "/ui/password/reset",
            &[
                ("csrf", csrf.as_str()),
                ("token", token.as_str()),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/ui/login?done=password_reset");
    // Every session ended at once; the old password is gone, the new one works.
    let old_access = str_field(&login, "access_token");
    assert_error(
        app.protected(old_access).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_eq!(
        app.login("alice", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("alice", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    // Used once.
    let (status, body) = reset(
        &app,
        json!({"token": token, "new_password": "yet another passphrase"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_code"))
    );
}

async fn a_typed_code_resets_and_two_racing_uses_get_one_success() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink.url(), |_| {}).await;
    user_with_verified_email(&app, &sink, "bob", "bob@example.com").await;
    let before = sink.messages().len();
    let (status, _) = forgot(&app, json!({"email": "bob@EXAMPLE.com"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let message = last_message_to(&sink, "bob@example.com", before).await;
    let code = smtp_sink::code(&message.text);
    let body = json!({"username": "bob", "code": code, "new_password": NEW_PASSWORD});
    let (a, b) = tokio::join!(reset(&app, body.clone()), reset(&app, body.clone()));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::BAD_REQUEST],
        "{a:?} {b:?}"
    );
    assert_eq!(
        app.login("bob", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn wrong_codes_void_the_code_and_an_expired_code_is_refused() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink.url(), |c| c.email.code_attempts = 3).await;
    user_with_verified_email(&app, &sink, "carol", "carol@example.com").await;
    let before = sink.messages().len();
    forgot(&app, json!({"username": "carol"})).await;
    let code = smtp_sink::code(
        &last_message_to(&sink, "carol@example.com", before)
            .await
            .text,
    );
    for wrong in ["AAAAAAAA", "BBBBBBBB", "not-a-code"] {
        let (status, body) = reset(
            &app,
            json!({"username": "carol", "code": wrong, "new_password": NEW_PASSWORD}),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_code"))
        );
    }
    let (status, _) = reset(
        &app,
        json!({"username": "carol", "code": code, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "three wrong guesses void the code"
    );

    // A fresh code, aged past its lifetime in the database (no sleeping): refused.
    let before = sink.messages().len();
    forgot(&app, json!({"username": "carol"})).await;
    let code = smtp_sink::code(
        &last_message_to(&sink, "carol@example.com", before)
            .await
            .text,
    );
    app.sql("UPDATE account_codes SET expires_at = 1 WHERE used_at IS NULL")
        .await;
    let (status, _) = reset(
        &app,
        json!({"username": "carol", "code": code, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.login("carol", PASSWORD).await.status(),
        StatusCode::OK,
        "unchanged"
    );
}

async fn forgot_answers_alike_for_every_name_and_mails_only_verified_addresses() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink.url(), |_| {}).await;
    user_with_verified_email(&app, &sink, "dave", "dave@example.com").await;
    app.signed_up("nomail", PASSWORD).await;
    let before = sink.messages().len();
    let mut answers = Vec::new();
    for body in [
        json!({"username": "dave"}),
        json!({"username": "nomail"}),
        json!({"username": "nobody-at-all"}),
        json!({"email": "nobody@example.com"}),
        json!({"username": "\u{200b}"}),
    ] {
        answers.push(forgot(&app, body).await);
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sent: Vec<_> = sink
        .messages()
        .into_iter()
        .skip(before)
        .map(|m| m.to)
        .collect();
    assert_eq!(sent, vec!["dave@example.com".to_owned()]);
    // The message speaks the language the request asked for.
    let before = sink.messages().len();
    let response = unwrap_response(
        app.client
            .post(app.url("/password/forgot"))
            .header("accept-language", "zh-CN,zh;q=0.9,en;q=0.5")
            .json(&json!({"username": "dave"}))
            .send()
            .await,
    );
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let chinese = last_message_to(&sink, "dave@example.com", before).await;
    assert!(
        chinese.text.contains("重置") && chinese.text.contains("验证码"),
        "{}",
        chinese.text
    );
    let (status, body) = forgot(
        &app,
        json!({"username": "dave", "email": "dave@example.com"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

async fn an_smtp_outage_delays_the_message_and_it_arrives_once() {
    // A port nobody listens on yet: tessera's attempts fail until the sink comes up.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app_with_mail(&format!("smtp://127.0.0.1:{port}"), |_| {}).await;
    app.signed_up("erin", PASSWORD).await;
    // Verify the address by writing it straight into the row: the outage is the point here.
    app.sql("UPDATE users SET email = 'erin@example.com', email_key = 'erin@example.com', email_verified_at = 1 WHERE username = 'erin'").await;
    let (status, _) = forgot(&app, json!({"username": "erin"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "the outage fails no request");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sink = SmtpSink::start_on(port).await;
    let messages = sink.wait_for(1, WAIT).await;
    assert_eq!(messages.len(), 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(sink.messages().len(), 1, "sent once");
}

async fn two_instances_empty_one_outbox_without_duplicates() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink.url(), |_| {}).await;
    let url = sink.url();
    let other = spawn_instance_beside(&app, move |c| {
        c.email.smtp_url = Some(tessera::Secret::new(url));
        c.email.public_url = Some("http://tessera.test".into());
        c.email.retry_base_secs = 1;
    })
    .await;
    for name in ["f1", "f2", "f3", "f4"] {
        app.signed_up(name, PASSWORD).await;
        app.sql(&format!("UPDATE users SET email = '{name}@example.com', email_key = '{name}@example.com', email_verified_at = 1 WHERE username = '{name}'")).await;
    }
    for (i, name) in ["f1", "f2", "f3", "f4"].iter().enumerate() {
        let target = if i % 2 == 0 { &app } else { &other };
        assert_eq!(
            forgot(target, json!({"username": name})).await.0,
            StatusCode::ACCEPTED
        );
    }
    sink.wait_for(4, WAIT).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let mut recipients: Vec<_> = sink.messages().into_iter().map(|m| m.to).collect();
    recipients.sort();
    assert_eq!(
        recipients,
        [
            "f1@example.com",
            "f2@example.com",
            "f3@example.com",
            "f4@example.com"
        ]
    );
}

async fn the_per_address_limit_stops_a_mail_bomb_and_answers_alike() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink.url(), |c| c.email.per_recipient_per_hour = 3).await;
    // The verification message counts toward the address's hour too.
    user_with_verified_email(&app, &sink, "frank", "frank@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            forgot(&app, json!({"username": "frank"})).await.0,
            StatusCode::ACCEPTED
        );
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let to_frank = sink
        .messages()
        .iter()
        .filter(|m| m.to == "frank@example.com")
        .count();
    assert_eq!(
        to_frank, 3,
        "one verification and two resets, then nothing for an hour"
    );
}

crate::backend_tests!(
    a_link_resets_once_ends_every_session_and_its_page_consumes_nothing,
    a_typed_code_resets_and_two_racing_uses_get_one_success,
    wrong_codes_void_the_code_and_an_expired_code_is_refused,
    forgot_answers_alike_for_every_name_and_mails_only_verified_addresses,
    an_smtp_outage_delays_the_message_and_it_arrives_once,
    two_instances_empty_one_outbox_without_duplicates,
    the_per_address_limit_stops_a_mail_bomb_and_answers_alike,
);
