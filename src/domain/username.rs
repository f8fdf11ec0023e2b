//! Usernames: 1–50 characters, no control characters, no surrounding white space, no
//! invisible characters, and at least one letter or digit.
//!
//! Two names are the same when their NFKC case-folded forms are equal, so `alice`,
//! `Alice` and `ａｌｉｃｅ` are one account. The form the user registered is kept for
//! display and is the token's `sub`.
//!
//! Invisible characters are refused because they make names that render alike but are
//! different accounts (`admin\u{200b}`, `admin\u{ad}`, `\u{202e}nimda`), which NFKC and
//! case folding do not merge. The test is Unicode's own data (via ICU4X's
//! `icu_properties`, Unicode 16+): General_Category `Cf` (format characters, which include
//! every bidi control) and `Default_Ignorable_Code_Point` (which adds fillers such as
//! U+3164 and the reserved ignorable ranges). A name must also hold at least one letter
//! (`L*`) or decimal digit (`Nd`), so a name of blanks such as U+2800 is refused.
//! Confusables (UTS #39 skeletons: Cyrillic `а` for Latin `a`) are *not* merged: see the
//! README's note on usernames.

use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory, GeneralCategoryGroup};
use icu_properties::{CodePointMapData, CodePointSetData};
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
    /// Holds an invisible, formatting or bidi-control character.
    #[error("Username must not contain invisible or formatting characters")]
    InvisibleCharacter,
    /// Holds no letter and no digit.
    #[error("Username must contain at least one letter or digit")]
    NoLetterOrDigit,
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
        if raw.chars().any(is_invisible) {
            return Err(UsernameError::InvisibleCharacter);
        }
        if !raw.chars().any(is_letter_or_digit) {
            return Err(UsernameError::NoLetterOrDigit);
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

/// Format characters (`Cf`: zero-width joiners, soft hyphen, bidi controls, BOM…) and
/// default-ignorable code points (rendered as nothing: U+3164 HANGUL FILLER, variation
/// selectors, tags…).
fn is_invisible(c: char) -> bool {
    CodePointMapData::<GeneralCategory>::new().get(c) == GeneralCategory::Format
        || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

fn is_letter_or_digit(c: char) -> bool {
    let category = CodePointMapData::<GeneralCategory>::new().get(c);
    GeneralCategoryGroup::Letter.contains(category) || category == GeneralCategory::DecimalNumber
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

    #[test]
    fn invisible_and_bidi_characters_are_refused() {
        for name in [
            "admin\u{200b}",
            "admin\u{200d}",
            "admin\u{2060}",
            "admin\u{feff}",
            "admin\u{ad}",
            "\u{202e}admin",
            "ad\u{2066}min",
            "admin\u{200e}",
            "admin\u{fe0f}",
            "admin\u{e0061}",
            "\u{3164}",
            "a\u{3164}",
            "\u{115f}x",
        ] {
            assert_eq!(
                Username::parse(name),
                Err(UsernameError::InvisibleCharacter),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_name_needs_a_letter_or_a_digit() {
        for name in ["\u{2800}", "\u{2800}\u{2800}", "---", "._.", "☃"] {
            assert_eq!(
                Username::parse(name),
                Err(UsernameError::NoLetterOrDigit),
                "{name:?}"
            );
        }
        for name in ["7", "a-b", "李雷", "ümlaut", "अनु", "x_y.z", "o'neil", "a b"] {
            assert!(Username::parse(name).is_ok(), "{name:?}");
        }
    }
}
