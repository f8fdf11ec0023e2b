//! Administration commands: `tessera user …`, `tessera sessions …`, `tessera check-config`.
//! They open the same database as the server and are safe to run while it serves.

pub mod import;
mod key_commands;
mod output;

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;
use tessera::Tessera;

pub use key_commands::{KeysCommand, run_keys};
pub use output::Format;
use output::print_rows;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from a prompt, or from standard input.
    Add { name: String },
    /// List users.
    List,
    /// Disable a user: no more logins or refreshes, and every session ends at once.
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// Set a new password (read like `add`); every session of the user ends.
    SetPassword { name: String },
    /// Delete a user and all their sessions.
    Delete { name: String },
}

#[derive(Subcommand)]
pub enum SessionsCommand {
    /// List live sessions, of everyone or of one user.
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// End one session by id, or every session of a user.
    Revoke {
        /// The session id (as `sessions list` shows it).
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        id: Option<String>,
        #[arg(long)]
        user: Option<String>,
    },
}

/// Reads a password without echo on a terminal (twice, to catch typos), or one line of
/// standard input otherwise. Never from an argument: arguments show up in `ps` and shell history.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Password again: ")?;
        anyhow::ensure!(first == second, "the passwords differ");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

pub async fn run_user(
    tessera: &Tessera,
    command: UserCommand,
    format: Format,
) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { name } => {
            let user = tessera.admin_add_user(name, read_password()?).await?;
            format.done(
                &serde_json::json!({ "created": { "id": user.id, "username": user.username } }),
                || format!("created user {} (id {})", user.username, user.id),
            );
        }
        UserCommand::List => {
            let users = tessera.admin_list_users().await?;
            print_rows(
                format,
                &users,
                &["id", "username", "created_at", "disabled"],
            );
        }
        UserCommand::Disable { name } => {
            let ended = tessera.admin_set_disabled(&name, true).await?;
            format.done(
                &serde_json::json!({ "disabled": name, "ended_sessions": ended }),
                || format!("disabled {name}; ended {ended} session(s)"),
            );
        }
        UserCommand::Enable { name } => {
            tessera.admin_set_disabled(&name, false).await?;
            format.done(&serde_json::json!({ "enabled": name }), || {
                format!("enabled {name}")
            });
        }
        UserCommand::SetPassword { name } => {
            let ended = tessera.admin_set_password(&name, read_password()?).await?;
            format.done(
                &serde_json::json!({ "password_set": name, "ended_sessions": ended }),
                || format!("set the password of {name}; ended {ended} session(s)"),
            );
        }
        UserCommand::Delete { name } => {
            tessera.admin_delete_user(&name).await?;
            format.done(&serde_json::json!({ "deleted": name }), || {
                format!("deleted {name}")
            });
        }
    }
    Ok(())
}

pub async fn run_sessions(
    tessera: &Tessera,
    command: SessionsCommand,
    format: Format,
) -> anyhow::Result<()> {
    match command {
        SessionsCommand::List { user } => {
            let sessions = tessera.admin_list_sessions(user.as_deref()).await?;
            print_rows(
                format,
                &sessions,
                &[
                    "id",
                    "username",
                    "created_at",
                    "last_used_at",
                    "expires_at",
                    "ip",
                    "user_agent",
                ],
            );
        }
        SessionsCommand::Revoke { id: Some(id), .. } => {
            tessera.admin_revoke_session(&id).await?;
            format.done(&serde_json::json!({ "revoked": [id] }), || {
                format!("revoked session {id}")
            });
        }
        SessionsCommand::Revoke {
            user: Some(name), ..
        } => {
            let ended = tessera.admin_revoke_user_sessions(&name).await?;
            format.done(
                &serde_json::json!({ "user": name, "ended_sessions": ended }),
                || format!("ended {ended} session(s) of {name}"),
            );
        }
        SessionsCommand::Revoke { .. } => anyhow::bail!("give a session id or --user NAME"),
    }
    Ok(())
}

/// Validates the configuration, the signing secret and the database connection, and prints
/// the effective settings (secrets redacted). Changes nothing.
pub async fn check_config(config: &tessera::Config, format: Format) -> anyhow::Result<()> {
    let mut problems: Vec<String> = Vec::new();
    if let Err(e) = config.validate() {
        problems.push(e.to_string());
    }
    if let Some(secret) = &config.jwt_secret_key
        && let Err(e) = tessera::tokens::key_files::check_hs256_secret(secret)
    {
        problems.push(e.to_string());
    }
    let url = config.effective_database_url();
    let redacted_url = tessera::service::redact_url(&url);
    let timeout = std::time::Duration::from_secs(config.db_connect_timeout_secs);
    let sqlite_file = url
        .strip_prefix("sqlite://")
        .filter(|path| !path.contains(":memory:"));
    // Checking must not create anything: a SQLite file that does not exist yet is fine.
    let database = if sqlite_file.is_some_and(|path| !std::path::Path::new(path).exists()) {
        "reachable".to_owned()
    } else {
        match tessera::store::connect(&url, 1, timeout).await {
            Ok(store) => match store.ping().await {
                Ok(()) => "reachable".to_owned(),
                Err(e) => format!("unreachable: {e}"),
            },
            Err(e) => format!("cannot be opened: {e}"),
        }
    };
    if database != "reachable" {
        problems.push(format!("database {redacted_url} {database}"));
    }
    let mut settings = serde_json::to_value(config)?;
    settings["database_url"] = serde_json::Value::String(redacted_url);
    settings["jwt_secret_key"] = serde_json::Value::String(
        if config.jwt_secret_key.is_some() {
            "[configured]"
        } else {
            "[generated in the data directory]"
        }
        .into(),
    );
    let report = serde_json::json!({ "ok": problems.is_empty(), "problems": problems, "settings": settings });
    format.done(&report, || {
        let mut text = serde_json::to_string_pretty(&report["settings"]).unwrap_or_default();
        if problems.is_empty() {
            text.push_str("\nconfiguration OK; database reachable");
        } else {
            for problem in &problems {
                text.push_str(&format!("\nproblem: {problem}"));
            }
        }
        text
    });
    anyhow::ensure!(
        problems.is_empty(),
        "the configuration has {} problem(s)",
        problems.len()
    );
    Ok(())
}

/// Where the data lives: the same flags for `serve` and every administration command.
#[derive(clap::Args, Default)]
pub struct StorageArgs {
    /// Data directory for the SQLite database and generated keys [default: ./tessera-data].
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Database URL (sqlite://… or postgres://…) [default: tessera.db in the data directory].
    #[arg(long)]
    database_url: Option<String>,
}

impl StorageArgs {
    pub fn apply(self, config: &mut tessera::Config) {
        if let Some(dir) = self.data_dir {
            config.data_dir = dir;
        }
        if let Some(url) = self.database_url {
            config.database_url = Some(url);
        }
    }
}
