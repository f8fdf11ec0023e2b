//! Password hashes tessera did not make: werkzeug's (Flask), and PHC strings or bcrypt
//! from other sources. They verify so imported users keep their passwords; a match
//! always asks for a rehash, so each is replaced by Argon2id at the user's next login.
//!
//! Security decisions, all enforced before any key derivation runs:
//!
//! - **Cost limits.** A stored hash chooses its own cost. An imported or tampered row
//!   with `pbkdf2:sha256:4000000000` or `scrypt:1048576:64:64` would pin a hashing
//!   worker for hours or exhaust memory on every login attempt, so every parameter that
//!   drives memory or time is bounded ([`limits`]: about half a second and 68 MiB at
//!   most); costs above are refused as corrupt (the login fails like a wrong password,
//!   the import reports them).
//! - **Weak formats** (werkzeug < 2.3's salted `sha1$…`/`sha256$…` HMAC, unsalted
//!   digests and `plain$$…`) are one fast hash or the password itself: a leaked
//!   database is as good as cleartext. They are refused unless the operator turns on
//!   `allow_weak_legacy_hashes`, for the time it takes those users to log in once.
//! - **Constant-time comparison** of the derived value with the stored one (werkzeug
//!   compares hex strings with `hmac.compare_digest`; so do we).
//! - Nothing here logs, formats or returns any part of a hash or password: errors are
//!   static descriptions, so callers may log them.

mod phc;

pub use phc::argon2_within_limits;
mod werkzeug;
pub mod wrapped;

use subtle::ConstantTimeEq;

pub mod limits;

/// What the operator allows beyond the safe default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegacyPolicy {
    /// Verify werkzeug's single-round salted HMAC, unsalted digests and `plain$$` forms.
    pub allow_weak: bool,
}

/// The families of stored hash tessera recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// `$argon2id$…`, `$argon2i$…`, `$argon2d$…` (verified by tessera's own hasher).
    Argon2,
    /// werkzeug `pbkdf2:…` and `scrypt:…` (any version).
    Werkzeug,
    /// werkzeug's salted HMAC, unsalted digests and `plain` (refused by default).
    WerkzeugWeak,
    /// `$scrypt$…` and `$pbkdf2-…$…` PHC strings.
    Phc,
    /// `$2a$`, `$2b$`, `$2x$`, `$2y$`.
    Bcrypt,
}

impl Format {
    /// The format's name, as the import report counts it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Argon2 => "argon2",
            Format::Werkzeug => "werkzeug",
            Format::WerkzeugWeak => "werkzeug-weak",
            Format::Phc => "phc",
            Format::Bcrypt => "bcrypt",
        }
    }
}

/// Why a stored hash cannot be verified. Never carries any part of the hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Not a format tessera knows.
    #[error("unrecognised password hash format")]
    Unknown,
    /// A known format, broken (what is wrong is given).
    #[error("malformed password hash: {0}")]
    Malformed(&'static str),
    /// Parameters past the limits above (which one is given).
    #[error("password hash cost above the accepted limit: {0}")]
    TooCostly(&'static str),
    /// A weak format, refused unless `allow_weak_legacy_hashes` is set.
    #[error("weak legacy password hash refused (allow_weak_legacy_hashes is off)")]
    WeakRefused,
}

/// Recognises a stored hash and checks its parameters and limits, without deriving
/// anything (cheap: used by the importers to report what they bring in).
pub fn classify(stored: &str) -> Result<Format, FormatError> {
    if stored.starts_with("$argon2") {
        let hash = argon2::PasswordHash::new(stored)
            .map_err(|_| FormatError::Malformed("argon2 PHC string"))?;
        argon2::Params::try_from(&hash).map_err(|_| FormatError::Malformed("argon2 parameters"))?;
        return argon2_within_limits(&hash).map(|()| Format::Argon2);
    }
    if stored.starts_with("$2") {
        return phc::parse_bcrypt_cost(stored).map(|_| Format::Bcrypt);
    }
    if stored.starts_with('$') {
        return phc::parse(stored).map(|_| Format::Phc);
    }
    werkzeug::parse(stored).map(|h| {
        if h.is_weak() {
            Format::WerkzeugWeak
        } else {
            Format::Werkzeug
        }
    })
}

/// Verifies `password` against a stored hash that is not Argon2 (Argon2 hashes go to
/// tessera's own hasher). `Ok(true)` only on a match.
pub fn verify(password: &[u8], stored: &str, policy: LegacyPolicy) -> Result<bool, FormatError> {
    if stored.starts_with("$2") {
        return phc::verify_bcrypt(password, stored);
    }
    if stored.starts_with('$') {
        return phc::parse(stored)?.verify(password);
    }
    let hash = werkzeug::parse(stored)?;
    if hash.is_weak() && !policy.allow_weak {
        return Err(FormatError::WeakRefused);
    }
    Ok(hash.verify(password))
}

/// Constant-time equality; lengths are not secret (they follow from the format).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Derives scrypt output into `out`; parameters must have passed
/// [`limits::scrypt_within_limits`].
fn scrypt_derive(
    password: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
    out: &mut [u8],
) -> Result<(), FormatError> {
    let params = scrypt::Params::new(log_n, r, p)
        .map_err(|_| FormatError::Malformed("scrypt parameters"))?;
    scrypt::scrypt(password, salt, &params, out)
        .map_err(|_| FormatError::Malformed("scrypt output length"))
}

#[cfg(test)]
pub(crate) mod tests;
