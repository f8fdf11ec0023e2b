//! The seed's contract: register, login, protected; plus refresh.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::cookies::{self, Kind};
use super::csrf;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{AuthUser, Client, CredentialsBody, OptionalApiJson, bearer_token};
use crate::service::{RegisteredUser, Tessera, Transport};

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
    /// This device's token for its next login (send it back as `device_token`): such a
    /// login skips the per-name back-off and is served first under a login flood. Absent
    /// when `device_tokens.enabled` is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    device_token: Option<String>,
}

/// A login with `"transport": "cookie"`: the tokens are in `Set-Cookie`, not here.
#[derive(Serialize, ToSchema)]
pub struct CookieLoginResponse {
    message: &'static str,
    /// Seconds until the access token (in `access_token_cookie`) expires.
    expires_in: i64,
    user: UserResponse,
}

/// What `/login` answers: the tokens in the body, or (cookie transport) in cookies.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    /// `"transport": "body"` (the default).
    Tokens(LoginResponse),
    /// `"transport": "cookie"`.
    Cookies(CookieLoginResponse),
}

#[derive(Serialize, ToSchema)]
pub struct RefreshResponse {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: i64,
}

/// A refresh through `refresh_token_cookie`: the new tokens are in `Set-Cookie`.
#[derive(Serialize, ToSchema)]
pub struct CookieRefreshResponse {
    message: &'static str,
    /// Seconds until the new access token expires.
    expires_in: i64,
}

/// What `/refresh` answers: new tokens in the body, or (cookie transport) in cookies.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum RefreshAnswer {
    /// The refresh token came in the body or the `Authorization` header.
    Tokens(RefreshResponse),
    /// The refresh token came in `refresh_token_cookie`.
    Cookies(CookieRefreshResponse),
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
    /// `body` (default): tokens in the JSON answer. `cookie`: tokens in HttpOnly cookies
    /// with CSRF cookies beside them (see the README's "Browser apps").
    transport: Option<TransportName>,
    /// The `device_token` of this device's last login for this name (browsers: the
    /// `__Host-device_token` cookie instead). A valid one gives the login priority under a
    /// flood; an invalid, expired or locked-out one is ignored (a normal login).
    device_token: Option<String>,
}

/// How a login's tokens go out (documentation only).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum TransportName {
    /// In the JSON answer.
    Body,
    /// In cookies.
    Cookie,
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
    CredentialsBody(credentials, _): CredentialsBody,
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

/// Checks a password and opens a session (the seed's `POST /login`). With
/// `"transport": "cookie"` the tokens go out as cookies, and the request must come from
/// this site or a listed origin (a login CSRF would sign the victim into another account).
#[utoipa::path(post, path = "/login", tag = "accounts", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in (with `transport: cookie`, the tokens are in `Set-Cookie`: `access_token_cookie`, `refresh_token_cookie`, `csrf_access_token`, `csrf_refresh_token`, and the device token in `device_token`, prefixed as the README says)", body = LoginAnswer),
        (status = 400, description = "Missing fields or bad JSON", body = ErrorBody),
        (status = 401, description = "Unknown user or wrong password (`invalid_credentials`); or the password was right and the account has a second factor (`mfa_required`, with an `mfa_token` field: continue at `/login/mfa`)", body = ErrorBody),
        (status = 403, description = "Account disabled; or `csrf_failed` (cookie transport asked for by a page of another site)", body = ErrorBody),
        (status = 429, description = "Too many logins from this address or to this name", body = ErrorBody),
        (status = 503, description = "Hashing pool full or database unavailable", body = ErrorBody),
    ))]
pub async fn create_session(
    State(tessera): State<Tessera>,
    Client(client): Client,
    headers: HeaderMap,
    CredentialsBody(mut credentials, transport): CredentialsBody,
) -> ApiResult<(HeaderMap, Json<LoginAnswer>)> {
    if credentials.device_token.is_none() {
        credentials.device_token = cookies::read_device_token(&headers, &tessera.config().cookies);
    }
    if transport == Transport::Cookie
        && let Err(e) = csrf::check_request_site(&headers, tessera.config())
    {
        tessera.audit_refused_csrf(None, &client);
        return Err(e);
    }
    let outcome = tessera.login(credentials, client, transport).await?;
    Ok(login_answer(&tessera, outcome))
}

/// The answer of a login, whichever step completed it (`/login`, `/login/mfa`): the tokens
/// in the body, or in cookies when the session was opened for cookie transport.
pub(super) fn login_answer(
    tessera: &Tessera,
    outcome: crate::service::LoginOutcome,
) -> (HeaderMap, Json<LoginAnswer>) {
    let session = outcome.session;
    let mut set_cookies = HeaderMap::new();
    let answer = if session.csrf.is_some() {
        cookies::set_session(&mut set_cookies, tessera.config(), &session);
        cookies::set_device_token(
            &mut set_cookies,
            tessera.config(),
            outcome.device_token.as_ref(),
        );
        LoginAnswer::Cookies(CookieLoginResponse {
            message: "Login successful",
            expires_in: session.expires_in,
            user: outcome.user.into(),
        })
    } else {
        LoginAnswer::Tokens(LoginResponse {
            message: "Login successful",
            access_token: session.access_token,
            refresh_token: session.refresh_token,
            token_type: "Bearer",
            expires_in: session.expires_in,
            user: outcome.user.into(),
            device_token: outcome.device_token.map(|t| t.expose().to_owned()),
        })
    };
    (set_cookies, Json(answer))
}

/// The refresh token comes in the JSON body, or as `Authorization: Bearer` the way
/// Flask-JWT-Extended's `@jwt_required(refresh=True)` reads it, or else in
/// `refresh_token_cookie` (then with `X-CSRF-TOKEN` from `csrf_refresh_token`, and the new
/// tokens go out as cookies).
#[utoipa::path(post, path = "/refresh", tag = "sessions", request_body = RefreshRequest,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "New access token and the next refresh token (in cookies when the refresh token came in one)", body = RefreshAnswer),
        (status = 400, description = "No refresh token, or bad JSON", body = ErrorBody),
        (status = 401, description = "Invalid, reused or ended refresh token", body = ErrorBody),
        (status = 403, description = "Account disabled; or `csrf_failed` (refresh by cookie from another site or without the CSRF header)", body = ErrorBody),
        (status = 429, description = "Too many refreshes from this address", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn refresh_session(
    State(tessera): State<Tessera>,
    Client(client): Client,
    headers: HeaderMap,
    OptionalApiJson(body): OptionalApiJson<RefreshRequest>,
) -> ApiResult<(HeaderMap, Json<RefreshAnswer>)> {
    let from_body = body.and_then(|b| b.refresh_token).filter(|t| !t.is_empty());
    let (presented, transport) = match (from_body, bearer_token(&headers)?) {
        (Some(token), _) => (token, Transport::Body),
        (None, Some(token)) => (token.to_owned(), Transport::Body),
        (None, None) => {
            let token = cookies::read(&headers, &tessera.config().cookies, Kind::Refresh)
                .ok_or_else(|| ApiError::InvalidRequest("Missing refresh_token".into()))?;
            // A cookie is sent by the browser whoever made the request: prove it was this
            // site's page before anything rotates.
            let from_site = csrf::check_request_site(&headers, tessera.config()).is_ok();
            let csrf_value = csrf::presented(&headers).unwrap_or_default();
            if !(from_site && tessera.refresh_csrf_matches(&token, csrf_value)) {
                tessera.audit_refused_csrf(None, &client);
                return Err(ApiError::CsrfFailed);
            }
            (token, Transport::Cookie)
        }
    };
    let outcome = tessera
        .refresh(&presented, &client, transport)
        .await
        .map_err(ApiError::from)?;
    if outcome.grace_replay {
        tracing::debug!("refresh answered from the grace window");
    }
    let session = outcome.session;
    let mut set_cookies = HeaderMap::new();
    let answer = if session.csrf.is_some() {
        cookies::set_session(&mut set_cookies, tessera.config(), &session);
        RefreshAnswer::Cookies(CookieRefreshResponse {
            message: "Token refreshed",
            expires_in: session.expires_in,
        })
    } else {
        RefreshAnswer::Tokens(RefreshResponse {
            access_token: session.access_token,
            refresh_token: session.refresh_token,
            token_type: "Bearer",
            expires_in: session.expires_in,
        })
    };
    Ok((set_cookies, Json(answer)))
}

/// The seed's `@jwt_required` route.
#[utoipa::path(get, path = "/protected", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's name", body = ProtectedResponse),
        (status = 401, description = "Missing, invalid, expired or revoked access token", body = ErrorBody),
    ))]
pub async fn protected(user: AuthUser) -> Response {
    // Not cached (what a token grants): set here rather than by a `no_store` layer, which
    // would cost a boxed service level on the route every client calls most; its refusals
    // are errors, which are never cached either.
    let mut response = Json(ProtectedResponse {
        logged_in_as: user.username().to_owned(),
    })
    .into_response();
    super::headers::insert_no_store(response.headers_mut());
    response
}
