//! The outbox: messages are sealed and written in the transaction that creates their code
//! (so a code never exists without its message, nor a message without its code), and this
//! worker delivers them. An SMTP outage fails no request and loses no message: attempts
//! are retried with exponential back-off (`email.retry_base_secs`, doubled each time, at
//! most an hour) until `email.max_attempts`, then the message is dead. A message is
//! claimed by one conditional UPDATE with a lease, so of several instances exactly one
//! sends it; one whose sender crashed after the mail server accepted it but before it was
//! marked sent is sent again when the lease ends (SMTP offers no exactly-once).

use std::time::Duration;

use crate::email::OutgoingMessage;
use crate::tokens::kek::Kek;
use crate::tokens::now_unix;

use super::super::Tessera;

/// The associated data of every sealed message: a sealed blob of another table cannot be
/// passed off as a message.
const AAD: &[u8] = b"tessera outbox message v1";
/// How long an idle worker waits before looking again.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
const MAX_RETRY_SECS: u64 = 3600;

pub(super) fn seal(kek: &Kek, message: &OutgoingMessage) -> anyhow::Result<Vec<u8>> {
    kek.seal(AAD, &serde_json::to_vec(message)?)
}

fn open(kek: &Kek, sealed: &[u8]) -> anyhow::Result<OutgoingMessage> {
    Ok(serde_json::from_slice(&kek.open(AAD, sealed)?)?)
}

/// When to try again after `attempts` failed ones, or `None` when that was the last.
fn retry_at(now: i64, attempts: i64, base_secs: u64, max_attempts: u32) -> Option<i64> {
    if attempts >= i64::from(max_attempts) {
        return None;
    }
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(20);
    let wait = base_secs.saturating_mul(1 << exponent).min(MAX_RETRY_SECS);
    Some(now + i64::try_from(wait).unwrap_or(i64::MAX))
}

/// The delivery loop (see `service::background`): one message at a time, back to back
/// while any is due, then a poll a second.
pub(crate) async fn deliver_outbox(tessera: Tessera) {
    let Some(mail) = tessera.inner.mail.as_ref() else {
        return;
    };
    let config = &tessera.config().email;
    // Long enough for one SMTP exchange with its time limit, twice over.
    let lease = i64::try_from(config.timeout_ms / 1000 * 2 + 10).unwrap_or(60);
    loop {
        let now = now_unix();
        let claimed = match tessera.store().claim_outbox_message(now, now + lease).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "reading the outbox failed; will retry");
                None
            }
        };
        let Some(claimed) = claimed else {
            tokio::time::sleep(IDLE_POLL).await;
            continue;
        };
        let outcome = match tessera.kek().map_err(|e| e.to_string()).and_then(|kek| {
            open(kek, &claimed.sealed_message).map_err(|e| format!("cannot open: {e}"))
        }) {
            Ok(message) => mail.mailer.deliver(&mail.from, &message).await,
            Err(e) => Err(e),
        };
        let now = now_unix();
        let metrics = tessera.metrics();
        let recorded = match outcome {
            Ok(()) => {
                metrics.email("sent");
                let waited = u64::try_from(now - claimed.created_at).unwrap_or(0);
                metrics.email_delivered_after(Duration::from_secs(waited));
                tessera.store().outbox_sent(claimed.id, now).await
            }
            Err(error) => {
                let next = retry_at(
                    now,
                    claimed.attempts,
                    config.retry_base_secs,
                    config.max_attempts,
                );
                metrics.email(if next.is_some() { "failed" } else { "dead" });
                tracing::warn!(
                    message_id = claimed.id,
                    attempt = claimed.attempts,
                    dead = next.is_none(),
                    error = %error,
                    "delivering a message failed"
                );
                tessera
                    .store()
                    .outbox_failed(claimed.id, now, next, &error)
                    .await
            }
        };
        if let Err(e) = recorded {
            // The lease ends and the message is tried again: sent twice at worst.
            tracing::warn!(error = %e, message_id = claimed.id, "recording a delivery failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour_then_stop() {
        assert_eq!(retry_at(100, 1, 5, 8), Some(105));
        assert_eq!(retry_at(100, 2, 5, 8), Some(110));
        assert_eq!(retry_at(100, 3, 5, 8), Some(120));
        assert_eq!(retry_at(100, 7, 5, 100), Some(100 + 320));
        assert_eq!(retry_at(100, 30, 5, 100), Some(100 + 3600));
        assert_eq!(retry_at(100, 8, 5, 8), None);
    }

    #[test]
    fn a_sealed_message_opens_only_with_its_key() -> anyhow::Result<()> {
        let kek = Kek::from_secret(&Secret::new("k".repeat(40)))?;
        let message = OutgoingMessage {
            to: "a@example.com".into(),
            subject: "s".into(),
            text: "code ABCD2345".into(),
            html: "<p>x</p>".into(),
        };
        let sealed = seal(&kek, &message)?;
        assert!(!String::from_utf8_lossy(&sealed).contains("ABCD2345"));
        assert_eq!(open(&kek, &sealed)?, message);
        let other = Kek::from_secret(&Secret::new("o".repeat(40)))?;
        assert!(open(&other, &sealed).is_err());
        Ok(())
    }
}
