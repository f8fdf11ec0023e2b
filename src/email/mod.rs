//! Mail: the messages (templates) and how they leave (transports). Requests never send
//! mail themselves: they write a message to the outbox in the transaction that creates its
//! code, and the delivery worker sends it (see `service::outbox`).

pub(crate) mod templates;

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{EmailConfig, MailTransport};

/// A message ready to go.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutgoingMessage {
    /// The recipient's address.
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Where messages go.
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
    /// One line per message (recipient's domain only; never subject, code, link or body).
    Log,
}

/// The mailer and the `From` it writes, or `None` when email is off.
pub fn mailer(config: &EmailConfig) -> anyhow::Result<Option<(Mailer, Mailbox)>> {
    let Some(transport) = config.effective_transport() else {
        return Ok(None);
    };
    let from: Mailbox = config
        .from
        .parse()
        .map_err(|e| anyhow::anyhow!("email.from: {e}"))?;
    let mailer = match transport {
        MailTransport::Smtp => {
            let url = config
                .smtp_url
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("email.smtp_url is not set"))?;
            // The URL may hold a password: the error says what is wrong, never the URL.
            let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                .map_err(|e| anyhow::anyhow!("email.smtp_url is not a valid SMTP URL: {e}"))?;
            Mailer::Smtp(
                builder
                    .timeout(Some(Duration::from_millis(config.timeout_ms)))
                    .build(),
            )
        }
        MailTransport::File => {
            let dir = config
                .file_dir
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("email.file_dir is not set"))?;
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("email.file_dir {}: {e}", dir.display()))?;
            Mailer::File(AsyncFileTransport::<Tokio1Executor>::new(dir))
        }
        MailTransport::Log => Mailer::Log,
    };
    Ok(Some((mailer, from)))
}

impl Mailer {
    /// Sends one message; the error is for the outbox's `last_error` and the log (it never
    /// holds the message's content).
    pub async fn deliver(&self, from: &Mailbox, message: &OutgoingMessage) -> Result<(), String> {
        let to: Mailbox = message
            .to
            .parse()
            .map_err(|e| format!("recipient is not an address: {e}"))?;
        let email = Message::builder()
            .from(from.clone())
            .to(to.clone())
            .subject(&message.subject)
            .multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                message.html.clone(),
            ))
            .map_err(|e| format!("cannot build the message: {e}"))?;
        match self {
            Mailer::Smtp(smtp) => smtp
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Mailer::File(file) => file
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Mailer::Log => {
                tracing::info!(
                    target: "tessera::email",
                    recipient_domain = %to.email.domain(),
                    "message delivered to the log transport (content not logged)"
                );
                Ok(())
            }
        }
    }
}
