//! The seed's contract: register, login, protected; plus refresh.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{AuthUser, Client, CredentialsBody, OptionalApiJson, bearer_token};
use crate::service::{RegisteredUser, Tessera};

#[derive(Serialize, ToSchema)]
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

#[derive(Serialize, ToSchema)]
pub struct RegisterResponse {
    message: &'static str,
    user: UserResponse,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    message: &'static str,
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: i64,
    user: UserResponse,
}

impl LoginResponse {
    /// The answer of a login, whichever step completed it (`/login`, `/login/mfa`).
    pub(super) fn from_outcome(outcome: crate::service::LoginOutcome) -> Self {
        Self {
            message: "Login successful",
            access_token: outcome.session.access_token,
            refresh_token: outcome.session.refresh_token,
            token_type: "Bearer",
            expires_in: outcome.session.expires_in,
            user: outcome.user.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RefreshResponse {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: i64,
}

/// The refresh token in the body. (It may instead come as `Authorization: Bearer`, with no
/// body; OpenAPI cannot say "one or the other", so the document shows the body form.)
#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    #[schema(value_type = String, required = true, min_length = 1)]
    refresh_token: Option<String>,
}

/// What `/register` reads (documentation only: [`CredentialsBody`] parses the seed's way).
/// The password limits are the defaults of `password_min_chars` (characters) and
/// `password_max_bytes` (UTF-8 bytes; JSON Schema counts characters, so that bound is exact
/// for ASCII only).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RegisterRequest {
    /// 1–50 characters, no control characters, no white space at either end, no invisible
    /// characters (`Cf`, `Default_Ignorable_Code_Point`), at least one letter or digit.
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    username: String,
    /// At least 8 characters (after NFC), at most 1024 bytes of UTF-8; must not contain
    /// the username.
    #[schema(min_length = 8, max_length = 1024)]
    password: String,
}

/// What `/login` reads (documentation only). No password policy applies at login.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LoginRequest {
    #[schema(min_length = 1)]
    username: String,
    #[schema(min_length = 1)]
    password: String,
}

/// What `/protected` answers.
#[derive(Serialize, ToSchema)]
pub struct ProtectedResponse {
    logged_in_as: String,
}

/// Creates an account (the seed's `POST /register`).
#[utoipa::path(post, path = "/register", tag = "accounts", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = RegisterResponse),
        (status = 400, description = "Missing or invalid fields, bad JSON, or name taken (or reserved)", body = ErrorBody),
        (status = 403, description = "Registration is closed (`registration_enabled = false`)", body = ErrorBody),
        (status = 429, description = "Too many registrations from this address", body = ErrorBody),
        (status = 503, description = "Hashing pool full or database unavailable", body = ErrorBody),
    ))]
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

/// Checks a password and opens a session (the seed's `POST /login`).
#[utoipa::path(post, path = "/login", tag = "accounts", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "Missing fields or bad JSON", body = ErrorBody),
        (status = 401, description = "Unknown user or wrong password (`invalid_credentials`); or the password was right and the account has a second factor (`mfa_required`, with an `mfa_token` field: continue at `/login/mfa`)", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 429, description = "Too many logins from this address or to this name", body = ErrorBody),
        (status = 503, description = "Hashing pool full or database unavailable", body = ErrorBody),
    ))]
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
#[utoipa::path(post, path = "/refresh", tag = "sessions", request_body = RefreshRequest,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "New access token and the next refresh token", body = RefreshResponse),
        (status = 400, description = "No refresh token, or bad JSON", body = ErrorBody),
        (status = 401, description = "Invalid, reused or ended refresh token", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 429, description = "Too many refreshes from this address", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
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
#[utoipa::path(get, path = "/protected", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's name", body = ProtectedResponse),
        (status = 401, description = "Missing, invalid, expired or revoked access token", body = ErrorBody),
    ))]
pub async fn protected(user: AuthUser) -> Json<serde_json::Value> {
    Json(json!({ "logged_in_as": user.username() }))
}
