//! The data directory and the SQLite database are private to the server's user.
//!
//! They hold password hashes, session addresses and sealed keys, so a new data directory is
//! created 0700 and a new database file 0600, whatever the umask (the mode is set after
//! creation, not left to `open`, which the umask narrows or a permissive umask leaves wide).
//! SQLite gives the `-wal` and `-shm` files it creates the database file's own mode, so
//! they are 0600 too. Existing files are not changed behind the operator's back: a data
//! directory or database file that others can read is reported at start with a warning.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Config;

/// Creates the data directory and the SQLite database file (if the database is SQLite in
/// a file) with private modes, and warns about existing ones that others can read.
pub fn prepare(config: &Config) -> anyhow::Result<()> {
    for path in prepare_paths(&config.data_dir, &config.effective_database_url())? {
        tracing::warn!(
            path = %path.display(),
            "readable by other users: it holds password hashes and keys; chmod go-rwx it"
        );
    }
    Ok(())
}

/// Does the work of [`prepare`]; returns the existing paths others can access.
fn prepare_paths(data_dir: &Path, database_url: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut exposed = Vec::new();
    if !create_private_dir(data_dir)? && is_exposed(data_dir) {
        exposed.push(data_dir.to_path_buf());
    }
    if let Some(db) = sqlite_file(database_url) {
        if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        if !create_private_file(&db)? && is_exposed(&db) {
            exposed.push(db.clone());
        }
        for suffix in ["-wal", "-shm"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            let path = PathBuf::from(name);
            if is_exposed(&path) {
                exposed.push(path);
            }
        }
    }
    Ok(exposed)
}

/// True when this call created the directory (then 0700).
fn create_private_dir(dir: &Path) -> anyhow::Result<bool> {
    if dir.exists() {
        return Ok(false);
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .and_then(|()| std::fs::set_permissions(dir, Permissions::from_mode(0o700)))
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    Ok(true)
}

/// True when this call created the (empty) file (then 0600). SQLite takes an empty file
/// for an empty database.
fn create_private_file(path: &Path) -> anyhow::Result<bool> {
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => {
            std::fs::set_permissions(path, Permissions::from_mode(0o600))
                .with_context(|| format!("cannot set the mode of {}", path.display()))?;
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot create database {}", path.display())),
    }
}

/// Group or other users have any access.
fn is_exposed(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o077 != 0)
}

/// The file of a `sqlite:` URL; `None` for other backends and in-memory databases.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    }

    #[test]
    fn new_directory_and_database_are_private() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("a/data");
        let url = format!("sqlite://{}", dir.join("tessera.db").display());
        assert!(prepare_paths(&dir, &url)?.is_empty());
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("tessera.db")), 0o600);
        Ok(())
    }

    #[test]
    fn existing_files_others_can_read_are_reported_not_changed() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir)?;
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755))?;
        let db = dir.join("tessera.db");
        std::fs::write(&db, b"")?;
        std::fs::set_permissions(&db, Permissions::from_mode(0o644))?;
        let wal = dir.join("tessera.db-wal");
        std::fs::write(&wal, b"")?;
        std::fs::set_permissions(&wal, Permissions::from_mode(0o640))?;
        let url = format!("sqlite:{}?mode=rwc", db.display());
        assert_eq!(
            prepare_paths(&dir, &url)?,
            vec![dir.clone(), db.clone(), wal]
        );
        assert_eq!(mode(&db), 0o644);
        Ok(())
    }

    #[test]
    fn only_sqlite_files_are_database_files() {
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://file:x?mode=memory"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
        assert_eq!(
            sqlite_file("sqlite:///var/lib/t/tessera.db"),
            Some(PathBuf::from("/var/lib/t/tessera.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:rel/t.db?mode=rwc"),
            Some(PathBuf::from("rel/t.db"))
        );
    }
}
