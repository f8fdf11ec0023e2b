//! The seed's contract: register, login, protected; plus refresh.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, Client, CredentialsBody, OptionalApiJson, bearer_token};
use crate::service::{RegisteredUser, Tessera};

#[derive(Serialize)]
pub struct UserResponse {
    pub id: i64,
    pub username: String,
}

impl From<RegisteredUser> for UserResponse {
    fn from(u: RegisteredUser) -> Self {
        Self {
            id: u.id,
            username: u.username,
        }
    }
}

#[derive(Serialize)]
pub struct RegisterResponse {
    message: &'static str,
    user: UserResponse,
}

#[derive(Serialize)]
pub struct LoginResponse {
    message: &'static str,
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: i64,
    user: UserResponse,
}

#[derive(Serialize)]
pub struct RefreshResponse {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: i64,
}

#[derive(Deserialize)]
pub struct RefreshRequest {
    refresh_token: Option<String>,
}

pub async fn create_user(
    State(tessera): State<Tessera>,
    Client(client): Client,
    CredentialsBody(credentials): CredentialsBody,
) -> ApiResult<(StatusCode, Json<RegisterResponse>)> {
    let user = tessera.register(credentials, &client).await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisterResponse {
            message: "User created successfully",
            user: user.into(),
        }),
    ))
}

pub async fn create_session(
    State(tessera): State<Tessera>,
    Client(client): Client,
    CredentialsBody(credentials): CredentialsBody,
) -> ApiResult<Json<LoginResponse>> {
    let outcome = tessera.login(credentials, client).await?;
    Ok(Json(LoginResponse {
        message: "Login successful",
        access_token: outcome.session.access_token,
        refresh_token: outcome.session.refresh_token,
        token_type: "Bearer",
        expires_in: outcome.session.expires_in,
        user: outcome.user.into(),
    }))
}

/// The refresh token comes in the JSON body, or as `Authorization: Bearer` the way
/// Flask-JWT-Extended's `@jwt_required(refresh=True)` reads it.
pub async fn refresh_session(
    State(tessera): State<Tessera>,
    Client(client): Client,
    headers: HeaderMap,
    OptionalApiJson(body): OptionalApiJson<RefreshRequest>,
) -> ApiResult<Json<RefreshResponse>> {
    let from_body = body.and_then(|b| b.refresh_token).filter(|t| !t.is_empty());
    let presented = match from_body {
        Some(token) => token,
        None => bearer_token(&headers)?
            .map(str::to_owned)
            .ok_or_else(|| ApiError::InvalidRequest("Missing refresh_token".into()))?,
    };
    let outcome = tessera
        .refresh(&presented, &client)
        .await
        .map_err(ApiError::from)?;
    if outcome.grace_replay {
        tracing::debug!("refresh answered from the grace window");
    }
    let s = outcome.session;
    Ok(Json(RefreshResponse {
        access_token: s.access_token,
        refresh_token: s.refresh_token,
        token_type: "Bearer",
        expires_in: s.expires_in,
    }))
}

/// The seed's `@jwt_required` route.
pub async fn protected(user: AuthUser) -> Json<serde_json::Value> {
    Json(json!({ "logged_in_as": user.username() }))
}
