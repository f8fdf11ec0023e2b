//! `tessera import`: users and their password hashes from another system (the Flask
//! seed's SQLite database, CSV, JSON Lines). Legacy hashes are stored wrapped in Argon2id
//! (`wrap.rs`, [`crate::legacy_hash::wrapped`]): they verify as argon2id(legacy(password))
//! and become plain Argon2id at each user's next login.
//!
//! Two passes over the source, so memory stays small for millions of users: the first
//! counts canonical names (to find names the source holds twice, like `Alice` and
//! `alice`, which tessera treats as one), the second imports in batches, each one
//! transaction. Existing users are never changed, so a second run imports nobody twice
//! and it is safe while servers run on the same database. Everything not imported is
//! written to the report file (reason, source row, username — never a hash).

mod checks;
mod report;
mod sources;
mod wrap;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use anyhow::Context;
use async_trait::async_trait;

use checks::{accept, account, dry_run_batch, incoming};
use report::Report;
pub use sources::{CsvSource, FlaskSqliteSource, JsonLinesSource, TableSpec};

use crate::domain::{ImportMatch, Username, decide_import_match};
use crate::legacy_hash;
use crate::store::{ExistingUser, ReservedName, Store};
use crate::tokens::now_unix;

/// One user as the source has it.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    /// Position in the source (row id, or line number), for the report.
    pub row: u64,
    /// The name as the source has it (`None`: missing).
    pub username: Option<String>,
    /// The password hash as the source has it (`None`: missing).
    pub hash: Option<String>,
}

/// A source of users, read twice (see the module documentation).
#[async_trait]
pub trait Source: Send {
    /// Starts (again) from the first record.
    async fn rewind(&mut self) -> anyhow::Result<()>;
    /// Up to `max` records; empty at the end.
    async fn next_batch(&mut self, max: usize) -> anyhow::Result<Vec<SourceRecord>>;
}

/// How an import runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Only report what would happen; write nothing to the database.
    pub dry_run: bool,
    /// Users per transaction.
    pub batch_size: usize,
    /// Where the report of users not imported goes.
    pub report_path: PathBuf,
    /// Show a progress bar (only drawn on a terminal).
    pub progress: bool,
    /// Reserve the names of users that could not be imported (`conflict_in_source`,
    /// `unusable_hash`), so nobody can register them on tessera until an operator
    /// releases them (`tessera user release NAME`).
    pub reserve_skipped: bool,
}

/// Totals of a run. `formats` counts the hash families imported (or, in a dry run, that
/// would be).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportSummary {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Records read from the source.
    pub read: u64,
    /// Users inserted.
    pub imported: u64,
    /// Users already there under exactly this name (an earlier run).
    pub already_present: u64,
    /// Names whose canonical form another account holds (left untouched, listed in the report).
    pub conflicts: u64,
    /// Accounts with exactly the imported name but not its password (registered on
    /// tessera meanwhile, or the password changed on the source since the last import).
    pub different_password: u64,
    /// Records refused: bad name or unusable hash (listed in the report).
    pub invalid: u64,
    /// Names reserved (or, in a dry run, that would be) with `reserve_skipped`.
    pub reserved: u64,
    /// Imported hashes by format (werkzeug pbkdf2, scrypt, bcrypt, …).
    pub formats: BTreeMap<&'static str, u64>,
    /// The report file, if anything was worth reporting.
    pub report_path: Option<PathBuf>,
}

/// The database an import writes to: opened on its own by [`ImportTarget::open`] (as
/// `tessera import` does), or the one a running [`Tessera`](crate::Tessera) uses.
#[derive(Clone)]
pub struct ImportTarget {
    store: std::sync::Arc<dyn Store>,
    /// The Argon2id parameters legacy hashes are wrapped with (the deployment's).
    argon2: crate::config::Argon2Config,
}

impl ImportTarget {
    /// Opens (and migrates) the database `config` names, as `serve` would, without
    /// touching keys: an import needs only the users table.
    pub async fn open(config: &crate::config::Config) -> anyhow::Result<Self> {
        Ok(Self {
            store: open_store(config).await?,
            argon2: config.argon2,
        })
    }
}

impl From<&crate::Tessera> for ImportTarget {
    fn from(tessera: &crate::Tessera) -> Self {
        Self {
            store: tessera.store().clone(),
            argon2: tessera.config().argon2,
        }
    }
}

/// Imports every user of `source` into `target` (or, with `dry_run`, only says what would
/// happen: nothing is written to the database).
pub async fn run(
    target: &ImportTarget,
    source: &mut dyn Source,
    options: &ImportOptions,
) -> anyhow::Result<ImportSummary> {
    let store = target.store.as_ref();
    let batch_size = options.batch_size.max(1);
    // Pass 1: how often each canonical name occurs.
    let mut names: HashMap<String, u32> = HashMap::new();
    let mut total = 0u64;
    source.rewind().await?;
    loop {
        let batch = source.next_batch(batch_size).await?;
        if batch.is_empty() {
            break;
        }
        total += batch.len() as u64;
        for record in &batch {
            if let Some(name) = &record.username {
                let canonical = Username::from_stored(name.clone()).canonical().to_owned();
                *names.entry(canonical).or_default() += 1;
            }
        }
    }

    let progress = if options.progress {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} users  {per_sec}  eta {eta}  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );

    // Pass 2: validate and import.
    let mut report = Report::new(&options.report_path);
    // Canonical names reserved in this run: a name the source holds twice is reserved once.
    let mut reserved: HashSet<String> = HashSet::new();
    let mut summary = ImportSummary {
        dry_run: options.dry_run,
        ..ImportSummary::default()
    };
    source.rewind().await?;
    loop {
        let batch = source.next_batch(batch_size).await?;
        if batch.is_empty() {
            break;
        }
        summary.read += batch.len() as u64;
        let mut users = Vec::with_capacity(batch.len());
        let mut rows = HashMap::with_capacity(batch.len());
        let mut to_reserve = Vec::new();
        for record in batch {
            let row = record.row;
            let reserve = options.reserve_skipped.then_some(&mut to_reserve);
            if let Some(user) = accept(record, &names, &mut report, &mut summary, reserve)? {
                rows.insert(user.username.clone(), row);
                users.push(user);
            }
        }
        to_reserve.retain(|r: &ReservedName| reserved.insert(r.username_canonical.clone()));
        summary.reserved += if options.dry_run || to_reserve.is_empty() {
            to_reserve.len() as u64
        } else {
            store
                .reserve_names(&to_reserve, now_unix())
                .await
                .context("reserving the names not imported")?
        };
        let outcome = if options.dry_run {
            dry_run_batch(store, &users).await?
        } else {
            wrap::import_wrapped(store, &users, target.argon2).await?
        };
        summary.imported += outcome.inserted;
        let existing: HashMap<&str, &ExistingUser> = outcome
            .existing
            .iter()
            .map(|e| (e.username_canonical.as_str(), e))
            .collect();
        for user in &users {
            let row = rows.get(&user.username).copied().unwrap_or(0);
            let found = existing.get(user.username_canonical.as_str());
            match decide_import_match(&incoming(user), found.map(|e| account(e)).as_ref()) {
                ImportMatch::Free => {
                    if let Ok(format) = legacy_hash::classify(&user.password_hash) {
                        *summary.formats.entry(format.name()).or_default() += 1;
                    }
                }
                ImportMatch::AlreadyPresent => summary.already_present += 1,
                ImportMatch::NameTaken => {
                    summary.conflicts += 1;
                    let existing = found.map_or("", |e| e.username.as_str());
                    report.add("conflict_with_existing_user", row, &user.username, existing)?;
                }
                ImportMatch::DifferentPassword => {
                    summary.different_password += 1;
                    report.add(
                        "conflict_different_password",
                        row,
                        &user.username,
                        "a tessera account has this exact name but another password; neither side was changed",
                    )?;
                }
            }
        }
        progress.inc(users.len() as u64);
        progress.set_position(summary.read);
    }
    progress.finish_and_clear();
    summary.report_path = report.finish()?;
    Ok(summary)
}

async fn open_store(config: &crate::config::Config) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    crate::data_dir::prepare(config)?;
    let url = config.effective_database_url();
    let timeout = std::time::Duration::from_secs(config.db_connect_timeout_secs.max(5));
    let store = crate::store::connect_with(&url, 2, timeout, config.sqlite_synchronous)
        .await
        .context("cannot open the database")?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    Ok(store)
}
