//! New passwords, checked against the configured policy.
//!
//! Only registration and password changes apply the policy; login accepts whatever
//! the stored hash was made from, so imported users with short passwords still log in.
//!
//! The minimum counts characters (Unicode scalar values after NFC), not bytes, so two
//! emoji are two characters, not eight bytes, and a precomposed `é` counts as its
//! decomposed form does (ASVS 6.2.1). The maximum counts bytes, since it bounds the
//! hashing work. A password that contains the user's name or a configured context word
//! (the product's name by default), compared after NFKC and case folding, is refused
//! (ASVS 6.2.11, 6.2.12); words shorter than three characters are not looked for, since
//! nearly every password would contain them. So is a password on the common-password
//! list, or a dressed-up form of one (ASVS 6.2.4; see `common_passwords`).
//!
//! These are the local, synchronous rules. The breached-password check needs the network
//! and runs after them, in the service layer (`service::password_screen`), so a password
//! that fails here never causes a request to the range API.

use unicode_normalization::UnicodeNormalization;

use super::common_passwords::{fold, is_common, undo_leet};

/// The rule a new password must meet.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy<'a> {
    /// Shortest accepted, in characters (Unicode scalar values after NFC).
    pub min_chars: usize,
    /// Longest accepted, in bytes (bounds hashing work).
    pub max_bytes: usize,
    /// Words no password may contain (`password_context_words`), compared folded.
    pub context_words: &'a [String],
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
    /// Contains a configured context word (the service's name, by default).
    #[error("Password must not contain the name of this service or a word associated with it")]
    ContainsContextWord,
    /// On the common-password list, as is or with look-alike characters or digits added.
    #[error("Password is too common: it is on a list of frequently used passwords")]
    TooCommon,
    /// Found by the breached-password check (the range API reported it).
    #[error("Password has appeared in a data breach; choose another")]
    Breached,
}

/// Names shorter than this are not looked for inside passwords.
const MIN_CONTEXT_CHARS: usize = 3;

impl NewPassword {
    /// Accepts `raw` as the new password of `username` if it meets `policy`.
    pub fn parse(
        raw: String,
        policy: PasswordPolicy<'_>,
        username: &str,
    ) -> Result<Self, PasswordError> {
        if raw.nfc().count() < policy.min_chars {
            return Err(PasswordError::TooShort(policy.min_chars));
        }
        // Checked before any folding, which would cost time in proportion to the length.
        if raw.len() > policy.max_bytes {
            return Err(PasswordError::TooLong(policy.max_bytes));
        }
        let folded = fold(&raw);
        // `t3ss3ra` hides the word as poorly as `tessera`: look in both forms.
        let forms = [
            folded.clone(),
            undo_leet(&folded, 'i'),
            undo_leet(&folded, 'l'),
        ];
        let contains = |word: &str| {
            let word = fold(word.trim());
            word.chars().count() >= MIN_CONTEXT_CHARS
                && forms.iter().any(|form| form.contains(&word))
        };
        if contains(username) {
            return Err(PasswordError::ContainsUsername);
        }
        if policy.context_words.iter().any(|w| contains(w)) {
            return Err(PasswordError::ContainsContextWord);
        }
        if is_common(&folded) {
            return Err(PasswordError::TooCommon);
        }
        Ok(Self(raw))
    }

    /// The password itself, for the breached-password check (which sends only a prefix
    /// of its SHA-1 anywhere).
    pub fn expose(&self) -> &str {
        &self.0
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

    const POLICY: PasswordPolicy<'static> = PasswordPolicy {
        min_chars: 8,
        max_bytes: 40,
        context_words: &[],
    };

    fn parse(raw: &str) -> Result<NewPassword, PasswordError> {
        NewPassword::parse(raw.into(), POLICY, "alice")
    }

    #[test]
    fn the_minimum_counts_characters_not_bytes() {
        assert_eq!(parse("1234567").err(), Some(PasswordError::TooShort(8)));
        assert!(parse("9f2k7q3x").is_ok());
        // Two emoji are 8 bytes but two characters.
        assert_eq!(parse("😀😀").err(), Some(PasswordError::TooShort(8)));
        // e + combining acute, seven times: 14 scalar values, 7 after NFC.
        assert_eq!(
            parse(&"e\u{301}".repeat(7)).err(),
            Some(PasswordError::TooShort(8))
        );
        assert!(parse(&"é".repeat(8)).is_ok());
        // Six emoji, two of them a thumb and a skin tone: 8 characters in 32 bytes.
        assert!(parse("😀😀😀😀👍🏽👍🏽").is_ok());
        assert_eq!(parse("😀😀😀👍🏽👍🏽").err(), Some(PasswordError::TooShort(8)));
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
    fn a_password_containing_a_context_word_is_refused_in_any_case_or_disguise() {
        let words = ["tessera".to_owned(), "Acme".to_owned(), "io".to_owned()];
        let policy = PasswordPolicy {
            context_words: &words,
            ..POLICY
        };
        let parse = |raw: &str| NewPassword::parse(raw.into(), policy, "alice");
        for raw in [
            "my-tessera-pw",
            "TESSERA rocks!",
            "t3ss3r@-yes",
            "ACMEcorp-2026",
        ] {
            assert_eq!(
                parse(raw).err(),
                Some(PasswordError::ContainsContextWord),
                "{raw}"
            );
        }
        // Words shorter than three characters are not looked for.
        assert!(parse("radio-vX9#qL2").is_ok());
    }

    #[test]
    fn common_passwords_are_refused() {
        for raw in ["password", "12345678", "P@ssw0rd", "Password1"] {
            assert_eq!(parse(raw).err(), Some(PasswordError::TooCommon), "{raw}");
        }
    }

    #[test]
    fn debug_never_shows_the_password() -> Result<(), PasswordError> {
        let p = parse("sw0rdfish-secret")?;
        assert!(!format!("{p:?}").contains("sw0rdfish"));
        Ok(())
    }
}
