//! Enrolment: the secret and how an app reads it, the pending factor, confirmation, what
//! the database keeps, `GET /me`, re-authentication, and ending other sessions.

use reqwest::StatusCode;
use serde_json::json;

use super::{PASSWORD, code, steady_step};
use crate::helpers::{assert_error, spawn_app, spawn_app_with, status_and_json, str_field};

#[tokio::test]
async fn enrolment_gives_a_secret_its_uri_and_qr_code_and_the_factor_is_unused_until_confirmed() {
    let app = spawn_app_with(|c| c.mfa.issuer = "Acme Auth".into()).await;
    steady_step().await;
    let login = app.signed_up("Alice", PASSWORD).await;
    let token = str_field(&login, "access_token");

    let enrolment = app.start_enrolment(token).await;
    let secret = str_field(&enrolment, "secret");
    // 160 bits: 32 base32 characters.
    assert_eq!(secret.len(), 32, "{secret}");
    assert_eq!(
        str_field(&enrolment, "otpauth_uri"),
        format!(
            "otpauth://totp/Acme%20Auth:Alice?secret={secret}&issuer=Acme%20Auth\
             &algorithm=SHA1&digits=6&period=30"
        )
    );
    assert!(str_field(&enrolment, "qr_svg").starts_with("<svg"));

    // Pending: logins still need the password only, and `GET /me` shows no factor.
    let (status, me) = status_and_json(app.get_with_token("/me", token).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me["user"]["mfa"],
        json!({"totp": false, "recovery_codes_left": 0})
    );
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);

    // A wrong code does not confirm it.
    let wrong = app
        .post_with_token("/me/mfa/totp/confirm", token, &json!({"code": "000000"}))
        .await;
    if code(secret, 0) != "000000" {
        assert_error(wrong, StatusCode::FORBIDDEN, "wrong_mfa_code").await;
    }
    let (status, confirmed) = status_and_json(
        app.post_with_token(
            "/me/mfa/totp/confirm",
            token,
            &json!({"code": code(secret, 0)}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let codes: Vec<&str> = confirmed["recovery_codes"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(codes.len(), 10);
    for recovery in &codes {
        // 24 base32 characters (120 bits) in groups of four.
        let bare = recovery.replace('-', "");
        assert_eq!(bare.len(), 24, "{recovery}");
        assert!(
            bare.chars()
                .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c))
        );
    }
    let mut distinct = codes.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);

    let (_, me) = status_and_json(app.get_with_token("/me", token).await).await;
    assert_eq!(
        me["user"]["mfa"],
        json!({"totp": true, "recovery_codes_left": 10})
    );
    assert_eq!(
        app.login("alice", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Neither the secret nor any recovery code is in the database in readable form.
    let secret_bytes = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap_or_default();
    let dump = app
        .sql(
            "SELECT COALESCE(hex(sealed_secret), '') FROM mfa_totp \
             UNION ALL SELECT hex(code_digest) FROM mfa_recovery_codes",
        )
        .await
        .join(" ")
        .to_lowercase();
    assert!(!dump.contains(&hex::encode(&secret_bytes)));
    assert!(!dump.contains(&secret.to_lowercase()));
    for recovery in &codes {
        assert!(!dump.contains(&recovery.replace('-', "")));
        assert!(!dump.contains(&hex::encode(recovery.replace('-', "").to_uppercase())));
    }

    // A second enrolment is refused while a factor is enabled.
    let again = app
        .post_with_token("/me/mfa/totp", token, &json!({"password": PASSWORD}))
        .await;
    assert_error(again, StatusCode::CONFLICT, "mfa_already_enabled").await;
}

#[tokio::test]
async fn enrolment_needs_the_password_or_a_token_fresh_from_a_password_login() {
    let app = spawn_app().await;
    let login = app.signed_up("bob", PASSWORD).await;
    // A refreshed token is not fresh.
    let (_, refreshed) =
        status_and_json(app.refresh(str_field(&login, "refresh_token")).await).await;
    let stale = str_field(&refreshed, "access_token");
    let refused = app.post_with_token("/me/mfa/totp", stale, &json!({})).await;
    assert_error(refused, StatusCode::FORBIDDEN, "reauthentication_required").await;
    let wrong = app
        .post_with_token("/me/mfa/totp", stale, &json!({"password": "not it at all"}))
        .await;
    assert_error(wrong, StatusCode::FORBIDDEN, "wrong_password").await;
    assert!(app.start_enrolment(stale).await["secret"].is_string());

    // The fresh token of a password login needs no body at all.
    let fresh = str_field(&login, "access_token");
    let response = crate::helpers::unwrap_response(
        app.client
            .post(app.url("/me/mfa/totp"))
            .bearer_auth(fresh)
            .send()
            .await,
    );
    assert_eq!(response.status(), StatusCode::OK);
    // Regenerating codes without a factor is refused.
    let none = app
        .post_with_token("/me/mfa/recovery-codes", fresh, &json!({}))
        .await;
    assert_error(none, StatusCode::CONFLICT, "mfa_not_enabled").await;
}

#[tokio::test]
async fn confirming_the_factor_ends_the_users_other_sessions_unless_configured_not_to() {
    for end_others in [true, false] {
        let app = spawn_app_with(|c| c.mfa.end_other_sessions = end_others).await;
        let first = app.signed_up("carol", PASSWORD).await;
        let (_, second) = status_and_json(app.login("carol", PASSWORD).await).await;
        let other = str_field(&second, "access_token");
        steady_step().await;
        let token = str_field(&first, "access_token");
        let secret = str_field(&app.start_enrolment(token).await, "secret").to_owned();
        let (_, confirmed) = status_and_json(
            app.post_with_token(
                "/me/mfa/totp/confirm",
                token,
                &json!({"code": code(&secret, 0)}),
            )
            .await,
        )
        .await;
        assert_eq!(confirmed["ended_sessions"], u64::from(end_others));
        let expected = if end_others {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        assert_eq!(app.protected(other).await.status(), expected);
        assert_eq!(app.protected(token).await.status(), StatusCode::OK);
    }
}
