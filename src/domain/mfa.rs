//! The rules of the second factor that do not need a database: what a login proved (the
//! `amr` and `aal` claims), the parameters of TOTP codes and their window, and what a
//! recovery code looks like. Whether a step or a code is still unused is decided by the
//! store's one conditional UPDATE (see the migration `0012_second_factor.sql`).

/// Length of a TOTP time step (RFC 6238's default, what every authenticator app uses).
pub const TOTP_STEP_SECS: i64 = 30;
/// Digits of a TOTP code.
pub const TOTP_DIGITS: usize = 6;
/// Steps of clock skew accepted either side of the server's (RFC 6238 §5.2 recommends 1).
pub const TOTP_SKEW_STEPS: i64 = 1;
/// Codes that may be tried with one `mfa_token`; the next attempt finds it void.
pub const MFA_TOKEN_MAX_ATTEMPTS: i64 = 5;
/// Recovery codes in a set.
pub const RECOVERY_CODES_PER_SET: usize = 10;
/// Base32 characters of a recovery code: 24 × 5 = 120 bits. ASVS 5.0 6.5.2 lets lookup
/// secrets of 112 bits or more be stored with a plain (here keyed) hash; below that it
/// asks for a salted password hash, which would cost an Argon2 run per code tried.
pub const RECOVERY_CODE_CHARS: usize = 24;

/// What a login proved, as the tokens of its session say it (Supabase Auth's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assurance {
    /// A password alone: `amr: ["pwd"]`, `aal1`.
    Password,
    /// A password and a TOTP code: `amr: ["pwd", "otp"]`, `aal2`.
    PasswordAndTotp,
    /// A password and a recovery code: `amr: ["pwd", "recovery"]`, `aal2`.
    PasswordAndRecoveryCode,
}

impl Assurance {
    /// The `amr` claim (RFC 8176 values where one exists).
    pub const fn amr(self) -> &'static [&'static str] {
        match self {
            Assurance::Password => &["pwd"],
            Assurance::PasswordAndTotp => &["pwd", "otp"],
            Assurance::PasswordAndRecoveryCode => &["pwd", "recovery"],
        }
    }

    /// The `aal` claim: `aal2` once a second factor was shown.
    pub const fn aal(self) -> &'static str {
        match self {
            Assurance::Password => "aal1",
            Assurance::PasswordAndTotp | Assurance::PasswordAndRecoveryCode => "aal2",
        }
    }

    /// The spelling kept in the session row (`amr`, space-separated).
    pub const fn as_stored(self) -> &'static str {
        match self {
            Assurance::Password => "pwd",
            Assurance::PasswordAndTotp => "pwd otp",
            Assurance::PasswordAndRecoveryCode => "pwd recovery",
        }
    }

    /// Reads a stored spelling; anything unknown is the weakest (a password alone), so a
    /// damaged row can never raise a session's assurance.
    pub fn from_stored(stored: &str) -> Self {
        match stored {
            "pwd otp" => Assurance::PasswordAndTotp,
            "pwd recovery" => Assurance::PasswordAndRecoveryCode,
            _ => Assurance::Password,
        }
    }
}

/// A submitted TOTP code if it has the shape of one (exactly six ASCII digits, surrounding
/// white space and inner spaces ignored as apps display `123 456`).
pub fn parse_totp_code(input: &str) -> Option<String> {
    let code: String = input.chars().filter(|c| *c != ' ').collect();
    (code.len() == TOTP_DIGITS && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// A submitted recovery code in its canonical form (upper-case base32, no separators), or
/// `None` if it cannot be one. Case, dashes and spaces are forgiven: people type these.
pub fn normalize_recovery_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let base32 = |c: char| c.is_ascii_uppercase() || ('2'..='7').contains(&c);
    (code.chars().count() == RECOVERY_CODE_CHARS && code.chars().all(base32)).then_some(code)
}

/// How a recovery code is shown: lower case in groups of four (`abcd-efgh-…`).
pub fn display_recovery_code(canonical: &str) -> String {
    let lower = canonical.to_ascii_lowercase();
    let groups: Vec<&str> = lower
        .as_bytes()
        .chunks(4)
        .filter_map(|chunk| std::str::from_utf8(chunk).ok())
        .collect();
    groups.join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_assurance_has_its_claims_and_survives_storage() {
        let table = [
            (Assurance::Password, &["pwd"][..], "aal1"),
            (Assurance::PasswordAndTotp, &["pwd", "otp"][..], "aal2"),
            (
                Assurance::PasswordAndRecoveryCode,
                &["pwd", "recovery"][..],
                "aal2",
            ),
        ];
        for (assurance, amr, aal) in table {
            assert_eq!(assurance.amr(), amr);
            assert_eq!(assurance.aal(), aal);
            assert_eq!(Assurance::from_stored(assurance.as_stored()), assurance);
        }
        assert_eq!(Assurance::from_stored("otp"), Assurance::Password);
        assert_eq!(Assurance::from_stored(""), Assurance::Password);
    }

    #[test]
    fn totp_codes_are_six_digits() {
        let table = [
            ("123456", Some("123456")),
            (" 123 456 ", Some("123456")),
            ("12345", None),
            ("1234567", None),
            ("12345a", None),
            ("١٢٣٤٥٦", None),
            ("", None),
        ];
        for (input, expected) in table {
            assert_eq!(parse_totp_code(input).as_deref(), expected, "{input:?}");
        }
    }

    const CANONICAL: &str = "ABCDEFGHIJKLMN23OPQRST45";

    #[test]
    fn recovery_codes_forgive_case_and_separators_and_nothing_else() {
        let table = [
            ("abcd-efgh-ijkl-mn23-opqr-st45", Some(CANONICAL)),
            ("ABCDEFGHIJKLMN23OPQRST45", Some(CANONICAL)),
            (" abcd efgh ijkl mn23 opqr st45 ", Some(CANONICAL)),
            ("abcd-efgh-ijkl-mn23-opqr-st4", None),
            ("abcd-efgh-ijkl-mn23-opqr-st41", None),
            ("abcd-efgh-ijkl-mn23-opqr-st4é", None),
            ("", None),
        ];
        for (input, expected) in table {
            assert_eq!(
                normalize_recovery_code(input).as_deref(),
                expected,
                "{input:?}"
            );
        }
        assert_eq!(
            display_recovery_code(CANONICAL),
            "abcd-efgh-ijkl-mn23-opqr-st45"
        );
    }
}
