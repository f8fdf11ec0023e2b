//! Tokens: JWT access tokens in Flask-JWT-Extended's claim layout, and opaque refresh tokens.

mod access;
mod device;
mod jws;
pub mod kek;
pub mod key_files;
pub mod keygen;
pub mod keyring;
mod refresh;
mod verified_cache;

pub use access::{
    AccessClaims, AccessTokens, Audience, LoginProof, TokenError, VerifiedAccess, unverified_kid,
};
pub use device::{DeviceId, DeviceTokens};
pub use refresh::{CsrfPurpose, RefreshToken, RefreshTokens};

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
