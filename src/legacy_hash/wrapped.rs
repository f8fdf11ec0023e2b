//! Wrapped legacy hashes: how an imported werkzeug, PHC or bcrypt hash is stored, so no
//! such hash sits at rest as it came (ASVS 11.4.2).
//!
//! At import, the legacy hash is split into what recomputes it (its method, parameters
//! and salt: the *descriptor*) and what it computed (the derived key or digest: the
//! *output*). The output is hashed with Argon2id and dropped; only the descriptor and
//! the Argon2id string are stored:
//!
//! ```text
//! $tessera-wrapped$l=<output bytes>$<descriptor>$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>
//! $tessera-wrapped$l=32$pbkdf2:sha256:600000$Yx3k…$argon2id$v=19$m=19456,t=2,p=1$…$…
//! $tessera-wrapped$l=23$$2b$12$R9xnvN6QMjTexDsRBPDpeu$argon2id$…
//! $tessera-wrapped$l=32$$pbkdf2-sha256$i=29000$N2…$argon2id$…
//! ```
//!
//! The descriptor is the legacy string without its output (werkzeug `method$salt`, PHC
//! `$alg$params$salt`, bcrypt `$2b$NN$` + the 22-character salt); `l` is the output's
//! length, which PHC strings do not otherwise record. A login computes
//! `argon2id(legacy(password))`: the legacy derivation with the stored parameters (still
//! under [`super::limits`], checked on the descriptor before anything runs), then Argon2id
//! over its output, compared with the stored Argon2id string. A match asks for a rehash,
//! so the next login replaces it with a plain Argon2id hash of the password.
//!
//! The outputs, as bytes: werkzeug's derived key (its stored hex, decoded; for `plain`, the
//! password itself), a PHC string's hash, bcrypt's 23 bytes (its last 31 characters
//! decoded). A werkzeug `pbkdf2` form without an iteration count derives one output per
//! werkzeug default count; each is run through Argon2id at login (which count wrote the
//! hash is unknown), so those rare hashes cost five Argon2id runs until upgraded.
//!
//! Weak werkzeug formats are wrapped too, and then verify whether or not
//! `allow_weak_legacy_hashes` is on: wrapped, they are no longer a cleartext equivalent
//! at rest. Argon2 hashes from other sources are kept as they are (already Argon2).

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use super::{FormatError, phc, werkzeug};

/// The start of every wrapped hash.
pub const PREFIX: &str = "$tessera-wrapped$";

/// Where the Argon2id part starts: descriptors cannot contain it (werkzeug salts have no
/// `$`, PHC salts are base64, bcrypt's are its own base64).
const ARGON2_MARK: &str = "$argon2id$";

/// Longest legacy output wrapped (werkzeug scrypt and SHA-512, PHC: 64 bytes; `plain`
/// passwords are bounded by the import's own limits).
const MAX_OUTPUT: usize = 4096;

/// A legacy hash taken apart for wrapping. `Debug` never shows the output.
pub struct Unwrapped {
    /// Method, parameters and salt: everything but the output.
    pub descriptor: String,
    /// The derived key or digest, the secret part (see the module documentation).
    pub output: Vec<u8>,
}

impl std::fmt::Debug for Unwrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Unwrapped({}, [redacted])", self.descriptor)
    }
}

/// A stored wrapped hash, parsed.
#[derive(Debug, Clone, Copy)]
pub struct Wrapped<'a> {
    /// Length of the legacy output.
    pub output_len: usize,
    /// The legacy method, parameters and salt.
    pub descriptor: &'a str,
    /// The Argon2id PHC string over the legacy output.
    pub argon2: &'a str,
}

/// Takes a legacy hash (werkzeug, PHC other than Argon2, bcrypt) apart; its limits are
/// checked as for a verification.
pub fn unwrap(stored: &str) -> Result<Unwrapped, FormatError> {
    let (descriptor, output) = if stored.starts_with("$argon2") || stored.starts_with(PREFIX) {
        return Err(FormatError::Unknown);
    } else if stored.starts_with("$2") {
        phc::parse_bcrypt_cost(stored)?;
        (
            stored.get(..29).map(str::to_owned),
            phc::bcrypt_output(stored)?,
        )
    } else if stored.starts_with('$') {
        let hash = phc::parse(stored)?;
        let descriptor = stored.rsplit_once('$').map(|(d, _)| d.to_owned());
        (descriptor, hash.expected().to_vec())
    } else {
        let hash = werkzeug::parse(stored)?;
        // `method$salt`: the value after them may hold `$` (a `plain` password).
        let mut parts = stored.splitn(3, '$');
        let descriptor = match (parts.next(), parts.next()) {
            (Some(method), Some(salt)) => Some(format!("{method}${salt}")),
            _ => None,
        };
        (descriptor, hash.expected_bytes()?)
    };
    let descriptor = descriptor.ok_or(FormatError::Malformed("legacy hash"))?;
    if output.is_empty() || output.len() > MAX_OUTPUT || descriptor.contains(ARGON2_MARK) {
        return Err(FormatError::Malformed("legacy hash"));
    }
    Ok(Unwrapped { descriptor, output })
}

/// The stored form of `unwrapped` with `argon2`, the Argon2id string of its output.
pub fn format(unwrapped: &Unwrapped, argon2: &str) -> String {
    format!(
        "{PREFIX}l={}${}{argon2}",
        unwrapped.output.len(),
        unwrapped.descriptor
    )
}

/// Parses a stored wrapped hash.
pub fn parse(stored: &str) -> Result<Wrapped<'_>, FormatError> {
    let malformed = || FormatError::Malformed("wrapped hash");
    let rest = stored.strip_prefix(PREFIX).ok_or(FormatError::Unknown)?;
    let (len, rest) = rest.split_once('$').ok_or_else(malformed)?;
    let output_len: usize = len
        .strip_prefix("l=")
        .and_then(|l| l.parse().ok())
        .filter(|l| (1..=MAX_OUTPUT).contains(l))
        .ok_or_else(malformed)?;
    let at = rest.rfind(ARGON2_MARK).ok_or_else(malformed)?;
    Ok(Wrapped {
        output_len,
        descriptor: &rest[..at],
        argon2: &rest[at..],
    })
}

/// The legacy outputs `password` gives under the wrapped hash's descriptor: one, or one
/// per werkzeug default count (see the module documentation). The descriptor's costs
/// are checked against the limits first.
pub fn legacy_outputs(password: &[u8], wrapped: &Wrapped<'_>) -> Result<Vec<Vec<u8>>, FormatError> {
    let (descriptor, len) = (wrapped.descriptor, wrapped.output_len);
    // Each descriptor is completed with a dummy output of the right shape, so the one
    // parser of each format (and its limits) applies; the dummy is never compared.
    if descriptor.starts_with("$2") {
        let full = format!("{descriptor}{}", ".".repeat(31));
        return Ok(vec![phc::derive_bcrypt(password, &full)?]);
    }
    if descriptor.starts_with('$') {
        let full = format!("{descriptor}${}", STANDARD_NO_PAD.encode(vec![0u8; len]));
        return Ok(vec![phc::parse(&full)?.derive(password)?]);
    }
    let full = format!("{descriptor}${}", "0".repeat(2 * len));
    let hash = werkzeug::parse(&full)?;
    let outputs = hash.derive_all(password);
    if outputs.is_empty() {
        return Err(FormatError::Malformed("werkzeug parameters"));
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_keeps_everything_but_the_output() -> Result<(), FormatError> {
        let hex = "ab".repeat(32);
        let werkzeug = unwrap(&format!("pbkdf2:sha256:1000$s4lt${hex}"))?;
        assert_eq!(werkzeug.descriptor, "pbkdf2:sha256:1000$s4lt");
        assert_eq!(werkzeug.output, vec![0xab; 32]);
        // A `plain` password may hold `$`: it is the output, never the descriptor.
        let plain = unwrap("plain$$pa$$word")?;
        assert_eq!(
            (plain.descriptor.as_str(), plain.output.as_slice()),
            ("plain$", &b"pa$$word"[..])
        );
        assert!(unwrap("plain$$").is_err(), "nothing to wrap");
        assert!(unwrap("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA").is_err());
        Ok(())
    }

    #[test]
    fn a_stored_wrapped_hash_parses_back() -> Result<(), FormatError> {
        let unwrapped = unwrap(&format!("pbkdf2:sha256:1000$s4lt${}", "cd".repeat(32)))?;
        let stored = format(&unwrapped, "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA");
        assert_eq!(
            stored,
            "$tessera-wrapped$l=32$pbkdf2:sha256:1000$s4lt$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA"
        );
        let wrapped = parse(&stored)?;
        assert_eq!(wrapped.output_len, 32);
        assert_eq!(wrapped.descriptor, "pbkdf2:sha256:1000$s4lt");
        assert!(wrapped.argon2.starts_with("$argon2id$v=19$"));
        for bad in [
            "$tessera-wrapped$l=0$x$argon2id$",
            "$tessera-wrapped$l=32$x",
            "$tessera-wrapped$",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        Ok(())
    }
}
