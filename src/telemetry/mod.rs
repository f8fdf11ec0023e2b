//! Logs: pretty on a terminal, JSON otherwise (or as configured), to standard error.
//! Nothing here ever formats a password, hash, token or secret: those types hide themselves.

mod request_fields;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::JsonFields;

use crate::config::LogFormat;
use request_fields::WithRequestFields;
pub(crate) use request_fields::{InRequest, RequestFields, current_request_id, in_request};

/// Installs the log subscriber: `format`, filtered by `level` (or `RUST_LOG`).
pub fn init(format: LogFormat, level: &str) {
    // RUST_LOG, when set, wins over the configured level (the usual Rust convention).
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // Lines written during a request carry its id, route and method (see request_fields).
    let result = if json {
        let format = tracing_subscriber::fmt::format()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false);
        builder
            .fmt_fields(JsonFields::new())
            .event_format(WithRequestFields::new(format, true))
            .try_init()
    } else {
        let format = tracing_subscriber::fmt::format();
        builder
            .event_format(WithRequestFields::new(format, false))
            .try_init()
    };
    if result.is_err() {
        eprintln!("tessera: a logger was already installed; keeping it");
    }
}
