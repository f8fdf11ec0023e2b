//! New-password screening, one policy for every path that sets a password (registration,
//! `POST /me/password`, the administrator's `user add` and `set-password`): the
//! common-password list, context words, the character count. The breached-password check
//! against a range server is in `breached`.

mod breached;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::AuthError;

use crate::backend_tests;
use crate::helpers::{
    TestApp, assert_error_shape, spawn_app, spawn_app_with, status_and_json, str_field,
    unwrap_response,
};

/// The four the ASVS review found accepted.
const COMMON: [&str; 4] = ["password", "12345678", "P@ssw0rd", "Password1"];

/// Asserts a `400 invalid_password` whose message has `why` and never the password.
pub(crate) fn assert_refused(status: StatusCode, body: &Value, password: &str, why: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{password}: {body}");
    assert_error_shape(body, "invalid_password");
    assert!(
        str_field(body, "message").contains(why),
        "{password}: {body}"
    );
    // ("password" itself is a word of the messages, so only longer ones can be looked for.)
    if password != "password" {
        assert!(!body.to_string().contains(password), "echoed: {body}");
    }
}

async fn change_password(
    app: &TestApp,
    token: &str,
    current: &str,
    new: &str,
) -> (StatusCode, Value) {
    let body = json!({"current_password": current, "new_password": new});
    let request = app
        .client
        .post(app.url("/me/password"))
        .bearer_auth(token)
        .json(&body);
    status_and_json(unwrap_response(request.send().await)).await
}

async fn common_passwords_are_refused_on_every_path_that_sets_one() {
    let app = spawn_app().await;
    for password in COMMON {
        let (status, body) = status_and_json(app.register("ivy", password).await).await;
        assert_refused(status, &body, password, "too common");
    }
    let session = app.signed_up("ivy", "Gletscher-Kaffee-42").await;
    let token = str_field(&session, "access_token");
    for password in COMMON {
        let (status, body) = change_password(&app, token, "Gletscher-Kaffee-42", password).await;
        assert_refused(status, &body, password, "too common");
        // What `tessera user set-password` and `user add` call.
        let reset = app.tessera.admin_set_password("ivy", password.into()).await;
        assert!(
            matches!(reset, Err(AuthError::InvalidPassword(_))),
            "{reset:?}"
        );
        let added = app
            .tessera
            .admin_add_user("jon".into(), password.into())
            .await;
        assert!(
            matches!(added, Err(AuthError::InvalidPassword(_))),
            "{added:?}"
        );
    }
    // Nothing changed: the first password still logs in, and login applies no policy.
    assert_eq!(
        app.login("ivy", "Gletscher-Kaffee-42").await.status(),
        StatusCode::OK
    );
}

async fn the_product_name_and_configured_context_words_are_refused() {
    let app = spawn_app().await;
    for password in ["my-Tessera-2026!", "T3SS3RA-is-fine"] {
        let (status, body) = status_and_json(app.register("kim", password).await).await;
        assert_refused(status, &body, password, "name of this service");
    }
    let app = spawn_app_with(|c| {
        c.password_context_words = vec!["tessera".into(), "Initech".into(), "hr".into()];
    })
    .await;
    let (status, body) = status_and_json(app.register("kim", "initech-Staff-77").await).await;
    assert_refused(status, &body, "initech-Staff-77", "name of this service");
    // Words under three characters are not looked for.
    let (status, body) = status_and_json(app.register("kim", "three-Shrubs-91").await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn the_minimum_counts_characters_after_nfc_not_bytes_or_code_points() {
    let app = spawn_app().await;
    // e + combining acute, seven times: 14 code points, 21 bytes, 7 characters after NFC.
    let combining = "e\u{301}".repeat(7);
    let (status, body) = status_and_json(app.register("lea", &combining).await).await;
    assert_refused(status, &body, &combining, "at least 8 characters");
    // Eight emoji (32 bytes) are eight characters: accepted.
    let (status, body) = status_and_json(app.register("lea", "🦊🌲🏔🌊🔥🍄🐝🌙").await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

backend_tests!(
    common_passwords_are_refused_on_every_path_that_sets_one,
    the_product_name_and_configured_context_words_are_refused,
    the_minimum_counts_characters_after_nfc_not_bytes_or_code_points,
);
