//! The pages' templates (minijinja, HTML auto-escaped) and stylesheet, embedded in the
//! binary; a file of the same name in `ui.templates_dir` replaces the embedded one.

use std::path::Path;

use minijinja::Environment;

/// Every template by name, with its embedded text.
pub const TEMPLATES: [(&str, &str); 11] = [
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("login.html", include_str!("templates/login.html")),
    ("mfa.html", include_str!("templates/mfa.html")),
    ("register.html", include_str!("templates/register.html")),
    ("account.html", include_str!("templates/account.html")),
    ("enrol.html", include_str!("templates/enrol.html")),
    ("message.html", include_str!("templates/message.html")),
    ("forgot.html", include_str!("templates/forgot.html")),
    ("reset.html", include_str!("templates/reset.html")),
    (
        "verify_email.html",
        include_str!("templates/verify_email.html"),
    ),
];

/// The embedded stylesheet (`{prefix}/static/style.css`).
pub const STYLESHEET: &str = include_str!("templates/style.css");

/// The template environment: embedded templates, each replaced by `dir/<name>` if there.
pub fn environment(dir: Option<&Path>) -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    for (name, embedded) in TEMPLATES {
        let Some(path) = dir.map(|d| d.join(name)).filter(|p| p.is_file()) else {
            env.add_template_owned(name, embedded.to_owned())
                .map_err(|e| anyhow::anyhow!("ui template {name}: {e}"))?;
            continue;
        };
        // A replacement that cannot be read or parsed stops the start, naming the file.
        let source = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("ui template {}: {e}", path.display()))?;
        env.add_template_owned(name, source)
            .map_err(|e| anyhow::anyhow!("ui template {} does not parse: {e}", path.display()))?;
    }
    Ok(env)
}

/// The stylesheet: `dir/style.css` when there, else the embedded one.
pub fn stylesheet(dir: Option<&Path>) -> anyhow::Result<String> {
    match dir.map(|d| d.join("style.css")).filter(|p| p.is_file()) {
        Some(path) => Ok(std::fs::read_to_string(path)?),
        None => Ok(STYLESHEET.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_templates_parse_and_a_directory_replaces_one() {
        assert!(environment(None).is_ok());
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("message.html"), "custom {{ text }}")
            .unwrap_or_else(|e| panic!("{e}"));
        let env = environment(Some(dir.path())).unwrap_or_else(|e| panic!("{e}"));
        let out = env
            .get_template("message.html")
            .and_then(|t| t.render(minijinja::context! { text => "<b>" }))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, "custom &lt;b&gt;");
    }
}
