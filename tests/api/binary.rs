//! The real `tessera` binary as a process: it serves with no configuration but a data
//! directory, logs JSON with request ids, never logs a password or token, and stops on SIGTERM.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{status_and_json, str_field, unwrap_response};
use crate::process::{ServerProcess, tessera_command as tessera};

#[tokio::test]
async fn the_binary_serves_the_contract_and_never_logs_secrets() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut server = ServerProcess::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    let password = "Sup3r-Secret-Passw0rd";
    let credentials = json!({"username": "jules", "password": password});
    let register = unwrap_response(
        client
            .post(format!("{}/register", server.address))
            .json(&credentials)
            .send()
            .await,
    );
    assert_eq!(register.status(), StatusCode::CREATED);
    let (status, login) = status_and_json(unwrap_response(
        client
            .post(format!("{}/login", server.address))
            .json(&credentials)
            .send()
            .await,
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let (access, refresh) = (
        str_field(&login, "access_token").to_owned(),
        str_field(&login, "refresh_token").to_owned(),
    );
    let protected = unwrap_response(
        client
            .get(format!("{}/protected", server.address))
            .bearer_auth(&access)
            .send()
            .await,
    );
    let (status, body) = status_and_json(protected).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"logged_in_as": "jules"}))
    );
    let wrong = json!({"username": "jules", "password": "Wr0ng-Passw0rd-Guess"});
    unwrap_response(
        client
            .post(format!("{}/login", server.address))
            .json(&wrong)
            .send()
            .await,
    );

    // SIGTERM: graceful shutdown, exit status 0.
    let kill = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();
    assert!(kill.is_ok_and(|s| s.success()));
    let status = server.child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "tessera exited with {status}");

    let logs = server.log_text();
    assert!(
        logs.contains("TLS off: plain HTTP; put tessera behind a TLS terminator"),
        "start-up says that TLS is off:\n{logs}"
    );
    assert!(
        logs.contains(r#""event":"login","outcome":"success","user_id":1,"username":"jules""#),
        "the audit log should record the login:\n{logs}"
    );
    assert!(
        logs.contains(
            r#""event":"login","outcome":"refused","reason":"invalid_credentials","user_id":1,"username":"jules""#
        ),
        "the audit log should record the failure:\n{logs}"
    );
    assert!(
        logs.contains("request_id"),
        "log lines of a request carry its id:\n{logs}"
    );
    for secret in [password, "Wr0ng-Passw0rd-Guess", &access, &refresh] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
    assert!(
        !logs.contains("$argon2"),
        "a password hash reached the logs"
    );
}

#[test]
fn the_binary_refuses_a_placeholder_secret_and_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let output = tessera()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("JWT_SECRET_KEY", "your_jwt_secret_key")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tessera secret"), "{stderr}");
}

#[test]
fn tessera_secret_prints_a_fresh_strong_secret() {
    let run = || {
        tessera()
            .arg("secret")
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (a, b) = (run(), run());
    assert!(a.status.success());
    let (a, b) = (
        String::from_utf8_lossy(&a.stdout).trim().to_owned(),
        String::from_utf8_lossy(&b.stdout).trim().to_owned(),
    );
    assert!(a.len() >= 64, "{a}");
    assert_ne!(a, b);
}
