//! The caller's own account: `GET /me`, `POST /me/password`, `DELETE /me`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::error::ApiResult;
use super::extract::{ApiJson, AuthUser};
use crate::service::{AccountView, Tessera};

#[derive(Serialize)]
pub struct MeResponse {
    user: AccountView,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    current_password: String,
    new_password: String,
}

#[derive(Serialize)]
pub struct ChangePasswordResponse {
    message: &'static str,
    ended_sessions: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    password: String,
}

#[derive(Serialize)]
pub struct MessageResponse {
    message: &'static str,
}

pub async fn show_account(
    State(tessera): State<Tessera>,
    user: AuthUser,
) -> ApiResult<Json<MeResponse>> {
    Ok(Json(MeResponse {
        user: tessera.me(user.claims()).await?,
    }))
}

pub async fn change_password(
    State(tessera): State<Tessera>,
    user: AuthUser,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> ApiResult<Json<ChangePasswordResponse>> {
    let ended_sessions = tessera
        .change_password(user.claims(), body.current_password, body.new_password)
        .await?;
    Ok(Json(ChangePasswordResponse {
        message: "Password changed",
        ended_sessions,
    }))
}

pub async fn delete_account(
    State(tessera): State<Tessera>,
    user: AuthUser,
    ApiJson(body): ApiJson<DeleteAccountRequest>,
) -> ApiResult<Json<MessageResponse>> {
    tessera.delete_account(user.claims(), body.password).await?;
    Ok(Json(MessageResponse {
        message: "Account deleted",
    }))
}
