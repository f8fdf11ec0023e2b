//! `tessera check-config`: the configuration, keys and database checked without starting
//! the server, and without creating anything.

use super::output::Format;

/// Validates the configuration, the signing secret and the database connection, and prints
/// the effective settings (secrets redacted). Changes nothing.
pub async fn check_config(config: &crate::Config, format: Format) -> anyhow::Result<()> {
    let mut problems: Vec<String> = Vec::new();
    if let Err(e) = config.validate() {
        problems.push(e.to_string());
    }
    if let Some(secret) = &config.jwt_secret_key
        && let Err(e) = crate::tokens::key_files::check_hs256_secret(secret)
    {
        problems.push(e.to_string());
    }
    // Only when the settings are whole (`validate` reports a lone file).
    if let Err(e) = crate::http::tls::check_files(&config.tls) {
        problems.push(format!("{e:#}"));
    }
    if let Err(e) = crate::service::check_signing_key_file(config) {
        problems.push(format!("{e:#}"));
    }
    if config.ui.enabled
        && let Err(e) = crate::ui::check(&config.ui)
    {
        problems.push(format!("the ui pages cannot load: {e:#}"));
    }
    let url = config.effective_database_url();
    let redacted_url = crate::service::redact_url(&url);
    let timeout = std::time::Duration::from_secs(config.db_connect_timeout_secs);
    // Checking must not create anything: a SQLite file that does not exist yet is fine.
    let database = if crate::store::sqlite_file(&url).is_some_and(|path| !path.exists()) {
        "reachable".to_owned()
    } else {
        match crate::store::connect(&url, 1, timeout).await {
            Ok(store) => match store.ping().await {
                Ok(()) => "reachable".to_owned(),
                Err(e) => format!("unreachable: {e}"),
            },
            Err(e) => format!("cannot be opened: {e}"),
        }
    };
    if database != "reachable" {
        problems.push(format!("database {redacted_url} {database}"));
    }
    let mut settings = serde_json::to_value(config)?;
    settings["database_url"] = serde_json::Value::String(redacted_url);
    settings["jwt_secret_key"] = serde_json::Value::String(
        if config.jwt_secret_key.is_some() {
            "[configured]"
        } else {
            "[generated in the data directory]"
        }
        .into(),
    );
    let report = serde_json::json!({ "ok": problems.is_empty(), "problems": problems, "settings": settings });
    format.done(&report, || {
        let mut text = serde_json::to_string_pretty(&report["settings"]).unwrap_or_default();
        if problems.is_empty() {
            text.push_str("\nconfiguration OK; database reachable");
        } else {
            for problem in &problems {
                text.push_str(&format!("\nproblem: {problem}"));
            }
        }
        text
    });
    anyhow::ensure!(
        problems.is_empty(),
        "the configuration has {} problem(s)",
        problems.len()
    );
    Ok(())
}
