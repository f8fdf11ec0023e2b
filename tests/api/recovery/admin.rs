//! Without mail: an administrator's single-use reset link (`tessera user reset-link`), and
//! a server that never writes a code, token or link into its log.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::PASSWORD;
use crate::helpers::{spawn_app, status_and_json};
use crate::process::tessera_command;

#[tokio::test]
async fn an_administrators_reset_link_works_once_without_any_mail() {
    let app = spawn_app().await;
    app.signed_up("gina", PASSWORD).await;
    let output = tessera_command()
        .args(["user", "--data-dir"])
        .arg(&app.tessera.config().data_dir)
        .args(["--json", "reset-link", "gina"])
        .env("JWT_SECRET_KEY", &app.secret)
        .env("TESSERA_LOG_LEVEL", "warn")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let link = answer["reset_link"].as_str().unwrap_or_default();
    assert!(link.starts_with("/ui/password/reset?token="), "{answer}");
    let token = link.trim_start_matches("/ui/password/reset?token=");
    let body = json!({"token": token, "new_password": "an administrators passphrase"});
    let (status, answer) = status_and_json(app.post_json("/password/reset", &body).await).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, _) = status_and_json(app.post_json("/password/reset", &body).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "used once");
    assert_eq!(
        app.login("gina", "an administrators passphrase")
            .await
            .status(),
        StatusCode::OK
    );
}

/// The real server, with messages written as files: everything it logs (at `debug`) holds
/// none of the code, token or link those files carry.
#[tokio::test]
async fn no_code_token_or_link_reaches_the_servers_log() {
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mail = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut server = tessera_command()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data.path())
        .env("TESSERA_LOG_LEVEL", "debug")
        .env("TESSERA_EMAIL__TRANSPORT", "file")
        .env("TESSERA_EMAIL__FILE_DIR", mail.path())
        .env("TESSERA_EMAIL__PUBLIC_URL", "http://tessera.test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let post = |path: &str, body: Value, token: Option<&str>| {
        let mut request = client.post(format!("{base}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let _ = post(
        "/register",
        json!({"username": "hank", "password": PASSWORD}),
        None,
    )
    .await;
    let login: Value = match post(
        "/login",
        json!({"username": "hank", "password": PASSWORD}),
        None,
    )
    .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(e) => panic!("{e}"),
    };
    let access = login["access_token"].as_str().unwrap_or_default();
    let set = post(
        "/me/email",
        json!({"email": "hank@example.com", "password": PASSWORD}),
        Some(access),
    )
    .await;
    assert_eq!(set.map(|r| r.status()).ok(), Some(StatusCode::ACCEPTED));
    // The message lands as an .eml file; its code and token are what must not be logged.
    let started = Instant::now();
    let message = loop {
        let file = std::fs::read_dir(mail.path())
            .ok()
            .and_then(|mut dir| dir.next())
            .and_then(Result::ok)
            .and_then(|entry| std::fs::read_to_string(entry.path()).ok());
        if let Some(text) = file {
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no message file"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = server.kill();
    let mut log = String::new();
    for pipe in [
        server.stdout.take().map(|p| Box::new(p) as Box<dyn Read>),
        server.stderr.take().map(|p| Box::new(p) as Box<dyn Read>),
    ]
    .into_iter()
    .flatten()
    {
        let mut pipe = pipe;
        let _ = pipe.read_to_string(&mut log);
    }
    let _ = server.wait();
    let decoded = message.replace("=\r\n", "").replace("=3D", "=");
    let token_at = decoded
        .find("token=")
        .unwrap_or_else(|| panic!("no link in {decoded}"));
    let token: String = decoded[token_at + 6..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert!(token.len() >= 40, "{token}");
    let code_at = decoded
        .find("asked for it: ")
        .unwrap_or_else(|| panic!("no code in {decoded}"));
    let code = &decoded[code_at + 14..code_at + 22];
    assert!(!log.contains(code), "the code is in the log");
    assert!(
        log.contains("hank") || log.contains("email"),
        "the log was captured: {log}"
    );
    assert!(!log.contains(&token), "the link's token is in the log");
    assert!(!log.contains(PASSWORD));
    assert!(!log.contains(access));
}
