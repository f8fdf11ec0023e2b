//! The administration CLI as a process, on the same data directory as a running server.

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{status_and_json, str_field, unwrap_response};
use crate::process::{ServerProcess, tessera_command};

/// Runs `tessera ARGS --data-dir DIR` with `stdin` as standard input.
fn tessera(dir: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut command = tessera_command();
    let (first, rest) = args.split_at(1);
    command.args(first).arg("--data-dir").arg(dir).args(rest);
    command
        .env("TESSERA_ARGON2__MEMORY_KIB", "1024")
        .env("TESSERA_ARGON2__ITERATIONS", "1")
        .env("TESSERA_LOG_LEVEL", "warn");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

async fn login(
    client: &reqwest::Client,
    server: &ServerProcess,
    name: &str,
    password: &str,
) -> (StatusCode, Value) {
    let body = json!({"username": name, "password": password});
    status_and_json(unwrap_response(
        client.post(server.url("/login")).json(&body).send().await,
    ))
    .await
}

async fn protected(
    client: &reqwest::Client,
    server: &ServerProcess,
    token: &str,
) -> (StatusCode, Value) {
    status_and_json(unwrap_response(
        client
            .get(server.url("/protected"))
            .bearer_auth(token)
            .send()
            .await,
    ))
    .await
}

async fn fetch_jwks(client: &reqwest::Client, server: &ServerProcess) -> Value {
    let response = unwrap_response(
        client
            .get(server.url("/.well-known/jwks.json"))
            .send()
            .await,
    );
    response.json().await.unwrap_or(Value::Null)
}

/// Polls `/protected` until the token is refused; returns how long that took.
async fn until_revoked(client: &reqwest::Client, server: &ServerProcess, token: &str) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body) = protected(client, server, token).await;
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(body["error"], "token_revoked");
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the server still accepts the token"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn users_are_managed_from_the_cli_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start(dir.path(), &[]);
    let client = reqwest::Client::new();

    // add: the password comes from standard input, never from an argument.
    let added = json_of(&tessera(
        dir.path(),
        &["user", "--json", "add", "Grace"],
        "first-password\n",
    ));
    assert_eq!(added["created"]["username"], "Grace");
    let (status, session) = login(&client, &server, "grace", "first-password").await;
    assert_eq!(status, StatusCode::OK);
    let token = str_field(&session, "access_token").to_owned();

    let users = json_of(&tessera(dir.path(), &["user", "--json", "list"], ""));
    assert_eq!(users[0]["username"], "Grace");
    assert_eq!(users[0]["disabled"], false);
    let sessions = json_of(&tessera(
        dir.path(),
        &["sessions", "--json", "list", "--user", "grace"],
        "",
    ));
    assert_eq!(sessions.as_array().map(Vec::len), Some(1));
    let table = tessera(dir.path(), &["user", "list"], "");
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("USERNAME"),
        "a table for people"
    );

    // disable: the running server refuses the session within a second, and the login.
    let disabled = json_of(&tessera(
        dir.path(),
        &["user", "--json", "disable", "grace"],
        "",
    ));
    assert_eq!(disabled["ended_sessions"], 1);
    assert!(until_revoked(&client, &server, &token).await < Duration::from_secs(1));
    let (status, body) = login(&client, &server, "grace", "first-password").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("account_disabled"))
    );

    json_of(&tessera(
        dir.path(),
        &["user", "--json", "enable", "grace"],
        "",
    ));
    json_of(&tessera(
        dir.path(),
        &["user", "--json", "set-password", "grace"],
        "second-password\n",
    ));
    assert_eq!(
        login(&client, &server, "grace", "first-password").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&client, &server, "grace", "second-password").await.0,
        StatusCode::OK
    );

    json_of(&tessera(
        dir.path(),
        &["user", "--json", "delete", "grace"],
        "",
    ));
    assert_eq!(
        login(&client, &server, "grace", "second-password").await.0,
        StatusCode::UNAUTHORIZED
    );
    let missing = tessera(dir.path(), &["user", "delete", "grace"], "");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("User not found"));
}

#[tokio::test]
async fn sessions_are_revoked_from_the_cli_and_the_server_honours_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    json_of(&tessera(
        dir.path(),
        &["user", "--json", "add", "heidi"],
        "hedge-hog-pass\n",
    ));
    let (_, first) = login(&client, &server, "heidi", "hedge-hog-pass").await;
    let (_, second) = login(&client, &server, "heidi", "hedge-hog-pass").await;

    let first_sid = crate::helpers::jwt_claims(str_field(&first, "access_token"))["sid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    json_of(&tessera(
        dir.path(),
        &["sessions", "--json", "revoke", &first_sid],
        "",
    ));
    assert!(
        until_revoked(&client, &server, str_field(&first, "access_token")).await
            < Duration::from_secs(1)
    );
    assert_eq!(
        protected(&client, &server, str_field(&second, "access_token"))
            .await
            .0,
        StatusCode::OK
    );

    let ended = json_of(&tessera(
        dir.path(),
        &["sessions", "--json", "revoke", "--user", "heidi"],
        "",
    ));
    assert_eq!(ended["ended_sessions"], 1);
    assert!(
        until_revoked(&client, &server, str_field(&second, "access_token")).await
            < Duration::from_secs(1)
    );
}

#[tokio::test]
async fn every_session_of_every_user_ends_from_the_cli_after_a_leak() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for name in ["ivy", "jon"] {
        json_of(&tessera(
            dir.path(),
            &["user", "--json", "add", name],
            "a-long-password\n",
        ));
        let (status, login) = login(&client, &server, name, "a-long-password").await;
        assert_eq!(status, StatusCode::OK, "{login}");
        tokens.push(str_field(&login, "access_token").to_owned());
    }
    let ended = json_of(&tessera(
        dir.path(),
        &["sessions", "--json", "revoke", "--all"],
        "",
    ));
    assert_eq!(ended["ended_sessions"], 2, "{ended}");
    for token in &tokens {
        assert!(until_revoked(&client, &server, token).await < Duration::from_secs(1));
    }
    // A new login works: nobody is locked out.
    assert_eq!(
        login(&client, &server, "ivy", "a-long-password").await.0,
        StatusCode::OK
    );
}

#[test]
fn an_administration_command_on_a_missing_database_creates_nothing_and_names_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("not-yet");
    for args in [
        &["user", "list"][..],
        &["sessions", "list"],
        &["keys", "list"],
    ] {
        let output = tessera(&data, args, "");
        assert!(!output.status.success(), "{args:?} succeeded on nothing");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let looked_for = data.join("tessera.db");
        assert!(
            stderr.contains(&looked_for.display().to_string()),
            "{args:?} should name the database it looked for: {stderr}"
        );
        assert!(!data.exists(), "{args:?} created the data directory");
    }
}

#[test]
fn an_administration_command_writes_no_key_into_a_servers_data_directory() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // A deployment whose server takes its secrets from the environment: the data
    // directory holds the database only.
    std::fs::create_dir_all(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let migrated = tessera(dir.path(), &["migrate"], "");
    assert!(migrated.status.success(), "{migrated:?}");
    for key in ["jwt_secret", "refresh_token_key", "key_encryption_key"] {
        let _ = std::fs::remove_file(dir.path().join(key));
    }
    let listed = json_of(&tessera(dir.path(), &["user", "list", "--json"], ""));
    assert_eq!(listed, json!([]));
    for key in ["jwt_secret", "refresh_token_key", "key_encryption_key"] {
        assert!(
            !dir.path().join(key).exists(),
            "user list wrote {key} into the data directory"
        );
    }
}

#[test]
fn global_flags_are_accepted_anywhere_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().to_str().unwrap_or_else(|| panic!("path"));
    let migrated = tessera_command()
        .args(["migrate", "--data-dir", data])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(migrated.status.success(), "{migrated:?}");
    for args in [
        ["--data-dir", data, "--json", "user", "list"],
        ["user", "list", "--data-dir", data, "--json"],
        ["user", "--json", "--data-dir", data, "list"],
        ["--json", "user", "--data-dir", data, "list"],
    ] {
        let output = tessera_command()
            .args(args)
            .env("TESSERA_LOG_LEVEL", "warn")
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json_of(&output), json!([]), "{args:?}");
    }
}

#[test]
fn check_config_reports_problems_without_changing_anything() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("not-yet");
    let ok = tessera(&data, &["check-config", "--json"], "");
    let report = json_of(&ok);
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        !data.exists(),
        "checking must not create the data directory"
    );

    let mut command = tessera_command();
    command
        .args(["check-config", "--json", "--data-dir"])
        .arg(&data)
        .env("JWT_SECRET_KEY", "your_jwt_secret_key");
    let bad = command.output().unwrap_or_else(|e| panic!("{e}"));
    assert!(!bad.status.success());
    let report: Value = serde_json::from_slice(&bad.stdout).unwrap_or(Value::Null);
    assert_eq!(report["ok"], false);
    assert!(
        report["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("placeholder")),
        "{report}"
    );
    assert!(
        !report.to_string().contains("your_jwt_secret_key"),
        "secrets are never printed"
    );
    // TLS files: both or neither, and they must load.
    let missing = dir.path().join("missing.pem");
    for (env, expected) in [
        (vec![("TESSERA_TLS__CERT_FILE", &missing)], "go together"),
        (
            vec![
                ("TESSERA_TLS__CERT_FILE", &missing),
                ("TESSERA_TLS__KEY_FILE", &missing),
            ],
            "tls.cert_file",
        ),
    ] {
        let mut command = tessera_command();
        command
            .args(["check-config", "--json", "--data-dir"])
            .arg(&data)
            .envs(env);
        let bad = command.output().unwrap_or_else(|e| panic!("{e}"));
        assert!(!bad.status.success());
        let report: Value = serde_json::from_slice(&bad.stdout).unwrap_or(Value::Null);
        assert!(
            report["problems"].to_string().contains(expected),
            "{report}"
        );
    }
}

#[tokio::test]
async fn keys_generated_and_rotated_from_the_cli_reach_the_running_server() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start(dir.path(), &[("TESSERA_KEY_RELOAD_MS", "200")]);
    let client = reqwest::Client::new();
    json_of(&tessera(
        dir.path(),
        &["user", "--json", "add", "ivan"],
        "iron-man-pass\n",
    ));
    let kid_of = |login: &Value| {
        let token = str_field(login, "access_token");
        let header = token.split('.').next().unwrap_or_default();
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
                .unwrap_or_default();
        serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null)["kid"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (_, before) = login(&client, &server, "ivan", "iron-man-pass").await;
    assert!(kid_of(&before).starts_with("hs256-"), "HS256 by default");

    let generated = json_of(&tessera(
        dir.path(),
        &["keys", "--json", "generate", "--alg", "eddsa"],
        "",
    ));
    let eddsa_kid = generated["generated"]["kid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(eddsa_kid.starts_with("eddsa-"), "{generated}");
    let started = Instant::now();
    loop {
        let (_, after) = login(&client, &server, "ivan", "iron-man-pass").await;
        if kid_of(&after) == eddsa_kid {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the server did not pick up the new key"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The HS256 token from before still works; the JWKS publishes the EdDSA key only.
    assert_eq!(
        protected(&client, &server, str_field(&before, "access_token"))
            .await
            .0,
        StatusCode::OK
    );
    let jwks = fetch_jwks(&client, &server).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids, vec![eddsa_kid.as_str()]);

    // Rotation publishes the next key first; it does not sign yet.
    let rotated = json_of(&tessera(dir.path(), &["keys", "--json", "rotate"], ""));
    let next_kid = rotated["rotated"]["kid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let listed = json_of(&tessera(dir.path(), &["keys", "--json", "list"], ""));
    let next = listed
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kid"] == next_kid.as_str())
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(next["state"], "next", "{listed}");
    assert!(
        !listed.to_string().contains("PRIVATE"),
        "no private material in the listing"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let jwks = fetch_jwks(&client, &server).await;
    assert!(
        jwks.to_string().contains(&next_kid),
        "the next key is published before it signs: {jwks}"
    );
    let (_, later) = login(&client, &server, "ivan", "iron-man-pass").await;
    assert_eq!(
        kid_of(&later),
        eddsa_kid,
        "the current key still signs during pre-publication"
    );
}
