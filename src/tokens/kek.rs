//! The key-encryption key: private signing keys are stored in the database only sealed
//! with it (XChaCha20-Poly1305), so a database dump or backup alone cannot sign tokens.
//!
//! The KEK comes from `TESSERA_KEK` / `TESSERA_KEK_FILE`, or from a 0600 file generated in
//! the data directory. Every instance sharing a database must share the KEK.

use anyhow::Context;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::secret::{Secret, random_bytes};

const NONCE_LEN: usize = 24;

pub struct Kek {
    cipher: XChaCha20Poly1305,
    /// Keys the digests of recovery codes (see [`Kek::digest`]).
    mac_key: [u8; 32],
}

impl Kek {
    /// Derives the 256-bit AEAD key from the configured text (any length, any charset).
    pub fn from_secret(secret: &Secret) -> anyhow::Result<Self> {
        let mut hasher = Sha256::new();
        hasher.update(b"tessera key-encryption key v1\0");
        hasher.update(secret.expose().as_bytes());
        let key = hasher.finalize();
        let cipher = XChaCha20Poly1305::new_from_slice(&key)
            .map_err(|_| anyhow::anyhow!("key-encryption key has the wrong length"))?;
        // A key of its own for digests, derived with another label: what is learnt of one
        // use of the secret tells nothing of the other.
        let mut hasher = Sha256::new();
        hasher.update(b"tessera keyed digest key v1\0");
        hasher.update(secret.expose().as_bytes());
        Ok(Self {
            cipher,
            mac_key: hasher.finalize().into(),
        })
    }

    /// HMAC-SHA256 of `data` under `label`, keyed by the KEK: for values that must be
    /// found again but never read back (recovery codes). Every instance of a deployment
    /// shares the KEK, so every instance computes the same digest; a database dump alone
    /// cannot even be used to check a guessed code.
    pub fn digest(&self, label: &[u8], data: &[u8]) -> Vec<u8> {
        use hmac::{Hmac, KeyInit, Mac};
        // HMAC takes keys of any length, so this cannot fail (and no request influences it).
        #[allow(clippy::expect_used)]
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.mac_key)
            .expect("HMAC takes any key length");
        mac.update(label);
        mac.update(b"\0");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// `nonce || ciphertext+tag`. `aad` binds the blob to its key id and algorithm, so a
    /// row's sealed key cannot be moved to another row.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        // 192-bit random nonces: collisions are negligible without any counter.
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("cannot encrypt a private key"))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, aad: &[u8], blob: &[u8]) -> anyhow::Result<Vec<u8>> {
        anyhow::ensure!(blob.len() > NONCE_LEN, "sealed key is truncated");
        let (nonce_bytes, sealed) = blob.split_at(NONCE_LEN);
        let nonce_arr: [u8; NONCE_LEN] = nonce_bytes.try_into().context("bad nonce length")?;
        self.cipher
            .decrypt(&XNonce::from(nonce_arr), Payload { msg: sealed, aad })
            .map_err(|_| {
                anyhow::anyhow!(
                    "cannot decrypt a signing key: the key-encryption key (TESSERA_KEK, \
                     TESSERA_KEK_FILE or the data directory's key_encryption_key) differs from \
                     the one that sealed it"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_the_same_kek_and_aad() -> anyhow::Result<()> {
        let kek = Kek::from_secret(&Secret::new("a".repeat(40)))?;
        let blob = kek.seal(b"kid-1", b"private")?;
        assert_eq!(kek.open(b"kid-1", &blob)?, b"private");
        assert!(kek.open(b"kid-2", &blob).is_err());
        let other = Kek::from_secret(&Secret::new("b".repeat(40)))?;
        assert!(other.open(b"kid-1", &blob).is_err());
        Ok(())
    }

    #[test]
    fn digests_are_stable_keyed_and_labelled() -> anyhow::Result<()> {
        let kek = Kek::from_secret(&Secret::new("a".repeat(40)))?;
        let other = Kek::from_secret(&Secret::new("b".repeat(40)))?;
        let digest = kek.digest(b"recovery", b"CODE");
        assert_eq!(digest.len(), 32);
        assert_eq!(digest, kek.digest(b"recovery", b"CODE"));
        assert_ne!(digest, kek.digest(b"other", b"CODE"));
        assert_ne!(digest, other.digest(b"recovery", b"CODE"));
        Ok(())
    }
}
