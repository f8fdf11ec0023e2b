//! The `tessera` command line: its arguments (clap) and what each command does. The
//! binary only parses and calls [`run`]. Administration commands open the deployment with
//! [`Tessera::open_for_admin`], which creates nothing.

mod admin;
mod check_config;
mod client_commands;
mod import;
mod key_commands;
mod output;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};
use crate::{Application, Tessera};
use output::Format;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Token-based authentication and session management"
)]
pub struct Cli {
    /// TOML configuration file (layered: defaults < file < TESSERA_* environment < flags).
    #[arg(long, global = true, env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    /// Log format: auto (pretty on a terminal, JSON otherwise), pretty or json.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    /// Administration output as JSON (for scripts) instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    storage: StorageArgs,
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
    Migrate,
    /// Import users and their password hashes from another system (see the README's
    /// "Moving from Flask-JWT-Extended"). Safe to repeat and to run while servers run.
    #[command(subcommand)]
    Import(import::ImportSource),
    /// Measure one Argon2id hash at the configured parameters (for capacity planning).
    Calibrate,
    /// Manage users (safe while the server runs).
    #[command(subcommand)]
    User(admin::UserCommand),
    /// List and end sessions (safe while the server runs).
    #[command(subcommand)]
    Sessions(admin::SessionsCommand),
    /// Manage the signing-key ring: generate, rotate, list (safe while the server runs).
    #[command(subcommand)]
    Keys(key_commands::KeysCommand),
    /// Manage service clients for /introspect, /revoke and /revocations (safe while the
    /// server runs).
    #[command(subcommand)]
    Clients(client_commands::ClientsCommand),
    /// Check the configuration, keys and database without starting the server.
    CheckConfig,
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));
    if let Command::Secret = command {
        println!("{}", crate::secret::generate_token_urlsafe());
        return Ok(());
    }
    let mut config = Config::load(cli.config.as_deref())?;
    cli.storage.apply(&mut config);
    if let Some(format) = cli.log_format {
        config.log_format = format;
    }
    crate::telemetry::init(config.log_format, &config.log_level);
    for var in Config::unknown_env_vars() {
        tracing::warn!(variable = %var, "environment variable names no tessera setting; ignored");
    }
    let format = if cli.json {
        Format::Json
    } else {
        Format::Table
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match command {
        Command::Serve(args) => {
            if let Some(listen) = args.listen {
                config.listen = listen;
            }
            runtime.block_on(async { Application::build(config).await?.run_until_stopped().await })
        }
        Command::Migrate => runtime.block_on(async {
            Tessera::open(config).await?;
            println!("migrations applied");
            Ok(())
        }),
        Command::Import(source) => runtime.block_on(import::run(source, config)),
        Command::Calibrate => {
            let ms = crate::password::calibrate(config.argon2)?;
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            println!(
                "{}",
                serde_json::json!({ "argon2_ms": ms, "cores": cores, "hash_workers": config.effective_hash_workers() })
            );
            Ok(())
        }
        Command::User(command) => run_admin(&runtime, config, Admin::User(command), format),
        Command::Sessions(command) => run_admin(&runtime, config, Admin::Sessions(command), format),
        Command::Keys(command) => run_admin(&runtime, config, Admin::Keys(command), format),
        Command::Clients(command) => run_admin(&runtime, config, Admin::Clients(command), format),
        Command::CheckConfig => runtime.block_on(check_config::check_config(&config, format)),
        Command::Secret => Ok(()),
    }
}

/// The administration commands: each opens the deployment for administration (which
/// creates nothing) and works on it like a running server would.
enum Admin {
    User(admin::UserCommand),
    Sessions(admin::SessionsCommand),
    Keys(key_commands::KeysCommand),
    Clients(client_commands::ClientsCommand),
}

fn run_admin(
    runtime: &tokio::runtime::Runtime,
    config: Config,
    command: Admin,
    format: Format,
) -> anyhow::Result<()> {
    runtime.block_on(async {
        let tessera = Tessera::open_for_admin(config).await?;
        match command {
            Admin::User(command) => admin::run_user(&tessera, command, format).await,
            Admin::Sessions(command) => admin::run_sessions(&tessera, command, format).await,
            Admin::Keys(command) => key_commands::run_keys(&tessera, command, format).await,
            Admin::Clients(command) => {
                client_commands::run_clients(&tessera, command, format).await
            }
        }
    })
}

/// Where the data lives: the same flags for every command, accepted anywhere on the
/// command line (`tessera --data-dir D user list`, `tessera user list --data-dir D`).
#[derive(clap::Args, Default)]
pub struct StorageArgs {
    /// Data directory for the SQLite database and generated keys [default: ./tessera-data].
    #[arg(long, global = true)]
    data_dir: Option<std::path::PathBuf>,
    /// Database URL (sqlite://… or postgres://…) [default: tessera.db in the data directory].
    #[arg(long, global = true)]
    database_url: Option<String>,
}

impl StorageArgs {
    pub fn apply(self, config: &mut crate::Config) {
        if let Some(dir) = self.data_dir {
            config.data_dir = dir;
        }
        if let Some(url) = self.database_url {
            config.database_url = Some(url);
        }
    }
}
