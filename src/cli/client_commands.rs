//! `tessera clients …`: the service clients that call `/introspect`, `/revoke` and
//! `/revocations` (safe while the server runs).

use clap::Subcommand;

use super::output::{Format, print_rows};
use crate::Tessera;

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Create a service client; prints its id and secret (the secret only this once).
    Add { name: String },
    /// List service clients (never their secrets).
    List,
    /// Remove a service client: its secret stops working (on other instances within 10 s).
    Remove { client_id: String },
    /// Give a client a new secret, printed once; the old one stops working.
    RotateSecret { client_id: String },
}

pub async fn run_clients(
    tessera: &Tessera,
    command: ClientsCommand,
    format: Format,
) -> anyhow::Result<()> {
    match command {
        ClientsCommand::Add { name } => {
            let created = tessera.admin_add_client(&name).await?;
            format.done(&serde_json::json!(created), || {
                format!(
                    "created service client {} ({})\nclient_id:     {}\nclient_secret: {}\n\
                     The secret is shown only now; keep it in the service's secret store.",
                    created.name, created.client_id, created.client_id, created.client_secret
                )
            });
        }
        ClientsCommand::List => {
            let clients = tessera.admin_list_clients().await?;
            print_rows(
                format,
                &clients,
                &["client_id", "name", "created_at", "disabled"],
            );
        }
        ClientsCommand::Remove { client_id } => {
            if !tessera.admin_remove_client(&client_id).await? {
                anyhow::bail!("no service client {client_id}");
            }
            format.done(&serde_json::json!({ "removed": client_id }), || {
                format!("removed service client {client_id}")
            });
        }
        ClientsCommand::RotateSecret { client_id } => {
            let Some(rotated) = tessera.admin_rotate_client_secret(&client_id).await? else {
                anyhow::bail!("no service client {client_id}");
            };
            format.done(&serde_json::json!(rotated), || {
                format!(
                    "new secret for {}\nclient_secret: {}\nThe old secret no longer works.",
                    rotated.client_id, rotated.client_secret
                )
            });
        }
    }
    Ok(())
}
