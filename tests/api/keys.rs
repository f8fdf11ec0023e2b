//! The key ring over HTTP: `kid` on every token, verification pinned to the key's
//! algorithm, the JWKS, rotation with pre-publication, and a second instance seeing it.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::KeyAlg;

use crate::helpers::{TestApp, spawn_app_with, spawn_instance_beside, status_and_json, str_field};
use crate::tokens::{assert_refused, b64, flask_style_claims};

fn header(token: &str) -> Value {
    let first = token.split('.').next().unwrap_or("");
    let bytes = URL_SAFE_NO_PAD.decode(first).unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

async fn access_token(app: &TestApp, user: &str) -> String {
    let body = app.signed_up(user, "correct horse battery").await;
    str_field(&body, "access_token").to_owned()
}

async fn login_token(app: &TestApp, user: &str) -> String {
    let (status, body) = status_and_json(app.login(user, "correct horse battery").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    str_field(&body, "access_token").to_owned()
}

async fn jwks(app: &TestApp) -> (reqwest::header::HeaderMap, Value) {
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let (_, body) = status_and_json(response).await;
    (headers, body)
}

async fn the_ring_switches_from_hs256_to_eddsa_and_both_tokens_verify() {
    let app = spawn_app_with(|_| {}).await;
    let hs = access_token(&app, "alice").await;
    assert_eq!(header(&hs)["alg"], "HS256");
    assert!(
        header(&hs)["kid"]
            .as_str()
            .is_some_and(|k| k.starts_with("hs256-"))
    );
    // The HS256 secret is never published.
    assert_eq!(jwks(&app).await.1["keys"], json!([]));

    let key = app
        .tessera
        .add_signing_key(KeyAlg::EdDsa, 0)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let ed = login_token(&app, "alice").await;
    assert_eq!(header(&ed)["alg"], "EdDSA");
    assert_eq!(header(&ed)["kid"], key.kid.as_str());
    for token in [&hs, &ed] {
        assert_eq!(app.protected(token).await.status(), StatusCode::OK);
    }

    let (headers, body) = jwks(&app).await;
    let cache = headers
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(cache.contains("max-age="), "{cache}");
    let keys = body["keys"].as_array().cloned().unwrap_or_default();
    assert_eq!(keys.len(), 1, "{body}");
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["kid"], key.kid.as_str());
    assert_eq!(keys[0]["use"], "sig");
    assert!(
        keys[0].get("d").is_none() && keys[0].get("k").is_none(),
        "{body}"
    );

    // Once an asymmetric key signs, kid-less tokens (the compatibility rule) are refused.
    assert_refused(
        &app,
        &app.sign(&flask_style_claims("alice")),
        "missing_key_id",
    )
    .await;
}

async fn forged_kids_and_algorithm_confusion_are_refused() {
    let app = spawn_app_with(|_| {}).await;
    let key = app
        .tessera
        .add_signing_key(KeyAlg::EdDsa, 0)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let token = access_token(&app, "bob").await;
    let payload = token.split('.').nth(1).unwrap_or("").to_owned();

    // Unknown kid.
    let unknown = format!(
        "{}.{payload}.sig",
        b64(&json!({"alg": "EdDSA", "kid": "nope"}))
    );
    assert_refused(&app, &unknown, "unknown_key_id").await;

    // HS256 keyed with the published public key, naming the EdDSA key.
    let x = jwks(&app).await.1["keys"][0]["x"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let signing_input = format!(
        "{}.{payload}",
        b64(&json!({"alg": "HS256", "kid": key.kid}))
    );
    for secret in [
        x.as_bytes().to_vec(),
        URL_SAFE_NO_PAD.decode(&x).unwrap_or_default(),
    ] {
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap_or_else(|e| panic!("{e}"));
        mac.update(signing_input.as_bytes());
        let forged = format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_refused(&app, &forged, "algorithm_mismatch").await;
    }

    // alg: none with a valid kid.
    let none = format!(
        "{}.{payload}.",
        b64(&json!({"alg": "none", "kid": key.kid}))
    );
    assert_refused(&app, &none, "unsupported_algorithm").await;

    // A tampered signature.
    let mut parts: Vec<&str> = token.split('.').collect();
    let bad_sig = URL_SAFE_NO_PAD.encode([0u8; 64]);
    parts[2] = &bad_sig;
    assert_refused(&app, &parts.join("."), "invalid_signature").await;
}

async fn a_rotation_is_published_first_then_signs_and_the_old_key_retires() {
    let app = spawn_app_with(|c| {
        // Long enough that a loaded machine still checks "not promoted yet" in time.
        c.key_prepublish_secs = 3;
        c.access_token_ttl_secs = 1;
        c.leeway_secs = 0;
    })
    .await;
    let first = app
        .tessera
        .add_signing_key(KeyAlg::Es256, 0)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let old = access_token(&app, "carol").await;
    let next = app
        .tessera
        .rotate_signing_key(None)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(next.alg, "ES256");
    let kids: Vec<Value> = jwks(&app).await.1["keys"]
        .as_array()
        .map(|keys| keys.iter().map(|k| k["kid"].clone()).collect())
        .unwrap_or_default();
    assert!(
        kids.contains(&json!(first.kid)) && kids.contains(&json!(next.kid)),
        "{kids:?}"
    );
    // Not promoted yet: the first key still signs.
    assert_eq!(
        header(&login_token(&app, "carol").await)["kid"],
        first.kid.as_str()
    );

    tokio::time::sleep(Duration::from_millis(3100)).await;
    let new = login_token(&app, "carol").await;
    assert_eq!(header(&new)["kid"], next.kid.as_str());
    assert_eq!(app.protected(&new).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // The first key retired two seconds ago and its tokens lived one second (verifying
    // through their last second): it is gone.
    assert_refused(&app, &old, "key_retired").await;
    let body = jwks(&app).await.1;
    assert!(!body.to_string().contains(&first.kid), "{body}");
}

async fn a_second_instance_sees_a_rotation_without_restart() {
    let app = spawn_app_with(|_| {}).await;
    let other = spawn_instance_beside(&app, |_| {}).await;
    access_token(&app, "dave").await;
    let key = app
        .tessera
        .add_signing_key(KeyAlg::Rs256, 0)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let mut seen = false;
    for _ in 0..30 {
        let token = login_token(&other, "dave").await;
        if header(&token)["kid"] == key.kid.as_str() {
            assert_eq!(app.protected(&token).await.status(), StatusCode::OK);
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the second instance never signed with the new key");
    assert!(jwks(&other).await.1.to_string().contains(&key.kid));
}

/// A token for any `sub`, signed with the app's HS256 secret under the kid that secret
/// computes to: what anyone holding `JWT_SECRET_KEY` can mint.
fn forged_with_secret_kid(app: &TestApp, kid: &str, sub: &str) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    let key = jsonwebtoken::EncodingKey::from_secret(app.secret.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    jsonwebtoken::encode(&header, &flask_style_claims(sub), &key).unwrap_or_else(|e| panic!("{e}"))
}

async fn the_hs256_secret_stops_verifying_once_its_last_token_has_expired() {
    let app = spawn_app_with(|c| {
        c.access_token_ttl_secs = 2;
        c.leeway_secs = 0;
    })
    .await;
    let hs = access_token(&app, "alice").await;
    let kid = header(&hs)["kid"].as_str().unwrap_or_default().to_owned();
    app.tessera
        .add_signing_key(KeyAlg::Es256, 0)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    // Tokens the secret signed before the switch live out their lifetime.
    assert_eq!(app.protected(&hs).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    // After that, nothing signed with the secret verifies, whatever its claims say.
    assert_refused(
        &app,
        &forged_with_secret_kid(&app, &kid, "root"),
        "key_retired",
    )
    .await;
    let keys = app.tessera.list_keys();
    let secret = keys
        .iter()
        .find(|k| k.kid == kid)
        .unwrap_or_else(|| panic!("no HS256 key in {keys:?}"));
    assert!(!secret.verifies && !secret.kept_verifying, "{secret:?}");
    assert!(secret.verifies_until.is_some(), "{secret:?}");
    // The new key signs and verifies.
    assert_eq!(
        app.protected(&login_token(&app, "alice").await)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn keep_hs256_verifying_keeps_the_secret_for_a_mixed_fleet() {
    let app = spawn_app_with(|c| {
        c.access_token_ttl_secs = 2;
        c.leeway_secs = 0;
        c.keep_hs256_verifying = true;
    })
    .await;
    let hs = access_token(&app, "bob").await;
    let kid = header(&hs)["kid"].as_str().unwrap_or_default().to_owned();
    app.tessera
        .add_signing_key(KeyAlg::Es256, 0)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let forged = forged_with_secret_kid(&app, &kid, "bob");
    assert_eq!(app.protected(&forged).await.status(), StatusCode::OK);
    // The Flask apps' kid-less tokens keep working too.
    let flask = app.sign(&flask_style_claims("bob"));
    assert_eq!(app.protected(&flask).await.status(), StatusCode::OK);
    let keys = app.tessera.list_keys();
    let secret = keys.iter().find(|k| k.kid == kid);
    assert!(
        secret.is_some_and(|k| k.verifies && k.kept_verifying && k.verifies_until.is_none()),
        "{keys:?}"
    );
}

/// `tessera keys generate --alg ps256`: a 3072-bit RSA-PSS key whose tokens a verifier that
/// knows only the JWKS accepts (checked here with jsonwebtoken, from the published JWK).
async fn a_ps256_key_signs_tokens_that_verify_through_the_jwks() {
    let app = spawn_app_with(|_| {}).await;
    let key = app
        .tessera
        .add_signing_key(KeyAlg::Ps256, 0)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(key.alg, "PS256");
    assert_eq!(key.rsa_bits, Some(3072), "generated RSA keys are 3072 bits");
    let token = access_token(&app, "erin").await;
    assert_eq!(header(&token)["alg"], "PS256");
    assert_eq!(header(&token)["kid"], key.kid.as_str());
    assert_eq!(app.protected(&token).await.status(), StatusCode::OK);

    let (_, body) = jwks(&app).await;
    let jwk = body["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == key.kid.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("no PS256 key in {body}"));
    assert_eq!(jwk["kty"], "RSA", "{jwk}");
    assert_eq!(jwk["alg"], "PS256", "{jwk}");
    assert!(jwk.get("d").is_none() && jwk.get("p").is_none(), "{jwk}");
    let modulus = URL_SAFE_NO_PAD
        .decode(jwk["n"].as_str().unwrap_or_default())
        .unwrap_or_default();
    assert_eq!(modulus.len() * 8, 3072, "modulus of the published key");

    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).unwrap_or_else(|e| panic!("{e}"));
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap_or_else(|e| panic!("{e}"));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::PS256);
    validation.set_issuer(&["tessera"]);
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
        .unwrap_or_else(|e| panic!("the JWKS key does not verify the token: {e}"))
        .claims;
    assert_eq!(claims["sub"], "erin");
    // PS256 is not RS256: a verifier pinned to PKCS#1 v1.5 refuses the token.
    let rs256 = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    assert!(jsonwebtoken::decode::<Value>(&token, &decoding, &rs256).is_err());
}

/// A PEM signing key below 3072 bits stops the start, with a message that says what to do.
#[tokio::test]
async fn a_2048_bit_rsa_pem_key_is_refused_at_start() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap_or_else(|e| panic!("{e}"));
    let pem = key
        .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
        .unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("signing.pem");
    std::fs::write(&path, pem.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    for alg in ["rs256", "ps256"] {
        let mut config = tessera::Config::for_tests(dir.path());
        config.signing_key_file = Some(path.clone());
        config.signing_key_alg = Some(alg.into());
        let error = match tessera::Application::build(config).await {
            Ok(_) => panic!("{alg}: a 2048-bit key was accepted"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            error.contains("2048 bits") && error.contains("at least 3072"),
            "{error}"
        );
        assert!(error.contains("rsa_keygen_bits:3072"), "says how: {error}");
    }
}

crate::backend_tests!(
    a_ps256_key_signs_tokens_that_verify_through_the_jwks,
    the_hs256_secret_stops_verifying_once_its_last_token_has_expired,
    keep_hs256_verifying_keeps_the_secret_for_a_mixed_fleet,
    the_ring_switches_from_hs256_to_eddsa_and_both_tokens_verify,
    forged_kids_and_algorithm_confusion_are_refused,
    a_rotation_is_published_first_then_signs_and_the_old_key_retires,
    a_second_instance_sees_a_rotation_without_restart,
);
