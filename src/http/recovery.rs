//! Account recovery over JSON: the caller's address (`/me/email`), its verification
//! (`/email/verify`), and the password reset (`/password/forgot`, `/password/reset`).
//! The pages a mailed link opens are hosted pages (`ui::recovery`); the paths older
//! messages carried redirect there (`recovery_pages`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, AuthUser, Client};
use crate::email::templates::Language;
use crate::service::{ForgotBy, ResetBy, Tessera, VerifyBy};

/// The one answer of `POST /password/forgot`, whatever happened.
pub const FORGOT_ANSWER: &str = "If the account exists, a message has been sent";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetEmailRequest {
    /// The address (unverified until its code or link is used).
    #[schema(min_length = 3, max_length = 254)]
    email: String,
    /// The current password.
    #[schema(min_length = 1)]
    password: String,
}

/// `{"code"}` (with the access token) or `{"token"}` (from the link, no login needed).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The 8-character code from the message.
    code: Option<String>,
    /// The token from the message's link.
    token: Option<String>,
}

/// `{"username"}` or `{"email"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    username: Option<String>,
    email: Option<String>,
}

/// `{"token", "new_password"}` or `{"username", "code", "new_password"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The token from the message's link.
    token: Option<String>,
    /// The account's name, with `code`.
    username: Option<String>,
    /// The 8-character code from the message, with `username`.
    code: Option<String>,
    /// The new password (the normal policy applies).
    new_password: String,
}

/// What `/email/verify` reads, as the document says it (documentation only: the handler
/// reads [`VerifyEmailRequest`] and answers 400 to anything else).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum VerifyEmailBody {
    /// With the caller's access token.
    Code(VerifyWithCode),
    /// From the link, no login needed.
    Token(WithToken),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct VerifyWithCode {
    /// The 8-character code from the message.
    #[schema(min_length = 1, pattern = r"\S")]
    code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct WithToken {
    /// The token from the message's link.
    #[schema(min_length = 1, pattern = r"\S")]
    token: String,
}

/// What `/password/forgot` reads (documentation only, as [`VerifyEmailBody`]).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ForgotPasswordBody {
    /// By the account's name.
    Username(ForgotByName),
    /// By the account's verified address.
    Email(ForgotByEmail),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ForgotByName {
    #[schema(min_length = 1, pattern = r"\S")]
    username: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ForgotByEmail {
    #[schema(min_length = 1, pattern = r"\S")]
    email: String,
}

/// What `/password/reset` reads (documentation only, as [`VerifyEmailBody`]).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ResetPasswordBody {
    /// With the link's token.
    Token(ResetWithToken),
    /// With the typed code and the account's name.
    Code(ResetWithCode),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ResetWithToken {
    #[schema(min_length = 1, pattern = r"\S")]
    token: String,
    /// The new password (the normal policy applies).
    #[schema(min_length = 8, max_length = 1024)]
    new_password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ResetWithCode {
    #[schema(min_length = 1, pattern = r"\S")]
    username: String,
    #[schema(min_length = 1, pattern = r"\S")]
    code: String,
    /// The new password (the normal policy applies).
    #[schema(min_length = 8, max_length = 1024)]
    new_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct MessageResponse {
    message: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct VerifiedResponse {
    message: &'static str,
    /// The address now verified.
    email: String,
}

/// The language of messages sent for this request.
pub fn request_language(headers: &HeaderMap) -> Language {
    Language::from_accept_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

#[utoipa::path(post, path = "/me/email", tag = "account", security(("bearer" = [])),
    request_body = SetEmailRequest,
    responses(
        (status = 202, description = "The address is recorded unverified; a code and a link were queued to it (and a notice to the verified address it replaces)", body = MessageResponse),
        (status = 400, description = "Not a valid address (`invalid_email`), or bad JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "`wrong_password`, or the account is disabled", body = ErrorBody),
        (status = 429, description = "Too many password checks, or the per-hour mail limit for this address or account", body = ErrorBody),
        (status = 501, description = "No mail is configured (`email_not_configured`)", body = ErrorBody),
        (status = 503, description = "Database unavailable or hashing overloaded", body = ErrorBody),
    ))]
pub async fn set_email(
    State(tessera): State<Tessera>,
    user: AuthUser,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SetEmailRequest>,
) -> ApiResult<(StatusCode, Json<MessageResponse>)> {
    tessera
        .set_email(
            user.claims(),
            &body.email,
            body.password,
            request_language(&headers),
            &client,
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageResponse {
            message: "A code and a link were sent to the address",
        }),
    ))
}

#[utoipa::path(delete, path = "/me/email", tag = "account", security(("bearer" = [])),
    responses(
        (status = 200, description = "The address is removed", body = MessageResponse),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn remove_email(
    State(tessera): State<Tessera>,
    user: AuthUser,
    Client(client): Client,
) -> ApiResult<Json<MessageResponse>> {
    tessera.remove_email(user.claims(), &client).await?;
    Ok(Json(MessageResponse {
        message: "Email address removed",
    }))
}

#[utoipa::path(post, path = "/email/verify", tag = "account",
    security((), ("bearer" = [])),
    request_body = VerifyEmailBody,
    responses(
        (status = 200, description = "The address is verified", body = VerifiedResponse),
        (status = 400, description = "Wrong, used or expired code or token (`invalid_code`), neither or both given, or bad JSON", body = ErrorBody),
        (status = 401, description = "`code` without a valid access token", body = ErrorBody),
        (status = 409, description = "Another account verified this address first (`email_taken`)", body = ErrorBody),
        (status = 429, description = "Too many wrong codes", body = ErrorBody),
        (status = 501, description = "No mail is configured (`email_not_configured`)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn verify_email(
    State(tessera): State<Tessera>,
    user: Result<AuthUser, ApiError>,
    Client(client): Client,
    ApiJson(body): ApiJson<VerifyEmailRequest>,
) -> ApiResult<Json<VerifiedResponse>> {
    let (code, token) = (non_empty(body.code), non_empty(body.token));
    // A code proves the address for the signed-in caller only: the access token is
    // required with it (and its refusal is the answer); a link's token needs none.
    let user = match (&code, user) {
        (Some(_), Err(refused)) => return Err(refused),
        (_, user) => user.ok(),
    };
    let by = match (code, token) {
        (Some(code), None) => match &user {
            Some(user) => VerifyBy::Code(user.claims(), code),
            None => return Err(ApiError::MissingToken),
        },
        (None, Some(token)) => VerifyBy::Token(token),
        _ => {
            return Err(ApiError::InvalidRequest(
                "give either code (with the access token) or token".into(),
            ));
        }
    };
    let email = tessera.verify_email(by, &client).await?;
    Ok(Json(VerifiedResponse {
        message: "Email address verified",
        email,
    }))
}

#[utoipa::path(post, path = "/password/forgot", tag = "accounts",
    request_body = ForgotPasswordBody,
    responses(
        (status = 202, description = "Always the same answer, whether or not the account or a verified address exists", body = MessageResponse),
        (status = 400, description = "Neither or both of `username` and `email`, or bad JSON", body = ErrorBody),
        (status = 501, description = "No mail is configured (`email_not_configured`)", body = ErrorBody),
    ))]
pub async fn forgot_password(
    State(tessera): State<Tessera>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ForgotPasswordRequest>,
) -> ApiResult<(StatusCode, Json<MessageResponse>)> {
    let by = match (non_empty(body.username), non_empty(body.email)) {
        (Some(username), None) => ForgotBy::Username(username),
        (None, Some(email)) => ForgotBy::Email(email),
        _ => {
            return Err(ApiError::InvalidRequest(
                "give either username or email".into(),
            ));
        }
    };
    tessera.forgot_password(by, request_language(&headers), client)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageResponse {
            message: FORGOT_ANSWER,
        }),
    ))
}

#[utoipa::path(post, path = "/password/reset", tag = "accounts",
    request_body = ResetPasswordBody,
    responses(
        (status = 200, description = "Password set; every session of the account ended", body = MessageResponse),
        (status = 400, description = "Wrong, used or expired code or token (`invalid_code`), a new password outside the policy, or bad JSON", body = ErrorBody),
        (status = 429, description = "Too many wrong codes", body = ErrorBody),
        (status = 503, description = "Database unavailable or hashing overloaded", body = ErrorBody),
    ))]
pub async fn reset_password(
    State(tessera): State<Tessera>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetPasswordRequest>,
) -> ApiResult<Json<MessageResponse>> {
    let by = match (
        non_empty(body.token),
        non_empty(body.username),
        non_empty(body.code),
    ) {
        (Some(token), None, None) => ResetBy::Token(token),
        (None, Some(username), Some(code)) => ResetBy::Code { username, code },
        _ => {
            return Err(ApiError::InvalidRequest(
                "give either token, or username and code".into(),
            ));
        }
    };
    tessera
        .reset_password(by, body.new_password, &client)
        .await?;
    Ok(Json(MessageResponse {
        message: "Password changed; every session has ended",
    }))
}
