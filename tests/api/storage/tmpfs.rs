//! A real full disk: the real binary with its data directory on a 16 MiB tmpfs that the
//! test fills. Here SQLite fails at commit time (the write-ahead log cannot grow), which
//! is where a statement read only to its first row would have reported success. Needs
//! root (for `mount`); elsewhere the test says it skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::sqlite_full::{
    NEW_PASSWORD, assert_logout_kept, assert_password_kept, assert_refresh_kept, status_of,
};
use super::{
    Answer, PASSWORD, Remote, answer, assert_registrations_kept, register_until_refused, wait_ready,
};
use crate::helpers::str_field;
use crate::process::ServerProcess;

/// A tmpfs mounted on a fresh directory, unmounted when dropped.
pub struct Tmpfs {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (with the reason printed) where the tests do not run as root or mounting fails.
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let root = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|uids| uids.split_whitespace().nth(1))
            == Some("0");
        if !root {
            eprintln!(
                "skipped: mounting a tmpfs needs root (the full-disk test runs in CI as root)"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        if !matches!(mounted, Ok(s) if s.success()) {
            eprintln!("skipped: cannot mount a tmpfs ({mounted:?})");
            return None;
        }
        Some(Tmpfs {
            path: dir.path().to_path_buf(),
            _dir: dir,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Writes a file until the filesystem is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap_or_else(|e| panic!("{e}"));
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.flush();
}

/// The audit lines (JSON) the server logged for `event` and `username`: their outcomes.
fn audit_outcomes(server: &ServerProcess, event: &str, username: &str) -> Vec<String> {
    server
        .log_text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| {
            e["target"] == "tessera::audit" && e["event"] == event && e["username"] == username
        })
        .map(|e| e["outcome"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_acknowledges_only_what_it_stored_and_recovers_when_space_returns() {
    let Some(tmpfs) = Tmpfs::mount("16m") else {
        return;
    };
    let data_dir = tmpfs.path.join("data");
    // Every refusal is counted below: no flood summarising here.
    let server = ServerProcess::start(&data_dir, &[("TESSERA_AUDIT_BURST", "1000")]);
    let app = &Remote::new(&server.address);
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;

    let filler = tmpfs.path.join("filler");
    fill(&filler);
    let (stored, refused) = register_until_refused(app, "user", 1000, 20).await;
    assert!(
        !refused.is_empty(),
        "no registration refused on a full disk"
    );
    wait_ready(app, StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(1)).await;
    let alice_refresh = str_field(&alice, "refresh_token");
    let refreshed = answer(app.refresh(alice_refresh).await, StatusCode::OK, "refresh").await;
    let logged_out = answer(
        app.logout(str_field(&carol, "access_token")).await,
        StatusCode::OK,
        "logout",
    )
    .await;
    let changed = answer(
        app.change_password(str_field(&bob, "access_token"), PASSWORD, NEW_PASSWORD)
            .await,
        StatusCode::OK,
        "password change",
    )
    .await;
    eprintln!(
        "full disk: {} registrations acknowledged, {} refused; refresh {:?}, logout {:?}, password change {:?}",
        stored.len(),
        refused.len(),
        matches!(refreshed, Answer::Stored(_)),
        matches!(logged_out, Answer::Stored(_)),
        matches!(changed, Answer::Stored(_)),
    );

    // Space comes back: ready again by itself, no restart.
    std::fs::remove_file(&filler).unwrap_or_else(|e| panic!("{e}"));
    wait_ready(app, StatusCode::OK, Duration::from_secs(10)).await;
    assert_eq!(
        status_of(app.register("after", PASSWORD).await).await,
        StatusCode::CREATED
    );
    assert_registrations_kept(app, &stored, &refused).await;
    assert_refresh_kept(app, alice_refresh, &refreshed).await;
    assert_logout_kept(app, &carol, &logged_out).await;
    assert_password_kept(app, "bob", &changed).await;
    // A refused registration names no account (there is none): its lines carry the
    // name's digest, so they are counted, one per refusal.
    let unavailable = server
        .log_text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| {
            e["target"] == "tessera::audit"
                && e["event"] == "register"
                && e["outcome"] == "error"
                && e["reason"] == "unavailable"
                && e["name_digest"].is_string()
        })
        .count();
    assert_eq!(unavailable, refused.len(), "one audit line per refusal");
    for name in &stored {
        assert_eq!(
            audit_outcomes(&server, "register", name),
            ["success"],
            "{name}"
        );
    }
}
