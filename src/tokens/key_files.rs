//! Checks on HS256 secrets, and the key files earlier versions kept in the data directory
//! (adopted into the database by `service/shared_secrets.rs` on the first start).

use std::path::Path;

use anyhow::Context;

use crate::secret::Secret;

/// Secrets from tutorials and examples: anyone can forge tokens signed with them.
const PLACEHOLDER_SECRETS: &[&str] = &[
    "your_jwt_secret_key",
    "your_default_secret_key",
    "your-secret-key",
    "your_secret_key",
    "your-256-bit-secret",
    "jwt_secret_key",
    "jwt-secret",
    "secret_key",
    "super-secret",
    "supersecret",
    "super-secret-key",
    "changeme",
    "change-me",
    "change_me",
    "secret",
    "mysecret",
    "my_secret_key",
];

/// HS256 keys shorter than the hash output are brute-forceable offline from one token (RFC 7518 §3.2).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

const HOW_TO_MAKE_ONE: &str = "generate one with `tessera secret` \
     (or python3 -c 'import secrets; print(secrets.token_urlsafe(64))') and set JWT_SECRET_KEY to it, \
     or unset JWT_SECRET_KEY to let tessera generate and keep one in its data directory";

/// Refuses placeholder and short HS256 secrets, with a message that says how to make a good one.
pub fn check_hs256_secret(secret: &Secret) -> anyhow::Result<()> {
    let value = secret.expose();
    let lowered = value.trim().to_ascii_lowercase();
    if PLACEHOLDER_SECRETS.contains(&lowered.as_str()) {
        anyhow::bail!("JWT_SECRET_KEY is a well-known placeholder value; {HOW_TO_MAKE_ONE}");
    }
    if value.len() < MIN_HS256_SECRET_BYTES {
        anyhow::bail!(
            "JWT_SECRET_KEY is {} bytes long; HS256 needs at least {MIN_HS256_SECRET_BYTES}; {HOW_TO_MAKE_ONE}",
            value.len()
        );
    }
    Ok(())
}

/// The configured secret, or the one kept in `data_dir/file_name`; `None` when neither
/// exists. Never creates anything (for administration commands, which must not leave a
/// key in a server's data directory).
pub fn load_existing(
    data_dir: &Path,
    file_name: &str,
    configured: Option<&Secret>,
) -> anyhow::Result<Option<Secret>> {
    if let Some(secret) = configured {
        return Ok(Some(secret.clone()));
    }
    let path = data_dir.join(file_name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(Secret::new(text.trim().to_owned()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::generate_token_urlsafe;

    #[test]
    fn placeholders_and_short_secrets_are_refused() {
        for bad in ["your_jwt_secret_key", "your_default_secret_key", "short"] {
            assert!(
                check_hs256_secret(&Secret::new(bad.into())).is_err(),
                "{bad}"
            );
        }
        assert!(check_hs256_secret(&Secret::new(generate_token_urlsafe())).is_ok());
    }
}
