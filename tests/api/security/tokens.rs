//! Token checks that must not break on hostile but validly signed claims.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{jwt_claims, now, spawn_app, status_and_json, str_field};

/// An HS256 token with the app's `kid`, as anyone holding the shared secret (a Flask app
/// of the fleet) can mint.
pub(crate) fn sign_with_kid(secret: &str, kid: &str, claims: &serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())
        .unwrap_or_else(|e| panic!("key: {e}"));
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).unwrap_or_else(|e| panic!("encode: {e}"))
}

async fn a_signed_token_with_exp_near_i64_max_does_not_crash_the_check() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", "correct-horse").await;
    let token = str_field(&login, "access_token");
    let kid = {
        use base64::Engine;
        let first = token.split('.').next().unwrap_or("");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(first)
            .unwrap_or_default();
        let header: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        header["kid"].as_str().unwrap_or_default().to_owned()
    };
    let sid = jwt_claims(token)["sid"].clone();
    for exp in [i64::MAX, i64::MAX - 1, i64::MAX - 5] {
        let forged = sign_with_kid(
            &app.secret,
            &kid,
            &json!({"sub": "alice", "type": "access", "fresh": false, "jti": "j",
                    "iat": now(), "nbf": now(), "exp": exp, "sid": sid}),
        );
        // Twice: the second check is answered from the verified-token cache.
        for attempt in 0..2 {
            let (status, body) = status_and_json(app.protected(&forged).await).await;
            assert_ne!(
                status,
                StatusCode::INTERNAL_SERVER_ERROR,
                "exp {exp}, attempt {attempt}: {body}"
            );
        }
    }
}

/// ASVS 14.2.1: a token is read from the `Authorization` header only, never from the URL
/// (where proxies, logs and browser history would keep it).
async fn a_token_in_the_query_string_is_ignored() {
    let app = spawn_app().await;
    let login = app.signed_up("query_q", "correct-horse").await;
    let token = str_field(&login, "access_token");
    for query in ["access_token", "token", "jwt"] {
        let response = app
            .client
            .get(app.url(&format!("/protected?{query}={token}")))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        crate::helpers::assert_error(response, StatusCode::UNAUTHORIZED, "missing_token").await;
    }
}

crate::backend_tests!(
    a_signed_token_with_exp_near_i64_max_does_not_crash_the_check,
    a_token_in_the_query_string_is_ignored,
);
