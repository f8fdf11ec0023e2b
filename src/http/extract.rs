//! Extractors whose rejections use tessera's error shape: JSON bodies, the bearer token
//! ([`AuthUser`], the Rust `@jwt_required`), and what is known of the client.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header, request::Parts};
use serde::de::DeserializeOwned;

use super::cookies::{self, Kind};
use super::csrf;
use super::error::ApiError;
use crate::service::{AuthError, ClientInfo, Credentials, Tessera, Transport};
use crate::tokens::AccessClaims;

/// A JSON request body. Wrong content type: 415; too large: 413; not JSON: 400 `invalid_json`;
/// JSON of the wrong shape: 400 `invalid_request`.
pub struct ApiJson<T>(pub T);

/// Like [`ApiJson`], but an empty body is `None` (for endpoints whose body is optional).
pub struct OptionalApiJson<T>(pub Option<T>);

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::InvalidRequest("Request body could not be read".into())
        }
    })
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::InvalidRequest(format!("Request body has the wrong shape: {e}"))
        }
        _ => ApiError::InvalidJson,
    })
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let has_content_type = req.headers().contains_key(header::CONTENT_TYPE);
        let json = is_json_content_type(req.headers());
        let bytes = read_body(req, state).await?;
        // No body, or JSON `null`: the optional body is absent.
        if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
            return Ok(OptionalApiJson(None));
        }
        if !json && has_content_type {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&bytes).map(|v| OptionalApiJson(Some(v)))
    }
}

/// `{"username", "password"}` as the seed reads it: a missing, null or empty field is
/// "Missing username or password"; a field of another type is a 400 of its own. The
/// optional `"transport"` (`"body"`, the default, or `"cookie"`) says how a login's tokens
/// go out; the optional `"device_token"` is a login's device token.
pub struct CredentialsBody(pub Credentials, pub Transport);

impl<S: Send + Sync> FromRequest<S> for CredentialsBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ApiJson(value) = ApiJson::<serde_json::Value>::from_request(req, state).await?;
        let serde_json::Value::Object(mut fields) = value else {
            return Err(ApiError::InvalidRequest(
                "Request body must be a JSON object".into(),
            ));
        };
        let mut take = |name: &str| -> Result<Option<String>, ApiError> {
            match fields.remove(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(ApiError::InvalidRequest(format!("{name} must be a string"))),
            }
        };
        let (username, password) = (take("username")?, take("password")?);
        // A login's device token (see `service::device`); `/register` ignores it.
        let device_token = take("device_token")?;
        let transport = match take("transport")?.as_deref() {
            None | Some("body") => Transport::Body,
            Some("cookie") => Transport::Cookie,
            Some(_) => {
                return Err(ApiError::InvalidRequest(
                    r#"transport must be "body" or "cookie""#.into(),
                ));
            }
        };
        match (username, password) {
            (Some(username), Some(password)) => Ok(CredentialsBody(
                Credentials {
                    username,
                    password,
                    device_token,
                },
                transport,
            )),
            _ => Err(AuthError::MissingFields.into()),
        }
    }
}

/// The bearer of a valid access token, from `Authorization: Bearer` or else from the
/// access-token cookie. Verification reads no database: signature, claims and the
/// in-memory revocation set. Use it as a handler argument to protect a route.
///
/// A token from the cookie on a POST, PUT, PATCH or DELETE must also pass the CSRF checks
/// (see `http::csrf`), or the request is refused with `403 csrf_failed` before the handler
/// runs.
#[derive(Debug, Clone)]
pub struct AuthUser {
    claims: std::sync::Arc<AccessClaims>,
    by_cookie: bool,
}

impl AuthUser {
    /// The token's `sub`: the username as registered.
    pub fn username(&self) -> &str {
        &self.claims.sub
    }

    /// The session the token belongs to (absent on Flask-minted tokens).
    pub fn session_id(&self) -> Option<&str> {
        self.claims.sid.as_deref()
    }

    /// Whether the token came straight from a password check rather than a refresh.
    pub fn is_fresh(&self) -> bool {
        self.claims.fresh.as_bool().unwrap_or(false)
    }

    /// Every claim of the verified token.
    pub fn claims(&self) -> &AccessClaims {
        &self.claims
    }

    /// Whether the token came from the access-token cookie (not the `Authorization` header).
    pub fn came_in_cookie(&self) -> bool {
        self.by_cookie
    }
}

/// The token in `Authorization: Bearer <token>`, if the header is there.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::MalformedAuthorization)?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(ApiError::MalformedAuthorization)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::MalformedAuthorization);
    }
    Ok(Some(token))
}

impl<S> FromRequestParts<S> for AuthUser
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let tessera = Tessera::from_ref(state);
        // The header wins: with one, a cookie is not even looked at.
        let (token, by_cookie) = match bearer_token(&parts.headers) {
            Ok(Some(token)) => (std::borrow::Cow::Borrowed(token), false),
            Ok(None) => {
                match cookies::read(&parts.headers, &tessera.config().cookies, Kind::Access) {
                    Some(token) => (std::borrow::Cow::Owned(token), true),
                    None => return Err(ApiError::MissingToken),
                }
            }
            Err(e) => {
                let client = client_info(parts, &tessera);
                tessera.audit_refused_token("invalid_token", None, &client);
                return Err(e);
            }
        };
        let claims = match tessera.verify_access_token(&token) {
            Ok(verified) => verified.claims,
            Err(e) => {
                // Every refused token is a security event (ASVS 16.3.2); the token itself
                // is never logged, only the key id it named.
                let client = client_info(parts, &tessera);
                let kid = crate::tokens::unverified_kid(&token);
                tessera.audit_refused_token(e.code(), kid.as_deref(), &client);
                return Err(AuthError::from(e).into());
            }
        };
        if by_cookie && csrf::is_state_changing(&parts.method) {
            let checked = csrf::check_request_site(&parts.headers, tessera.config())
                .and_then(|()| csrf::check_double_submit(&parts.headers, claims.csrf.as_deref()));
            if let Err(e) = checked {
                let client = client_info(parts, &tessera);
                tessera.audit_refused_csrf(claims.sid.as_deref(), &client);
                return Err(e);
            }
        }
        Ok(AuthUser { claims, by_cookie })
    }
}

/// The client's address (through trusted proxies only) and user agent. Never fails: an
/// embedding app may serve without connect info, and then the address is simply unknown.
pub struct Client(pub ClientInfo);

impl<S> FromRequestParts<S> for Client
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Client(client_info(parts, &Tessera::from_ref(state))))
    }
}

/// Who is calling: address (through trusted proxies), user agent and request id.
pub(super) fn client_info(parts: &Parts, tessera: &Tessera) -> ClientInfo {
    {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| {
                tessera
                    .trusted_proxies()
                    .client_ip(peer.ip(), &parts.headers)
            });
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // The serving layer's id (the client's own, or one it made); an embedding app
        // without it may still pass one in the header.
        let request_id = crate::telemetry::current_request_id()
            .or_else(|| parts.headers.get("x-request-id").cloned())
            .and_then(|v| v.to_str().ok().map(str::to_owned));
        ClientInfo {
            ip,
            user_agent,
            request_id,
        }
    }
}
