//! PHC strings from other password libraries (`$scrypt$ln=…,r=…,p=…$salt$hash`,
//! `$pbkdf2-sha256$i=…[,l=…]$salt$hash`, `$pbkdf2-sha512$…`, `$pbkdf2$…` = SHA-1), as
//! RustCrypto and passlib's scrypt write them (standard B64 without padding), and
//! bcrypt's modular crypt strings.

use argon2::PasswordHash;
use base64::Engine;
use hmac::Hmac;
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use super::limits::{
    self, argon2_params_within_limits, pbkdf2_within_limits, scrypt_within_limits,
};
use super::{FormatError, ct_eq, scrypt_derive};

#[derive(Debug)]
enum Kdf {
    Scrypt { log_n: u8, r: u32, p: u32 },
    Pbkdf2Sha1(u32),
    Pbkdf2Sha256(u32),
    Pbkdf2Sha512(u32),
}

#[derive(Debug)]
pub(super) struct PhcHash {
    kdf: Kdf,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

pub(super) fn parse(stored: &str) -> Result<PhcHash, FormatError> {
    let hash = PasswordHash::new(stored).map_err(|_| FormatError::Unknown)?;
    let decimal = |name: &'static str| {
        hash.params
            .get_decimal(name)
            .ok_or(FormatError::Malformed("PHC parameter missing"))
    };
    let kdf = match hash.algorithm.as_str() {
        "scrypt" => {
            let log_n =
                u8::try_from(decimal("ln")?).map_err(|_| FormatError::TooCostly("scrypt ln"))?;
            let (r, p) = (decimal("r")?, decimal("p")?);
            if r == 0 || p == 0 || log_n == 0 {
                return Err(FormatError::Malformed("scrypt parameter"));
            }
            scrypt_within_limits(log_n, r, p)?;
            Kdf::Scrypt { log_n, r, p }
        }
        name @ ("pbkdf2" | "pbkdf2-sha256" | "pbkdf2-sha512") => {
            let rounds = decimal("i")?;
            if rounds == 0 {
                return Err(FormatError::Malformed("pbkdf2 rounds"));
            }
            // The output length is the stored hash's: each digest-sized block of it is a
            // full run of `rounds`.
            let output_len = hash.hash.as_ref().map_or(0, |h| h.len());
            let (block_len, wide) = match name {
                "pbkdf2" => (20, false),
                "pbkdf2-sha256" => (32, false),
                _ => (64, true),
            };
            pbkdf2_within_limits(rounds, output_len, block_len, wide)?;
            match name {
                "pbkdf2" => Kdf::Pbkdf2Sha1(rounds),
                "pbkdf2-sha256" => Kdf::Pbkdf2Sha256(rounds),
                _ => Kdf::Pbkdf2Sha512(rounds),
            }
        }
        _ => return Err(FormatError::Unknown),
    };
    let salt = hash
        .salt
        .as_ref()
        .map(|s| s.to_vec())
        .ok_or(FormatError::Malformed("PHC salt missing"))?;
    let expected = hash
        .hash
        .as_ref()
        .map(|h| h.as_bytes().to_vec())
        .ok_or(FormatError::Malformed("PHC hash missing"))?;
    Ok(PhcHash {
        kdf,
        salt,
        expected,
    })
}

impl PhcHash {
    pub(super) fn verify(&self, password: &[u8]) -> Result<bool, FormatError> {
        Ok(ct_eq(&self.derive(password)?, &self.expected))
    }

    /// The stored hash's output bytes.
    pub(super) fn expected(&self) -> &[u8] {
        &self.expected
    }

    /// What the KDF derives from `password` with this hash's parameters and salt.
    pub(super) fn derive(&self, password: &[u8]) -> Result<Vec<u8>, FormatError> {
        // The output length is the stored hash's (PHC caps it at 64 bytes).
        let mut out = vec![0u8; self.expected.len()];
        match self.kdf {
            Kdf::Scrypt { log_n, r, p } => {
                scrypt_derive(password, &self.salt, log_n, r, p, &mut out)?;
            }
            Kdf::Pbkdf2Sha1(rounds) => {
                pbkdf2::pbkdf2::<Hmac<Sha1>>(password, &self.salt, rounds, &mut out)
                    .map_err(|_| FormatError::Malformed("pbkdf2"))?;
            }
            Kdf::Pbkdf2Sha256(rounds) => {
                pbkdf2::pbkdf2::<Hmac<Sha256>>(password, &self.salt, rounds, &mut out)
                    .map_err(|_| FormatError::Malformed("pbkdf2"))?;
            }
            Kdf::Pbkdf2Sha512(rounds) => {
                pbkdf2::pbkdf2::<Hmac<Sha512>>(password, &self.salt, rounds, &mut out)
                    .map_err(|_| FormatError::Malformed("pbkdf2"))?;
            }
        }
        Ok(out)
    }
}

/// The cost of a `$2?$NN$…` string, checked against the limit before bcrypt runs.
pub(super) fn parse_bcrypt_cost(stored: &str) -> Result<u32, FormatError> {
    let mut parts = stored.split('$');
    let (Some(""), Some(variant), Some(cost), Some(rest), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(FormatError::Unknown);
    };
    if !matches!(variant, "2a" | "2b" | "2x" | "2y") {
        return Err(FormatError::Unknown);
    }
    // 22 characters of salt and 31 of hash, in bcrypt's own base64.
    if cost.len() != 2 || rest.len() != 53 {
        return Err(FormatError::Malformed("bcrypt string"));
    }
    let cost: u32 = cost
        .parse()
        .map_err(|_| FormatError::Malformed("bcrypt cost"))?;
    if !(4..=31).contains(&cost) {
        return Err(FormatError::Malformed("bcrypt cost"));
    }
    if cost > limits::MAX_BCRYPT_COST {
        return Err(FormatError::TooCostly("bcrypt cost"));
    }
    Ok(cost)
}

/// bcrypt reads at most 72 bytes of password, as every bcrypt the hashes came from did.
pub(super) fn verify_bcrypt(password: &[u8], stored: &str) -> Result<bool, FormatError> {
    parse_bcrypt_cost(stored)?;
    bcrypt::verify(password, stored).map_err(|_| FormatError::Malformed("bcrypt string"))
}

/// bcrypt's output for `password` with the cost and salt of `stored` (a full `$2?$NN$`
/// string, whose own output is ignored): the 23 bytes its last 31 characters encode.
pub(super) fn derive_bcrypt(password: &[u8], stored: &str) -> Result<Vec<u8>, FormatError> {
    let cost = parse_bcrypt_cost(stored)?;
    let malformed = || FormatError::Malformed("bcrypt string");
    let salt = stored.get(7..29).ok_or_else(malformed)?;
    let salt: [u8; 16] = bcrypt::BASE_64
        .decode(salt)
        .map_err(|_| malformed())?
        .try_into()
        .map_err(|_| malformed())?;
    // Truncates at 72 bytes, as every bcrypt the hashes came from did.
    let parts = bcrypt::hash_with_salt(password, cost, salt).map_err(|_| malformed())?;
    let text = parts.format_for_version(bcrypt::Version::TwoB);
    bcrypt_output(&text)
}

/// The output bytes of a `$2?$NN$` string (its last 31 characters, bcrypt's base64).
pub(super) fn bcrypt_output(stored: &str) -> Result<Vec<u8>, FormatError> {
    let malformed = || FormatError::Malformed("bcrypt string");
    let hash = stored.get(29..).ok_or_else(malformed)?;
    bcrypt::BASE_64.decode(hash).map_err(|_| malformed())
}

/// Whether an Argon2 PHC string's costs are within [`limits`] (checked before verifying
/// hashes that tessera's configuration did not produce).
pub fn argon2_within_limits(hash: &PasswordHash) -> Result<(), FormatError> {
    let get = |name: &'static str| hash.params.get_decimal(name).unwrap_or(0);
    argon2_params_within_limits(get("m"), get("t"), get("p"))
}
