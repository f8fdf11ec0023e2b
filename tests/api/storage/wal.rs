//! SQLite's write-ahead log stays bounded: an idle server truncates it, and a clean stop
//! folds it back into the database file.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::Remote;
use super::sqlite_full::status_of;
use crate::helpers::{spawn_app_with, str_field};
use crate::process::ServerProcess;

fn wal_size(data_dir: &Path) -> Option<u64> {
    std::fs::metadata(data_dir.join("tessera.db-wal"))
        .ok()
        .map(|m| m.len())
}

/// Refreshes one session `n` times in a row: a stream of small writes.
async fn refresh_chain(app: &Remote, refresh_token: &str, n: usize) {
    let mut token = refresh_token.to_owned();
    for _ in 0..n {
        let (status, body) = crate::helpers::status_and_json(app.refresh(&token).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        token = str_field(&body, "refresh_token").to_owned();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_server_truncates_its_write_ahead_log() {
    let test_app = spawn_app_with(|c| c.sqlite_checkpoint_interval_secs = 1).await;
    let app = &Remote::of(&test_app);
    let data_dir = test_app.tessera.config().data_dir.clone();
    let login = app.signed_up("alice").await;
    refresh_chain(app, str_field(&login, "refresh_token"), 300).await;
    assert!(
        wal_size(&data_dir).unwrap_or(0) > 0,
        "the writes went to the log"
    );

    let idle_since = Instant::now();
    while wal_size(&data_dir).unwrap_or(0) > 0 {
        assert!(
            idle_since.elapsed() < Duration::from_secs(10),
            "the log still holds {:?} bytes after 10 s idle",
            wal_size(&data_dir)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing was lost by it.
    let status = status_of(app.login("alice", super::PASSWORD).await).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_folds_the_write_ahead_log_back_into_the_database() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut server = ServerProcess::start(dir.path(), &[]);
    let app = &Remote::new(&server.address);
    let login = app.signed_up("alice").await;
    refresh_chain(app, str_field(&login, "refresh_token"), 50).await;
    assert!(
        wal_size(dir.path()).unwrap_or(0) > 0,
        "the writes went to the log"
    );

    let pid = server.child.id().to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(matches!(signalled, Ok(s) if s.success()), "{signalled:?}");
    let started = Instant::now();
    while matches!(server.child.try_wait(), Ok(None)) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        wal_size(dir.path()).unwrap_or(0),
        0,
        "{}",
        server.log_text()
    );

    // And the data is all in the database file.
    let server = ServerProcess::start(dir.path(), &[]);
    let app = &Remote::new(&server.address);
    let status = status_of(app.login("alice", super::PASSWORD).await).await;
    assert_eq!(status, StatusCode::OK);
}
