//! Settings of the hosted pages (`[ui]` in TOML, `TESSERA_UI__…`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::browser::is_exact_origin;

/// The pages under `/ui/`: where they are, how they look, where sign-in may return to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    /// Serve the pages from the standalone server (embedders mount `tessera::ui_router`).
    pub enabled: bool,
    /// Where the pages live: `/ui` (default) serves `/ui/login`, `/ui/account`, …
    pub prefix: String,
    /// Exact origins (`https://app.example.com`) that `return_to` may send the browser
    /// back to after sign-in; anything else goes to the account page.
    pub allowed_return_origins: Vec<String>,
    /// The product's name in titles and headings.
    pub product_name: String,
    /// A logo shown above the forms: a path on this server or an `https://` URL (its
    /// origin is added to the pages' `img-src`).
    pub logo_url: Option<String>,
    /// The main colour of buttons and links, `#rgb` or `#rrggbb`.
    pub primary_color: String,
    /// A stylesheet loaded after tessera's: a path on this server or an `https://` URL
    /// (its origin is added to the pages' `style-src`).
    pub stylesheet_url: Option<String>,
    /// A directory whose files replace the embedded templates of the same name
    /// (`base.html`, `login.html`, …) and whose `lang/*.toml` add or replace catalogues.
    pub templates_dir: Option<PathBuf>,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            prefix: "/ui".into(),
            allowed_return_origins: Vec::new(),
            product_name: "tessera".into(),
            logo_url: None,
            primary_color: "#2f5bd3".into(),
            stylesheet_url: None,
            templates_dir: None,
        }
    }
}

impl UiConfig {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.prefix.starts_with('/')
                && !self.prefix.ends_with('/')
                && self
                    .prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c)),
            "ui.prefix must start with / and not end with one (letters, digits, - _ . /): {:?}",
            self.prefix
        );
        for origin in &self.allowed_return_origins {
            anyhow::ensure!(
                is_exact_origin(origin),
                "ui.allowed_return_origins must list exact origins such as \
                 https://app.example.com: {origin:?}"
            );
        }
        anyhow::ensure!(
            is_hex_colour(&self.primary_color),
            "ui.primary_color must be #rgb or #rrggbb: {:?}",
            self.primary_color
        );
        for url in self.logo_url.iter().chain(&self.stylesheet_url) {
            anyhow::ensure!(
                resource_origin(url).is_ok(),
                "ui.logo_url and ui.stylesheet_url must be a path on this server (/…) or an \
                 https:// URL: {url:?}"
            );
        }
        anyhow::ensure!(
            self.product_name.chars().count() <= 100,
            "ui.product_name is at most 100 characters"
        );
        Ok(())
    }
}

/// `#rgb` or `#rrggbb`: the one form that can go into a stylesheet unescaped.
fn is_hex_colour(value: &str) -> bool {
    value
        .strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The origin a resource URL loads from: `None` for a path on this server, the origin of an
/// `https://` URL; anything else (`//host`, `http:`, `data:`, `javascript:`) is an error.
pub fn resource_origin(value: &str) -> Result<Option<String>, String> {
    if value.starts_with('/') && !value.starts_with("//") && !value.contains('\\') {
        return Ok(None);
    }
    match url::Url::parse(value) {
        Ok(url) if url.scheme() == "https" && url.username().is_empty() => {
            Ok(Some(url.origin().ascii_serialization()))
        }
        _ => Err(format!("not a path or an https:// URL: {value:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_resource_urls_are_checked() {
        assert!(is_hex_colour("#2f5bd3") && is_hex_colour("#abc"));
        for bad in ["2f5bd3", "#12345", "red", "#abc;}body{", "#ggg"] {
            assert!(!is_hex_colour(bad), "{bad}");
        }
        assert_eq!(resource_origin("/static/logo.svg"), Ok(None));
        assert_eq!(
            resource_origin("https://cdn.example.com/a.css"),
            Ok(Some("https://cdn.example.com".into()))
        );
        for bad in [
            "//evil.example/x",
            "http://x.example/a",
            "javascript:alert(1)",
            "data:x",
        ] {
            assert!(resource_origin(bad).is_err(), "{bad}");
        }
    }
}
