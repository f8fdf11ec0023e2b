//! A user's own sessions: logout by scope, list, and end one.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::error::ApiResult;
use super::extract::{AuthUser, OptionalApiJson};
use crate::service::{SessionView, Tessera};
use crate::store::LogoutScope;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    #[serde(default)]
    scope: ScopeName,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum ScopeName {
    #[default]
    Local,
    Others,
    Global,
}

#[derive(Serialize)]
pub struct LogoutResponse {
    message: &'static str,
    revoked_sessions: usize,
}

#[derive(Serialize)]
pub struct SessionsResponse {
    sessions: Vec<SessionView>,
}

#[derive(Serialize)]
pub struct MessageResponse {
    message: &'static str,
}

pub async fn end_sessions(
    State(tessera): State<Tessera>,
    user: AuthUser,
    OptionalApiJson(body): OptionalApiJson<LogoutRequest>,
) -> ApiResult<Json<LogoutResponse>> {
    let scope = match body.unwrap_or_default().scope {
        ScopeName::Local => LogoutScope::Local,
        ScopeName::Others => LogoutScope::Others,
        ScopeName::Global => LogoutScope::Global,
    };
    let revoked_sessions = tessera.logout(user.claims(), scope).await?;
    Ok(Json(LogoutResponse {
        message: "Logged out",
        revoked_sessions,
    }))
}

pub async fn list_sessions(
    State(tessera): State<Tessera>,
    user: AuthUser,
) -> ApiResult<Json<SessionsResponse>> {
    let sessions = tessera.list_sessions(user.claims()).await?;
    Ok(Json(SessionsResponse { sessions }))
}

pub async fn revoke_session(
    State(tessera): State<Tessera>,
    user: AuthUser,
    Path(session_id): Path<String>,
) -> ApiResult<Json<MessageResponse>> {
    tessera.revoke_session(user.claims(), &session_id).await?;
    Ok(Json(MessageResponse {
        message: "Session revoked",
    }))
}
