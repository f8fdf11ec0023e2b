//! The second factor: the login step `POST /login/mfa`, and the caller's own factor under
//! `/me/mfa` (enrol, confirm, remove, new recovery codes).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{LoginAnswer, login_answer};
use super::csrf;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, AuthUser, Client, OptionalApiJson};
use crate::service::{MfaCodes, MfaEnrolment, MfaProof, Tessera, Transport};

/// The second step of a login: the `mfa_token` from `/login`'s `401 mfa_required`, and
/// either a TOTP `code` or a `recovery_code`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaLoginRequest {
    #[schema(min_length = 1)]
    mfa_token: String,
    /// Six digits from the authenticator app.
    #[serde(default)]
    code: Option<String>,
    /// One of the recovery codes (each works once).
    #[serde(default)]
    recovery_code: Option<String>,
    /// How the tokens go out, as for `/login`: `body` (default) or `cookie`.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^(body|cookie)$")]
    transport: Option<String>,
}

/// What `/login/mfa` reads, as the document says it: a token and exactly one proof
/// (documentation only: the handler parses [`MfaLoginRequest`] and answers 400 otherwise).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum MfaLoginBody {
    Code(MfaLoginWithCode),
    RecoveryCode(MfaLoginWithRecoveryCode),
}

/// The second step with a TOTP code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct MfaLoginWithCode {
    #[schema(min_length = 1)]
    mfa_token: String,
    /// Six digits from the authenticator app.
    code: String,
    /// How the tokens go out, as for `/login`.
    #[schema(pattern = "^(body|cookie)$")]
    transport: Option<String>,
}

/// The second step with a recovery code (each works once).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct MfaLoginWithRecoveryCode {
    #[schema(min_length = 1)]
    mfa_token: String,
    recovery_code: String,
    /// How the tokens go out, as for `/login`.
    #[schema(pattern = "^(body|cookie)$")]
    transport: Option<String>,
}

/// What `DELETE /me/mfa/totp` reads (documentation only, as [`MfaLoginBody`]).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum RemoveTotpBody {
    Code(RemoveWithCode),
    RecoveryCode(RemoveWithRecoveryCode),
}

/// Removal with the password and a TOTP code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RemoveWithCode {
    password: String,
    code: String,
}

/// Removal with the password and a recovery code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RemoveWithRecoveryCode {
    password: String,
    recovery_code: String,
}

/// Optional re-authentication: the current password, unless the access token is fresh
/// from a password login.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthRequest {
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotpRequest {
    /// A code from the authenticator app, proving it was set up.
    code: String,
}

/// Turning the factor off takes the password and a TOTP `code` or a `recovery_code`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveTotpRequest {
    password: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RemoveTotpResponse {
    message: &'static str,
    ended_sessions: usize,
}

/// Exactly one of a TOTP code and a recovery code.
fn proof(code: Option<String>, recovery_code: Option<String>) -> ApiResult<MfaProof> {
    match (code, recovery_code) {
        (Some(code), None) => Ok(MfaProof::Code(code)),
        (None, Some(recovery)) => Ok(MfaProof::RecoveryCode(recovery)),
        _ => Err(ApiError::InvalidRequest(
            "Send either code or recovery_code".into(),
        )),
    }
}

/// Completes a login whose password was right, with the account's second factor.
#[utoipa::path(post, path = "/login/mfa", tag = "accounts", request_body = MfaLoginBody,
    responses(
        (status = 200, description = "Logged in, as `/login` answers (tokens in the body, or in cookies with `transport: cookie`); the tokens carry `amr` and `aal: aal2`", body = LoginAnswer),
        (status = 400, description = "Bad JSON, an unknown `transport`, or not exactly one of `code` and `recovery_code`", body = ErrorBody),
        (status = 401, description = "`invalid_mfa_token` (unknown, expired, used, or five codes tried: log in again), `invalid_mfa_code`, or `totp_replayed` (a code already used)", body = ErrorBody),
        (status = 403, description = "Account disabled; or `csrf_failed` (cookie transport asked for by a page of another site)", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address or for this name (as `/login`)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn complete_mfa_login(
    State(tessera): State<Tessera>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<MfaLoginRequest>,
) -> ApiResult<(HeaderMap, Json<LoginAnswer>)> {
    let proof = proof(body.code, body.recovery_code)?;
    let transport = match body.transport.as_deref() {
        None | Some("body") => Transport::Body,
        Some("cookie") => Transport::Cookie,
        Some(_) => {
            return Err(ApiError::InvalidRequest(
                r#"transport must be "body" or "cookie""#.into(),
            ));
        }
    };
    // As `/login`: a page of another site must not sign the browser into an account.
    if transport == Transport::Cookie
        && let Err(e) = csrf::check_request_site(&headers, tessera.config())
    {
        tessera.audit_refused_csrf(None, &client);
        return Err(e);
    }
    let outcome = tessera
        .complete_mfa_login(&body.mfa_token, proof, client, transport)
        .await?;
    Ok(login_answer(&tessera, outcome))
}

/// Starts enrolling a TOTP factor (or starts over while it is pending).
#[utoipa::path(post, path = "/me/mfa/totp", tag = "account", security(("bearer" = [])),
    request_body(content = Option<ReauthRequest>, description = "The password, unless the token is fresh from a password login"),
    responses(
        (status = 200, description = "The secret, its `otpauth://` URI and QR code; pending until confirmed", body = MfaEnrolment),
        (status = 400, description = "Bad JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "`reauthentication_required`, `wrong_password`, or account disabled", body = ErrorBody),
        (status = 409, description = "A factor is enabled already (`mfa_already_enabled`)", body = ErrorBody),
        (status = 429, description = "Too many password checks (as `/login`)", body = ErrorBody),
        (status = 503, description = "Database unavailable or hashing overloaded", body = ErrorBody),
    ))]
pub async fn enrol_totp(
    State(tessera): State<Tessera>,
    user: AuthUser,
    Client(client): Client,
    OptionalApiJson(body): OptionalApiJson<ReauthRequest>,
) -> ApiResult<Json<MfaEnrolment>> {
    let password = body.unwrap_or_default().password;
    Ok(Json(
        tessera.enrol_totp(user.claims(), password, &client).await?,
    ))
}

/// Confirms the pending factor with a first code: from now on logins need it.
#[utoipa::path(post, path = "/me/mfa/totp/confirm", tag = "account", security(("bearer" = [])),
    request_body = ConfirmTotpRequest,
    responses(
        (status = 200, description = "Enabled; ten recovery codes, shown once. Other sessions ended unless `mfa.end_other_sessions` is off", body = MfaCodes),
        (status = 400, description = "Bad JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "Wrong code (`wrong_mfa_code`), or account disabled", body = ErrorBody),
        (status = 409, description = "Nothing pending (`mfa_not_enabled`) or enabled already (`mfa_already_enabled`)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn confirm_totp(
    State(tessera): State<Tessera>,
    user: AuthUser,
    Client(client): Client,
    ApiJson(body): ApiJson<ConfirmTotpRequest>,
) -> ApiResult<Json<MfaCodes>> {
    Ok(Json(
        tessera
            .confirm_totp(user.claims(), &body.code, &client)
            .await?,
    ))
}

/// Turns the factor off (its recovery codes go too).
#[utoipa::path(delete, path = "/me/mfa/totp", tag = "account", security(("bearer" = [])),
    request_body = RemoveTotpBody,
    responses(
        (status = 200, description = "Removed; other sessions ended unless `mfa.end_other_sessions` is off", body = RemoveTotpResponse),
        (status = 400, description = "Bad JSON, or not exactly one of `code` and `recovery_code`", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked access token; or `totp_replayed`", body = ErrorBody),
        (status = 403, description = "`wrong_password`, `wrong_mfa_code`, or account disabled", body = ErrorBody),
        (status = 409, description = "No factor enabled (`mfa_not_enabled`)", body = ErrorBody),
        (status = 429, description = "Too many password checks (as `/login`)", body = ErrorBody),
        (status = 503, description = "Database unavailable or hashing overloaded", body = ErrorBody),
    ))]
pub async fn remove_totp(
    State(tessera): State<Tessera>,
    user: AuthUser,
    Client(client): Client,
    ApiJson(body): ApiJson<RemoveTotpRequest>,
) -> ApiResult<Json<RemoveTotpResponse>> {
    let proof = proof(body.code, body.recovery_code)?;
    let ended_sessions = tessera
        .remove_totp(user.claims(), body.password, proof, &client)
        .await?;
    Ok(Json(RemoveTotpResponse {
        message: "Second factor removed",
        ended_sessions,
    }))
}

/// Replaces the recovery codes with ten new ones.
#[utoipa::path(post, path = "/me/mfa/recovery-codes", tag = "account", security(("bearer" = [])),
    request_body(content = Option<ReauthRequest>, description = "The password, unless the token is fresh from a password login"),
    responses(
        (status = 200, description = "Ten new codes, shown once; the old ones stop working", body = MfaCodes),
        (status = 400, description = "Bad JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "`reauthentication_required`, `wrong_password`, or account disabled", body = ErrorBody),
        (status = 409, description = "No factor enabled (`mfa_not_enabled`)", body = ErrorBody),
        (status = 429, description = "Too many password checks (as `/login`)", body = ErrorBody),
        (status = 503, description = "Database unavailable or hashing overloaded", body = ErrorBody),
    ))]
pub async fn regenerate_recovery_codes(
    State(tessera): State<Tessera>,
    user: AuthUser,
    Client(client): Client,
    OptionalApiJson(body): OptionalApiJson<ReauthRequest>,
) -> ApiResult<Json<MfaCodes>> {
    let password = body.unwrap_or_default().password;
    Ok(Json(
        tessera
            .regenerate_recovery_codes(user.claims(), password, &client)
            .await?,
    ))
}
