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
    Migrate(cli::StorageArgs),
    /// Import users and their password hashes from another system (see the README's
    /// "Moving from Flask-JWT-Extended"). Safe to repeat and to run while servers run.
    #[command(subcommand)]
    Import(cli::import::ImportSource),
    /// Measure one Argon2id hash at the configured parameters (for capacity planning).
    Calibrate,
    /// Manage users (safe while the server runs).
    User(AdminArgs<cli::UserCommand>),
    /// List and end sessions (safe while the server runs).
    Sessions(AdminArgs<cli::SessionsCommand>),
    /// Manage the signing-key ring: generate, rotate, list (safe while the server runs).
    Keys(AdminArgs<cli::KeysCommand>),
    /// Check the configuration, keys and database without starting the server.
    CheckConfig(cli::StorageArgs),
}

#[derive(clap::Args)]
struct AdminArgs<C: Subcommand> {
    #[command(flatten)]
    storage: cli::StorageArgs,
    #[command(subcommand)]
    command: C,
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    storage: cli::StorageArgs,
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
        Command::Import(source) => runtime.block_on(cli::import::run(source, config)),
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
