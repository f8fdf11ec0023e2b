//! A string that never shows itself in `Debug` output or logs.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret value: never shown by `Debug` or `Display`, never serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// A fingerprint of this secret as the shared secret `name`: HMAC-SHA256 keyed with
    /// the secret itself, so it can be stored and compared without revealing the secret
    /// (tessera's secrets are at least 32 random bytes: no offline guessing).
    pub fn fingerprint(&self, name: &str) -> String {
        use hmac::{Hmac, KeyInit, Mac};
        // HMAC accepts keys of any length, so this cannot fail.
        #[allow(clippy::expect_used)]
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(self.0.as_bytes())
            .expect("HMAC takes any key length");
        mac.update(b"tessera shared-secret fingerprint v1\0");
        mac.update(name.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// The secret itself; call only where it is used, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

/// `n` random bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS RNG failing is not recoverable and not influenced by any request.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("the operating system's random number generator failed");
    buf
}

/// A fresh secret like Python's `secrets.token_urlsafe(64)`: 64 random bytes, base64url.
pub fn generate_token_urlsafe() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_value() {
        let s = Secret::new("hunter2-hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let a = generate_token_urlsafe();
        assert_eq!(a.len(), 86);
        assert_ne!(a, generate_token_urlsafe());
    }
}
