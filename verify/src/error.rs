//! Why a token was refused: tessera's stable codes, so a downstream service answers like
//! tessera itself.

/// Why [`Verifier::verify`](crate::Verifier::verify) refused a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// No bearer token was presented.
    MissingToken,
    /// Not a JWT, or its claims are not tessera's.
    Malformed,
    /// The signature does not match the key.
    BadSignature,
    /// Past `exp` (plus leeway).
    Expired,
    /// Before `nbf`, or `iat` in the future (beyond leeway).
    NotYetValid,
    /// `type` is not `access` (a refresh token, say).
    WrongType,
    /// `iss` differs from the configured issuer.
    WrongIssuer,
    /// `aud` does not name the configured audience.
    WrongAudience,
    /// The session was ended (logout, revocation) on tessera.
    Revoked,
    /// `alg` is none of EdDSA, ES256, RS256, HS256.
    UnsupportedAlgorithm,
    /// `alg` is not the one pinned for the key.
    AlgorithmMismatch,
    /// No key with this `kid`, even after refetching the key set.
    UnknownKey,
    /// The token names no `kid` (required with a key set).
    MissingKeyId,
    /// The key set could not be refreshed for longer than the staleness bound (fail closed).
    KeysUnavailable,
    /// The revocation feed was unreachable for longer than its bound and the verifier
    /// fails closed.
    RevocationsUnavailable,
}

impl VerifyError {
    /// The stable code, as tessera's `error` field spells it.
    pub fn code(self) -> &'static str {
        match self {
            VerifyError::MissingToken => "missing_token",
            VerifyError::Malformed => "invalid_token",
            VerifyError::BadSignature => "invalid_signature",
            VerifyError::Expired => "token_expired",
            VerifyError::NotYetValid => "token_not_yet_valid",
            VerifyError::WrongType => "wrong_token_type",
            VerifyError::WrongIssuer => "invalid_issuer",
            VerifyError::WrongAudience => "invalid_audience",
            VerifyError::Revoked => "token_revoked",
            VerifyError::UnsupportedAlgorithm => "unsupported_algorithm",
            VerifyError::AlgorithmMismatch => "algorithm_mismatch",
            VerifyError::UnknownKey => "unknown_key_id",
            VerifyError::MissingKeyId => "missing_key_id",
            VerifyError::KeysUnavailable | VerifyError::RevocationsUnavailable => "unavailable",
        }
    }

    /// 401 for a refused token, 503 when the verifier cannot decide (fail closed).
    pub fn status(self) -> u16 {
        match self {
            VerifyError::KeysUnavailable | VerifyError::RevocationsUnavailable => 503,
            _ => 401,
        }
    }

    /// A sentence for people (may change; match on [`code`](Self::code)).
    pub fn message(self) -> &'static str {
        match self {
            VerifyError::MissingToken => "Missing Authorization header",
            VerifyError::Malformed => "Token is malformed",
            VerifyError::BadSignature => "Token signature is invalid",
            VerifyError::Expired => "Token has expired",
            VerifyError::NotYetValid => "Token is not valid yet",
            VerifyError::WrongType => "Only access tokens are accepted",
            VerifyError::WrongIssuer => "Token has the wrong issuer",
            VerifyError::WrongAudience => "Token is not meant for this service",
            VerifyError::Revoked => "Token has been revoked",
            VerifyError::UnsupportedAlgorithm => "Token algorithm is not supported",
            VerifyError::AlgorithmMismatch => "Token algorithm does not match its key",
            VerifyError::UnknownKey => "Token was signed by an unknown key",
            VerifyError::MissingKeyId => "Token has no key id",
            VerifyError::KeysUnavailable => "Signing keys are unavailable; retry shortly",
            VerifyError::RevocationsUnavailable => "Revocation list is unavailable; retry shortly",
        }
    }

    /// The `WWW-Authenticate` value for a 401 (RFC 6750 §3): `error="invalid_token"` when
    /// a presented token failed, none when there was no token.
    pub fn www_authenticate(self) -> Option<&'static str> {
        match self {
            VerifyError::MissingToken => Some(r#"Bearer realm="tessera""#),
            e if e.status() == 401 => Some(r#"Bearer realm="tessera", error="invalid_token""#),
            _ => None,
        }
    }
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for VerifyError {}

/// Why a [`Verifier`](crate::Verifier) could not be built.
#[derive(Debug)]
pub struct BuildError(pub(crate) String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}
