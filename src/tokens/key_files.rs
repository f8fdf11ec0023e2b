//! Key material kept in the data directory: the HS256 signing secret and the refresh-token key.
//!
//! A configured secret always wins. Otherwise the key is read from its file, or generated
//! and written with mode 0600 on first start, so `tessera serve` needs no setup and
//! tokens stay valid across restarts.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

use crate::secret::{Secret, generate_token_urlsafe};

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

/// The configured secret, or the one kept in `data_dir/file_name` (generated on first use).
pub fn load_or_generate(
    data_dir: &Path,
    file_name: &str,
    configured: Option<&Secret>,
) -> anyhow::Result<Secret> {
    if let Some(secret) = configured {
        return Ok(secret.clone());
    }
    let path = data_dir.join(file_name);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            warn_if_readable_by_others(&path);
            Ok(Secret::new(text.trim().to_owned()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_new_secret(&path),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
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

fn write_new_secret(path: &Path) -> anyhow::Result<Secret> {
    let secret = generate_token_urlsafe();
    // create_new: two processes starting at once must not overwrite each other's key.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match file {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new key");
            Ok(Secret::new(secret))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(Secret::new(text.trim().to_owned()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "key file is readable by other users; chmod 600 it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_generated_secret_is_private_and_reused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let first = load_or_generate(dir.path(), "k", None)?;
        let mode = std::fs::metadata(dir.path().join("k"))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = load_or_generate(dir.path(), "k", None)?;
        assert_eq!(first, second);
        Ok(())
    }
}
