//! What the service-client routes read from a request: HTTP Basic client authentication
//! (RFC 6749 §2.3.1: the id and secret are form-urlencoded, then joined by `:` and
//! base64-encoded) and form-encoded bodies (RFC 7662 / RFC 7009).

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::ApiError;
use super::extract::client_info;
use crate::service::{AuthError, AuthenticatedClient, ClientInfo, Tessera};

/// A service client whose Basic credentials were verified, and who called.
pub struct ServiceClient {
    pub client: AuthenticatedClient,
    pub info: ClientInfo,
}

/// Id and secret from `Authorization: Basic …`, or `None` if the header is absent or not
/// Basic credentials in RFC 6749's encoding.
fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> Option<String> {
        // RFC 6749 §2.3.1: application/x-www-form-urlencoded (so `+` is a space).
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let (id, secret) = (unescape(id)?, unescape(secret)?);
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

impl<S> FromRequestParts<S> for ServiceClient
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let tessera = Tessera::from_ref(state);
        let info = client_info(parts, &tessera);
        let Some((id, secret)) = basic_credentials(parts) else {
            return Err(AuthError::InvalidClient.into());
        };
        let client = tessera.authenticate_client(&id, &secret, &info).await?;
        Ok(ServiceClient { client, info })
    }
}

/// A form-encoded body (`application/x-www-form-urlencoded`) as name/value pairs.
pub struct ApiForm(Vec<(String, String)>);

impl ApiForm {
    /// The value of `name`; a parameter given twice is a 400 (RFC 7662 §2.1, RFC 7009 §2.1).
    pub fn single(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.0.iter().filter(|(n, _)| n == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(ApiError::InvalidRequest(format!(
                "{name} must be given at most once"
            )));
        }
        Ok(first)
    }

    /// The value of `name`, which must be present and not empty.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.single(name)? {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::InvalidRequest(format!("{name} is required"))),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for ApiForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(ApiError::FormMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidRequest("Request body could not be read".into())
            }
        })?;
        let pairs = url::form_urlencoded::parse(&bytes)
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect();
        Ok(ApiForm(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(authorization: &str) -> Parts {
        let (parts, _) = axum::http::Request::builder()
            .header(header::AUTHORIZATION, authorization)
            .body(())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_parts();
        parts
    }

    #[test]
    fn basic_credentials_are_form_urlencoded_inside_base64() {
        // RFC 6749 §2.3.1: "s6BhdRkqt3:7Fjfp0ZBr1KtDRbnfVdmIw" from RFC 7662's example.
        let header = format!(
            "Basic {}",
            STANDARD.encode("s6BhdRkqt3:7Fjfp0ZBr1KtDRbnfVdmIw")
        );
        assert_eq!(
            basic_credentials(&parts(&header)),
            Some(("s6BhdRkqt3".into(), "7Fjfp0ZBr1KtDRbnfVdmIw".into()))
        );
        let header = format!("basic {}", STANDARD.encode("a%3Ab:c+d%25"));
        assert_eq!(
            basic_credentials(&parts(&header)),
            Some(("a:b".into(), "c d%".into()))
        );
        for bad in ["Bearer x", "Basic !!!", "Basic", "Basic Og=="] {
            assert_eq!(basic_credentials(&parts(bad)), None, "{bad}");
        }
    }
}
