#![warn(missing_docs)]
//! tessera: token-based authentication and session management for Rust services.
//!
//! Register, login, JWT access tokens, rotating refresh tokens, logout that takes effect at
//! once, and protected routes, with the contract of the Flask tutorial app (`POST
//! /register`, `POST /login` returning an `access_token`, `GET /protected`).
//!
//! Embed it in an axum app: merge [`api_router`] into yours and guard handlers with the
//! [`AuthUser`] extractor (the Rust `@jwt_required`). Keep the [`BackgroundTasks`] handle
//! for as long as you serve: it runs the revocation sync, the purge of ended sessions and
//! key-ring reloads.
//!
//! ```no_run
//! use axum::{Json, Router, routing::get};
//! use serde_json::{Value, json};
//! use tessera::{AuthUser, Config, Tessera};
//!
//! async fn protected(user: AuthUser) -> Json<Value> {
//!     Json(json!({ "logged_in_as": user.username() }))
//! }
//!
//! # async fn run() -> anyhow::Result<()> {
//! let tessera = Tessera::open(Config::load(None)?).await?;
//! let _background = tessera.spawn_background_tasks();
//! let app = Router::new()
//!     .route("/protected", get(protected))
//!     .with_state(tessera.clone())
//!     .merge(tessera::api_router(tessera));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Or run it standalone: `tessera serve`, or [`Application`] from code.

pub mod app;
#[doc(hidden)]
pub mod cli;
pub mod config;
pub mod data_dir;
pub mod domain;
pub mod http;
pub mod import;
pub mod legacy_hash;
pub mod secret;
pub mod service;
pub mod telemetry;
pub mod ui;

pub(crate) mod abuse;
pub(crate) mod breached_passwords;
pub(crate) mod email;
pub(crate) mod metrics;
pub(crate) mod password;
pub(crate) mod revocation;
pub(crate) mod store;
pub(crate) mod tokens;

pub use app::Application;
pub use config::Config;
pub use http::assurance::Aal2User;
pub use http::error::ApiError;
pub use http::extract::AuthUser;
pub use http::{api_router, router};
pub use secret::Secret;
pub use service::{AuthError, BackgroundTasks, Tessera};
pub use tokens::keyring::KeyAlg;
pub use tokens::{AccessClaims, Audience, TokenError};
pub use ui::ui_router;

#[doc(hidden)]
pub use store::InjectedFault;
