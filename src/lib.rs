//! tessera: token-based authentication and session management for Rust services.
//!
//! Embed it in an axum app — merge [`router`] into yours and guard handlers with the
//! [`AuthUser`] extractor (the Rust `@jwt_required`) — or run it standalone with
//! `tessera serve` ([`Application`]).

pub mod abuse;
pub mod app;
pub mod argon2_memory;
pub mod config;
pub mod data_dir;
pub mod domain;
pub mod http;
pub mod import;
pub mod keys;
pub mod legacy_hash;
pub mod metrics;
pub mod password;
pub mod revocation;
pub mod secret;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod workers;

pub use app::Application;
pub use config::Config;
pub use http::extract::AuthUser;
pub use http::router;
pub use service::Tessera;
