//! Recovery codes: ten per set, 120 random bits each, shown once. Only an HMAC of each is
//! stored (keyed by the key-encryption key's digest key, see `Kek::digest`): a database
//! dump cannot be read back into codes, and a code is found again with one indexed lookup
//! of (user, digest), not by trying every stored hash.

use crate::domain::{
    RECOVERY_CODE_CHARS, RECOVERY_CODES_PER_SET, display_recovery_code, normalize_recovery_code,
};
use crate::secret::random_bytes;
use crate::tokens::kek::Kek;

/// Separates these digests from any other use of the digest key.
const DIGEST_LABEL: &[u8] = b"tessera recovery code v1";

/// A fresh set: the codes as shown to the user, and the digests to store.
pub(super) struct RecoveryCodeSet {
    pub shown: Vec<String>,
    pub digests: Vec<Vec<u8>>,
}

impl std::fmt::Debug for RecoveryCodeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodeSet({} codes, redacted)", self.shown.len())
    }
}

/// Ten new codes and their digests.
pub(super) fn new_set(kek: &Kek, user_id: i64) -> RecoveryCodeSet {
    let mut set = RecoveryCodeSet {
        shown: Vec::with_capacity(RECOVERY_CODES_PER_SET),
        digests: Vec::with_capacity(RECOVERY_CODES_PER_SET),
    };
    while set.shown.len() < RECOVERY_CODES_PER_SET {
        // 15 bytes are exactly 24 base32 characters (120 bits).
        let canonical = data_encoding::BASE32_NOPAD.encode(&random_bytes::<15>());
        debug_assert_eq!(canonical.len(), RECOVERY_CODE_CHARS);
        let digest = digest(kek, user_id, &canonical);
        // Two equal codes in 2^120 will not happen; if they did, the set would be short.
        if set.digests.contains(&digest) {
            continue;
        }
        set.shown.push(display_recovery_code(&canonical));
        set.digests.push(digest);
    }
    set
}

/// The digest a submitted code is looked up by, or `None` if it cannot be a code (then
/// nothing is looked up at all).
pub(super) fn digest_of_submitted(kek: &Kek, user_id: i64, submitted: &str) -> Option<Vec<u8>> {
    normalize_recovery_code(submitted).map(|canonical| digest(kek, user_id, &canonical))
}

/// Keyed by user as well: the same code of two users has two digests.
fn digest(kek: &Kek, user_id: i64, canonical: &str) -> Vec<u8> {
    kek.digest(DIGEST_LABEL, format!("{user_id}\0{canonical}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_has_ten_distinct_codes_found_again_by_their_digest() -> anyhow::Result<()> {
        let kek = Kek::from_secret(&crate::secret::Secret::new("k".repeat(40)))?;
        let set = new_set(&kek, 3);
        assert_eq!(set.shown.len(), 10);
        let mut unique = set.shown.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        for (code, digest) in set.shown.iter().zip(&set.digests) {
            assert_eq!(code.len(), 29, "{code}");
            assert_eq!(digest_of_submitted(&kek, 3, code).as_ref(), Some(digest));
            assert_eq!(
                digest_of_submitted(&kek, 3, &code.to_uppercase()).as_ref(),
                Some(digest)
            );
            assert_ne!(digest_of_submitted(&kek, 4, code).as_ref(), Some(digest));
            assert!(!format!("{set:?}").contains(code.as_str()));
        }
        assert_eq!(digest_of_submitted(&kek, 3, "not a code"), None);
        Ok(())
    }
}
