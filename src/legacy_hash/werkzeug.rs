//! werkzeug's `generate_password_hash` formats, parsed the way its
//! `check_password_hash` parses them: `method$salt$hex`, where the salt string's UTF-8
//! bytes are the KDF salt and the derived key is compared as lowercase hex.
//!
//! - `pbkdf2:<digest>:<iterations>` (every version), `pbkdf2:<digest>` and bare `pbkdf2`
//!   (digest sha256): the one- and zero-argument forms take the iteration count from
//!   the *reading* version's default, so which count was meant depends on the werkzeug
//!   that wrote or read them; we accept any of the defaults werkzeug has shipped.
//! - `scrypt:<n>:<r>:<p>` (werkzeug ≥ 2.3) and bare `scrypt` (n=2^15, r=8, p=1);
//!   werkzeug asks hashlib for its default 64-byte output.
//! - werkzeug < 2.3 only: `<digest>$salt$hex` = HMAC(key=salt, password), `<digest>$$hex`
//!   = digest(password), `plain$$password`. Weak: see the module above.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha224, Sha256, Sha384, Sha512};

use super::limits::{pbkdf2_within_limits, scrypt_within_limits};
use super::{FormatError, ct_eq, scrypt_derive};

/// Default PBKDF2 iteration counts of werkzeug releases, for the forms that omit it:
/// 0.x before 0.15: 50,000; 0.15–1.0: 150,000; 2.0–2.2: 260,000; 2.3–3.0: 600,000;
/// 3.1+: 1,000,000. (The very oldest releases, 1,000, are not accepted: that is too
/// cheap to keep verifying without an explicit count.)
const DEFAULT_ITERATIONS: [u32; 5] = [50_000, 150_000, 260_000, 600_000, 1_000_000];

/// werkzeug's scrypt output length (hashlib's default `dklen`).
const SCRYPT_OUTPUT: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digest {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    fn parse(name: &str) -> Result<Self, FormatError> {
        Ok(match name {
            "sha1" => Digest::Sha1,
            "sha224" => Digest::Sha224,
            "sha256" => Digest::Sha256,
            "sha384" => Digest::Sha384,
            "sha512" => Digest::Sha512,
            _ => return Err(FormatError::Unknown),
        })
    }

    fn output_len(self) -> usize {
        match self {
            Digest::Sha1 => 20,
            Digest::Sha224 => 28,
            Digest::Sha256 => 32,
            Digest::Sha384 => 48,
            Digest::Sha512 => 64,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Iterations {
    Exact(u32),
    /// The count was left out: one of [`DEFAULT_ITERATIONS`].
    AnyDefault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Pbkdf2(Digest, Iterations),
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
    },
    /// HMAC keyed with the salt, or the bare digest when the salt is empty.
    SaltedDigest(Digest),
    Plain,
}

/// A parsed werkzeug hash, borrowing from the stored string.
#[derive(Debug)]
pub(super) struct WerkzeugHash<'a> {
    method: Method,
    salt: &'a str,
    expected: &'a str,
}

pub(super) fn parse(stored: &str) -> Result<WerkzeugHash<'_>, FormatError> {
    // werkzeug: `method, salt, hashval = pwhash.split("$", 2)`.
    let mut parts = stored.splitn(3, '$');
    let (Some(method), Some(salt), Some(expected)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(FormatError::Unknown);
    };
    let mut args = method.split(':');
    let name = args.next().unwrap_or_default();
    let args: Vec<&str> = args.collect();
    let method = match name {
        "pbkdf2" => parse_pbkdf2(&args)?,
        "scrypt" => parse_scrypt(&args)?,
        "plain" if args.is_empty() => Method::Plain,
        _ if args.is_empty() => Method::SaltedDigest(Digest::parse(name)?),
        _ => return Err(FormatError::Unknown),
    };
    let hash = WerkzeugHash {
        method,
        salt,
        expected,
    };
    hash.check_shape()?;
    Ok(hash)
}

fn parse_pbkdf2(args: &[&str]) -> Result<Method, FormatError> {
    let (digest, iterations) = match args {
        [] => (Digest::Sha256, Iterations::AnyDefault),
        [digest] => (Digest::parse(digest)?, Iterations::AnyDefault),
        [digest, count] => {
            let count: u32 = count
                .parse()
                .map_err(|_| FormatError::Malformed("pbkdf2 iteration count"))?;
            if count == 0 {
                return Err(FormatError::Malformed("pbkdf2 iteration count"));
            }
            (Digest::parse(digest)?, Iterations::Exact(count))
        }
        _ => return Err(FormatError::Malformed("pbkdf2 takes two arguments")),
    };
    // werkzeug's output is one digest-sized block; a form without a count runs up to the
    // dearest default.
    let rounds = match iterations {
        Iterations::Exact(count) => count,
        Iterations::AnyDefault => DEFAULT_ITERATIONS.iter().copied().max().unwrap_or(0),
    };
    let len = digest.output_len();
    pbkdf2_within_limits(
        rounds,
        len,
        len,
        matches!(digest, Digest::Sha384 | Digest::Sha512),
    )?;
    Ok(Method::Pbkdf2(digest, iterations))
}

fn parse_scrypt(args: &[&str]) -> Result<Method, FormatError> {
    let (n, r, p) = match args {
        [] => (1u64 << 15, 8, 1),
        [n, r, p] => {
            let number = |s: &str| {
                s.parse::<u64>()
                    .map_err(|_| FormatError::Malformed("scrypt parameter"))
            };
            (number(n)?, number(r)?, number(p)?)
        }
        _ => return Err(FormatError::Malformed("scrypt takes three arguments")),
    };
    // hashlib requires n to be a power of two greater than 1.
    if n < 2 || !n.is_power_of_two() {
        return Err(FormatError::Malformed("scrypt n must be a power of two"));
    }
    let log_n =
        u8::try_from(n.trailing_zeros()).map_err(|_| FormatError::Malformed("scrypt parameter"))?;
    let too_costly = || FormatError::TooCostly("scrypt parameters");
    let r = u32::try_from(r).map_err(|_| too_costly())?;
    let p = u32::try_from(p).map_err(|_| too_costly())?;
    if r == 0 || p == 0 {
        return Err(FormatError::Malformed("scrypt parameter"));
    }
    scrypt_within_limits(log_n, r, p)?;
    Ok(Method::Scrypt { log_n, r, p })
}

impl WerkzeugHash<'_> {
    pub(super) fn is_weak(&self) -> bool {
        matches!(self.method, Method::SaltedDigest(_) | Method::Plain)
    }

    /// The stored value must be lowercase hex of the method's output length (werkzeug
    /// compares hex strings, so nothing else could ever have matched).
    fn check_shape(&self) -> Result<(), FormatError> {
        let len = match self.method {
            Method::Plain => return Ok(()),
            Method::Pbkdf2(digest, _) | Method::SaltedDigest(digest) => digest.output_len(),
            Method::Scrypt { .. } => SCRYPT_OUTPUT,
        };
        let lower_hex = self
            .expected
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if self.expected.len() != 2 * len || !lower_hex {
            return Err(FormatError::Malformed("werkzeug hash value"));
        }
        if self.salt.is_empty() && matches!(self.method, Method::Pbkdf2(..) | Method::Scrypt { .. })
        {
            return Err(FormatError::Malformed("werkzeug salt is empty"));
        }
        Ok(())
    }

    /// The stored value as bytes: the derived key (hex-decoded), or for `plain` the
    /// password itself.
    pub(super) fn expected_bytes(&self) -> Result<Vec<u8>, FormatError> {
        match self.method {
            Method::Plain => Ok(self.expected.as_bytes().to_vec()),
            _ => hex::decode(self.expected)
                .map_err(|_| FormatError::Malformed("werkzeug hash value")),
        }
    }

    /// Everything the method derives from `password`: one value, or one per werkzeug
    /// default count for a `pbkdf2` form without a count (which one wrote the hash is
    /// not known). All are computed, in one PBKDF2 pass.
    pub(super) fn derive_all(&self, password: &[u8]) -> Vec<Vec<u8>> {
        let salt = self.salt.as_bytes();
        match self.method {
            Method::Plain => vec![password.to_vec()],
            Method::SaltedDigest(digest) => vec![salted_digest(digest, salt, password)],
            Method::Scrypt { log_n, r, p } => {
                let mut out = [0u8; SCRYPT_OUTPUT];
                match scrypt_derive(password, salt, log_n, r, p, &mut out) {
                    Ok(()) => vec![out.to_vec()],
                    Err(_) => Vec::new(),
                }
            }
            Method::Pbkdf2(digest, Iterations::Exact(count)) => {
                pbkdf2_blocks(digest, password, salt, &[count])
            }
            Method::Pbkdf2(digest, Iterations::AnyDefault) => {
                pbkdf2_blocks(digest, password, salt, &DEFAULT_ITERATIONS)
            }
        }
    }

    pub(super) fn verify(&self, password: &[u8]) -> bool {
        let salt = self.salt.as_bytes();
        let expected = self.expected.as_bytes();
        match self.method {
            Method::Plain => ct_eq(password, expected),
            Method::SaltedDigest(digest) => ct_eq(
                hex::encode(salted_digest(digest, salt, password)).as_bytes(),
                expected,
            ),
            Method::Scrypt { log_n, r, p } => {
                let mut out = [0u8; SCRYPT_OUTPUT];
                scrypt_derive(password, salt, log_n, r, p, &mut out).is_ok()
                    && ct_eq(hex::encode(out).as_bytes(), expected)
            }
            Method::Pbkdf2(digest, Iterations::Exact(count)) => {
                let checkpoints = [count];
                pbkdf2_any(digest, password, salt, &checkpoints, expected)
            }
            Method::Pbkdf2(digest, Iterations::AnyDefault) => {
                pbkdf2_any(digest, password, salt, &DEFAULT_ITERATIONS, expected)
            }
        }
    }
}

fn salted_digest(digest: Digest, salt: &[u8], password: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        match <M as KeyInit>::new_from_slice(key) {
            Ok(mut m) => {
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
    match (digest, salt.is_empty()) {
        (Digest::Sha1, true) => Sha1::digest(password).to_vec(),
        (Digest::Sha224, true) => Sha224::digest(password).to_vec(),
        (Digest::Sha256, true) => Sha256::digest(password).to_vec(),
        (Digest::Sha384, true) => Sha384::digest(password).to_vec(),
        (Digest::Sha512, true) => Sha512::digest(password).to_vec(),
        (Digest::Sha1, false) => mac::<Hmac<Sha1>>(salt, password),
        (Digest::Sha224, false) => mac::<Hmac<Sha224>>(salt, password),
        (Digest::Sha256, false) => mac::<Hmac<Sha256>>(salt, password),
        (Digest::Sha384, false) => mac::<Hmac<Sha384>>(salt, password),
        (Digest::Sha512, false) => mac::<Hmac<Sha512>>(salt, password),
    }
}

fn pbkdf2_any(
    digest: Digest,
    password: &[u8],
    salt: &[u8],
    checkpoints: &[u32],
    expected: &[u8],
) -> bool {
    match digest {
        Digest::Sha1 => pbkdf2_checkpoints::<Hmac<Sha1>>(password, salt, checkpoints, expected),
        Digest::Sha224 => pbkdf2_checkpoints::<Hmac<Sha224>>(password, salt, checkpoints, expected),
        Digest::Sha256 => pbkdf2_checkpoints::<Hmac<Sha256>>(password, salt, checkpoints, expected),
        Digest::Sha384 => pbkdf2_checkpoints::<Hmac<Sha384>>(password, salt, checkpoints, expected),
        Digest::Sha512 => pbkdf2_checkpoints::<Hmac<Sha512>>(password, salt, checkpoints, expected),
    }
}

/// PBKDF2's one output block after each count in `checkpoints`, in one pass.
fn pbkdf2_blocks(
    digest: Digest,
    password: &[u8],
    salt: &[u8],
    checkpoints: &[u32],
) -> Vec<Vec<u8>> {
    let mut blocks = Vec::with_capacity(checkpoints.len());
    let mut keep = |block: &[u8]| blocks.push(block.to_vec());
    match digest {
        Digest::Sha1 => pbkdf2_each::<Hmac<Sha1>>(password, salt, checkpoints, &mut keep),
        Digest::Sha224 => pbkdf2_each::<Hmac<Sha224>>(password, salt, checkpoints, &mut keep),
        Digest::Sha256 => pbkdf2_each::<Hmac<Sha256>>(password, salt, checkpoints, &mut keep),
        Digest::Sha384 => pbkdf2_each::<Hmac<Sha384>>(password, salt, checkpoints, &mut keep),
        Digest::Sha512 => pbkdf2_each::<Hmac<Sha512>>(password, salt, checkpoints, &mut keep),
    }
    blocks
}

/// PBKDF2 with one output block (werkzeug's key length is the digest's), checked
/// against `expected` after each count in `checkpoints` (ascending). PBKDF2's block is
/// the XOR of the running HMAC chain, so one pass up to the largest count checks every
/// candidate: a hash without its count costs what the dearest default costs, not the
/// sum of all of them. All candidates are always computed and compared (no early
/// exit), so the time does not tell which count matched.
fn pbkdf2_checkpoints<M: Mac + KeyInit + Clone>(
    password: &[u8],
    salt: &[u8],
    checkpoints: &[u32],
    expected: &[u8],
) -> bool {
    let mut matched = false;
    pbkdf2_each::<M>(password, salt, checkpoints, &mut |block| {
        matched |= ct_eq(hex::encode(block).as_bytes(), expected);
    });
    matched
}

/// Runs PBKDF2 (one block) up to the largest count in `checkpoints`, handing the block
/// to `each` at every count in it.
fn pbkdf2_each<M: Mac + KeyInit + Clone>(
    password: &[u8],
    salt: &[u8],
    checkpoints: &[u32],
    each: &mut dyn FnMut(&[u8]),
) {
    let Ok(prf) = <M as KeyInit>::new_from_slice(password) else {
        return;
    };
    let last = checkpoints.iter().copied().max().unwrap_or(0);
    let mut first = prf.clone();
    first.update(salt);
    first.update(&1u32.to_be_bytes());
    let mut chain = first.finalize().into_bytes();
    let mut block = chain.clone();
    for round in 1..=last {
        if round > 1 {
            let mut next = prf.clone();
            next.update(&chain);
            chain = next.finalize().into_bytes();
            for (b, c) in block.iter_mut().zip(chain.iter()) {
                *b ^= c;
            }
        }
        if checkpoints.contains(&round) {
            each(&block);
        }
    }
}
