//! Bare axum reference for the benchmarks: `GET /protected` does the HS256 check tessera
//! does on a Flask-style or tessera access token (`Authorization: Bearer`, signature with
//! `JWT_SECRET_KEY`, `exp`/`nbf` with 5 s of leeway, `exp`, `nbf` and `sub` required; a
//! `kid` is ignored) and answers `{"logged_in_as": sub}`; `GET /healthz` answers "ok".
//! No middleware at all.
//!
//! Usage: `JWT_SECRET_KEY=… bare [ADDR]` (or `BARE_LISTEN=ADDR`; default `127.0.0.1:0`).
//! Prints `listening on ADDR` (the real port when 0 was asked) on stdout.

use std::io::Write;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

async fn protected(
    State(verifier): State<Arc<Verifier>>,
    headers: HeaderMap,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let unauthorized = |msg: &str| (StatusCode::UNAUTHORIZED, Json(json!({ "msg": msg })));
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("Missing Authorization Header"))?;
    let data = jsonwebtoken::decode::<Claims>(token, &verifier.key, &verifier.validation)
        .map_err(|_| unauthorized("Invalid token"))?;
    Ok(Json(json!({ "logged_in_as": data.claims.sub })))
}

async fn healthz() -> &'static str {
    "ok"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let secret = std::env::var("JWT_SECRET_KEY").unwrap_or_else(|_| {
        eprintln!("bare: set JWT_SECRET_KEY");
        std::process::exit(2)
    });
    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("BARE_LISTEN").ok())
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());

    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 5;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "nbf", "sub"]);
    let verifier = Arc::new(Verifier {
        key: DecodingKey::from_secret(secret.as_bytes()).unwrap_or_else(|e| {
            eprintln!("bare: JWT_SECRET_KEY: {e}");
            std::process::exit(2)
        }),
        validation,
    });

    let app = Router::new()
        .route("/protected", get(protected))
        .route("/healthz", get(healthz))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {}", listener.local_addr()?)?;
    out.flush()?;
    axum::serve(listener, app).await
}
