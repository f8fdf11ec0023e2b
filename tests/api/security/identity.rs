//! Issue 22, item 2: a user id that never changes owner (ASVS 10.3.3), and audiences
//! (ASVS 9.2.3, 9.2.4).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    assert_error, jwt_claims, spawn_app, spawn_app_with, status_and_json, str_field,
};
use crate::tokens::flask_style_claims;

const PASSWORD: &str = "correct-horse-battery";

async fn delete_account(app: &crate::helpers::TestApp, token: &str) {
    let response = app
        .client
        .delete(app.url("/me"))
        .bearer_auth(token)
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), StatusCode::OK);
}

async fn every_issued_token_carries_the_accounts_id_beside_its_name() {
    let app = spawn_app().await;
    let login = app.signed_up("Ada", PASSWORD).await;
    let claims = jwt_claims(str_field(&login, "access_token"));
    assert_eq!(claims["sub"], "Ada");
    assert_eq!(claims["uid"], login["user"]["id"]);
    assert!(
        claims.get("aud").is_none(),
        "no audience configured: {claims}"
    );
    // Refreshed tokens keep it.
    let (status, refreshed) =
        status_and_json(app.refresh(str_field(&login, "refresh_token")).await).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(
        jwt_claims(str_field(&refreshed, "access_token"))["uid"],
        login["user"]["id"]
    );
}

async fn a_deleted_name_cannot_be_registered_while_its_tokens_could_verify() {
    let app = spawn_app().await;
    let login = app.signed_up("del_c", PASSWORD).await;
    // A Flask app of the fleet minted a token naming only `sub`.
    let flask = app.sign(&flask_style_claims("del_c"));
    delete_account(&app, str_field(&login, "access_token")).await;
    assert_error(
        app.register("del_c", PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "username_taken",
    )
    .await;
    // And the old owner's token reads nobody's account.
    assert_error(
        app.get_with_token("/me", &flask).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
}

async fn a_deleted_name_is_free_again_once_the_hold_has_passed() {
    let app = spawn_app_with(|c| {
        c.access_token_ttl_secs = 1;
        c.leeway_secs = 0;
        // Two seconds: the refusal right after the deletion must not cross the end of the
        // hold on a loaded machine.
        c.deleted_name_hold_secs = Some(2);
    })
    .await;
    let login = app.signed_up("del_d", PASSWORD).await;
    delete_account(&app, str_field(&login, "access_token")).await;
    assert_error(
        app.register("del_d", PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "username_taken",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let (status, body) = status_and_json(app.register("del_d", PASSWORD).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_ne!(
        body["user"]["id"], login["user"]["id"],
        "ids are never reused"
    );
}

async fn a_token_whose_uid_is_not_its_sessions_owner_reads_nothing() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice", PASSWORD).await;
    let bob = app.signed_up("bob", PASSWORD).await;
    // A token signed with the shared secret (say, by a Flask app of the fleet) that pairs
    // alice's session with bob's id must not read either account.
    let mut claims = jwt_claims(str_field(&alice, "access_token"));
    claims["uid"] = bob["user"]["id"].clone();
    let forged = crate::security::tokens::sign_with_kid(
        &app.secret,
        crate::helpers::jwt_header(str_field(&alice, "access_token"))["kid"]
            .as_str()
            .unwrap_or_default(),
        &claims,
    );
    assert_error(
        app.get_with_token("/me", &forged).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
}

async fn with_an_audience_tokens_carry_it_and_others_are_refused() {
    let app = spawn_app_with(|c| {
        c.audience = vec!["orders-api".into(), "billing".into()];
        c.accept_tokens_without_kid = Some(true);
    })
    .await;
    let login = app.signed_up("aud_a", PASSWORD).await;
    let token = str_field(&login, "access_token");
    assert_eq!(
        jwt_claims(token)["aud"],
        json!(["orders-api", "billing"]),
        "every configured audience is named"
    );
    assert_eq!(app.protected(token).await.status(), StatusCode::OK);
    // Tokens for another service, and tokens naming no audience, are refused.
    for aud in [Some(json!("payroll")), Some(json!(["payroll"])), None] {
        let mut claims = flask_style_claims("aud_a");
        if let Some(aud) = aud {
            claims["aud"] = aud;
        }
        let refused = app.sign(&claims);
        let body = assert_error(
            app.protected(&refused).await,
            StatusCode::UNAUTHORIZED,
            "invalid_audience",
        )
        .await;
        assert_eq!(body["message"], "Token is not meant for this service");
    }
    // One matching audience among several is enough (RFC 7519 §4.1.3).
    let mut claims = flask_style_claims("aud_a");
    claims["aud"] = json!(["payroll", "billing"]);
    assert_eq!(
        app.protected(&app.sign(&claims)).await.status(),
        StatusCode::OK
    );
}

crate::backend_tests!(
    every_issued_token_carries_the_accounts_id_beside_its_name,
    a_deleted_name_cannot_be_registered_while_its_tokens_could_verify,
    a_deleted_name_is_free_again_once_the_hold_has_passed,
    a_token_whose_uid_is_not_its_sessions_owner_reads_nothing,
    with_an_audience_tokens_carry_it_and_others_are_refused,
);
