//! Start-up: refused secrets, and a generated secret that is kept and reused.

use std::os::unix::fs::PermissionsExt;

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

    let secret_file = dir.path().join("jwt_secret");
    let mode = std::fs::metadata(&secret_file)
        .unwrap_or_else(|e| panic!("{e}"))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

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
