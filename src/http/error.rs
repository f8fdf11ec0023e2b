//! The one place that chooses status codes. Every error answers `{"message", "error"}`
//! (the seed's `message` first), with `WWW-Authenticate` on 401 and `Retry-After` on 503.
//! Internal causes are logged once here and never sent to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::service::AuthError;

/// Every error an HTTP request can end with: one status and one stable code each, answered as `{"message", "error"}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A failure of the operation itself (see [`AuthError`]).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// No `Authorization` header where a token is required.
    #[error("Missing Authorization header")]
    MissingToken,
    /// An `Authorization` header that is not `Bearer <token>`.
    #[error("Authorization header must be 'Bearer <token>'")]
    MalformedAuthorization,
    /// A bearer token compared with a configured one (`metrics_token`) that does not match.
    #[error("Token is not valid here")]
    WrongBearerToken,
    /// A body that is not the JSON the route expects.
    #[error("Request body is not valid JSON")]
    InvalidJson,
    /// A well-formed body with a field of the wrong type or value (the reason is given).
    #[error("{0}")]
    InvalidRequest(String),
    /// A body that is not `application/json`.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// A body that is not `application/x-www-form-urlencoded` where a form is expected.
    #[error("Content-Type must be application/x-www-form-urlencoded")]
    FormMediaType,
    /// A body over `body_limit_bytes`.
    #[error("Request body is too large")]
    PayloadTooLarge,
    /// No such route.
    #[error("Not found")]
    NotFound,
    /// The route exists, not with this method.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// The request took longer than `request_timeout_secs`.
    #[error("Request timed out")]
    Timeout,
    /// A write authenticated by a cookie that failed the CSRF checks: from another site
    /// or origin, or without the session's `X-CSRF-TOKEN`.
    #[error("CSRF check failed: send X-CSRF-TOKEN from this site's csrf cookie")]
    CsrfFailed,
}

/// The body of every error response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// For people; may change.
    message: String,
    /// Stable machine-readable code, e.g. `invalid_credentials`.
    error: &'static str,
}

impl ApiError {
    /// Stable machine-readable code; pinned by a table-driven test.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Auth(e) => e.code(),
            ApiError::MissingToken => "missing_token",
            ApiError::MalformedAuthorization | ApiError::WrongBearerToken => "invalid_token",
            ApiError::InvalidJson => "invalid_json",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::UnsupportedMediaType | ApiError::FormMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Timeout => "request_timeout",
            ApiError::CsrfFailed => "csrf_failed",
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Auth(e) => match e {
                AuthError::MissingFields
                | AuthError::InvalidUsername(_)
                | AuthError::InvalidPassword(_)
                | AuthError::UsernameTaken
                | AuthError::InvalidEmail(_)
                | AuthError::InvalidCode => StatusCode::BAD_REQUEST,
                AuthError::EmailNotConfigured => StatusCode::NOT_IMPLEMENTED,
                AuthError::EmailTaken => StatusCode::CONFLICT,
                AuthError::InvalidCredentials
                | AuthError::MfaRequired(_)
                | AuthError::InvalidMfaToken
                | AuthError::InvalidMfaCode
                | AuthError::TotpReplayed
                | AuthError::InvalidRefreshToken
                | AuthError::RefreshTokenReused
                | AuthError::SessionEnded
                | AuthError::InvalidClient
                | AuthError::Token(_) => StatusCode::UNAUTHORIZED,
                AuthError::AccountDisabled | AuthError::RegistrationClosed => StatusCode::FORBIDDEN,
                AuthError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
                AuthError::SessionNotFound | AuthError::UserNotFound => StatusCode::NOT_FOUND,
                AuthError::NoSession | AuthError::MfaAlreadyEnabled | AuthError::MfaNotEnabled => {
                    StatusCode::CONFLICT
                }
                AuthError::WrongMfaCode | AuthError::SecondFactorRequired => StatusCode::FORBIDDEN,
                AuthError::WrongPassword | AuthError::ReauthenticationRequired => {
                    StatusCode::FORBIDDEN
                }
                AuthError::Overloaded
                | AuthError::Unavailable(_)
                | AuthError::BreachCheckUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                AuthError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::MissingToken
            | ApiError::MalformedAuthorization
            | ApiError::WrongBearerToken => StatusCode::UNAUTHORIZED,
            ApiError::InvalidJson | ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType | ApiError::FormMediaType => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::CsrfFailed => StatusCode::FORBIDDEN,
        }
    }

    /// Whether this is a failure of a presented bearer token (RFC 6750 `invalid_token`).
    fn is_bearer_token_failure(&self) -> bool {
        matches!(
            self,
            ApiError::MalformedAuthorization
                | ApiError::WrongBearerToken
                | ApiError::Auth(AuthError::Token(_))
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Auth(AuthError::Internal(cause)) => {
                tracing::error!(%cause, "internal error");
                "Internal server error".to_owned()
            }
            ApiError::Auth(AuthError::Unavailable(cause)) => {
                tracing::error!(%cause, "database unavailable");
                self.to_string()
            }
            _ => self.to_string(),
        };
        let body = ErrorBody {
            message,
            error: self.code(),
        };
        let mut response = match &self {
            // The one error with a field of its own: the token of the second step.
            ApiError::Auth(AuthError::MfaRequired(token)) => (
                status,
                axum::Json(serde_json::json!({
                    "message": body.message,
                    "error": body.error,
                    "mfa_token": token.expose(),
                })),
            )
                .into_response(),
            _ => (status, axum::Json(body)).into_response(),
        };
        let headers = response.headers_mut();
        // An error is never worth caching, and on a route without a `no_store` layer
        // (`/protected`, whose handler sets the headers itself) its refusals must not be
        // cached either.
        super::headers::insert_no_store(headers);
        if self.is_bearer_token_failure() {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="tessera", error="invalid_token""#),
            );
        } else if matches!(self, ApiError::Auth(AuthError::InvalidClient)) {
            // A service client authenticates with HTTP Basic (RFC 6749 §5.2).
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="tessera""#),
            );
        } else if status == StatusCode::UNAUTHORIZED {
            // No token, or a credential that is not a bearer token: RFC 6750 §3.1 says no error code.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="tessera""#),
            );
        }
        if let ApiError::Auth(AuthError::RateLimited(wait)) = &self {
            // Whole seconds, rounded up: a client that waits this long gets through.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// What a handler returns.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PasswordError, UsernameError};
    use crate::tokens::TokenError;

    #[test]
    fn every_error_has_its_pinned_status_and_code() {
        let table: Vec<(ApiError, u16, &str)> = vec![
            (AuthError::MissingFields.into(), 400, "missing_fields"),
            (
                AuthError::InvalidUsername(UsernameError::Empty).into(),
                400,
                "invalid_username",
            ),
            (
                AuthError::InvalidPassword(PasswordError::TooShort(8)).into(),
                400,
                "invalid_password",
            ),
            (AuthError::UsernameTaken.into(), 400, "username_taken"),
            (
                AuthError::RegistrationClosed.into(),
                403,
                "registration_closed",
            ),
            (
                AuthError::InvalidCredentials.into(),
                401,
                "invalid_credentials",
            ),
            (AuthError::AccountDisabled.into(), 403, "account_disabled"),
            (AuthError::Overloaded.into(), 503, "overloaded"),
            (
                AuthError::BreachCheckUnavailable.into(),
                503,
                "breached_check_unavailable",
            ),
            (
                AuthError::InvalidPassword(PasswordError::TooCommon).into(),
                400,
                "invalid_password",
            ),
            (
                AuthError::InvalidPassword(PasswordError::Breached).into(),
                400,
                "invalid_password",
            ),
            (
                AuthError::RateLimited(std::time::Duration::from_secs(1)).into(),
                429,
                "rate_limited",
            ),
            (
                AuthError::InvalidRefreshToken.into(),
                401,
                "invalid_refresh_token",
            ),
            (
                AuthError::RefreshTokenReused.into(),
                401,
                "refresh_token_reused",
            ),
            (AuthError::SessionEnded.into(), 401, "session_ended"),
            (AuthError::SessionNotFound.into(), 404, "session_not_found"),
            (AuthError::NoSession.into(), 409, "no_session"),
            (
                AuthError::MfaRequired(crate::secret::Secret::new("t".into())).into(),
                401,
                "mfa_required",
            ),
            (AuthError::InvalidMfaToken.into(), 401, "invalid_mfa_token"),
            (AuthError::InvalidMfaCode.into(), 401, "invalid_mfa_code"),
            (AuthError::TotpReplayed.into(), 401, "totp_replayed"),
            (AuthError::WrongMfaCode.into(), 403, "wrong_mfa_code"),
            (AuthError::SecondFactorRequired.into(), 403, "mfa_required"),
            (
                AuthError::MfaAlreadyEnabled.into(),
                409,
                "mfa_already_enabled",
            ),
            (AuthError::MfaNotEnabled.into(), 409, "mfa_not_enabled"),
            (AuthError::UserNotFound.into(), 404, "user_not_found"),
            (AuthError::WrongPassword.into(), 403, "wrong_password"),
            (
                AuthError::Token(TokenError::Malformed).into(),
                401,
                "invalid_token",
            ),
            (
                AuthError::Token(TokenError::BadSignature).into(),
                401,
                "invalid_signature",
            ),
            (
                AuthError::Token(TokenError::Expired).into(),
                401,
                "token_expired",
            ),
            (
                AuthError::Token(TokenError::NotYetValid).into(),
                401,
                "token_not_yet_valid",
            ),
            (
                AuthError::Token(TokenError::WrongType).into(),
                401,
                "wrong_token_type",
            ),
            (
                AuthError::Token(TokenError::WrongIssuer).into(),
                401,
                "invalid_issuer",
            ),
            (
                AuthError::Token(TokenError::WrongAudience).into(),
                401,
                "invalid_audience",
            ),
            (
                AuthError::Token(TokenError::Revoked).into(),
                401,
                "token_revoked",
            ),
            (
                AuthError::Token(TokenError::UnsupportedAlgorithm).into(),
                401,
                "unsupported_algorithm",
            ),
            (
                AuthError::Token(TokenError::AlgorithmMismatch).into(),
                401,
                "algorithm_mismatch",
            ),
            (
                AuthError::Token(TokenError::UnknownKey).into(),
                401,
                "unknown_key_id",
            ),
            (
                AuthError::Token(TokenError::KeyRetired).into(),
                401,
                "key_retired",
            ),
            (
                AuthError::Token(TokenError::MissingKeyId).into(),
                401,
                "missing_key_id",
            ),
            (
                AuthError::Unavailable("x".into()).into(),
                503,
                "unavailable",
            ),
            (
                AuthError::Internal("x".into()).into(),
                500,
                "internal_error",
            ),
            (
                AuthError::ReauthenticationRequired.into(),
                403,
                "reauthentication_required",
            ),
            (AuthError::InvalidClient.into(), 401, "invalid_client"),
            (
                AuthError::EmailNotConfigured.into(),
                501,
                "email_not_configured",
            ),
            (
                AuthError::InvalidEmail(crate::domain::EmailError("x".into())).into(),
                400,
                "invalid_email",
            ),
            (AuthError::InvalidCode.into(), 400, "invalid_code"),
            (AuthError::EmailTaken.into(), 409, "email_taken"),
            (ApiError::MissingToken, 401, "missing_token"),
            (ApiError::MalformedAuthorization, 401, "invalid_token"),
            (ApiError::WrongBearerToken, 401, "invalid_token"),
            (ApiError::InvalidJson, 400, "invalid_json"),
            (ApiError::InvalidRequest("x".into()), 400, "invalid_request"),
            (
                ApiError::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (ApiError::FormMediaType, 415, "unsupported_media_type"),
            (ApiError::PayloadTooLarge, 413, "payload_too_large"),
            (ApiError::NotFound, 404, "not_found"),
            (ApiError::MethodNotAllowed, 405, "method_not_allowed"),
            (ApiError::Timeout, 408, "request_timeout"),
            (ApiError::CsrfFailed, 403, "csrf_failed"),
        ];
        for (error, status, code) in table {
            assert_eq!(
                (error.status().as_u16(), error.code()),
                (status, code),
                "{error:?}"
            );
        }
    }
}
