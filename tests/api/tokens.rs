//! Attacks on `/protected`: forged, expired, `alg: none`, wrong-key, tampered and
//! wrong-type tokens. Each is a 401 with its own code and `WWW-Authenticate`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, now, sign_hs256, spawn_app, status_and_json, str_field,
};

pub fn flask_style_claims(sub: &str) -> Value {
    let now = now();
    json!({
        "fresh": false, "iat": now, "jti": "8b1f2c1e-7a59-4b7e-9d2b-0c8f1d1e2a3b", "type": "access",
        "sub": sub, "nbf": now, "csrf": "c5a1", "exp": now + 900
    })
}

pub async fn assert_refused(app: &TestApp, token: &str, code: &str) {
    assert_error(app.protected(token).await, StatusCode::UNAUTHORIZED, code).await;
}

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

async fn any_hs256_token_signed_with_the_secret_is_accepted_without_kid_or_sid() {
    // What Flask-JWT-Extended mints with the same JWT_SECRET_KEY.
    let app = spawn_app().await;
    let token = app.sign(&flask_style_claims("legacy-user"));
    let (status, body) = status_and_json(app.protected(&token).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"logged_in_as": "legacy-user"}));
}

async fn a_token_signed_with_another_key_is_refused() {
    let app = spawn_app().await;
    let token = sign_hs256(&"another-secret-".repeat(4), &flask_style_claims("alice"));
    assert_refused(&app, &token, "invalid_signature").await;
}

async fn an_expired_token_is_refused() {
    let app = spawn_app().await;
    let mut claims = flask_style_claims("alice");
    claims["iat"] = json!(now() - 3600);
    claims["nbf"] = json!(now() - 3600);
    claims["exp"] = json!(now() - 60);
    assert_refused(&app, &app.sign(&claims), "token_expired").await;
}

async fn a_token_that_is_not_valid_yet_is_refused() {
    let app = spawn_app().await;
    let mut claims = flask_style_claims("alice");
    claims["nbf"] = json!(now() + 600);
    assert_refused(&app, &app.sign(&claims), "token_not_yet_valid").await;
}

async fn an_alg_none_token_is_refused() {
    let app = spawn_app().await;
    for header in [
        json!({"alg": "none", "typ": "JWT"}),
        json!({"alg": "None"}),
        json!({"alg": "NONE"}),
    ] {
        let token = format!("{}.{}.", b64(&header), b64(&flask_style_claims("alice")));
        assert_refused(&app, &token, "unsupported_algorithm").await;
    }
}

async fn a_token_naming_another_algorithm_is_refused_even_with_a_valid_hmac() {
    // Algorithm confusion: claim RS256 but sign with the HMAC secret.
    let app = spawn_app().await;
    let signed = app.sign(&flask_style_claims("alice"));
    let mut parts = signed.split('.');
    let (_, payload, signature) = (
        parts.next(),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    for (alg, code) in [
        ("RS256", "algorithm_mismatch"),
        ("PS256", "algorithm_mismatch"),
        ("HS512", "unsupported_algorithm"),
        ("ES256", "algorithm_mismatch"),
        ("EdDSA", "algorithm_mismatch"),
    ] {
        let token = format!(
            "{}.{payload}.{signature}",
            b64(&json!({"alg": alg, "typ": "JWT"}))
        );
        assert_refused(&app, &token, code).await;
    }
}

async fn a_tampered_token_is_refused() {
    let app = spawn_app().await;
    let login = app.signed_up("alice", "correct-horse").await;
    let token = str_field(&login, "access_token");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap_or_default())
            .unwrap_or(Value::Null);
    claims["sub"] = json!("admin");
    parts[1] = b64(&claims);
    assert_refused(&app, &parts.join("."), "invalid_signature").await;

    let mut flipped = token.to_owned().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    assert_refused(
        &app,
        &String::from_utf8_lossy(&flipped),
        "invalid_signature",
    )
    .await;
}

async fn a_refresh_typed_jwt_is_refused_on_protected() {
    let app = spawn_app().await;
    let mut claims = flask_style_claims("alice");
    claims["type"] = json!("refresh");
    assert_refused(&app, &app.sign(&claims), "wrong_token_type").await;
}

async fn a_token_without_exp_is_refused() {
    // The seed accepts these forever; tessera does not.
    let app = spawn_app().await;
    let mut claims = flask_style_claims("alice");
    claims.as_object_mut().map(|c| c.remove("exp"));
    assert_refused(&app, &app.sign(&claims), "invalid_token").await;
}

async fn a_token_from_another_issuer_is_refused() {
    let app = spawn_app().await;
    let mut claims = flask_style_claims("alice");
    claims["iss"] = json!("someone-else");
    assert_refused(&app, &app.sign(&claims), "invalid_issuer").await;
}

async fn garbage_and_malformed_headers_are_refused() {
    let app = spawn_app().await;
    for token in ["garbage", "a.b.c", "...."] {
        assert_refused(&app, token, "invalid_token").await;
    }
    // A well-formed HS256 header with an empty payload and signature fails at the signature.
    assert_refused(&app, "eyJhbGciOiJIUzI1NiJ9..", "invalid_signature").await;
    for header in ["Token abc", "Bearer", "Bearer ", "Basic YWxpY2U6cHc="] {
        let response = crate::helpers::unwrap_response(
            app.client
                .get(app.url("/protected"))
                .header("authorization", header)
                .send()
                .await,
        );
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
        let (_, body) = status_and_json(response).await;
        assert_eq!(body["error"], "invalid_token", "{header}: {body}");
    }
}

crate::backend_tests!(
    any_hs256_token_signed_with_the_secret_is_accepted_without_kid_or_sid,
    a_token_signed_with_another_key_is_refused,
    an_expired_token_is_refused,
    a_token_that_is_not_valid_yet_is_refused,
    an_alg_none_token_is_refused,
    a_token_naming_another_algorithm_is_refused_even_with_a_valid_hmac,
    a_tampered_token_is_refused,
    a_refresh_typed_jwt_is_refused_on_protected,
    a_token_without_exp_is_refused,
    a_token_from_another_issuer_is_refused,
    garbage_and_malformed_headers_are_refused,
);
