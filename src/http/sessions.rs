//! A user's own sessions: logout by scope, list, and end one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::cookies;
use super::error::{ApiResult, ErrorBody};
use super::extract::{AuthUser, Client, OptionalApiJson};
use crate::domain::LogoutScope;
use crate::service::{SessionView, Tessera};

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    #[serde(default)]
    scope: ScopeName,
    /// The current password, to end other sessions (`others`, `global`) with a token that
    /// is not fresh from a password login.
    #[serde(default)]
    password: Option<String>,
}

/// Optional body of `DELETE /sessions/{id}`.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeSessionRequest {
    /// The current password, to end a session other than the caller's own with a token
    /// that is not fresh from a password login.
    #[serde(default)]
    password: Option<String>,
}

/// `local`: this session; `others`: all but this one; `global`: all.
#[derive(Deserialize, Default, Clone, Copy, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ScopeName {
    #[default]
    Local,
    Others,
    Global,
}

#[derive(Serialize, ToSchema)]
pub struct LogoutResponse {
    message: &'static str,
    revoked_sessions: usize,
}

#[derive(Serialize, ToSchema)]
pub struct SessionsResponse {
    sessions: Vec<SessionView>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageResponse {
    message: &'static str,
}

#[utoipa::path(post, path = "/logout", tag = "sessions", security(("bearer" = [])),
    request_body(content = Option<LogoutRequest>, description = "Optional; the scope defaults to `local`"),
    responses(
        (status = 200, description = "Sessions ended; with `local` and `global`, `Clear-Site-Data: \"cache\", \"cookies\", \"storage\"` and the four session cookies cleared (`Max-Age=0`)", body = LogoutResponse),
        (status = 400, description = "Unknown scope or bad JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "Account disabled; or `reauthentication_required` (ending other sessions needs a token fresh from a password login or `password`), or `wrong_password`", body = ErrorBody),
        (status = 409, description = "`local` scope with a token that has no session (minted by Flask-JWT-Extended): nothing to end", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn end_sessions(
    State(tessera): State<Tessera>,
    Client(client): Client,
    user: AuthUser,
    OptionalApiJson(body): OptionalApiJson<LogoutRequest>,
) -> ApiResult<(HeaderMap, Json<LogoutResponse>)> {
    let body = body.unwrap_or_default();
    let scope = match body.scope {
        ScopeName::Local => LogoutScope::Local,
        ScopeName::Others => LogoutScope::Others,
        ScopeName::Global => LogoutScope::Global,
    };
    let revoked_sessions = tessera
        .logout(user.claims(), scope, body.password, &client)
        .await?;
    // When the caller's own session ends, a browser forgets what it kept of it (ASVS
    // 14.3.1): cached answers, tessera's cookies (removed by name too, for browsers that
    // ignore Clear-Site-Data), and storage of tessera's origin. `others` leaves the
    // caller signed in here, so its cookies stay.
    let mut headers = HeaderMap::new();
    if scope != LogoutScope::Others {
        headers.insert(
            HeaderName::from_static("clear-site-data"),
            HeaderValue::from_static(r#""cache", "cookies", "storage""#),
        );
        cookies::clear_session(&mut headers, &tessera.config().cookies);
    }
    Ok((
        headers,
        Json(LogoutResponse {
            message: "Logged out",
            revoked_sessions,
        }),
    ))
}

#[utoipa::path(get, path = "/sessions", tag = "sessions", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's live sessions", body = SessionsResponse),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn list_sessions(
    State(tessera): State<Tessera>,
    user: AuthUser,
) -> ApiResult<Json<SessionsResponse>> {
    let sessions = tessera.list_sessions(user.claims()).await?;
    Ok(Json(SessionsResponse { sessions }))
}

#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "A session id from `GET /sessions`")),
    request_body(content = Option<RevokeSessionRequest>, description = "Optional; `password` re-authenticates to end a session other than the caller's own"),
    responses(
        (status = 200, description = "Session ended", body = MessageResponse),
        (status = 400, description = "Bad JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "Account disabled; or `reauthentication_required` (another session needs a token fresh from a password login or `password`), or `wrong_password`", body = ErrorBody),
        (status = 404, description = "No live session of the caller has this id", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn revoke_session(
    State(tessera): State<Tessera>,
    Client(client): Client,
    user: AuthUser,
    Path(session_id): Path<String>,
    OptionalApiJson(body): OptionalApiJson<RevokeSessionRequest>,
) -> ApiResult<Json<MessageResponse>> {
    let password = body.unwrap_or_default().password;
    tessera
        .revoke_session(user.claims(), &session_id, password, &client)
        .await?;
    Ok(Json(MessageResponse {
        message: "Session revoked",
    }))
}
