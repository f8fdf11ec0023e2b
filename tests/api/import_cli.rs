//! `tessera import csv|jsonl` through the real binary: dry run first, then the import,
//! then the users log in to `tessera serve` on the same data directory; and an import
//! running while the server serves registrations.

use std::io::Write;
use std::path::Path;
use std::process::Output;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{status_and_json, unwrap_response};
use crate::import::seed_users;
use crate::process::{ServerProcess, tessera_command};

fn import(kind: &str, file: &Path, data_dir: &Path, extra: &[&str]) -> (String, Output) {
    let output = tessera_command()
        .args(["import", kind])
        .arg(file)
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        // Each imported hash is wrapped in Argon2id with the deployment's parameters: the
        // cheap test ones keep 20,000 users to seconds (the default costs ≈ 30 ms each).
        .env("TESSERA_ARGON2__MEMORY_KIB", "1024")
        .env("TESSERA_ARGON2__ITERATIONS", "1")
        .output()
        .unwrap_or_else(|e| panic!("tessera import: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    (text, output)
}

async fn login(server: &ServerProcess, username: &str, password: &str) -> StatusCode {
    let response = reqwest::Client::new()
        .post(server.url("/login"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await;
    status_and_json(unwrap_response(response)).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_and_json_lines_import_after_a_dry_run_and_their_users_log_in() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data_dir = dir.path().join("data");
    // Cheap werkzeug pbkdf2 vectors (1,000 to 3,000 iterations).
    let users: Vec<_> = seed_users(&["werkzeug"])
        .into_iter()
        .filter(|u| u.hash.starts_with("pbkdf2"))
        .take(6)
        .collect();
    let csv_path = dir.path().join("users.csv");
    let mut csv = String::from("username,hash\n");
    for u in &users[..3] {
        csv.push_str(&format!("{},{}\n", u.username, u.hash));
    }
    std::fs::write(&csv_path, csv).unwrap_or_else(|e| panic!("{e}"));
    let jsonl_path = dir.path().join("users.jsonl");
    let mut jsonl = std::fs::File::create(&jsonl_path).unwrap_or_else(|e| panic!("{e}"));
    for u in &users[3..] {
        let line = json!({ "username": u.username, "hash": u.hash });
        writeln!(jsonl, "{line}").unwrap_or_else(|e| panic!("{e}"));
    }
    writeln!(jsonl, "not json").unwrap_or_else(|e| panic!("{e}"));
    let report = dir.path().join("report.csv");
    let report_arg = report.to_string_lossy().to_string();

    let (text, _) = import("csv", &csv_path, &data_dir, &["--dry-run"]);
    assert!(
        text.contains("dry run: would import 3 of 3 users"),
        "{text}"
    );
    let (text, _) = import("csv", &csv_path, &data_dir, &[]);
    assert!(
        text.contains("imported 3 of 3 users"),
        "the dry run wrote: {text}"
    );
    let (text, _) = import("jsonl", &jsonl_path, &data_dir, &["--report", &report_arg]);
    assert!(text.contains("imported 3 of 4 users"), "{text}");
    assert!(text.contains("hash formats: werkzeug 3"), "{text}");
    let report_text = std::fs::read_to_string(&report).unwrap_or_default();
    assert!(report_text.contains("invalid_username,4,"), "{report_text}");
    for u in &users {
        assert!(!text.contains(&u.hash), "the import printed a hash");
    }

    let server = ServerProcess::start(&data_dir, &[]);
    for u in &users {
        assert_eq!(
            login(&server, &u.username, &u.password).await,
            StatusCode::OK,
            "{}",
            u.username
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_while_the_server_registers_users_loses_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data_dir = dir.path().join("data");
    let user = seed_users(&["werkzeug"]).remove(0);
    let count = 20_000;
    let csv_path = dir.path().join("many.csv");
    let mut csv = String::from("username,hash\n");
    for i in 0..count {
        csv.push_str(&format!("imported{i},{}\n", user.hash));
    }
    std::fs::write(&csv_path, csv).unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start(&data_dir, &[]);

    let importer = {
        let (csv_path, data_dir) = (csv_path.clone(), data_dir.clone());
        tokio::task::spawn_blocking(move || {
            import("csv", &csv_path, &data_dir, &["--batch-size", "500"]).0
        })
    };
    let client = reqwest::Client::new();
    let mut registered = 0;
    while !importer.is_finished() || registered < 10 {
        let response = client
            .post(server.url("/register"))
            .json(&json!({ "username": format!("live{registered}"), "password": "live-password" }))
            .send()
            .await;
        let (status, body) = status_and_json(unwrap_response(response)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        registered += 1;
    }
    let text = importer.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        text.contains(&format!("imported {count} of {count} users")),
        "{text}"
    );
    assert_eq!(
        login(&server, "imported19999", &user.password).await,
        StatusCode::OK
    );
    assert_eq!(
        login(&server, "live0", "live-password").await,
        StatusCode::OK
    );
}
