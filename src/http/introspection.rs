//! The routes for downstream services: token introspection (RFC 7662), token revocation
//! (RFC 7009), the revocation feed `tessera-verify` follows, and the authorization-server
//! metadata that lists them (RFC 8414). All but the metadata need a service client
//! (`tessera clients add`) authenticating with HTTP Basic.

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody};
use super::service_auth::{ApiForm, ServiceClient};
use crate::service::{FEED_MAX_WAIT, Tessera};

/// RFC 7662 §2.1 / RFC 7009 §2.1 request (form-encoded).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct TokenRequest {
    /// The access or refresh token (an empty one is a missing one: 400).
    #[schema(min_length = 1)]
    token: String,
    /// `access_token` or `refresh_token`; a hint only (the token is looked up either way).
    token_type_hint: Option<String>,
}

/// RFC 7662 §2.2: `{"active": false}` alone for anything but a live token.
#[derive(Serialize, ToSchema, Default)]
pub struct IntrospectionResponse {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    /// The account's stable id (tessera's `uid` claim).
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<i64>,
}

#[utoipa::path(post, path = "/introspect", tag = "services", security(("basic" = [])),
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token's facts, or `{\"active\": false}`", body = IntrospectionResponse),
        (status = 400, description = "`token` missing or given twice", body = ErrorBody),
        (status = 401, description = "`invalid_client`: service client authentication failed (`WWW-Authenticate: Basic`)", body = ErrorBody),
        (status = 415, description = "Body is not application/x-www-form-urlencoded", body = ErrorBody),
        (status = 429, description = "Too many failed client authentications", body = ErrorBody),
        (status = 503, description = "Database unavailable or hashing queue full", body = ErrorBody),
    ))]
pub async fn introspect_token(
    State(tessera): State<Tessera>,
    _client: ServiceClient,
    form: ApiForm,
) -> ApiResult<Json<IntrospectionResponse>> {
    let token = form.required("token")?;
    form.single("token_type_hint")?;
    let answer = match tessera.introspect(token).await? {
        Some(t) => IntrospectionResponse {
            active: true,
            sub: Some(t.sub),
            sid: t.sid,
            exp: Some(t.exp),
            iat: Some(t.iat),
            iss: Some(t.iss),
            token_type: Some(t.token_type),
            uid: t.uid,
        },
        None => IntrospectionResponse::default(),
    };
    Ok(Json(answer))
}

#[utoipa::path(post, path = "/revoke", tag = "services", security(("basic" = [])),
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or the token was invalid or unknown (RFC 7009 §2.2): its session ends on every instance within a second"),
        (status = 400, description = "`token` missing or given twice", body = ErrorBody),
        (status = 401, description = "`invalid_client`: service client authentication failed (`WWW-Authenticate: Basic`)", body = ErrorBody),
        (status = 415, description = "Body is not application/x-www-form-urlencoded", body = ErrorBody),
        (status = 429, description = "Too many failed client authentications", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn revoke_token(
    State(tessera): State<Tessera>,
    client: ServiceClient,
    form: ApiForm,
) -> ApiResult<()> {
    let token = form.required("token")?;
    form.single("token_type_hint")?;
    tessera
        .revoke_token(token, &client.client, &client.info)
        .await?;
    Ok(())
}

/// `GET /revocations` parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The `cursor` of the previous answer; absent on the first call (then every
    /// revocation whose access tokens may still be valid is returned).
    #[param(minimum = 0)]
    since: Option<i64>,
    /// Seconds to wait for a revocation when there is none: at most 25 (the default; more
    /// is a 400). The server may shorten it (`revocation_feed_max_wait_secs`); the answer
    /// comes as soon as a session is revoked.
    #[param(minimum = 0, maximum = 25)]
    wait: Option<u64>,
}

/// Revoked sessions and where to continue.
#[derive(Serialize, ToSchema)]
pub struct RevocationsResponse {
    /// Ids of revoked sessions (an id may come again in a later answer).
    revoked_sessions: Vec<String>,
    /// Pass as `since` next time.
    cursor: i64,
}

#[utoipa::path(get, path = "/revocations", tag = "services", security(("basic" = [])),
    params(FeedQuery),
    responses(
        (status = 200, description = "Revoked session ids since the cursor; long-polled when there are none", body = RevocationsResponse),
        (status = 400, description = "Bad query parameters", body = ErrorBody),
        (status = 401, description = "`invalid_client`: service client authentication failed (`WWW-Authenticate: Basic`)", body = ErrorBody),
        (status = 429, description = "Too many failed client authentications", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn list_revocations(
    State(tessera): State<Tessera>,
    _client: ServiceClient,
    query: Result<Query<FeedQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<RevocationsResponse>> {
    let Query(query) = query.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    if query.since.is_some_and(|s| s < 0) {
        return Err(ApiError::InvalidRequest(
            "since must not be negative".into(),
        ));
    }
    let wait = match query.wait {
        None => FEED_MAX_WAIT,
        Some(secs) if secs <= FEED_MAX_WAIT.as_secs() => Duration::from_secs(secs),
        Some(_) => {
            return Err(ApiError::InvalidRequest(format!(
                "wait must be at most {}",
                FEED_MAX_WAIT.as_secs()
            )));
        }
    };
    // The route's own time limit (`http::limit_duration`) leaves `request_timeout_secs`
    // beyond the longest wait for the database reads, so a wait is never cut into a 408.
    let wait = wait.min(Duration::from_secs(
        tessera.config().revocation_feed_max_wait_secs,
    ));
    let feed = tessera.revocation_feed(query.since, wait).await?;
    Ok(Json(RevocationsResponse {
        revoked_sessions: feed.session_ids,
        cursor: feed.cursor,
    }))
}

/// RFC 8414 authorization-server metadata (the part tessera implements).
#[derive(Serialize, ToSchema)]
pub struct ServerMetadata {
    /// The `iss` claim of tessera's tokens.
    issuer: String,
    jwks_uri: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// tessera's own revocation feed (not in RFC 8414).
    revocation_feed_endpoint: String,
}

#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "services",
    responses((status = 200, description = "Where the keys, introspection and revocation are", body = ServerMetadata)))]
pub async fn show_server_metadata(
    State(tessera): State<Tessera>,
    headers: HeaderMap,
) -> (HeaderMap, Json<ServerMetadata>) {
    let config = tessera.config();
    let scheme = if config.tls.cert_file.is_some() || config.hsts {
        "https"
    } else {
        "http"
    };
    // Absolute URLs (RFC 8414 §2) from the Host the client used; an unusable Host gives
    // relative ones rather than an error.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    let base = host.map_or(String::new(), |h| format!("{scheme}://{h}"));
    let mut answer_headers = HeaderMap::new();
    answer_headers.insert(header::VARY, header::HeaderValue::from_static("Host"));
    (
        answer_headers,
        Json(ServerMetadata {
            issuer: config.issuer.clone(),
            jwks_uri: format!("{base}/.well-known/jwks.json"),
            introspection_endpoint: format!("{base}/introspect"),
            revocation_endpoint: format!("{base}/revoke"),
            introspection_endpoint_auth_methods_supported: vec!["client_secret_basic"],
            revocation_endpoint_auth_methods_supported: vec!["client_secret_basic"],
            revocation_feed_endpoint: format!("{base}/revocations"),
        }),
    )
}
