//! The `tessera` command: a thin layer that parses arguments and calls the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

mod cli;

use clap::{Parser, Subcommand};
use tessera::config::{Config, LogFormat};
use tessera::{Application, Tessera};

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Token-based authentication and session management"
)]
struct Cli {
    /// TOML configuration file (layered: defaults < file < TESSERA_* environment < flags).
    #[arg(long, global = true, env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    /// Log format: auto (pretty on a terminal, JSON otherwise), pretty or json.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    /// Administration output as JSON (for scripts) instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default command).
    Serve(ServeArgs),
    /// Print a fresh random secret suitable for JWT_SECRET_KEY.
    Secret,
    /// Apply database migrations and exit.
    Migrate(StorageArgs),
    /// Import users and their password hashes from another system (see the README's
    /// "Moving from Flask-JWT-Extended"). Safe to repeat and to run while servers run.
    #[command(subcommand)]
    Import(ImportSource),
    /// Measure one Argon2id hash at the configured parameters (for capacity planning).
    Calibrate,
    /// Manage users (safe while the server runs).
    User(AdminArgs<cli::UserCommand>),
    /// List and end sessions (safe while the server runs).
    Sessions(AdminArgs<cli::SessionsCommand>),
    /// Manage the signing-key ring: generate, rotate, list (safe while the server runs).
    Keys(AdminArgs<cli::KeysCommand>),
    /// Check the configuration, keys and database without starting the server.
    CheckConfig(StorageArgs),
}

#[derive(clap::Args)]
struct AdminArgs<C: Subcommand> {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(subcommand)]
    command: C,
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(Subcommand)]
enum ImportSource {
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
struct ImportArgs {
    /// Say what would be imported; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Users per transaction.
    #[arg(long, default_value_t = 5000)]
    batch_size: usize,
    /// Where to write the users not imported and why [default:
    /// tessera-import-report-<time>.csv in the current directory].
    #[arg(long)]
    report: Option<PathBuf>,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(clap::Args, Default)]
struct StorageArgs {
    /// Data directory for the SQLite database and generated keys [default: ./tessera-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Database URL (sqlite://…) [default: tessera.db in the data directory].
    #[arg(long)]
    database_url: Option<String>,
}

impl StorageArgs {
    fn apply(self, config: &mut Config) {
        if let Some(dir) = self.data_dir {
            config.data_dir = dir;
        }
        if let Some(url) = self.database_url {
            config.database_url = Some(url);
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));
    if let Command::Secret = command {
        println!("{}", tessera::secret::generate_token_urlsafe());
        return Ok(());
    }
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(format) = cli.log_format {
        config.log_format = format;
    }
    tessera::telemetry::init(config.log_format, &config.log_level);
    for var in Config::unknown_env_vars() {
        tracing::warn!(variable = %var, "environment variable names no tessera setting; ignored");
    }
    let format = if cli.json {
        cli::Format::Json
    } else {
        cli::Format::Table
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match command {
        Command::Serve(args) => {
            if let Some(listen) = args.listen {
                config.listen = listen;
            }
            args.storage.apply(&mut config);
            runtime.block_on(async { Application::build(config).await?.run_until_stopped().await })
        }
        Command::Migrate(args) => {
            args.apply(&mut config);
            runtime.block_on(async {
                Tessera::open(config).await?;
                println!("migrations applied");
                Ok(())
            })
        }
        Command::Import(source) => runtime.block_on(import(source, config)),
        Command::Calibrate => {
            let ms = tessera::password::calibrate(config.argon2)?;
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            println!(
                "{}",
                serde_json::json!({ "argon2_ms": ms, "cores": cores, "hash_workers": config.effective_hash_workers() })
            );
            Ok(())
        }
        Command::User(args) => {
            args.storage.apply(&mut config);
            runtime.block_on(async {
                let tessera = Tessera::open(config).await?;
                cli::run_user(&tessera, args.command, format).await
            })
        }
        Command::Sessions(args) => {
            args.storage.apply(&mut config);
            runtime.block_on(async {
                let tessera = Tessera::open(config).await?;
                cli::run_sessions(&tessera, args.command, format).await
            })
        }
        Command::Keys(args) => {
            args.storage.apply(&mut config);
            runtime.block_on(async {
                let tessera = Tessera::open(config).await?;
                cli::run_keys(&tessera, args.command, format).await
            })
        }
        Command::CheckConfig(args) => {
            args.apply(&mut config);
            runtime.block_on(cli::check_config(&config, format))
        }
        Command::Secret => Ok(()),
    }
}

async fn import(source: ImportSource, mut config: Config) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    use tessera::import::{self, CsvSource, FlaskSqliteSource, JsonLinesSource, TableSpec};

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
    common.storage.apply(&mut config);
    let store = import::open_store(&config).await?;
    let report_path = common.report.unwrap_or_else(|| {
        PathBuf::from(format!(
            "tessera-import-report-{}.csv",
            tessera::tokens::now_unix()
        ))
    });
    let options = import::ImportOptions {
        dry_run: common.dry_run,
        batch_size: common.batch_size,
        report_path,
        progress: std::io::stderr().is_terminal(),
    };
    let summary = import::run(store.as_ref(), source.as_mut(), &options).await?;
    let verb = if summary.dry_run {
        "dry run: would import"
    } else {
        "imported"
    };
    println!(
        "{verb} {} of {} users in {:.1} s; {} already present, {} conflicts, {} invalid",
        summary.imported,
        summary.read,
        started.elapsed().as_secs_f64(),
        summary.already_present,
        summary.conflicts,
        summary.invalid
    );
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
