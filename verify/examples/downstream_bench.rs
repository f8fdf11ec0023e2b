//! The downstream service of `bench/downstream.sh`: one process, one router, the same
//! handler body at `/open` (no authentication) and at `/guarded` (the [`Authenticated`]
//! extractor), so the difference between the two routes is the verifier's cost alone.
//!
//! Configured by the environment (the bench sets it):
//! - `LISTEN`: address to bind (`127.0.0.1:0` by default; the bound address is printed);
//! - `TESSERA_URL`: tessera's base URL (its JWKS and revocation feed);
//! - `HS256_SECRET` (optional): verify with this shared secret (Flask-compatible mode)
//!   instead of the JWKS;
//! - `TESSERA_CLIENT_ID` / `TESSERA_CLIENT_SECRET` (optional): follow the revocation feed,
//!   as a real deployment does (the per-request cost is one lookup in the revoked set).

use std::error::Error;

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use tessera_verify::{Authenticated, Verifier};

async fn open() -> Json<Value> {
    Json(json!({ "logged_in_as": "anonymous" }))
}

async fn guarded(user: Authenticated) -> Json<Value> {
    Json(json!({ "logged_in_as": user.sub }))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let url = var("TESSERA_URL").ok_or("TESSERA_URL is not set")?;
    let mut builder = match var("HS256_SECRET") {
        Some(secret) => Verifier::builder_from_hs256_secret(secret.as_bytes())
            .revocation_feed_url(format!("{}/revocations", url.trim_end_matches('/'))),
        None => Verifier::builder_from_base_url(&url),
    };
    if let (Some(id), Some(secret)) = (var("TESSERA_CLIENT_ID"), var("TESSERA_CLIENT_SECRET")) {
        builder = builder.revocation_feed(id, secret);
    }
    let verifier = builder.build().await?;
    let app = Router::new()
        .route("/open", get(open))
        .route("/guarded", get(guarded))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(verifier);
    let listen = var("LISTEN").unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
