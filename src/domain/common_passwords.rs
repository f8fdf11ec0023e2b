//! The list of common passwords new passwords are screened against (ASVS 6.2.4,
//! NIST SP 800-63B-4 §3.1.1.2: "commonly used, expected or compromised values").
//!
//! The list is zxcvbn's password frequency list (`data/common_passwords/`, its README says
//! where it comes from and under which licence): 47,023 passwords from Xato's 10-million
//! corpus, most frequent first, all lower-case ASCII. The `zxcvbn` crate embeds the same
//! list but keeps it private, so it is committed here instead.
//!
//! It is compiled into the binary and turned into a hash set on first use (a few
//! milliseconds, once), so starting the server costs nothing.
//!
//! Matching is on a folded form (NFKC, then Unicode case folding) and on a few cheap
//! variants of it, because the obvious dressings of a listed password are as easy to
//! guess as the password: `P@ssw0rd` (look-alike digits and symbols), `Password1` and
//! `!password2024` (digits or punctuation around a listed word). Variants shorter than
//! [`MIN_VARIANT_CHARS`] are not looked up, so a long password is never refused for a
//! two-letter core.

use std::collections::HashSet;

use once_cell::sync::Lazy;
use unicode_normalization::UnicodeNormalization;

static LIST: Lazy<HashSet<&'static str>> = Lazy::new(|| {
    include_str!("../../data/common_passwords/passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// Variants (stripped, de-leeted) shorter than this are not looked up.
const MIN_VARIANT_CHARS: usize = 4;

/// The comparison form of a password or a word: NFKC, then case folding, so `Ｐａｓｓ`
/// (full width) and `PASS` compare as `pass`.
pub(crate) fn fold(raw: &str) -> String {
    caseless::default_case_fold_str(&raw.nfkc().collect::<String>())
}

/// Whether a folded password (see [`fold`]) is on the list, as is or dressed up.
pub(crate) fn is_common(folded: &str) -> bool {
    if LIST.contains(folded) {
        return true;
    }
    let core = strip_dressing(folded);
    let variants = [
        core.to_owned(),
        undo_leet(folded, 'i'),
        undo_leet(folded, 'l'),
        undo_leet(core, 'i'),
        undo_leet(core, 'l'),
    ];
    variants
        .iter()
        .any(|v| v.chars().count() >= MIN_VARIANT_CHARS && LIST.contains(v.as_str()))
}

/// The password without the digits and ASCII punctuation at its start and end
/// (`password123!` → `password`).
pub(crate) fn strip_dressing(folded: &str) -> &str {
    folded.trim_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation())
}

/// Replaces the usual look-alike digits and symbols by letters (`p@ssw0rd` → `password`).
/// `1` stands for `i` or `l`: the caller tries both.
pub(crate) fn undo_leet(folded: &str, one: char) -> String {
    folded
        .chars()
        .map(|c| match c {
            '@' | '4' => 'a',
            '8' => 'b',
            '3' => 'e',
            '6' | '9' => 'g',
            '1' | '!' | '|' => one,
            '0' => 'o',
            '5' | '$' => 's',
            '7' | '+' => 't',
            '2' => 'z',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(raw: &str) -> bool {
        is_common(&fold(raw))
    }

    #[test]
    fn the_list_is_at_least_the_top_ten_thousand() {
        assert!(LIST.len() >= 10_000, "{}", LIST.len());
    }

    #[test]
    fn listed_passwords_and_their_dressings_are_common() {
        for raw in [
            "password",
            "12345678",
            "P@ssw0rd",
            "Password1",
            "PASSWORD",
            "ｐａｓｓｗｏｒｄ",
            "!password2024",
            "iloveyou",
            "1l0v3y0u",
            "qwerty123",
            "Sunshine!",
        ] {
            assert!(common(raw), "{raw}");
        }
    }

    #[test]
    fn unlisted_passwords_are_not_common() {
        for raw in [
            "correct horse battery staple",
            "vX9#qL2!mZ",
            "ab12345678!!",
            "Gletscher-Kaffee-42",
            "斜めの猫が笑う",
        ] {
            assert!(!common(raw), "{raw}");
        }
    }
}
