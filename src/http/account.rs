//! The caller's own account: `GET /me`, `POST /me/password`, `DELETE /me`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use utoipa::ToSchema;

use super::cookies;
use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, AuthUser, Client};
use crate::service::{AccountView, Tessera};

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    user: AccountView,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    current_password: String,
    new_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct ChangePasswordResponse {
    message: &'static str,
    ended_sessions: usize,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct MessageResponse {
    message: &'static str,
}

#[utoipa::path(get, path = "/me", tag = "account", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = MeResponse),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn show_account(
    State(tessera): State<Tessera>,
    user: AuthUser,
) -> ApiResult<Json<MeResponse>> {
    Ok(Json(MeResponse {
        user: tessera.me(user.claims()).await?,
    }))
}

#[utoipa::path(post, path = "/me/password", tag = "account", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Password changed; the caller's other sessions ended", body = ChangePasswordResponse),
        (status = 400, description = "New password outside the policy, or bad JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "The current password is wrong (`wrong_password`) or the account is disabled", body = ErrorBody),
        (status = 429, description = "Too many password checks from this address or for this name (as `/login`)", body = ErrorBody),
        (status = 503, description = "Database unavailable or hashing overloaded", body = ErrorBody),
    ))]
pub async fn change_password(
    State(tessera): State<Tessera>,
    user: AuthUser,
    Client(client): Client,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> ApiResult<Json<ChangePasswordResponse>> {
    let ended_sessions = tessera
        .change_password(
            user.claims(),
            body.current_password,
            body.new_password,
            &client,
        )
        .await?;
    Ok(Json(ChangePasswordResponse {
        message: "Password changed",
        ended_sessions,
    }))
}

#[utoipa::path(delete, path = "/me", tag = "account", security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    responses(
        (status = 200, description = "Account deleted; all its sessions ended; the session cookies cleared", body = MessageResponse),
        (status = 400, description = "Bad JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "The password is wrong (`wrong_password`) or the account is disabled", body = ErrorBody),
        (status = 429, description = "Too many password checks from this address or for this name (as `/login`)", body = ErrorBody),
        (status = 503, description = "Database unavailable or hashing overloaded", body = ErrorBody),
    ))]
pub async fn delete_account(
    State(tessera): State<Tessera>,
    user: AuthUser,
    Client(client): Client,
    ApiJson(body): ApiJson<DeleteAccountRequest>,
) -> ApiResult<(HeaderMap, Json<MessageResponse>)> {
    tessera
        .delete_account(user.claims(), body.password, &client)
        .await?;
    // Every session is gone: so are the browser's cookies of them.
    let mut headers = HeaderMap::new();
    cookies::clear_session(&mut headers, &tessera.config().cookies);
    Ok((
        headers,
        Json(MessageResponse {
            message: "Account deleted",
        }),
    ))
}
