//! The second factor over HTTP: enrolment, the `mfa_required` login step, one-time codes
//! (also raced, on both backends and across two instances), recovery codes, removal, the
//! administrator's reset, the `aal2` guard and what tokens say (`amr`, `aal`).
//!
//! Codes are computed here with `hmac` + `sha1` straight from RFC 6238, not with the
//! server's totp-rs: the two implementations check each other.

mod admin;
mod cookie_login;
mod enrolment;
mod login;
mod races;
mod recovery;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha1::Sha1;

use crate::helpers::{TestApp, now, status_and_json, str_field, unwrap_response};

pub const PASSWORD: &str = "correct horse battery staple";

/// The RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret at Unix time `time`.
pub fn totp_at(secret: &str, time: i64) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap_or_else(|e| panic!("secret is not base32: {e}"));
    let counter = u64::try_from(time.div_euclid(30)).unwrap_or(0);
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&key).unwrap_or_else(|e| panic!("{e}"));
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    format!("{:06}", binary % 1_000_000)
}

/// The code of the time step `offset` steps from now (the server accepts -1, 0 and +1).
pub fn code(secret: &str, offset: i64) -> String {
    totp_at(secret, now() + offset * 30)
}

/// Waits, if needed, until at least 10 s of the current time step are left, so that codes
/// computed now are still in the server's window when it checks them.
pub async fn steady_step() {
    let into_step = now().rem_euclid(30);
    if into_step >= 20 {
        tokio::time::sleep(std::time::Duration::from_secs((30 - into_step + 1) as u64)).await;
    }
}

#[test]
fn the_test_totp_matches_rfc_6238_appendix_b() {
    // The SHA-1 seed "12345678901234567890" in base32; the last six digits of Appendix B.
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    assert_eq!(totp_at(secret, 59), "287082");
    assert_eq!(totp_at(secret, 1_111_111_109), "081804");
    assert_eq!(totp_at(secret, 2_000_000_000), "279037");
}

/// A user with a confirmed factor.
pub struct Enrolled {
    pub secret: String,
    pub recovery_codes: Vec<String>,
    /// The access token of the session that enrolled (a password login's).
    pub access_token: String,
    pub refresh_token: String,
}

impl TestApp {
    pub async fn post_with_token(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> reqwest::Response {
        unwrap_response(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(body)
                .send()
                .await,
        )
    }

    pub async fn delete_with_token(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> reqwest::Response {
        unwrap_response(
            self.client
                .delete(self.url(path))
                .bearer_auth(token)
                .json(body)
                .send()
                .await,
        )
    }

    /// Starts enrolment with the password; the `{"secret", "otpauth_uri", "qr_svg"}` answer.
    pub async fn start_enrolment(&self, token: &str) -> Value {
        let (status, body) = status_and_json(
            self.post_with_token("/me/mfa/totp", token, &json!({ "password": PASSWORD }))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Registers `name` and enrols a factor, confirmed with the code of the previous step
    /// (so the current and next steps are still free for the test).
    pub async fn enrolled(&self, name: &str) -> Enrolled {
        steady_step().await;
        let login = self.signed_up(name, PASSWORD).await;
        let token = str_field(&login, "access_token").to_owned();
        let secret = str_field(&self.start_enrolment(&token).await, "secret").to_owned();
        let (status, body) = status_and_json(
            self.post_with_token(
                "/me/mfa/totp/confirm",
                &token,
                &json!({ "code": code(&secret, -1) }),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let recovery_codes = body["recovery_codes"]
            .as_array()
            .unwrap_or_else(|| panic!("no recovery codes: {body}"))
            .iter()
            .map(|c| c.as_str().unwrap_or_default().to_owned())
            .collect();
        Enrolled {
            secret,
            recovery_codes,
            access_token: token,
            refresh_token: str_field(&login, "refresh_token").to_owned(),
        }
    }

    /// Logs in with the password of a user with a factor; the `mfa_token` of the 401.
    pub async fn mfa_token(&self, name: &str) -> String {
        let (status, body) = status_and_json(self.login(name, PASSWORD).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], "mfa_required", "{body}");
        str_field(&body, "mfa_token").to_owned()
    }

    /// `POST /login/mfa` with the token and `proof` (`{"code"}` or `{"recovery_code"}`).
    pub async fn login_mfa(&self, mfa_token: &str, proof: Value) -> reqwest::Response {
        let mut body = proof;
        body["mfa_token"] = json!(mfa_token);
        self.post_json("/login/mfa", &body).await
    }
}
