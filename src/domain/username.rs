//! Usernames: 1–50 characters, no control characters, no surrounding white space.
//!
//! Two names are the same when their NFKC case-folded forms are equal, so `alice`,
//! `Alice` and `ａｌｉｃｅ` are one account. The form the user registered is kept for
//! display and is the token's `sub`.

use unicode_normalization::UnicodeNormalization;

pub const MAX_USERNAME_CHARS: usize = 50;

/// A valid username: the form the user registered, and its canonical form (NFKC, case-folded) that decides uniqueness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    display: String,
    canonical: String,
}

/// Why a username was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Empty.
    #[error("Username must not be empty")]
    Empty,
    /// Longer than 50 characters.
    #[error("Username must be at most {MAX_USERNAME_CHARS} characters")]
    TooLong,
    /// Starts or ends with white space.
    #[error("Username must not start or end with white space")]
    SurroundingWhitespace,
    /// Holds a control character.
    #[error("Username must not contain control characters")]
    ControlCharacter,
}

impl Username {
    /// Accepts `raw` as a username if it follows the rules above.
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        if raw.is_empty() {
            return Err(UsernameError::Empty);
        }
        if raw.chars().count() > MAX_USERNAME_CHARS {
            return Err(UsernameError::TooLong);
        }
        if raw.starts_with(char::is_whitespace) || raw.ends_with(char::is_whitespace) {
            return Err(UsernameError::SurroundingWhitespace);
        }
        if raw.chars().any(char::is_control) {
            return Err(UsernameError::ControlCharacter);
        }
        Ok(Self {
            display: raw.to_owned(),
            canonical: canonicalize(raw),
        })
    }

    /// Rebuilds a name read back from storage, where it was valid when written.
    pub fn from_stored(display: String) -> Self {
        let canonical = canonicalize(&display);
        Self { display, canonical }
    }

    /// The form the user registered.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The form names are compared in (unique in storage).
    pub fn canonical(&self) -> &str {
        &self.canonical
    }
}

/// NFKC, then full case folding, then NFKC again (folding can denormalize): Unicode's
/// `NFKC_Casefold` in spirit, close enough for identity comparison.
pub fn canonicalize(raw: &str) -> String {
    let nfkc: String = raw.nfkc().collect();
    let folded = caseless::default_case_fold_str(&nfkc);
    folded.nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_width_variants_are_one_name() -> Result<(), UsernameError> {
        let a = Username::parse("alice")?;
        let b = Username::parse("Alice")?;
        let c = Username::parse("ａｌｉｃｅ")?;
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(a.canonical(), c.canonical());
        assert_eq!(b.as_str(), "Alice");
        Ok(())
    }

    #[test]
    fn bad_names_are_refused() {
        assert_eq!(Username::parse(""), Err(UsernameError::Empty));
        assert_eq!(
            Username::parse(" bob"),
            Err(UsernameError::SurroundingWhitespace)
        );
        assert_eq!(
            Username::parse("bob\t"),
            Err(UsernameError::SurroundingWhitespace)
        );
        assert_eq!(
            Username::parse("bo\u{7}b"),
            Err(UsernameError::ControlCharacter)
        );
        assert_eq!(
            Username::parse(&"x".repeat(51)),
            Err(UsernameError::TooLong)
        );
        assert!(
            Username::parse(&"é".repeat(50)).is_ok(),
            "the limit counts characters, not bytes"
        );
    }
}
