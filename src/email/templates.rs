//! The messages tessera sends, rendered with minijinja from templates a deployment can
//! override (`email.templates_dir`): `KIND.LANG.txt` holds a `subject` and a `text` block;
//! `message.html` lays any message out as HTML (the text's paragraphs, the link as a
//! button, the code). Built in: English and Simplified Chinese.
//!
//! Variables: `product`, `username`, `link`, `code`, `minutes`/`hours` (lifetime) in the
//! text templates; `lang`, `subject`, `paragraphs`, `link`, `code`, `button`, `product`
//! in `message.html`.

use std::path::Path;

use minijinja::{Environment, Value, context};

/// Which message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A code and link confirming a new address.
    VerifyEmail,
    /// A code and link to set a new password.
    ResetPassword,
    /// To the old address: the account's address is being replaced.
    EmailChanged,
}

impl MessageKind {
    const ALL: [MessageKind; 3] = [
        MessageKind::VerifyEmail,
        MessageKind::ResetPassword,
        MessageKind::EmailChanged,
    ];

    fn name(self) -> &'static str {
        match self {
            MessageKind::VerifyEmail => "verify_email",
            MessageKind::ResetPassword => "reset_password",
            MessageKind::EmailChanged => "email_changed",
        }
    }
}

/// The language of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// English (the default).
    #[default]
    En,
    /// Simplified Chinese.
    Zh,
}

impl Language {
    const ALL: [Language; 2] = [Language::En, Language::Zh];

    /// The tag stored with a user and used in template names.
    pub fn tag(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Zh => "zh",
        }
    }

    /// A stored tag back (unknown: English).
    pub fn from_tag(tag: &str) -> Self {
        if tag == "zh" {
            Language::Zh
        } else {
            Language::En
        }
    }

    /// The best of English and Chinese for an `Accept-Language` header: the first language
    /// by preference (`q`) that is one of them; English when none is.
    pub fn from_accept_language(header: Option<&str>) -> Self {
        let mut ranges: Vec<(f32, &str)> = header
            .unwrap_or_default()
            .split(',')
            .filter_map(|range| {
                let mut parts = range.split(';');
                let tag = parts.next()?.trim();
                let q = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                (!tag.is_empty() && q > 0.0).then_some((q, tag))
            })
            .collect();
        // Stable: equal weights keep the header's order.
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranges
            .iter()
            .find_map(|(_, tag)| {
                let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
                match primary.as_str() {
                    "zh" => Some(Language::Zh),
                    "en" => Some(Language::En),
                    _ => None,
                }
            })
            .unwrap_or_default()
    }

    fn button(self, kind: MessageKind) -> &'static str {
        match (self, kind) {
            (Language::En, MessageKind::ResetPassword) => "Choose a new password",
            (Language::En, _) => "Confirm the address",
            (Language::Zh, MessageKind::ResetPassword) => "设置新密码",
            (Language::Zh, _) => "确认地址",
        }
    }
}

/// What a message says: its subject, plain text and HTML.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What goes into a message.
pub struct MessageVars<'a> {
    pub product: &'a str,
    pub username: &'a str,
    pub link: Option<&'a str>,
    pub code: Option<&'a str>,
    pub lifetime_secs: u64,
}

/// The loaded templates.
pub struct Templates {
    env: Environment<'static>,
}

const BUILT_IN: [(&str, &str); 7] = [
    (
        "verify_email.en.txt",
        include_str!("../../data/email/verify_email.en.txt"),
    ),
    (
        "verify_email.zh.txt",
        include_str!("../../data/email/verify_email.zh.txt"),
    ),
    (
        "reset_password.en.txt",
        include_str!("../../data/email/reset_password.en.txt"),
    ),
    (
        "reset_password.zh.txt",
        include_str!("../../data/email/reset_password.zh.txt"),
    ),
    (
        "email_changed.en.txt",
        include_str!("../../data/email/email_changed.en.txt"),
    ),
    (
        "email_changed.zh.txt",
        include_str!("../../data/email/email_changed.zh.txt"),
    ),
    (
        "message.html",
        include_str!("../../data/email/message.html"),
    ),
];

impl Templates {
    /// The built-in templates, each replaced by the file of the same name in `dir` when
    /// there is one. Every message is rendered once here, so a broken override stops the
    /// server at start rather than failing a delivery later.
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        for (name, built_in) in BUILT_IN {
            let source = match dir.map(|d| d.join(name)).filter(|p| p.exists()) {
                Some(path) => std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!("cannot read the template {}: {e}", path.display())
                })?,
                None => built_in.to_owned(),
            };
            env.add_template_owned(name, source)
                .map_err(|e| anyhow::anyhow!("template {name}: {e}"))?;
        }
        let templates = Self { env };
        let sample = MessageVars {
            product: "tessera",
            username: "alice",
            link: Some("https://example.com/x"),
            code: Some("ABCD2345"),
            lifetime_secs: 900,
        };
        for kind in MessageKind::ALL {
            for language in Language::ALL {
                templates.render(kind, language, &sample)?;
            }
        }
        Ok(templates)
    }

    /// Renders one message.
    pub fn render(
        &self,
        kind: MessageKind,
        language: Language,
        vars: &MessageVars<'_>,
    ) -> anyhow::Result<Rendered> {
        let name = format!("{}.{}.txt", kind.name(), language.tag());
        let template = self.env.get_template(&name)?;
        let mut captured = template.render_captured(context! {
            product => vars.product,
            username => vars.username,
            link => vars.link,
            code => vars.code,
            minutes => vars.lifetime_secs / 60,
            hours => vars.lifetime_secs / 3600,
        })?;
        let (subject, text) = captured.with_state_mut(|state| {
            Ok::<_, minijinja::Error>((
                state.render_block("subject")?.trim().to_owned(),
                state.render_block("text")?.trim().to_owned() + "\n",
            ))
        })?;
        let paragraphs: Vec<Value> = text
            .split("\n\n")
            .map(|p| Value::from(p.trim().to_owned()))
            .filter(|p| !p.as_str().unwrap_or_default().is_empty())
            .collect();
        let html = self.env.get_template("message.html")?.render(context! {
            lang => if language == Language::Zh { "zh-CN" } else { "en" },
            subject => &subject,
            paragraphs => paragraphs,
            link => vars.link,
            code => vars.code,
            button => language.button(kind),
            product => vars.product,
        })?;
        Ok(Rendered {
            subject,
            text,
            html,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_follows_accept_language_preferences() {
        let pick = |h: &str| Language::from_accept_language(Some(h));
        assert_eq!(pick("zh-CN,zh;q=0.9,en;q=0.8"), Language::Zh);
        assert_eq!(pick("en-US,en;q=0.9,zh;q=0.8"), Language::En);
        assert_eq!(pick("fr-FR, zh-Hans;q=0.5, en;q=0.2"), Language::Zh);
        assert_eq!(pick("de, fr"), Language::En);
        assert_eq!(pick("zh;q=0, en"), Language::En);
        assert_eq!(Language::from_accept_language(None), Language::En);
    }

    #[test]
    fn every_built_in_message_renders_with_its_link_and_code_escaped_in_html() -> anyhow::Result<()>
    {
        let templates = Templates::load(None)?;
        let vars = MessageVars {
            product: "Acme <Login>",
            username: "bob",
            link: Some("https://auth.example.com/password/reset?token=abc"),
            code: Some("K7QX3M9P"),
            lifetime_secs: 900,
        };
        let reset = templates.render(MessageKind::ResetPassword, Language::En, &vars)?;
        assert_eq!(reset.subject, "Reset your Acme <Login> password");
        assert!(reset.text.contains("K7QX3M9P") && reset.text.contains("15 minutes"));
        assert!(reset.html.contains("Acme &lt;Login&gt;"), "HTML is escaped");
        // minijinja's HTML escaping writes `/` as `&#x2f;`, which a mail client reads back.
        let html = reset.html.replace("&#x2f;", "/");
        assert!(html.contains("href=\"https://auth.example.com/password/reset?token=abc\""));
        let zh = templates.render(MessageKind::VerifyEmail, Language::Zh, &vars)?;
        assert!(zh.subject.contains("确认") && zh.html.contains("lang=\"zh-CN\""));
        Ok(())
    }

    #[test]
    fn an_override_directory_replaces_a_template_and_a_broken_one_stops_the_load()
    -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(
            dir.path().join("reset_password.en.txt"),
            "{% block subject %}Custom {{ product }}{% endblock %}{% block text %}{{ code }}{% endblock %}",
        )?;
        let templates = Templates::load(Some(dir.path()))?;
        let vars = MessageVars {
            product: "Acme",
            username: "bob",
            link: None,
            code: Some("K7QX3M9P"),
            lifetime_secs: 900,
        };
        let reset = templates.render(MessageKind::ResetPassword, Language::En, &vars)?;
        assert_eq!(reset.subject, "Custom Acme");
        std::fs::write(dir.path().join("message.html"), "{% if %}")?;
        assert!(Templates::load(Some(dir.path())).is_err());
        Ok(())
    }
}
