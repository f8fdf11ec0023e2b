//! `tessera import`: users and their password hashes from another system (see the
//! README's "Moving from Flask-JWT-Extended"). Safe to repeat and to run while servers run.

use std::path::PathBuf;

use crate::Config;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ImportSource {
    /// The Flask seed's SQLite database (`instance/users.db`, table `user`).
    FlaskSqlite {
        path: PathBuf,
        #[arg(long, default_value = "user")]
        table: String,
        #[arg(long, default_value = "username")]
        username_column: String,
        #[arg(long, default_value = "password")]
        password_column: String,
        #[command(flatten)]
        common: ImportArgs,
    },
    /// A CSV file with a header row (columns `username` and `hash` by default).
    Csv {
        path: PathBuf,
        #[arg(long, default_value = "username")]
        username_column: String,
        #[arg(long, default_value = "hash")]
        hash_column: String,
        #[command(flatten)]
        common: ImportArgs,
    },
    /// A JSON Lines file, one object per user (fields `username` and `hash` by default).
    Jsonl {
        path: PathBuf,
        #[arg(long, default_value = "username")]
        username_field: String,
        #[arg(long, default_value = "hash")]
        hash_field: String,
        #[command(flatten)]
        common: ImportArgs,
    },
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Say what would be imported; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Users per transaction.
    #[arg(long, default_value_t = 5000)]
    batch_size: usize,
    /// Where to write the users not imported and why [default:
    /// tessera-import-report-TIME.csv in the current directory].
    #[arg(long)]
    report: Option<PathBuf>,
    /// Reserve the names that could not be imported (conflicts within the source,
    /// unusable hashes): nobody can register them on tessera until `tessera user release
    /// NAME`.
    #[arg(long)]
    reserve_skipped: bool,
}

pub async fn run(source: ImportSource, config: Config) -> anyhow::Result<()> {
    use crate::import::{self, CsvSource, FlaskSqliteSource, JsonLinesSource, TableSpec};
    use std::io::IsTerminal;

    let started = std::time::Instant::now();
    let (mut source, common): (Box<dyn import::Source>, ImportArgs) = match source {
        ImportSource::FlaskSqlite {
            path,
            table,
            username_column,
            password_column,
            common,
        } => {
            let spec = TableSpec {
                table,
                username_column,
                password_column,
            };
            (
                Box::new(FlaskSqliteSource::open(&path, &spec).await?),
                common,
            )
        }
        ImportSource::Csv {
            path,
            username_column,
            hash_column,
            common,
        } => (
            Box::new(CsvSource::open(&path, &username_column, &hash_column)?),
            common,
        ),
        ImportSource::Jsonl {
            path,
            username_field,
            hash_field,
            common,
        } => (
            Box::new(JsonLinesSource::open(&path, &username_field, &hash_field)?),
            common,
        ),
    };
    let target = import::ImportTarget::open(&config).await?;
    let report_path = common.report.unwrap_or_else(|| {
        PathBuf::from(format!(
            "tessera-import-report-{}.csv",
            crate::tokens::now_unix()
        ))
    });
    let options = import::ImportOptions {
        dry_run: common.dry_run,
        batch_size: common.batch_size,
        report_path,
        progress: std::io::stderr().is_terminal(),
        reserve_skipped: common.reserve_skipped,
    };
    let summary = import::run(&target, source.as_mut(), &options).await?;
    let verb = if summary.dry_run {
        "dry run: would import"
    } else {
        "imported"
    };
    println!(
        "{verb} {} of {} users in {:.1} s; {} already present, {} conflicts, \
         {} with a different password, {} invalid",
        summary.imported,
        summary.read,
        started.elapsed().as_secs_f64(),
        summary.already_present,
        summary.conflicts,
        summary.different_password,
        summary.invalid
    );
    if common.reserve_skipped {
        let verb = if summary.dry_run {
            "would reserve"
        } else {
            "reserved"
        };
        println!(
            "{verb} {} names that were not imported; nobody can register them until \
             `tessera user release NAME`",
            summary.reserved
        );
    }
    if summary.different_password > 0 {
        println!(
            "note: accounts with exactly an imported name but another password were left \
             alone (conflict_different_password in the report): check who owns each"
        );
    }
    let formats: Vec<String> = summary
        .formats
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    if !formats.is_empty() {
        println!("hash formats: {}", formats.join(", "));
    }
    if summary.formats.contains_key("werkzeug-weak") && !config.allow_weak_legacy_hashes {
        println!(
            "note: weak legacy hashes (sha1$/sha256$/plain$) verify only with allow_weak_legacy_hashes = true"
        );
    }
    match &summary.report_path {
        Some(path) => println!("users not imported, and why: {}", path.display()),
        None => println!("every user was imported or already present"),
    }
    Ok(())
}
