//! Verifying a compact JWS (an access token) in one pass: split into its three parts, the
//! protected header recognised or parsed once, the signature checked with the key's own
//! algorithm (HS256 with the secret's HMAC keyed in advance; the others by jsonwebtoken's
//! crypto provider), the claims parsed once, `exp` and `nbf` checked.
//!
//! Why not `jsonwebtoken::decode`: it parses the header a second time (the caller has to
//! read `alg` and `kid` first to choose the key) and the claims twice (once into its own
//! validation struct, once into the caller's), which was a third of the cost of a request
//! with a token never seen before (`bench/callgrind.sh`). The rules are the same: the
//! signature before anything in the claims is believed; `exp`, `nbf` and `sub` required
//! (they are not optional in [`super::AccessClaims`]); expired when `exp < now − leeway`,
//! not yet valid when `nbf > now + leeway`; a header with `crit`, or `b64: false`, refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::errors::ErrorKind;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use sha2::Sha256;

use super::TokenError;
use super::keyring::RingKey;

/// The protected header fields verification needs.
#[derive(Deserialize)]
pub(super) struct JoseHeader {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
    /// RFC 7515 §4.1.11: extensions the recipient must understand; tessera understands
    /// none, so any `crit` is refused.
    #[serde(default)]
    crit: Option<IgnoredAny>,
    /// RFC 7797: `false` means an unencoded payload, which tessera never accepts.
    #[serde(default)]
    b64: Option<bool>,
}

/// A compact JWS split into its parts (nothing is decoded or checked yet).
pub(super) struct Jws<'a> {
    /// The base64url header, as sent.
    pub header_part: &'a str,
    /// `header.payload`: what the signature covers.
    signing_input: &'a str,
    payload: &'a str,
    signature: &'a str,
}

/// Splits `token` into exactly three parts.
pub(super) fn split(token: &str) -> Result<Jws<'_>, TokenError> {
    let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header_part, payload) = signing_input.split_once('.').ok_or(TokenError::Malformed)?;
    if payload.contains('.') {
        return Err(TokenError::Malformed);
    }
    Ok(Jws {
        header_part,
        signing_input,
        payload,
        signature,
    })
}

impl Jws<'_> {
    /// The header, decoded and parsed; one with `crit` or `b64: false` is refused.
    pub fn header(&self) -> Result<JoseHeader, TokenError> {
        let header: JoseHeader = from_base64_json(self.header_part)?;
        if header.crit.is_some() || header.b64 == Some(false) {
            return Err(TokenError::Malformed);
        }
        Ok(header)
    }

    /// The claims, once the signature verifies with `key` under the key's own algorithm
    /// (never the header's) and the times hold at `now`.
    pub fn verified_claims<T: DeserializeOwned + Times>(
        &self,
        key: &RingKey,
        now: i64,
        leeway_secs: i64,
    ) -> Result<T, TokenError> {
        let verified = match key.hs256_mac() {
            Some(mac) => hs256_verifies(mac, self.signing_input, self.signature)?,
            None => jsonwebtoken::crypto::verify(
                self.signature,
                self.signing_input.as_bytes(),
                key.verifying(),
                key.alg.algorithm(),
            )
            .map_err(|e| match e.kind() {
                ErrorKind::Base64(_) => TokenError::Malformed,
                _ => TokenError::BadSignature,
            })?,
        };
        if !verified {
            return Err(TokenError::BadSignature);
        }
        let claims: T = from_base64_json(self.payload)?;
        let (exp, nbf) = claims.exp_nbf();
        if exp < 0 {
            return Err(TokenError::Malformed);
        }
        if exp < now.saturating_sub(leeway_secs) {
            return Err(TokenError::Expired);
        }
        if nbf > now.saturating_add(leeway_secs) {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

/// Whether `signature` (base64url) is the HS256 MAC of `signing_input`, compared in
/// constant time, with the secret's HMAC keyed once in advance. Not base64: malformed,
/// as jsonwebtoken says; any other length than a SHA-256 MAC's: a bad signature.
fn hs256_verifies(
    mac: &Hmac<Sha256>,
    signing_input: &str,
    signature: &str,
) -> Result<bool, TokenError> {
    // Room for more than 32 bytes, so that a longer signature is told apart from
    // one that is not base64 (it then fails the comparison below).
    let mut decoded = [0u8; 48];
    let len = match URL_SAFE_NO_PAD.decode_slice(signature, &mut decoded) {
        Ok(len) => len,
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => return Ok(false),
        Err(base64::DecodeSliceError::DecodeError(_)) => return Err(TokenError::Malformed),
    };
    Ok(mac
        .clone()
        .chain_update(signing_input.as_bytes())
        .verify_slice(&decoded[..len])
        .is_ok())
}

/// The times a verified token is checked against.
pub(super) trait Times {
    /// `exp` and `nbf` (Unix seconds).
    fn exp_nbf(&self) -> (i64, i64);
}

fn from_base64_json<T: DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn only_three_parts_and_a_plain_header_are_accepted() {
        let payload = b64("{}");
        let header = b64(r#"{"alg":"HS256","kid":"k"}"#);
        let good = format!("{header}.{payload}.sig");
        let parse = |token: &str| split(token).and_then(|jws| jws.header());
        assert!(parse(&good).is_ok_and(|header| header.kid.as_deref() == Some("k")));
        for bad in [
            format!("{header}.{payload}"),
            format!("{header}.{payload}.x.sig"),
            format!("{}.{payload}.sig", b64(r#"{"alg":"HS256","crit":["exp"]}"#)),
            format!("{}.{payload}.sig", b64(r#"{"alg":"HS256","b64":false}"#)),
            format!("{}.{payload}.sig", b64(r#"{"kid":"k"}"#)),
            format!("%%%.{payload}.sig"),
        ] {
            assert_eq!(parse(&bad).err(), Some(TokenError::Malformed), "{bad}");
        }
    }
}
