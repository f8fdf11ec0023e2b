//! The seed's Flask app, rewritten as an axum app that embeds tessera.
//!
//! tessera provides `/register`, `/login` (and refresh, logout, sessions); the app guards
//! its own `/protected` with the `AuthUser` extractor, the Rust `@jwt_required()`, and
//! `/protected/mfa` with `Aal2User`, which also requires a login with a second factor.
//! Run: `JWT_SECRET_KEY=$(cargo run -q -- secret) cargo run --example seed_app`

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera::{Aal2User, AuthUser, Config, Tessera};

/// `@jwt_required()` + `get_jwt_identity()`: the handler runs only for a valid access token.
async fn protected(user: AuthUser) -> Json<Value> {
    Json(json!({ "logged_in_as": user.username() }))
}

/// Only for a login that showed a second factor (`aal2`); a password alone gets
/// `403 {"error": "mfa_required"}`.
async fn protected_mfa(Aal2User(user): Aal2User) -> Json<Value> {
    Json(json!({ "logged_in_as": user.username(), "amr": user.amr() }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tessera::telemetry::init(tessera::config::LogFormat::Pretty, "info");
    // Reads JWT_SECRET_KEY and TESSERA_* like the server; keys and users.db-equivalent
    // live in ./tessera-data.
    let tessera = Tessera::open(Config::load(None)?).await?;
    // Revocation sync, purge, key reloads and metrics upkeep run while this handle lives:
    // keep it until the server stops (dropping it stops them).
    let _background = tessera.spawn_background_tasks();

    let app = Router::new()
        .route("/protected", get(protected))
        .route("/api/protected", get(protected))
        .route("/protected/mfa", get(protected_mfa))
        .with_state(tessera.clone())
        .merge(tessera::api_router(tessera));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
    println!("seed app on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await?;
    Ok(())
}
