//! Account recovery by email, against a real SMTP server on loopback (`smtp_sink`):
//! verified addresses, reset by link and by code, single use under concurrency, expiry,
//! bounded guesses, no enumeration, pages that consume nothing, an outbox that survives an
//! SMTP outage and sends once across instances, and the per-address mail limit.

mod admin;
mod email;
mod reset;
pub mod smtp_sink;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with, status_and_json, str_field, unwrap_response};
use smtp_sink::{Received, SmtpSink};

pub const PASSWORD: &str = "correct horse battery staple";
pub const WAIT: Duration = Duration::from_secs(10);

/// An app whose mail goes to `sink`; `adjust` changes the rest.
pub async fn app_with_mail(smtp_url: &str, adjust: impl FnOnce(&mut tessera::Config)) -> TestApp {
    let url = smtp_url.to_owned();
    spawn_app_with(move |c| {
        c.email.smtp_url = Some(tessera::Secret::new(url));
        c.email.public_url = Some("http://tessera.test".into());
        c.email.from = "Tessera <no-reply@tessera.test>".into();
        c.email.retry_base_secs = 1;
        adjust(c);
    })
    .await
}

pub async fn post_auth(
    app: &TestApp,
    path: &str,
    token: &str,
    body: &Value,
) -> (StatusCode, Value) {
    status_and_json(unwrap_response(
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await,
    ))
    .await
}

pub async fn get_me(app: &TestApp, token: &str) -> Value {
    let response = app.get_with_token("/me", token).await;
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A user with `address` verified through the code; returns the login body.
pub async fn user_with_verified_email(
    app: &TestApp,
    sink: &SmtpSink,
    name: &str,
    address: &str,
) -> Value {
    let login = app.signed_up(name, PASSWORD).await;
    let token = str_field(&login, "access_token");
    let before = sink.messages().len();
    let (status, body) = post_auth(
        app,
        "/me/email",
        token,
        &json!({"email": address, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let message = last_message_to(sink, address, before).await;
    let (status, body) = post_auth(
        app,
        "/email/verify",
        token,
        &json!({"code": smtp_sink::code(&message.text)}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    login
}

/// The first message to `address` after the first `skip` messages.
pub async fn last_message_to(sink: &SmtpSink, address: &str, skip: usize) -> Received {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(found) = sink
            .messages()
            .into_iter()
            .skip(skip)
            .find(|m| m.to.eq_ignore_ascii_case(address))
        {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no message to {address}: {:?}",
            sink.messages()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
