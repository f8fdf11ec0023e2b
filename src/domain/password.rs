//! New passwords, checked against the configured policy.
//!
//! Only registration and password changes apply the policy; login accepts whatever
//! the stored hash was made from, so imported users with short passwords still log in.
//!
//! The minimum counts characters (Unicode scalar values after NFC), not bytes, so two
//! emoji are two characters, not eight bytes, and a precomposed `é` counts as its
//! decomposed form does (ASVS 6.2.1). The maximum counts bytes, since it bounds the
//! hashing work. A password that contains the user's name (case-folded) is refused
//! (ASVS 6.2.12); names shorter than three characters are not looked for, since nearly
//! every password would contain them.

use unicode_normalization::UnicodeNormalization;

/// The rule a new password must meet.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    /// Shortest accepted, in characters (Unicode scalar values after NFC).
    pub min_chars: usize,
    /// Longest accepted, in bytes (bounds hashing work).
    pub max_bytes: usize,
}

/// A password that satisfies the policy. Its `Debug` output never shows it.
pub struct NewPassword(String);

/// Why a new password was refused. The messages never repeat the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Shorter than the policy's minimum (the minimum is given).
    #[error("Password must be at least {0} characters long")]
    TooShort(usize),
    /// Longer than the policy's maximum (the maximum is given).
    #[error("Password must be at most {0} bytes long")]
    TooLong(usize),
    /// Contains the user's name.
    #[error("Password must not contain the username")]
    ContainsUsername,
}

/// Names shorter than this are not looked for inside passwords.
const MIN_CONTEXT_CHARS: usize = 3;

impl NewPassword {
    /// Accepts `raw` as the new password of `username` if it meets `policy`.
    pub fn parse(
        raw: String,
        policy: PasswordPolicy,
        username: &str,
    ) -> Result<Self, PasswordError> {
        if raw.nfc().count() < policy.min_chars {
            return Err(PasswordError::TooShort(policy.min_chars));
        }
        if raw.len() > policy.max_bytes {
            return Err(PasswordError::TooLong(policy.max_bytes));
        }
        let name = caseless::default_case_fold_str(username.trim());
        if name.chars().count() >= MIN_CONTEXT_CHARS
            && caseless::default_case_fold_str(&raw).contains(&name)
        {
            return Err(PasswordError::ContainsUsername);
        }
        Ok(Self(raw))
    }

    /// The password itself, for hashing.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: PasswordPolicy = PasswordPolicy {
        min_chars: 8,
        max_bytes: 40,
    };

    fn parse(raw: &str) -> Result<NewPassword, PasswordError> {
        NewPassword::parse(raw.into(), POLICY, "alice")
    }

    #[test]
    fn the_minimum_counts_characters_not_bytes() {
        assert_eq!(parse("1234567").err(), Some(PasswordError::TooShort(8)));
        assert!(parse("12345678").is_ok());
        // Two emoji are 8 bytes but two characters.
        assert_eq!(parse("😀😀").err(), Some(PasswordError::TooShort(8)));
        // e + combining acute, seven times: 14 scalar values, 7 after NFC.
        assert_eq!(
            parse(&"e\u{301}".repeat(7)).err(),
            Some(PasswordError::TooShort(8))
        );
        assert!(parse(&"é".repeat(8)).is_ok());
    }

    #[test]
    fn the_maximum_counts_bytes() {
        assert_eq!(
            parse(&"é".repeat(21)).err(),
            Some(PasswordError::TooLong(40))
        );
    }

    #[test]
    fn a_password_containing_the_username_is_refused_in_any_case() {
        for raw in ["alice1234", "my-ALICE-pw", "xxAlIcExx"] {
            assert_eq!(
                parse(raw).err(),
                Some(PasswordError::ContainsUsername),
                "{raw}"
            );
        }
        // Short names are not looked for.
        assert!(NewPassword::parse("al-is-here".into(), POLICY, "al").is_ok());
    }

    #[test]
    fn debug_never_shows_the_password() -> Result<(), PasswordError> {
        let p = parse("sw0rdfish-secret")?;
        assert!(!format!("{p:?}").contains("sw0rdfish"));
        Ok(())
    }
}
