//! Where imported users come from: the Flask seed's SQLite database (or any SQLite table
//! named by flags), CSV files and JSON Lines files with a username and a hash per user.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, SqlitePool};

use super::{Source, SourceRecord};

/// The table and columns holding the users (the seed: `user`, `username`, `password`).
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// The table holding the users.
    pub table: String,
    /// Its username column.
    pub username_column: String,
    /// Its password-hash column.
    pub password_column: String,
}

impl Default for TableSpec {
    fn default() -> Self {
        Self {
            table: "user".into(),
            username_column: "username".into(),
            password_column: "password".into(),
        }
    }
}

/// Names from the command line go into SQL text (identifiers cannot be bound), so only
/// plain identifiers are accepted, and they are quoted.
fn identifier(name: &str) -> anyhow::Result<String> {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    anyhow::ensure!(
        plain,
        "{name:?} is not a plain table or column name (letters, digits, _)"
    );
    Ok(format!("\"{name}\""))
}

/// A Flask-SQLAlchemy SQLite database, opened read-only (the Flask app may keep
/// running), read in rowid order one page at a time.
pub struct FlaskSqliteSource {
    pool: SqlitePool,
    query: String,
    after: i64,
}

impl FlaskSqliteSource {
    /// Opens the Flask app's SQLite database read-only.
    pub async fn open(path: &Path, spec: &TableSpec) -> anyhow::Result<Self> {
        anyhow::ensure!(path.is_file(), "{} is not a file", path.display());
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .read_only(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open {}", path.display()))?;
        let (table, user, password) = (
            identifier(&spec.table)?,
            identifier(&spec.username_column)?,
            identifier(&spec.password_column)?,
        );
        let query = format!(
            "SELECT rowid, CAST({user} AS TEXT), CAST({password} AS TEXT) FROM {table} \
             WHERE rowid > $1 ORDER BY rowid LIMIT $2"
        );
        // Fail now, with the names, rather than at the first page. (A SELECT on the source
        // database, which is only read: no commit to lose.)
        #[allow(clippy::disallowed_methods)]
        sqlx::query(AssertSqlSafe(query.clone()))
            .bind(i64::MAX)
            .bind(1i64)
            .fetch_optional(&pool)
            .await
            .with_context(|| {
                format!(
                    "no table {} with columns {} and {} in {} (see --table, --username-column, --password-column)",
                    spec.table,
                    spec.username_column,
                    spec.password_column,
                    path.display()
                )
            })?;
        Ok(Self {
            pool,
            query,
            after: 0,
        })
    }
}

#[async_trait]
impl Source for FlaskSqliteSource {
    async fn rewind(&mut self) -> anyhow::Result<()> {
        self.after = 0;
        Ok(())
    }

    async fn next_batch(&mut self, max: usize) -> anyhow::Result<Vec<SourceRecord>> {
        let rows: Vec<(i64, Option<String>, Option<String>)> =
            sqlx::query_as(AssertSqlSafe(self.query.clone()))
                .bind(self.after)
                .bind(i64::try_from(max).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
        if let Some((last, _, _)) = rows.last() {
            self.after = *last;
        }
        Ok(rows
            .into_iter()
            .map(|(row, username, hash)| SourceRecord {
                row: u64::try_from(row).unwrap_or(0),
                username,
                hash,
            })
            .collect())
    }
}

/// CSV with a header row naming the username and hash columns.
pub struct CsvSource {
    path: PathBuf,
    columns: (String, String),
    reader: Option<(csv::Reader<File>, usize, usize)>,
    line: u64,
}

impl CsvSource {
    /// Opens a CSV file with a header row naming the two columns.
    pub fn open(path: &Path, username_column: &str, hash_column: &str) -> anyhow::Result<Self> {
        let mut source = Self {
            path: path.to_path_buf(),
            columns: (username_column.into(), hash_column.into()),
            reader: None,
            line: 0,
        };
        source.reopen()?;
        Ok(source)
    }

    fn reopen(&mut self) -> anyhow::Result<()> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(&self.path)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        let headers = reader.headers()?.clone();
        let find = |name: &str| {
            headers.iter().position(|h| h == name).with_context(|| {
                format!(
                    "{} has no column {name:?} in its header",
                    self.path.display()
                )
            })
        };
        let (u, h) = (find(&self.columns.0)?, find(&self.columns.1)?);
        self.reader = Some((reader, u, h));
        self.line = 1;
        Ok(())
    }
}

#[async_trait]
impl Source for CsvSource {
    async fn rewind(&mut self) -> anyhow::Result<()> {
        self.reopen()
    }

    async fn next_batch(&mut self, max: usize) -> anyhow::Result<Vec<SourceRecord>> {
        let Some((reader, u, h)) = self.reader.as_mut() else {
            return Ok(Vec::new());
        };
        let mut batch = Vec::new();
        let mut record = csv::StringRecord::new();
        while batch.len() < max && reader.read_record(&mut record)? {
            self.line += 1;
            batch.push(SourceRecord {
                row: self.line,
                username: record.get(*u).map(str::to_owned),
                hash: record.get(*h).map(str::to_owned),
            });
        }
        Ok(batch)
    }
}

/// One JSON object per line, with string fields for the username and the hash.
pub struct JsonLinesSource {
    path: PathBuf,
    fields: (String, String),
    lines: Option<std::io::Lines<BufReader<File>>>,
    line: u64,
}

impl JsonLinesSource {
    /// Opens a JSON Lines file, one object per user.
    pub fn open(path: &Path, username_field: &str, hash_field: &str) -> anyhow::Result<Self> {
        let mut source = Self {
            path: path.to_path_buf(),
            fields: (username_field.into(), hash_field.into()),
            lines: None,
            line: 0,
        };
        source.reopen()?;
        Ok(source)
    }

    fn reopen(&mut self) -> anyhow::Result<()> {
        let file = File::open(&self.path)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        self.lines = Some(BufReader::new(file).lines());
        self.line = 0;
        Ok(())
    }
}

#[async_trait]
impl Source for JsonLinesSource {
    async fn rewind(&mut self) -> anyhow::Result<()> {
        self.reopen()
    }

    async fn next_batch(&mut self, max: usize) -> anyhow::Result<Vec<SourceRecord>> {
        let Some(lines) = self.lines.as_mut() else {
            return Ok(Vec::new());
        };
        let mut batch = Vec::new();
        while batch.len() < max {
            let Some(line) = lines.next() else { break };
            self.line += 1;
            let line = line.with_context(|| format!("reading line {}", self.line))?;
            if line.trim().is_empty() {
                continue;
            }
            // A line that is not an object is reported as a user without a name, not
            // a reason to stop the whole import.
            let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
            batch.push(SourceRecord {
                row: self.line,
                username: field(&self.fields.0),
                hash: field(&self.fields.1),
            });
        }
        Ok(batch)
    }
}
