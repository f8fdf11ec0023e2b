//! Fresh private keys per algorithm, in the DER forms jsonwebtoken's `rust_crypto` backend
//! signs with: PKCS#8 for Ed25519 and P-256, PKCS#1 for RSA (RS256 and PS256 alike). Also
//! reads PEM key files, refusing RSA keys below [`MIN_RSA_BITS`].

use anyhow::Context;
use pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;

use super::keyring::KeyAlg;
use crate::secret::random_bytes;

/// RSA modulus size for generated keys, and the smallest one accepted from a PEM file.
/// NIST SP 800-57 Part 1 allows 2048-bit RSA (112-bit security) only through 2030; 3072
/// bits (128-bit security) is what ASVS 11.2.3 asks of new keys and what a key made today
/// needs to last its cryptoperiod.
pub const MIN_RSA_BITS: usize = 3072;
const RSA_BITS: usize = MIN_RSA_BITS;

/// A new private key for an asymmetric algorithm, DER-encoded.
pub fn generate(alg: KeyAlg) -> anyhow::Result<Vec<u8>> {
    match alg {
        KeyAlg::Hs256 => {
            anyhow::bail!("HS256 keys are secrets from the configuration, not generated")
        }
        KeyAlg::EdDsa => Ok(ed25519_pkcs8_v1(&random_bytes::<32>())),
        KeyAlg::Es256 => {
            // A uniformly random 256-bit string is a valid scalar except with probability
            // ~2^-32; retry in that case.
            let key = loop {
                let bytes = random_bytes::<32>();
                if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
                    break key;
                }
            };
            Ok(key
                .to_pkcs8_der()
                .context("cannot encode a P-256 key")?
                .as_bytes()
                .to_vec())
        }
        KeyAlg::Rs256 | KeyAlg::Ps256 => {
            let key = rsa::PrivateKey::new(&mut getrandom::SysRng, RSA_BITS)
                .context("cannot generate an RSA key")?;
            Ok(key
                .to_pkcs1_der()
                .context("cannot encode an RSA key")?
                .as_bytes()
                .to_vec())
        }
    }
}

/// A private key from a PEM file (PKCS#8, or PKCS#1 for RSA), as the DER `generate` makes.
pub fn from_pem(alg: KeyAlg, pem: &str) -> anyhow::Result<Vec<u8>> {
    let der = match alg {
        KeyAlg::Hs256 => anyhow::bail!("HS256 keys are secrets, not PEM files"),
        KeyAlg::EdDsa => ed25519_pkcs8_v1(
            &ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
                .context("not a PKCS#8 Ed25519 private key")?
                .to_bytes(),
        ),
        KeyAlg::Es256 => p256::SecretKey::from_pkcs8_pem(pem)
            .context("not a PKCS#8 P-256 private key")?
            .to_pkcs8_der()?
            .as_bytes()
            .to_vec(),
        KeyAlg::Rs256 | KeyAlg::Ps256 => {
            let key = rsa::PrivateKey::from_pkcs1_pem(pem)
                .or_else(|_| rsa::PrivateKey::from_pkcs8_pem(pem))
                .context("not a PKCS#1 or PKCS#8 RSA private key")?;
            let bits = key.n().bit_width() as usize;
            if bits < MIN_RSA_BITS {
                anyhow::bail!(
                    "the RSA key is {bits} bits; tessera accepts RSA keys of at least \
                     {MIN_RSA_BITS} bits (make one with `openssl genpkey -algorithm RSA \
                     -pkeyopt rsa_keygen_bits:{MIN_RSA_BITS}`), or better an Ed25519 or P-256 \
                     key (`openssl genpkey -algorithm ed25519`, signing_key_alg = \"eddsa\"), \
                     or drop signing_key_file and use `tessera keys generate --alg eddsa`"
                );
            }
            key.to_pkcs1_der()?.as_bytes().to_vec()
        }
    };
    Ok(der)
}

/// RFC 8410 PKCS#8 v1 (no public key) for an Ed25519 seed: the 48-byte form jsonwebtoken
/// derives the public key from (v2 with the public key appended is refused by it).
fn ed25519_pkcs8_v1(seed: &[u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::keyring::{KeySource, RingKey};

    #[test]
    fn generated_keys_of_every_asymmetric_algorithm_load() -> anyhow::Result<()> {
        // One RSA key (3072-bit generation is the slow part) serves both RSA algorithms.
        let rsa = generate(KeyAlg::Ps256)?;
        assert_eq!(
            crate::tokens::keyring::rsa_modulus_bits(&rsa),
            Some(MIN_RSA_BITS)
        );
        for (alg, der) in [
            (KeyAlg::EdDsa, generate(KeyAlg::EdDsa)?),
            (KeyAlg::Es256, generate(KeyAlg::Es256)?),
            (KeyAlg::Rs256, rsa.clone()),
            (KeyAlg::Ps256, rsa),
        ] {
            RingKey::asymmetric("k".into(), alg, &der, KeySource::Database, (0, 0, None))?;
        }
        Ok(())
    }

    #[test]
    fn rsa_pem_keys_below_3072_bits_are_refused() -> anyhow::Result<()> {
        let small = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048)?
            .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)?;
        for alg in [KeyAlg::Rs256, KeyAlg::Ps256] {
            let error = from_pem(alg, &small).err().map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|e| e.contains("2048 bits")),
                "{error:?}"
            );
        }
        Ok(())
    }
}
