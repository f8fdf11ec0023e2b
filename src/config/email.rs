//! Mail settings (`[email]` in TOML, `TESSERA_EMAIL__…`): how messages leave (SMTP, `.eml`
//! files or a log line), from whom, the links they carry, and the limits that keep tessera
//! from being used to mail-bomb someone. With none of it set, email is off: the routes that
//! need it answer `501 email_not_configured` and nothing else changes.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// How messages are delivered.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// Through the SMTP server of `email.smtp_url`.
    Smtp,
    /// Written as `.eml` files into `email.file_dir` (development).
    File,
    /// One log line per message: recipient domain and kind, never a code, link or body.
    Log,
}

/// `[email]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// The transport; unset: `smtp` when `smtp_url` is set, else email is off.
    pub transport: Option<MailTransport>,
    /// `smtps://user:password@host:465` (implicit TLS) or
    /// `smtp://user:password@host:587?tls=required` (STARTTLS), lettre's URL form;
    /// `TESSERA_EMAIL__SMTP_URL_FILE` reads it from a file (it may hold a password).
    #[serde(skip_serializing)]
    pub smtp_url: Option<Secret>,
    /// The `From` of every message, e.g. `Example <no-reply@example.com>`.
    pub from: String,
    /// Directory of the `file` transport.
    pub file_dir: Option<PathBuf>,
    /// The address users reach tessera at (`https://auth.example.com`): links in messages
    /// open the hosted pages there (`{public_url}{ui.prefix}/password/reset?token=…`,
    /// `…/email/verify?token=…`). Required when email is on.
    pub public_url: Option<String>,
    /// A directory whose files override the built-in message templates (see the README).
    pub templates_dir: Option<PathBuf>,
    /// One SMTP exchange at most this long.
    pub timeout_ms: u64,
    /// Delivery attempts of one message before it is marked dead.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one (at most an hour).
    pub retry_base_secs: u64,
    /// Messages to one address per hour at most; beyond, requests still answer as usual
    /// and nothing is queued (audited).
    pub per_recipient_per_hour: u32,
    /// Reset and verification messages for one account per hour at most.
    pub per_account_per_hour: u32,
    /// Lifetime of a password-reset link and code.
    pub reset_ttl_secs: u64,
    /// Lifetime of an email-verification link and code.
    pub verify_ttl_secs: u64,
    /// Wrong codes accepted against one issued code before it is void.
    pub code_attempts: u32,
    /// Compare the local part of addresses without regard to case (the domain always is).
    pub case_insensitive_local_part: bool,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            transport: None,
            smtp_url: None,
            from: "tessera <no-reply@localhost>".into(),
            file_dir: None,
            public_url: None,
            templates_dir: None,
            timeout_ms: 10_000,
            max_attempts: 8,
            retry_base_secs: 5,
            per_recipient_per_hour: 5,
            per_account_per_hour: 10,
            reset_ttl_secs: 15 * 60,
            verify_ttl_secs: 24 * 3600,
            code_attempts: 5,
            case_insensitive_local_part: false,
        }
    }
}

impl EmailConfig {
    /// The transport in effect, or `None` when email is off.
    pub fn effective_transport(&self) -> Option<MailTransport> {
        self.transport
            .or_else(|| self.smtp_url.as_ref().map(|_| MailTransport::Smtp))
    }

    pub(super) fn validate(&self) -> anyhow::Result<()> {
        let Some(transport) = self.effective_transport() else {
            return Ok(());
        };
        match transport {
            MailTransport::Smtp => anyhow::ensure!(
                self.smtp_url.is_some(),
                "email.transport = \"smtp\" needs email.smtp_url (TESSERA_EMAIL__SMTP_URL)"
            ),
            MailTransport::File => anyhow::ensure!(
                self.file_dir.is_some(),
                "email.transport = \"file\" needs email.file_dir"
            ),
            MailTransport::Log => {}
        }
        let url = self.public_url.as_deref().unwrap_or_default();
        anyhow::ensure!(
            url.starts_with("https://") || url.starts_with("http://"),
            "email needs email.public_url (https://…): the links in messages start with it"
        );
        anyhow::ensure!(
            self.from.parse::<lettre::message::Mailbox>().is_ok(),
            "email.from must be an address such as \"Example <no-reply@example.com>\": {:?}",
            self.from
        );
        anyhow::ensure!(
            self.max_attempts >= 1,
            "email.max_attempts must be at least 1"
        );
        anyhow::ensure!(
            self.code_attempts >= 1,
            "email.code_attempts must be at least 1"
        );
        anyhow::ensure!(
            self.reset_ttl_secs >= 60 && self.verify_ttl_secs >= 60,
            "email.reset_ttl_secs and email.verify_ttl_secs must be at least 60"
        );
        Ok(())
    }
}
