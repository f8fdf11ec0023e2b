//! The import report: one line per user not imported (`reason,source_row,username,detail`),
//! never a hash.
//!
//! The file lists who has an account elsewhere, so it is created readable by its owner
//! only (0600), whatever the umask. Operators open it in spreadsheets, and the names in it
//! come from whoever registered on the source system: a cell that starts with `=`, `+`,
//! `-` or `@` (or a tab or carriage return, which some spreadsheets strip first) would run
//! as a formula (CSV injection), so such a cell is prefixed with `'`, which spreadsheets
//! show as text. The name stays recognisable; the report is for people, not for re-import.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The report file, created at its first line, so a run with nothing to report (or one
/// that fails first) leaves no file behind.
pub(super) struct Report {
    path: PathBuf,
    writer: Option<csv::Writer<std::fs::File>>,
    lines: u64,
}

impl Report {
    pub(super) fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            writer: None,
            lines: 0,
        }
    }

    pub(super) fn add(
        &mut self,
        reason: &str,
        row: u64,
        username: &str,
        detail: &str,
    ) -> anyhow::Result<()> {
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                let mut writer = csv::Writer::from_writer(create_private(&self.path)?);
                writer.write_record(["reason", "source_row", "username", "detail"])?;
                self.writer.insert(writer)
            }
        };
        writer.write_record([
            reason,
            &row.to_string(),
            &neutralise(username),
            &neutralise(detail),
        ])?;
        self.lines += 1;
        Ok(())
    }

    pub(super) fn finish(&mut self) -> anyhow::Result<Option<PathBuf>> {
        match &mut self.writer {
            Some(writer) => {
                writer.flush()?;
                Ok(Some(self.path.clone()))
            }
            None => Ok(None),
        }
    }
}

/// Creates (or truncates) `path` with mode 0600. An existing file keeps its inode, so its
/// mode is set explicitly too.
fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create the report file {}", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict the report file {}", path.display()))?;
    Ok(file)
}

/// A cell a spreadsheet shows as text, never runs (see the module documentation).
fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_others_kept() {
        #[rustfmt::skip]
        let table = [
            ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"), ("alice", "alice"), ("a=b", "a=b"), ("", ""),
        ];
        for (cell, expected) in table {
            assert_eq!(neutralise(cell), expected, "{cell:?}");
        }
    }

    #[test]
    fn the_file_is_created_0600_even_over_an_existing_one() -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile_dir()?;
        let path = dir.join("report.csv");
        std::fs::write(&path, "old")?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        let mut file = create_private(&path)?;
        file.write_all(b"x")?;
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o777,
            0o600
        );
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    fn tempfile_dir() -> anyhow::Result<PathBuf> {
        let dir = std::env::temp_dir().join(format!("tessera-report-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }
}
