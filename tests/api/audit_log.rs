//! What audit trails may hold (issue 12, item 14): a failed login names the account only
//! when it exists (a password typed into the name field must not reach the log), and the
//! import report is private and safe to open in a spreadsheet.

use std::os::unix::fs::PermissionsExt;

use reqwest::StatusCode;
use serde_json::json;
use tessera::import::{ImportOptions, ImportTarget, Source, SourceRecord};

use crate::helpers::{spawn_app, status_and_json, unwrap_response};
use crate::process::ServerProcess;

async fn post(server: &ServerProcess, path: &str, username: &str, password: &str) -> StatusCode {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await;
    status_and_json(unwrap_response(response)).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_login_logs_the_name_only_when_it_belongs_to_an_account() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start(dir.path(), &[]);
    assert_eq!(
        post(&server, "/register", "jules", "correct-horse").await,
        StatusCode::CREATED
    );
    // The user typed their password into the name field.
    let typed = "Tr0ub4dor&3-typed-as-a-name";
    assert_eq!(
        post(&server, "/login", typed, "jules").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(&server, "/login", "jules", "not-it").await,
        StatusCode::UNAUTHORIZED
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logs = server.log_text();
    assert!(
        !logs.contains("Tr0ub4dor"),
        "the typed password was logged:\n{logs}"
    );
    let audit: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| {
            e["event"] == "login"
                && e["outcome"] == "refused"
                && e["reason"] == "invalid_credentials"
        })
        .collect();
    assert_eq!(audit.len(), 2, "{logs}");
    let digest = audit[0]["name_digest"].as_str().unwrap_or_default();
    assert_eq!(digest.len(), 12, "{}", audit[0]);
    assert!(audit[0].get("username").is_none(), "{}", audit[0]);
    assert_eq!(audit[1]["username"], "jules", "{}", audit[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failed_password_check_of_the_account_routes_is_audited() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = ServerProcess::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    post(&server, "/register", "kim", "correct-horse").await;
    let login = client
        .post(server.url("/login"))
        .json(&json!({ "username": "kim", "password": "correct-horse" }))
        .send()
        .await;
    let (_, login) = status_and_json(unwrap_response(login)).await;
    let token = login["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let change = client
        .post(server.url("/me/password"))
        .bearer_auth(&token)
        .json(&json!({ "current_password": "guess-1", "new_password": "a-new-password" }))
        .send()
        .await;
    assert_eq!(unwrap_response(change).status(), StatusCode::FORBIDDEN);
    let delete = client
        .delete(server.url("/me"))
        .bearer_auth(&token)
        .json(&json!({ "password": "guess-2" }))
        .send()
        .await;
    assert_eq!(unwrap_response(delete).status(), StatusCode::FORBIDDEN);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logs = server.log_text();
    for event in ["password_change", "account_delete"] {
        let found = logs
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|e| {
                e["event"] == event
                    && e["outcome"] == "refused"
                    && e["reason"] == "invalid_credentials"
                    && e["username"] == "kim"
                    && e["ip"] == "127.0.0.1"
            });
        assert!(found, "no failed {event} audit event in:\n{logs}");
    }
    assert!(
        !logs.contains("guess-1") && !logs.contains("guess-2"),
        "{logs}"
    );
}

/// A source of fixed records, for the report's sake.
struct Rows(Vec<SourceRecord>, bool);

#[async_trait::async_trait]
impl Source for Rows {
    async fn rewind(&mut self) -> anyhow::Result<()> {
        self.1 = false;
        Ok(())
    }

    async fn next_batch(&mut self, _max: usize) -> anyhow::Result<Vec<SourceRecord>> {
        if self.1 {
            return Ok(Vec::new());
        }
        self.1 = true;
        Ok(self.0.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_report_is_private_and_holds_no_formulas() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let record = |row, name: &str| SourceRecord {
        row,
        username: Some(name.to_owned()),
        hash: Some("not-a-hash".to_owned()),
    };
    let mut source = Rows(
        vec![
            record(1, "=HYPERLINK(\"http://evil.example/\",\"x\")"),
            record(2, "+1+1"),
            record(3, "-2+3"),
            record(4, "@SUM(A1)"),
            record(5, "plain"),
        ],
        false,
    );
    let report = dir.path().join("report.csv");
    let options = ImportOptions {
        dry_run: false,
        batch_size: 10,
        report_path: report.clone(),
        progress: false,
        reserve_skipped: false,
    };
    let summary = tessera::import::run(&ImportTarget::from(&app.tessera), &mut source, &options)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(summary.invalid, 5, "{summary:?}");
    let mode = std::fs::metadata(&report)
        .unwrap_or_else(|e| panic!("{e}"))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "report mode {mode:o}");
    let mut reader = csv::Reader::from_path(&report).unwrap_or_else(|e| panic!("{e}"));
    let mut names = Vec::new();
    for row in reader.records() {
        let row = row.unwrap_or_else(|e| panic!("{e}"));
        for cell in row.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "a cell a spreadsheet would run: {cell:?}"
            );
        }
        names.push(row.get(2).unwrap_or_default().to_owned());
    }
    assert!(names.contains(&"'+1+1".to_owned()), "{names:?}");
    assert!(names.contains(&"plain".to_owned()), "{names:?}");
}
