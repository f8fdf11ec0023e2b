//! Follows tessera's revocation feed (`GET /revocations?since=…`, long-polled, as a
//! service client) into the verifier's in-memory set. Failures are logged and retried;
//! how long the feed may stay silent before the verifier fails closed (or open) is
//! checked on each verification.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::Inner;

#[derive(serde::Deserialize)]
struct FeedAnswer {
    revoked_sessions: Vec<String>,
    cursor: i64,
}

/// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
fn basic_header(id: &str, secret: &str) -> String {
    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(id), encode(secret)))
    )
}

pub(crate) async fn follow(inner: Weak<Inner>) {
    let mut cursor: Option<i64> = None;
    let mut retry = Duration::from_millis(200);
    let mut failing_since: Option<Instant> = None;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let Some(feed) = &strong.feed else {
            return;
        };
        let separator = if feed.url.contains('?') { '&' } else { '?' };
        let url = match cursor {
            Some(since) => format!(
                "{}{separator}wait={}&since={since}",
                feed.url, feed.wait_secs
            ),
            None => format!("{}{separator}wait={}", feed.url, feed.wait_secs),
        };
        let request = strong.http.get(url).header(
            reqwest::header::AUTHORIZATION,
            basic_header(&feed.client_id, &feed.client_secret),
        );
        // Not holding the verifier alive across a 25-second wait.
        drop(strong);
        let result = async {
            let response = request.send().await.map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("status {}", response.status()));
            }
            let body = response.bytes().await.map_err(|e| e.to_string())?;
            serde_json::from_slice::<FeedAnswer>(&body).map_err(|e| e.to_string())
        }
        .await;
        let Some(strong) = inner.upgrade() else {
            return;
        };
        match result {
            Ok(answer) => {
                strong.remember_revoked(answer.revoked_sessions);
                if let Ok(mut ok_at) = strong.feed_ok_at.write() {
                    *ok_at = Some(Instant::now());
                }
                if failing_since.take().is_some() {
                    tracing::info!("revocation feed reachable again");
                }
                cursor = Some(answer.cursor);
                retry = Duration::from_millis(200);
            }
            Err(e) => {
                strong.feed_failures.fetch_add(1, Ordering::Relaxed);
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > strong.feed_bound {
                    tracing::error!(error = %e, failing_secs = since.elapsed().as_secs(),
                        mode = ?strong.feed_failure,
                        "revocation feed unreachable beyond its bound");
                } else {
                    tracing::warn!(error = %e, "cannot read the revocation feed; will retry");
                }
                drop(strong);
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        let header = basic_header("tc_a:b", "s e%");
        let decoded = STANDARD
            .decode(header.trim_start_matches("Basic "))
            .unwrap_or_default();
        assert_eq!(decoded, b"tc_a%3Ab:s+e%25");
    }
}
