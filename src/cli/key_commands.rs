//! `tessera keys generate|rotate|list|rotate-refresh`: the signing-key ring and the
//! refresh-token key, safe while servers run (they reload both from the database every
//! `key_reload_ms`).

use crate::Tessera;
use crate::tokens::keyring::KeyAlg;
use clap::Subcommand;

use super::output::{Format, print_rows};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Add a key that signs at once (e.g. to switch the ring from HS256 to EdDSA); earlier
    /// keys retire and keep verifying until their tokens expire.
    Generate {
        /// eddsa (recommended), es256, ps256 or rs256 (RSA keys are 3072 bits).
        #[arg(long, default_value = "eddsa")]
        alg: String,
    },
    /// Publish a next key now; it starts signing after `key_prepublish_secs`.
    Rotate {
        /// Algorithm of the next key; default: the signing key's.
        #[arg(long)]
        alg: Option<String>,
    },
    /// Show the ring (never private material).
    List,
    /// Start a new refresh-token key (kept in the database): new refresh tokens use it,
    /// earlier ones keep working until their sessions end. Nobody is logged out.
    RotateRefresh,
}

fn parse_alg(text: &str) -> anyhow::Result<KeyAlg> {
    KeyAlg::parse(text).ok_or_else(|| {
        anyhow::anyhow!("unknown algorithm {text:?}; use eddsa, es256, ps256 or rs256")
    })
}

pub async fn run_keys(
    tessera: &Tessera,
    command: KeysCommand,
    format: Format,
) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate { alg } => {
            let key = tessera.add_signing_key(parse_alg(&alg)?, 0).await?;
            format.done(&serde_json::json!({ "generated": key }), || {
                format!("generated {} key {}; it signs now", key.alg, key.kid)
            });
        }
        KeysCommand::Rotate { alg } => {
            let alg = alg.as_deref().map(parse_alg).transpose()?;
            let key = tessera.rotate_signing_key(alg).await?;
            format.done(&serde_json::json!({ "rotated": key }), || {
                format!(
                    "published {} key {}; it signs from {}",
                    key.alg, key.kid, key.activate_at
                )
            });
        }
        KeysCommand::RotateRefresh => {
            let generation = tessera.rotate_refresh_key().await?;
            format.done(
                &serde_json::json!({ "refresh_token_key": { "generation": generation } }),
                || format!("refresh-token key generation {generation} signs new refresh tokens"),
            );
        }
        KeysCommand::List => {
            let keys = tessera.list_keys();
            print_rows(
                format,
                &keys,
                &[
                    "kid",
                    "alg",
                    "rsa_bits",
                    "state",
                    "source",
                    "signing",
                    "activate_at",
                    "retired_at",
                    "verifies",
                    "verifies_until",
                    "kept_verifying",
                ],
            );
        }
    }
    Ok(())
}
