//! A single-page app that signs in to tessera with cookies: plain HTML and a few lines of
//! script (`index.html`, no build step), served by an axum app that embeds tessera on the
//! same origin.
//!
//! Run: `cargo run --example browser_app`, then open <http://localhost:3000>. (Chrome and
//! Firefox treat `http://localhost` as secure, so the default `Secure` cookies work; for
//! another host name during development set `TESSERA_COOKIES__SECURE=false`.)

use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera::{AuthUser, Config, Tessera};

/// The app's own protected route: a cookie (or a bearer token) opens it.
async fn protected(user: AuthUser) -> Json<Value> {
    Json(json!({ "logged_in_as": user.username() }))
}

async fn page() -> Html<&'static str> {
    Html(include_str!("index.html"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tessera::telemetry::init(tessera::config::LogFormat::Pretty, "info");
    let tessera = Tessera::open(Config::load(None)?).await?;
    let _background = tessera.spawn_background_tasks();

    let app = Router::new()
        .route("/", get(page))
        .route("/protected", get(protected))
        .with_state(tessera.clone())
        .merge(tessera::api_router(tessera));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("open http://localhost:{}", listener.local_addr()?.port());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await?;
    Ok(())
}
