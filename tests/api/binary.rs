//! The real `tessera` binary as a process: it serves with no configuration but a data
//! directory, logs JSON with request ids, never logs a password or token, and stops on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{status_and_json, str_field, unwrap_response};

struct Server {
    child: Child,
    address: String,
    logs: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tessera() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    // The test must not depend on the developer's environment.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TESSERA_")
            || key == "JWT_SECRET_KEY"
            || key == "RUST_LOG"
        {
            command.env_remove(key);
        }
    }
    command
}

/// Starts `tessera serve` on a free port and waits for its "listening" log line.
fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut child = tessera()
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("TESSERA_LOG_LEVEL", "debug")
        .env("TESSERA_ARGON2__MEMORY_KIB", "1024")
        .env("TESSERA_ARGON2__ITERATIONS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start tessera: {e}"));
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (address_tx, address_rx) = mpsc::channel();
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                && event["message"] == "tessera listening"
            {
                let _ = address_tx.send(event["address"].as_str().unwrap_or_default().to_owned());
            }
            if let Ok(mut logs) = sink.lock() {
                logs.push(line);
            }
        }
    });
    let address = address_rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("tessera did not start: {e}"));
    Server {
        child,
        address: format!("http://{address}"),
        logs,
        _dir: dir,
    }
}

#[tokio::test]
async fn the_binary_serves_the_contract_and_never_logs_secrets() {
    let mut server = start_server();
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

    let logs = server.logs.lock().map(|l| l.join("\n")).unwrap_or_default();
    assert!(
        logs.contains("login succeeded"),
        "the logs should record the login:\n{logs}"
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
