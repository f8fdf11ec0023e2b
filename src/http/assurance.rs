//! What an access token says its login proved (`amr`, `aal`), for embedding apps:
//! [`AuthUser::aal`] / [`AuthUser::amr`], and [`Aal2User`], a guard for routes that need a
//! login with a second factor (anything less answers `403 mfa_required`).

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use super::error::ApiError;
use super::extract::AuthUser;
use crate::service::{AuthError, Tessera};

impl AuthUser {
    /// The token's `aal`: `aal1` (a password) or `aal2` (a password and a second factor).
    /// Tokens without the claim (minted by Flask-JWT-Extended) count as `aal1`.
    pub fn aal(&self) -> &str {
        self.claims().aal.as_deref().unwrap_or("aal1")
    }

    /// The token's `amr`: how its login authenticated (`pwd`, `otp`, `recovery`).
    pub fn amr(&self) -> &[String] {
        self.claims().amr.as_deref().unwrap_or_default()
    }
}

/// The bearer of a valid access token from a login with a second factor (`aal2`). Use it
/// instead of [`AuthUser`] as a handler argument to require one: a valid token of a login
/// with a password alone answers `403 {"error": "mfa_required"}`; no or a bad token, 401.
#[derive(Debug, Clone)]
pub struct Aal2User(pub AuthUser);

impl<S> FromRequestParts<S> for Aal2User
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.aal() == "aal2" {
            Ok(Aal2User(user))
        } else {
            Err(AuthError::SecondFactorRequired.into())
        }
    }
}
