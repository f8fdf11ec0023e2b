//! Recovery codes: each logs in once (`amr: ["pwd", "recovery"]`), the count in `GET /me`
//! goes down, and a new set replaces the old one.

use reqwest::StatusCode;
use serde_json::json;

use super::PASSWORD;
use crate::helpers::{assert_error, jwt_claims, spawn_app, status_and_json, str_field};

async fn a_recovery_code_logs_in_once() {
    let app = spawn_app().await;
    let enrolled = app.enrolled("nora").await;
    // People type them in capitals and without dashes: that works too.
    let typed = enrolled.recovery_codes[3].replace('-', "").to_uppercase();
    let token = app.mfa_token("nora").await;
    let (status, login) =
        status_and_json(app.login_mfa(&token, json!({"recovery_code": typed})).await).await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let claims = jwt_claims(str_field(&login, "access_token"));
    assert_eq!(claims["amr"], json!(["pwd", "recovery"]));
    assert_eq!(claims["aal"], "aal2");

    let token = app.mfa_token("nora").await;
    let again = app
        .login_mfa(&token, json!({"recovery_code": enrolled.recovery_codes[3]}))
        .await;
    assert_error(again, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    let (_, me) = status_and_json(
        app.get_with_token("/me", str_field(&login, "access_token"))
            .await,
    )
    .await;
    assert_eq!(
        me["user"]["mfa"],
        json!({"totp": true, "recovery_codes_left": 9})
    );
}

crate::backend_tests!(a_recovery_code_logs_in_once);

#[tokio::test]
async fn a_new_set_of_recovery_codes_replaces_the_old_one() {
    let app = spawn_app().await;
    let enrolled = app.enrolled("omar").await;
    let (status, fresh) = status_and_json(
        app.post_with_token(
            "/me/mfa/recovery-codes",
            &enrolled.access_token,
            &json!({"password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    let new_codes = fresh["recovery_codes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(new_codes.len(), 10);
    assert!(!new_codes.contains(&json!(enrolled.recovery_codes[0])));

    let token = app.mfa_token("omar").await;
    let old = app
        .login_mfa(&token, json!({"recovery_code": enrolled.recovery_codes[0]}))
        .await;
    assert_error(old, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    let new = app
        .login_mfa(&token, json!({"recovery_code": new_codes[0]}))
        .await;
    assert_eq!(new.status(), StatusCode::OK);
}
