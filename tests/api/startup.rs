//! Start-up: refused secrets, and a generated secret that is kept and reused.

use reqwest::StatusCode;
use tessera::secret::Secret;
use tessera::{Application, Config};

use crate::helpers::{status_and_json, str_field, unwrap_response};

async fn build_error(secret: &str) -> String {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut config = Config::for_tests(dir.path());
    config.jwt_secret_key = Some(Secret::new(secret.to_owned()));
    match Application::build(config).await {
        Ok(_) => panic!("a server started with the secret {secret:?}"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn placeholder_secrets_are_refused_with_advice() {
    for placeholder in [
        "your_jwt_secret_key",
        "your_default_secret_key",
        "YOUR_JWT_SECRET_KEY",
    ] {
        let message = build_error(placeholder).await;
        assert!(message.contains("placeholder"), "{message}");
        assert!(message.contains("tessera secret"), "{message}");
        assert!(
            !message.contains(placeholder),
            "the message must not echo the secret: {message}"
        );
    }
}

#[tokio::test]
async fn short_secrets_are_refused_with_advice() {
    let message = build_error("only-twenty-bytes!!!").await;
    assert!(message.contains("at least 32"), "{message}");
    assert!(message.contains("tessera secret"), "{message}");
}

/// ASVS 11.2.3, 11.4.4: the key-encryption key is a key (≥ 32 characters, as `tessera
/// secret` prints), never a short passphrase to be stretched.
#[tokio::test]
async fn a_short_key_encryption_key_is_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut config = Config::for_tests(dir.path());
    config.kek = Some(Secret::new("a passphrase, not a key".to_owned()));
    let message = match Application::build(config).await {
        Ok(_) => panic!("a server started with a short KEK"),
        Err(e) => format!("{e:#}"),
    };
    assert!(message.contains("at least 32 characters"), "{message}");
    assert!(!message.contains("passphrase"), "no echo: {message}");
}

#[tokio::test]
async fn a_generated_secret_is_kept_private_and_reused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let start = || async {
        let app = Application::build(Config::for_tests(dir.path()))
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let address = format!("http://{}", app.local_addr());
        let handle = tokio::spawn(app.run_until(std::future::pending()));
        (address, handle)
    };
    let client = reqwest::Client::new();
    let (first, handle) = start().await;
    let credentials = serde_json::json!({"username": "ivy", "password": "correct-horse"});
    unwrap_response(
        client
            .post(format!("{first}/register"))
            .json(&credentials)
            .send()
            .await,
    );
    let (_, login) = status_and_json(unwrap_response(
        client
            .post(format!("{first}/login"))
            .json(&credentials)
            .send()
            .await,
    ))
    .await;
    let token = str_field(&login, "access_token").to_owned();
    handle.abort();

    // The secret lives in the database (shared by every instance), not in a key file.
    for key in ["jwt_secret", "refresh_token_key", "key_encryption_key"] {
        assert!(!dir.path().join(key).exists(), "{key} written to a file");
    }

    let (second, _handle) = start().await;
    let response = unwrap_response(
        client
            .get(format!("{second}/protected"))
            .bearer_auth(&token)
            .send()
            .await,
    );
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a token from before the restart must stay valid"
    );
}
