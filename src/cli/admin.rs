//! `tessera user …` and `tessera sessions …`: the same operations on the same database as
//! a running server, safe to run while it serves.

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;

use super::output::{Format, print_rows};
use crate::Tessera;

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
    /// Remove a user's second factor and recovery codes (a lost phone); every session of
    /// the user ends, and the next login needs the password only.
    MfaReset { name: String },
    /// Print a single-use password-reset link (lifetime `email.reset_ttl_secs`) for a user,
    /// for deployments without mail; it starts with `email.public_url` when set.
    ResetLink { name: String },
    /// Reserve a name: nobody can register it (e.g. a Flask user not yet imported).
    Reserve { name: String },
    /// Lift a reservation (made by `reserve` or `import --reserve-skipped`), once its
    /// owner is known: then register or import the user.
    Release { name: String },
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
        #[arg(required_unless_present_any = ["user", "all"], conflicts_with_all = ["user", "all"])]
        id: Option<String>,
        #[arg(long, conflicts_with = "all")]
        user: Option<String>,
        /// Every session of every user (after a key or database leak): everyone logs in again.
        #[arg(long)]
        all: bool,
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
        UserCommand::MfaReset { name } => {
            let ended = tessera.admin_reset_mfa(&name).await?;
            format.done(
                &serde_json::json!({ "mfa_reset": name, "ended_sessions": ended }),
                || format!("removed the second factor of {name}; ended {ended} session(s)"),
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
        UserCommand::ResetLink { name } => {
            let link = tessera.admin_reset_link(&name).await?;
            format.done(&serde_json::json!({ "reset_link": link }), || link.clone());
        }
        UserCommand::Reserve { name } => {
            let reserved = tessera.admin_reserve_name(&name).await?;
            format.done(
                &serde_json::json!({ "reserved": name, "newly": reserved }),
                || match reserved {
                    true => format!("reserved {name}"),
                    false => format!("{name} was already reserved"),
                },
            );
        }
        UserCommand::Release { name } => {
            if !tessera.admin_release_name(&name).await? {
                anyhow::bail!("{name} is not reserved");
            }
            format.done(&serde_json::json!({ "released": name }), || {
                format!("released {name}: it can be registered or imported now")
            });
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
        SessionsCommand::Revoke { all: true, .. } => {
            let ended = tessera.admin_revoke_all_sessions().await?;
            format.done(&serde_json::json!({ "ended_sessions": ended }), || {
                format!("ended {ended} session(s) of all users")
            });
        }
        SessionsCommand::Revoke { .. } => {
            anyhow::bail!("give a session id, --user NAME or --all")
        }
    }
    Ok(())
}
