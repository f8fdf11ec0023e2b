//! The breached-password check: a k-anonymity range API in Have I Been Pwned's format
//! (ASVS 6.2.12, NIST SP 800-63B-4 "passwords obtained from previous breach corpuses").
//!
//! `GET {api_url}/range/{first 5 hex digits of SHA-1(password), upper case}` answers one
//! line `SUFFIX:COUNT` per known hash with that prefix (the other 35 hex digits). The
//! password and its full hash never leave the process: only the 5-digit prefix, shared
//! by hundreds of passwords, is sent, and the suffix is compared here.
//!
//! Requests ask for padding (`Add-Padding: true`): HIBP then adds lines with count 0 so
//! the size of the answer does not tell an observer which prefix was asked for; those
//! lines are not matches. Redirects are not followed (a redirect to another host would
//! send it the prefix), the whole exchange is bounded by the configured timeout, and an
//! answer larger than [`MAX_BODY_BYTES`] is refused, so a broken mirror cannot hold a
//! request or fill memory.
//!
//! Errors carry no part of the password, its hash or the URL (whose path holds the
//! prefix), so callers may log them.

use std::time::Duration;

use sha1::{Digest, Sha1};

/// HIBP's answers are ≈ 30–40 KB (padded); anything far larger is not a range answer.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A client of one range API.
pub(crate) struct BreachedPasswords {
    client: reqwest::Client,
    /// The configured URL without a trailing `/`.
    base: String,
}

/// Why the check gave no answer. Never holds the password, its hash or the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BreachCheckError {
    /// No complete answer within the configured time.
    #[error("breached-password API did not answer in time")]
    Timeout,
    /// Connection refused, name not resolved, connection reset, TLS failure, …
    #[error("breached-password API unreachable: {0}")]
    Unreachable(String),
    /// An answer that is not a range list (status, size).
    #[error("breached-password API gave an unusable answer: {0}")]
    BadAnswer(String),
}

impl BreachedPasswords {
    /// A client for the API at `api_url` (`http://` or `https://`), giving up after `timeout`.
    pub(crate) fn new(api_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        anyhow::ensure!(
            api_url.starts_with("http://") || api_url.starts_with("https://"),
            "breached_passwords.api_url must start with http:// or https://"
        );
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the breached-password client: {e}"))?;
        Ok(Self {
            client,
            base: api_url.trim_end_matches('/').to_owned(),
        })
    }

    /// Whether the API lists `password` as breached.
    pub(crate) async fn is_breached(&self, password: &str) -> Result<bool, BreachCheckError> {
        let (prefix, suffix) = split_hash(password);
        let response = self
            .client
            .get(format!("{}/range/{prefix}", self.base))
            .header("Add-Padding", "true")
            .send()
            .await
            .map_err(classify)?;
        if !response.status().is_success() {
            return Err(BreachCheckError::BadAnswer(format!(
                "status {}",
                response.status().as_u16()
            )));
        }
        let body = read_bounded(response).await?;
        Ok(lists_suffix(&body, &suffix))
    }
}

/// SHA-1 of the password as upper-case hex, split into the 5 digits that are sent and the
/// 35 that are compared locally.
fn split_hash(password: &str) -> (String, String) {
    let hex = hex::encode_upper(Sha1::digest(password.as_bytes()));
    let (prefix, suffix) = hex.split_at(5);
    (prefix.to_owned(), suffix.to_owned())
}

/// Whether the range answer has a line for `suffix` with a count above 0 (count 0 is
/// padding). Lines that do not parse are skipped, not trusted.
fn lists_suffix(body: &str, suffix: &str) -> bool {
    body.lines().any(|line| {
        let Some((listed, count)) = line.trim().split_once(':') else {
            return false;
        };
        listed.trim().eq_ignore_ascii_case(suffix)
            && count.trim().parse::<u64>().is_ok_and(|n| n > 0)
    })
}

async fn read_bounded(mut response: reqwest::Response) -> Result<String, BreachCheckError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BreachCheckError::BadAnswer("answer too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| BreachCheckError::BadAnswer("answer is not text".into()))
}

fn classify(e: reqwest::Error) -> BreachCheckError {
    if e.is_timeout() {
        BreachCheckError::Timeout
    } else {
        // Without the URL: its path holds the hash prefix.
        BreachCheckError::Unreachable(e.without_url().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_split_into_five_digits_sent_and_thirty_five_kept() {
        // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8
        let (prefix, suffix) = split_hash("password");
        assert_eq!(prefix, "5BAA6");
        assert_eq!(suffix, "1E4C9B93F3F0682250B6CF8331B7EE68FD8");
    }

    #[test]
    fn a_listed_suffix_matches_unless_its_count_is_zero() {
        let suffix = "1E4C9B93F3F0682250B6CF8331B7EE68FD8";
        let body = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n\
                    1e4c9b93f3f0682250b6cf8331b7ee68fd8:3861493\r\n";
        assert!(lists_suffix(body, suffix));
        let padded = "1E4C9B93F3F0682250B6CF8331B7EE68FD8:0\r\n";
        assert!(!lists_suffix(padded, suffix));
        assert!(!lists_suffix(
            "garbage\n:\n1E4C9B93F3F0682250B6CF8331B7EE68FD8:x",
            suffix
        ));
        assert!(!lists_suffix("", suffix));
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(BreachedPasswords::new("ftp://x", Duration::from_secs(1)).is_err());
        assert!(BreachedPasswords::new("http://127.0.0.1:9/", Duration::from_secs(1)).is_ok());
    }
}
