//! Optional addresses: set with the password, verified by code or link, unique among
//! verified addresses, the old address told of a change, removal, and no mail configured.

use reqwest::StatusCode;
use serde_json::json;

use super::smtp_sink::{self, SmtpSink};
use super::{
    PASSWORD, app_with_mail, get_me, last_message_to, post_auth, user_with_verified_email,
};
use crate::helpers::{assert_error, spawn_app, status_and_json, str_field};

async fn an_address_is_unverified_until_its_code_comes_back() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink.url(), |_| {}).await;
    let login = app.signed_up("alice", PASSWORD).await;
    let token = str_field(&login, "access_token");
    let (status, body) = post_auth(
        &app,
        "/me/email",
        token,
        &json!({"email": "Alice@Example.COM", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let me = get_me(&app, token).await;
    assert_eq!(me["user"]["email"], "Alice@example.com");
    assert_eq!(me["user"]["email_verified"], false);

    let message = last_message_to(&sink, "Alice@example.com", 0).await;
    assert!(
        message.raw.contains("Subject: Confirm your email address"),
        "{}",
        message.raw
    );
    let code = smtp_sink::code(&message.text);
    // A wrong code first: refused, and the right one still works after it.
    let (status, body) =
        post_auth(&app, "/email/verify", token, &json!({"code": "ABCDEFGH"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_code"))
    );
    let (status, body) = post_auth(&app, "/email/verify", token, &json!({"code": code})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["email"], "Alice@example.com");
    assert_eq!(get_me(&app, token).await["user"]["email_verified"], true);
    // Used once.
    let (status, _) = post_auth(&app, "/email/verify", token, &json!({"code": code})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn the_link_verifies_without_a_login_and_a_verified_address_has_one_owner() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink.url(), |_| {}).await;
    user_with_verified_email(&app, &sink, "bob", "shared@example.com").await;
    // Someone else names the same address (in another case): allowed, unverified...
    let login = app.signed_up("mallory", PASSWORD).await;
    let token = str_field(&login, "access_token");
    let before = sink.messages().len();
    let (status, _) = post_auth(
        &app,
        "/me/email",
        token,
        &json!({"email": "shared@EXAMPLE.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let message = last_message_to(&sink, "shared@example.com", before).await;
    // ...but the link (no login needed) cannot take it from its verified owner.
    let response = app
        .post_json(
            "/email/verify",
            &json!({"token": smtp_sink::link_token(&message.text)}),
        )
        .await;
    assert_error(response, StatusCode::CONFLICT, "email_taken").await;
    assert_eq!(get_me(&app, token).await["user"]["email_verified"], false);
}

async fn changing_a_verified_address_tells_the_old_one_and_removal_clears_it() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink.url(), |_| {}).await;
    let login = user_with_verified_email(&app, &sink, "carol", "old@example.com").await;
    let token = str_field(&login, "access_token");
    let before = sink.messages().len();
    let (status, _) = post_auth(
        &app,
        "/me/email",
        token,
        &json!({"email": "new@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let notice = last_message_to(&sink, "old@example.com", before).await;
    assert!(
        notice
            .raw
            .contains("Subject: Your tessera email address is changing"),
        "{}",
        notice.raw
    );
    assert!(
        !notice.text.contains("token="),
        "the old address gets no link"
    );
    let link = last_message_to(&sink, "new@example.com", before).await;
    // The old address stays in use until the new one is verified.
    assert_eq!(
        get_me(&app, token).await["user"]["email"],
        "old@example.com"
    );
    let response = app
        .post_json(
            "/email/verify",
            &json!({"token": smtp_sink::link_token(&link.text)}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        get_me(&app, token).await["user"]["email"],
        "new@example.com"
    );

    let response = app
        .client
        .delete(app.url("/me/email"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), StatusCode::OK);
    let me = get_me(&app, token).await;
    assert_eq!(
        (
            me["user"]["email"].clone(),
            me["user"]["email_verified"].clone()
        ),
        (json!(null), json!(false))
    );
}

async fn a_bad_address_or_password_changes_nothing_and_sends_nothing() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink.url(), |_| {}).await;
    let login = app.signed_up("dave", PASSWORD).await;
    let token = str_field(&login, "access_token");
    for bad in [
        "not-an-address",
        "a@localhost",
        "Dave <dave@example.com>",
        "a@[127.0.0.1]",
    ] {
        let (status, body) = post_auth(
            &app,
            "/me/email",
            token,
            &json!({"email": bad, "password": PASSWORD}),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_email")),
            "{bad}"
        );
    }
    let (status, body) = post_auth(
        &app,
        "/me/email",
        token,
        &json!({"email": "dave@example.com", "password": "not the password"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("wrong_password"))
    );
    assert_eq!(get_me(&app, token).await["user"]["email"], json!(null));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(sink.messages().is_empty());
}

async fn without_mail_the_mail_routes_answer_501_and_nothing_else_changes() {
    let app = spawn_app().await;
    let login = app.signed_up("erin", PASSWORD).await;
    let token = str_field(&login, "access_token");
    let (status, body) = post_auth(
        &app,
        "/me/email",
        token,
        &json!({"email": "erin@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_IMPLEMENTED, Some("email_not_configured"))
    );
    let response = app
        .post_json("/password/forgot", &json!({"username": "erin"}))
        .await;
    assert_error(
        response,
        StatusCode::NOT_IMPLEMENTED,
        "email_not_configured",
    )
    .await;
    let (status, me) = status_and_json(app.get_with_token("/me", token).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["email"], json!(null));
}

crate::backend_tests!(
    an_address_is_unverified_until_its_code_comes_back,
    the_link_verifies_without_a_login_and_a_verified_address_has_one_owner,
    changing_a_verified_address_tells_the_old_one_and_removal_clears_it,
    a_bad_address_or_password_changes_nothing_and_sends_nothing,
    without_mail_the_mail_routes_answer_501_and_nothing_else_changes,
);
