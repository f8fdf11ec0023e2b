//! TOTP factors: the secret (160 random bits, kept in the database only sealed with the
//! key-encryption key), the code check (totp-rs: SHA-1, 6 digits, 30 s steps, ±1 step of
//! clock skew, which is what every authenticator app reads) and what the app is given (the
//! `otpauth://` URI and its QR code).
//!
//! The check only says which time step a code belongs to; whether that step may still be
//! used is decided by the store (`MfaStore::accept_totp_step`), once, for every instance.

use anyhow::Context;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use totp_rs::{Algorithm, Builder};

use crate::domain::{TOTP_DIGITS, TOTP_SKEW_STEPS, TOTP_STEP_SECS, parse_totp_code};
use crate::secret::random_bytes;
use crate::tokens::kek::Kek;

/// Bytes of a TOTP secret: 160 bits, RFC 4226's recommendation and SHA-1's block output.
const SECRET_BYTES: usize = 20;

/// A TOTP secret in clear, only ever in memory. `Debug` shows nothing of it.
pub(super) struct TotpSecret([u8; SECRET_BYTES]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

/// Binds a sealed secret to its user: a sealed blob copied to another user's row does not
/// open there.
fn aad(user_id: i64) -> Vec<u8> {
    format!("tessera totp secret v1\0{user_id}").into_bytes()
}

impl TotpSecret {
    /// A fresh secret from the operating system's CSPRNG.
    pub(super) fn generate() -> Self {
        Self(random_bytes::<SECRET_BYTES>())
    }

    pub(super) fn seal(&self, kek: &Kek, user_id: i64) -> anyhow::Result<Vec<u8>> {
        kek.seal(&aad(user_id), &self.0)
    }

    pub(super) fn open(kek: &Kek, user_id: i64, sealed: &[u8]) -> anyhow::Result<Self> {
        let bytes = kek.open(&aad(user_id), sealed)?;
        let secret: [u8; SECRET_BYTES] = bytes
            .as_slice()
            .try_into()
            .context("a stored TOTP secret has the wrong length")?;
        Ok(Self(secret))
    }

    /// The secret as authenticator apps take it typed in: base32 without padding.
    pub(super) fn base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }

    /// The time step `code` belongs to, if it is this secret's code for a step within one
    /// of the step of `now`; `None` for anything else, malformed input included.
    pub(super) fn matching_step(&self, code: &str, now: i64) -> Option<i64> {
        let code = parse_totp_code(code)?;
        let now = u64::try_from(now).ok()?;
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(TOTP_DIGITS as u8)
            .with_skew(TOTP_SKEW_STEPS as u16)
            .with_step_duration(TOTP_STEP_SECS as u64)
            .with_secret(self.0)
            .build()
            .ok()?;
        // totp-rs compares in constant time and returns the step that matched.
        totp.check(&code, now)
            .and_then(|step| i64::try_from(step).ok())
    }
}

/// What is percent-encoded in the URI's label and parameters: everything but letters,
/// digits and `-._~` (RFC 3986 unreserved), so a `:` in a name cannot split the label.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The Key URI an authenticator app imports (Google Authenticator's format):
/// `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`.
pub(super) fn otpauth_uri(issuer: &str, account: &str, secret: &TotpSecret) -> String {
    let issuer = utf8_percent_encode(issuer, URI_COMPONENT).to_string();
    let account = utf8_percent_encode(account, URI_COMPONENT);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECS}",
        secret.base32()
    )
}

/// The URI as a QR code in SVG, ready to put inline in a page (no XML declaration).
pub(super) fn qr_svg(uri: &str) -> anyhow::Result<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).context("cannot encode the QR code")?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(match svg.find("<svg") {
        Some(start) => svg[start..].to_owned(),
        None => svg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 secret, and its 8-digit codes' last six digits.
    const RFC_SECRET: &[u8; 20] = b"12345678901234567890";

    #[test]
    fn codes_match_rfc_6238_appendix_b_and_give_their_step() {
        let secret = TotpSecret(*RFC_SECRET);
        let table = [
            (59, "287082", 1),
            (1_111_111_109, "081804", 37_037_036),
            (1_111_111_111, "050471", 37_037_037),
            (1_234_567_890, "005924", 41_152_263),
            (2_000_000_000, "279037", 66_666_666),
        ];
        for (time, code, step) in table {
            assert_eq!(secret.matching_step(code, time), Some(step), "{time}");
            // One step of skew either way, no more.
            assert_eq!(secret.matching_step(code, time + 30), Some(step), "{time}");
            assert_eq!(secret.matching_step(code, time - 30), Some(step), "{time}");
            assert_eq!(secret.matching_step(code, time + 60), None, "{time}");
        }
        assert_eq!(secret.matching_step("28708", 59), None);
        assert_eq!(secret.matching_step("abcdef", 59), None);
    }

    #[test]
    fn sealed_secrets_open_only_for_their_user() -> anyhow::Result<()> {
        let kek = Kek::from_secret(&crate::secret::Secret::new("k".repeat(40)))?;
        let secret = TotpSecret::generate();
        let sealed = secret.seal(&kek, 7)?;
        assert!(!sealed.windows(20).any(|w| w == secret.0));
        assert_eq!(TotpSecret::open(&kek, 7, &sealed)?.0, secret.0);
        assert!(TotpSecret::open(&kek, 8, &sealed).is_err());
        Ok(())
    }

    #[test]
    fn the_uri_names_issuer_and_account_and_survives_colons() -> anyhow::Result<()> {
        let secret = TotpSecret(*RFC_SECRET);
        let uri = otpauth_uri("Acme Inc", "bob:smith", &secret);
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Inc:bob%3Asmith?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20Inc&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri)?;
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        Ok(())
    }
}
