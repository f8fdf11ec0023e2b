//! Access tokens: HS256 JWTs whose claims follow Flask-JWT-Extended (`fresh`, `iat`,
//! `jti`, `type`, `sub`, `nbf`, `exp`) plus `iss` and `sid`, so a Flask app holding
//! the same secret accepts them, and tessera accepts the Flask app's.
//!
//! Verification pins the algorithm to HS256: a token that names any other algorithm
//! (`none`, or RS256 to smuggle a public key in as an HMAC secret) is refused before
//! its signature is looked at.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// `true` right after a password check; a token from a refresh is not fresh.
    /// Flask-JWT-Extended also writes a timestamp here, so any JSON value is accepted.
    #[serde(default)]
    pub fresh: serde_json::Value,
    pub iat: i64,
    #[serde(default)]
    pub jti: String,
    #[serde(rename = "type")]
    pub token_type: String,
    pub sub: String,
    pub nbf: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The session the token belongs to; absent on tokens minted by Flask-JWT-Extended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Why a presented access token was refused. Each maps to its own API error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("Token is malformed")]
    Malformed,
    #[error("Token signature is invalid")]
    BadSignature,
    #[error("Token has expired")]
    Expired,
    #[error("Token is not valid yet")]
    NotYetValid,
    #[error("Token is not an access token")]
    WrongType,
    #[error("Token was issued by another issuer")]
    WrongIssuer,
    #[error("Token has been revoked")]
    Revoked,
}

/// What a valid access token says about its bearer.
#[derive(Debug, Clone)]
pub struct VerifiedAccess {
    pub claims: AccessClaims,
}

pub struct IssuedAccessToken {
    pub token: String,
    pub expires_in: i64,
}

/// Mints and verifies access tokens with one HS256 secret.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    header: Header,
    validation: Validation,
    issuer: String,
    ttl_secs: i64,
    leeway_secs: i64,
}

impl AccessTokens {
    pub fn new(
        secret: &Secret,
        issuer: String,
        ttl_secs: u64,
        leeway_secs: u64,
    ) -> anyhow::Result<Self> {
        let bytes = secret.expose().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway_secs;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "nbf", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(bytes)?,
            decoding: DecodingKey::from_secret(bytes)?,
            header: Header::new(Algorithm::HS256),
            validation,
            issuer,
            ttl_secs: ttl_secs as i64,
            leeway_secs: leeway_secs as i64,
        })
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// A new access token for `username`, tied to session `sid`.
    pub fn issue(
        &self,
        username: &str,
        sid: &str,
        fresh: bool,
        now: i64,
    ) -> anyhow::Result<IssuedAccessToken> {
        let claims = AccessClaims {
            fresh: serde_json::Value::Bool(fresh),
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            token_type: "access".into(),
            sub: username.to_owned(),
            nbf: now,
            exp: now + self.ttl_secs,
            iss: Some(self.issuer.clone()),
            sid: Some(sid.to_owned()),
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.encoding)?;
        Ok(IssuedAccessToken {
            token,
            expires_in: self.ttl_secs,
        })
    }

    /// Checks signature, algorithm, times, type and issuer. Revocation is checked by the caller.
    pub fn verify(&self, token: &str, now: i64) -> Result<VerifiedAccess, TokenError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                _ => TokenError::Malformed,
            })?;
        let claims = data.claims;
        if claims.token_type != "access" {
            return Err(TokenError::WrongType);
        }
        if claims.iat > now + self.leeway_secs {
            return Err(TokenError::NotYetValid);
        }
        // Tokens without `iss` (Flask-JWT-Extended's) are accepted; a different issuer is not.
        if claims.iss.as_deref().is_some_and(|iss| iss != self.issuer) {
            return Err(TokenError::WrongIssuer);
        }
        Ok(VerifiedAccess { claims })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> AccessTokens {
        AccessTokens::new(&Secret::new("k".repeat(40)), "tessera".into(), 900, 0)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() -> anyhow::Result<()> {
        let t = tokens();
        let now = super::super::now_unix();
        let issued = t.issue("Alice", "sid-1", true, now)?;
        let v = t.verify(&issued.token, now)?;
        assert_eq!(v.claims.sub, "Alice");
        assert_eq!(v.claims.sid.as_deref(), Some("sid-1"));
        assert_eq!(v.claims.exp - v.claims.iat, 900);
        Ok(())
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(
            tokens().verify("not.a.jwt", 0).err(),
            Some(TokenError::Malformed)
        );
    }
}
