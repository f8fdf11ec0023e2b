//! The data directory and the SQLite database files are private to the server's user,
//! whatever the umask (the test process runs with the usual 022).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use reqwest::StatusCode;

use crate::helpers::spawn_app_with;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn the_data_directory_and_database_files_are_private() {
    let parent = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data_dir = parent.path().join("tessera-data");
    let dir = data_dir.clone();
    let app = spawn_app_with(move |c| {
        c.data_dir = dir;
        c.database_url = None;
    })
    .await;
    // A write, so the WAL and shared-memory files exist.
    assert_eq!(
        app.register("alice", "correct-horse").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(mode(&data_dir), 0o700, "data directory");
    for file in ["tessera.db", "tessera.db-wal", "tessera.db-shm"] {
        assert_eq!(mode(&data_dir.join(file)), 0o600, "{file}");
    }
    for file in ["refresh_token_key", "key_encryption_key"] {
        let path = data_dir.join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
}
