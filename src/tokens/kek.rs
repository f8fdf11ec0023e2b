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
        Ok(Self { cipher })
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
}
